"""aukit predict: the auditor's findings (file names with '#', --smooth, cuts and missed detections,
faceless rows' ids, what confidence is, old smoke-run models, small wording)."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from skimage import data as skdata

from aukit import deploy
from aukit.predict import predict

from test_predict import AUS, _predict_test_net, export_test_model   # the tests' predict model (registered there)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_test_model(tmp_path_factory.mktemp("m"))


def _face():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


def test_file_names_with_a_hash_or_a_quote_read_back_whole(model_path, tmp_path):
    """`3,subj#1 neutral.png,0,...` read with comment='#' (PredictResult.read, the README's recipe, R's
    comment.char) became file 'subj' and the rest NaN; face_id and success turned float for the file."""
    from aukit.predict.output import PartialRows
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ["a#1 b.png", 'q"x,#.png', "plain.png"]
    for n in names:
        cv2.imwrite(str(folder / n), _face())
    cv2.imwrite(str(folder / "z#grey.png"), np.full((200, 200, 3), 127, np.uint8))     # no face: empty cells
    res = predict(folder, str(model_path), tmp_path / "out", workers=0, plot=False)
    for df in (res.read(), pd.read_csv(res.csv, comment="#")):
        assert sorted(df.file) == sorted(names + ["z#grey.png"])
        assert df.frame.dtype.kind == df.face_id.dtype.kind == df.success.dtype.kind == "i"
        assert df.success.tolist() == [1, 1, 1, 0] and df.loc[3, "AU06_r"] != df.loc[3, "AU06_r"]
    lines = res.csv.read_text().splitlines()
    head = next(line for line in lines if not line.startswith("#"))
    assert head.startswith("frame,file,face_id,timestamp,") and '"' not in head      # the header stays bare
    grey = next(line for line in lines if "z#grey" in line)
    assert '""' not in grey and ",,," in grey                                      # empty numbers stay empty
    rows = PartialRows(tmp_path / "x.partial.csv", folder)
    df = res.read()
    rows.add(df.iloc[:2])
    rows.add(df.iloc[2:])
    rows.close(keep=True)
    back = pd.read_csv(tmp_path / "x.partial.csv", comment="#")
    assert back.file.tolist() == df.file.tolist() and back.face_id.dtype.kind == "i"


def test_an_even_smoothing_window_is_refused(model_path, tmp_path, capsys):
    """--smooth 4 averaged 5 rows (t - 2 .. t + 2) while the header and --help said 4."""
    from aukit.cli import main
    from aukit.predict import Predictor
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    with pytest.raises(SystemExit):
        main(["predict", str(photo), "--model", str(model_path), "--out", str(tmp_path / "o"), "--smooth", "4"])
    assert "--smooth: must be odd (a centred window: the row and as many on each side), got 4; use 3 or 5" in \
        capsys.readouterr().err
    with Predictor(str(model_path), workers=0) as p:
        with pytest.raises(ValueError, match="odd number of rows .* got 2; use 1 or 3"):
            p(photo, tmp_path / "o", smooth=2)
        assert p(photo, tmp_path / "o", smooth=1, plot=False).n_faces == 1      # 0 and 1: off


def _clip(path, frames):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


@pytest.mark.parametrize("chunk", [5, 32])        # the cut at a chunk's first frame, and inside a chunk
def test_a_cut_to_another_face_at_a_detection_frame_starts_a_new_face(model_path, tmp_path, chunk):
    """Frame 11 (a detection frame) cuts to another face at the same place: the detection overlapped the
    track, kept its id and continued its sequence (CPC read the other person's frames as context). The
    other face is the astronaut mirrored, moved back onto the same box (its crop correlates 0.50 with
    the original's, under track_ncc 0.6): a new track, its id one per track (reid off); with ids per
    person it is the same person (dlib descriptors 0.2 apart) and keeps the id, in a new sequence all the same."""
    face = _face()
    other = np.roll(face[:, ::-1], -67, axis=1).copy()
    clip = _clip(tmp_path / "cut.avi", [face] * 10 + [other] * 10)
    for reid, ids in ((False, 2), (True, 1)):
        two = predict(clip, str(model_path), tmp_path / f"two{reid}", workers=0, max_faces=2, plot=False, chunk=chunk,
                      reid=reid)
        df = two.read()
        df = df.loc[df.groupby("frame").confidence.idxmax()]      # the face (the astronaut has a weak second one)
        assert df.success.all() and df.face_id.nunique() == ids and two.redetected >= 1
        assert (df.face_id.iloc[:10] == df.face_id.iloc[0]).all()
        assert (df.face_id.iloc[10:] == df.face_id.iloc[10]).all()
    one = predict(clip, str(model_path), tmp_path / "one", workers=0, plot=False, chunk=chunk)
    assert (one.read().face_id == 0).all() and one.redetected == 1        # one face a frame: a new sequence
    assert "track_lost_redetected=1" in one.csv.read_text()


def test_a_tracked_face_the_detector_misses_is_kept(model_path, tmp_path, monkeypatch):
    """A still, clear face the periodic detector missed on one detection frame (dlib does, on SynthAU's
    DISFA faces for dozens of frames) got success 0 there and a new id after; its track passes the
    check, so it is kept."""
    from aukit.predict import faces as F
    clip = _clip(tmp_path / "still.avi", [_face()] * 20)
    real, calls = F._detect, []

    def misses_the_second(*a, **kw):
        calls.append(1)
        return ([], []) if len(calls) == 2 else real(*a, **kw)        # frame 6, the second detection frame
    monkeypatch.setattr(F, "_detect", misses_the_second)
    res = predict(clip, str(model_path), tmp_path / "out", workers=0, plot=False)
    df = res.read()
    assert len(calls) == 4 and df.success.all() and res.redetected == 0
    assert df.loc[5, "confidence"] == df.loc[4, "confidence"]              # the last detection's score
    calls.clear()
    black = clip.with_name("gone.avi")                                          # a face that left is not kept
    _clip(black, [_face()] * 5 + [np.zeros((512, 512, 3), np.uint8)] * 5)
    gone = predict(black, str(model_path), tmp_path / "gone", workers=0, plot=False).read()
    assert gone.success.tolist() == [1] * 5 + [0] * 5


def test_faceless_rows_have_no_face_id_with_several_faces_a_frame(model_path, tmp_path):
    """--max-faces 2 gave a faceless row face_id 0, a real face's id: groupby('face_id') mixed them."""
    clip = _clip(tmp_path / "gap.avi", [_face()] * 4 + [np.zeros((512, 512, 3), np.uint8)] * 3 + [_face()] * 3)
    res = predict(clip, str(model_path), tmp_path / "two", workers=0, max_faces=2, smooth=3)
    df = res.read()
    blank = df[df.success == 0]
    assert blank.frame.tolist() == [5, 6, 7] and blank.face_id.isna().all()
    assert df.loc[df.success == 1, "face_id"].notna().all()
    assert ",,0.7," not in res.csv.read_text() and "\n5,,0.4," in res.csv.read_text()     # empty, not 0
    full = predict(clip.with_name("gap.avi"), str(model_path), tmp_path / "one", workers=0, plot=False).read()
    assert full.face_id.dtype.kind == "i" and (full.face_id == 0).all()                     # one face: 0, as OpenFace
    still = _clip(tmp_path / "still.avi", [_face()] * 3)
    assert predict(still, str(model_path), tmp_path / "s", workers=0, max_faces=2, plot=False).read() \
        .face_id.dtype.kind == "i"                                                          # no gaps: integers


def test_a_model_exported_before_the_preset_field_is_flagged_from_its_config(tmp_path, monkeypatch, capsys):
    """An SCC or RTATL smoke run's deploy.pt from before DeploySpec.preset says so only in the saved
    config (config["experiment"]["preset"]): the CSV note and `aukit models` now read it there."""
    from aukit import checkpoint as ckpt
    from aukit.cli import main
    from aukit.nb import PRESET_ENV
    monkeypatch.delenv(PRESET_ENV, raising=False)
    spec = deploy.DeploySpec(model="_predict_test_net", policy="tas", size=128, aus=AUS, kwargs={"n_out": 2},
                             dataset="synthau-disfa", method="scc")
    path = deploy.export(tmp_path / "runs" / "old" / "deploy.pt", _predict_test_net(), spec,
                         config={"experiment": {"preset": "smoke", "dataset": "synthau-disfa"}, "model": {}})
    state = ckpt.read(path)
    del state["extra"]["deploy"]["preset"]                       # as written before the field existed
    torch.save(state, path)
    assert deploy.read_spec(path).smoke and deploy.load(path).spec.preset == "smoke"
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    res = predict(photo, str(path), tmp_path / "out", workers=0, plot=False)
    assert any("comes from a smoke run" in n for n in res.notes)
    assert main(["models", "--runs", str(tmp_path / "runs")]) == 0
    assert "synthau-disfa, smoke preset" in capsys.readouterr().out
    assert deploy.saved_preset({"model": {}, "train": {"epochs": 1}}) == "" and deploy.saved_preset(None) == ""


def test_the_header_says_confidence_is_the_detectors_score(model_path, tmp_path):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    text = predict(photo, str(model_path), tmp_path / "out", workers=0, plot=False).csv.read_text()
    assert "# confidence: dlib's face detector score of the face's last detection (unbounded" in text
    assert "not OpenFace's 0-1 confidence" in text


def test_summary_grammar_legend_beside_the_panels_and_a_frames_folder_timed_by_fps(model_path, tmp_path, capsys):
    """"1 faces found (up to 3 a image)"; the legend inside the first panel covered its curves; a --frames
    folder had timestamp 0.0 on every row."""
    from aukit.cli import main
    from aukit.predict.output import LEGEND_AT, curves_figure
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    args = ["predict", "--model", str(model_path), "--workers", "0", "--no-progress", "--max-faces", "3"]
    assert main(args + ["--out", str(tmp_path / "o"), str(photo)]) == 0
    out = capsys.readouterr().out
    assert "faces found (up to 3 an image)" in out or "1 face found (up to 3 an image)" in out
    rows = [{"frame": t, "timestamp": t / 10, "face_id": f, "success": 1, "AU06_r": 1.0, "AU12_r": 1.0}
            for t in range(10) for f in range(2)]
    fig = curves_figure(pd.DataFrame(rows), AUS, "clip")
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.x0 >= max(ax.get_window_extent().x1 for ax in fig.axes if ax.get_visible())   # beside them
    assert legend.x0 >= LEGEND_AT * fig.bbox.width - 1
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.png"), _face())
    res = predict(folder, str(model_path), tmp_path / "f", workers=0, plot=False, frames=True, fps=25)
    assert res.read().timestamp.tolist() == [0.0, 0.04, 0.08, 0.12]
    assert "timestamps=(frame-first)/fps fps=25" in res.csv.read_text().splitlines()[0]
    plain = predict(folder, str(model_path), tmp_path / "g", workers=0, plot=False, frames=True)
    assert "timestamps=none (a folder of frames has no times: --fps gives them)" in plain.csv.read_text()
    with pytest.raises(ValueError, match="fps times the frames of a folder given with --frames"):
        predict(photo, str(model_path), tmp_path / "h", workers=0, fps=25)
    assert main(args + ["--out", str(tmp_path / "c"), "--frames", "--fps", "10", str(folder)]) == 0
    assert pd.read_csv(tmp_path / "c" / "frames.csv", comment="#").timestamp.iloc[-1] == 0.3


def test_a_frame_missing_from_a_numbered_folder_stays_missing(model_path, tmp_path):
    """--frames on a folder of numbered frames with 5.jpg dropped: before, 6.jpg was written as frame 5 and every
    later row joined the label one frame early; now each row is its file's number, its time that number's, the
    unreadable-frame runs name file numbers, and a sequence model's context breaks at the gap."""
    folder = tmp_path / "gap"
    folder.mkdir()
    for i in (1, 2, 3, 4, 6, 7):
        cv2.imwrite(str(folder / f"{i}.jpg"), _face())
    (folder / "8.jpg").write_bytes(b"not a jpeg")
    res = predict(folder, str(model_path), tmp_path / "o", workers=0, plot=False, frames=True, fps=10)
    df = res.read()
    assert df.frame.tolist() == [1, 2, 3, 4, 6, 7, 8]
    assert df.file.tolist() == [f"{i}.jpg" for i in (1, 2, 3, 4, 6, 7, 8)]
    assert df.timestamp.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7])
    text = res.csv.read_text()
    assert "frame=file number" in text and "first_frame=1" not in text
    assert any("frame 8:" in n for n in res.notes + text.splitlines())
    photos = tmp_path / "photos"                        # names that are not all numbers: by position
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(photos / name), _face())
    assert predict(photos, str(model_path), tmp_path / "p", workers=0, plot=False).read().frame.tolist() == [1, 2]


def test_frame_numbers_come_from_names_only_when_every_name_is_a_distinct_number():
    from aukit.predict.frames import Frame, file_numbers
    from pathlib import Path
    assert file_numbers([Path("0007.jpg"), Path("9.png")]) == [7, 9]
    assert file_numbers([Path("7.jpg"), Path("007.png")]) is None         # two files, one number
    assert file_numbers([Path("7.jpg"), Path("x.png")]) is None
    assert Frame(4, 0.0, None, number=6).frame == 6 and Frame(4, 0.0, None).frame == 5
