"""aukit predict, the second audit: a badge kept as a face with --max-faces 2 (and taking person 0), two runs into
one --out, options that do not fit an input refused after the model loaded, the no-face hint, and predict's own
plots read as photos."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data as skdata

from aukit import deploy
from aukit.predict import InputError, Predictor, predict
from aukit.predict import faces as F

from test_predict import export_test_model          # the tests' predict model (registered there)
from test_predict_track import _look, _persons


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_test_model(tmp_path_factory.mktemp("m"))


def _astronaut():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


def _webcam(i: int):
    """Frame ``i`` of the audit's webcam.mp4 (its make_inputs.py): the astronaut at 640 x 480, moving and zooming;
    dlib finds her suit's mission patch (y 314-333, scored 0.03-0.31) beside her face (1.1-1.5) on frames 0-9."""
    t = i / 30
    s = 1.0 + 0.1 * np.sin(2 * np.pi * t / 5)
    to = np.float32([[s, 0, (640 - 512 * s) / 2 + 20 * np.sin(2 * np.pi * t / 3)],
                     [0, s, (480 - 512 * s) / 2 + 10 * np.cos(2 * np.pi * t / 4)]])
    return cv2.warpAffine(_astronaut(), to, (640, 480), borderValue=(40, 40, 40))


@pytest.fixture
def dlib_aligner(monkeypatch):
    from aukit.data.align import FaceAligner
    monkeypatch.setattr(F, "_ALIGNER", FaceAligner("tas", min_face=100))


def test_a_badge_far_below_the_face_is_not_a_second_face(dlib_aligner):
    """--max-faces 2 on webcam.mp4 reported the patch (0.001-0.32) as a face on 127 of 300 frames."""
    frames = [_webcam(i) for i in (0, 3, 6)]
    assert all(len(F._ALIGNER.detect_all(f, bgr=True, want=2)) == 2 for f in frames)      # dlib finds both
    out = F.process_payload(frames, detect_every=1, max_faces=2)
    assert [[r.box[1] < 200 for r in fl] for fl in out] == [[True]] * 3                  # her face alone


def test_a_small_face_beside_a_clear_one_is_kept_by_a_closer_look(dlib_aligner):
    """The astronaut beside Grace Hopper in a 1024 px frame: the 640 px copy scores her 0.21 beside 1.53 (a share
    as low as the patch's); enlarged, she scores 1.33. A rule on the score alone lost her."""
    import matplotlib.cbook
    grace = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    frame = np.concatenate([_astronaut(), cv2.resize(grace[40:460, 50:470], (512, 512))], 1)
    (best, top), (small, low) = F._ALIGNER.detect_all(frame, bgr=True, want=2)
    assert low < 0.2 * top and F.closer_score(frame, small) > 1.0 > F.CLOSER_SCORE
    [faces] = F.process_payload([frame], detect_every=1, max_faces=2)
    assert sorted(r.box[0] < 512 for r in faces) == [False, True]
    assert F.closer_score(_webcam(0), F._ALIGNER.detect_all(_webcam(0), bgr=True, want=2)[1][0]) < F.CLOSER_SCORE


def test_with_max_faces_2_the_badge_gets_no_rows_and_the_header_says_the_rule(model_path, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f"{i + 1:04d}.png"), _webcam(i))
    res = predict(folder, str(model_path), tmp_path / "out", workers=0, max_faces=2, frames=True, plot=False)
    df = res.read()
    assert len(df) == 10 and df.success.all() and (df.face_id == 0).all() and (df.face_y < 200).all()
    assert f"# {F.KEEP_NOTE}\n" in res.csv.read_text()
    assert "0.5 of its score, or at least 0.4 on a closer look" in F.KEEP_NOTE


def test_persons_coming_into_view_together_are_numbered_best_scoring_first():
    """The patch's track (0.1) ended first, so it was decided first and became person 0, the astronaut (1.5) 1."""
    def frames():
        return [[_look(0, 5.0, 0.1), _look(1, 0.0, 1.5)], [_look(1, 0.0, 1.5, False)],
                [_look(1, 0.0, 1.5)], [_look(1, 0.0, 1.5)], [_look(1, 0.0, 1.5), _look(2, 9.0, 1.0)],
                [_look(3, 5.1, 0.1)]]                          # the patch back: its earlier person
    want = [[(0, 1.5), (1, 0.1)], [(0, 1.5)], [(0, 1.5)], [(0, 1.5)], [(0, 1.5), (2, 1.0)], [(1, 0.1)]]
    whole = frames()
    _persons().assign([None] * len(whole), whole)
    assert [[(r.face, r.confidence) for r in fl] for fl in whole] == want
    ids, cut = _persons(), frames()
    for c in range(len(cut)):                                   # fed frame by frame, as chunks come
        ids.feed(c, [None], cut[c:c + 1])
    ids.finish()
    assert [[(r.face, r.confidence) for r in fl] for fl in cut] == want


def _photo(folder, name="face.jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / name), _astronaut())
    return folder / name


def test_another_inputs_outputs_are_not_replaced(model_path, tmp_path, capsys, monkeypatch):
    """A/face.jpg and B/face.jpg into one --out: B's run replaced A's face.csv without a word. The same input is
    the same path, however given, symlinks not followed (a DataLad dataset's two recordings of the same bytes)."""
    from aukit.cli import main
    from aukit.predict.outdir import made_from
    from aukit.predict.output import PartialRows
    a, b, out = _photo(tmp_path / "A"), _photo(tmp_path / "B"), tmp_path / "shared"
    first = predict(a, str(model_path), out, workers=0)
    before = first.csv.read_text()
    csv = out / "face.csv"
    with pytest.raises(InputError, match=rf"--out {out}: {csv} holds the predictions of {a}, not of {b}: "
                                         rf"give another --out, or remove {csv} to replace it"):
        predict(b, str(model_path), out, workers=0)
    assert first.csv.read_text() == before and first.png.exists()
    assert predict(a, str(model_path), out, workers=0).n_faces == 1             # the same input: replaced
    monkeypatch.chdir(tmp_path)
    assert made_from(predict("./A/face.jpg", str(model_path), "shared", workers=0).csv) == "./A/face.jpg"
    (tmp_path / "C").mkdir()
    (tmp_path / "C" / "face.jpg").symlink_to(a)
    with pytest.raises(InputError, match=r"predictions of ./A/face.jpg \(\S+/A/face.jpg\), not of C/face.jpg"):
        predict("C/face.jpg", str(model_path), out, workers=0)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "A").mkdir(parents=True)
    _photo(elsewhere / "A")
    monkeypatch.chdir(elsewhere)                  # the same name given in another working folder: another input
    with pytest.raises(InputError, match=rf"holds the predictions of ./A/face.jpg \({tmp_path / 'A' / 'face.jpg'}\), "
                                         "not of ./A/face.jpg"):
        predict("./A/face.jpg", str(model_path), out, workers=0)
    monkeypatch.chdir(tmp_path)
    a = "./A/face.jpg"
    # the command line refuses it before the model loads (no model of that name)
    assert main(["predict", str(b), "--model", "no_such_model", "--out", str(out), "--workers", "0"]) == 2
    assert f"holds the predictions of {a} ({tmp_path / 'A' / 'face.jpg'}), not of {b}" in capsys.readouterr().err
    first.csv.unlink()
    rows = PartialRows(out / "face.partial.csv", a)                           # an interrupted run of A's
    rows.add(pd.DataFrame({"frame": [1]}))
    rows.close(keep=True)
    with pytest.raises(InputError, match=rf"face.partial.csv holds the predictions of {a} \(\S+\), not of {b}"):
        predict(b, str(model_path), out, workers=0)


def test_the_input_a_csv_was_made_from_is_read_back_from_each_header(model_path, tmp_path):
    from aukit.predict.outdir import made_from
    clip = tmp_path / "in put" / "clip.avi"
    clip.parent.mkdir()
    vw = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(3):
        vw.write(_astronaut())
    vw.release()
    folder = _photo(tmp_path / "photos").parent
    for k, (path, kw) in enumerate(((clip, {}), (folder, {}), (folder, {"frames": True, "fps": 5.0}))):
        csv = predict(path, str(model_path), tmp_path / f"out{k}", workers=0, plot=False, **kw).csv
        assert made_from(csv) == str(path)
    (tmp_path / "mine.csv").write_text("a,b\n1,2\n")
    assert made_from(tmp_path / "mine.csv") is None and made_from(tmp_path / "none.csv") is None


def test_a_run_writing_the_same_names_now_refuses_the_second(model_path, tmp_path):
    """Two runs into one --out at once both wrote webcam.csv (and its .partial.csv); the last to finish won."""
    import os
    import socket

    from aukit.predict.outdir import claimed
    a, b, out = _photo(tmp_path / "A"), _photo(tmp_path / "B"), tmp_path / "shared"
    out.mkdir()
    with Predictor(str(model_path), workers=0) as p:
        with claimed(a, out, "face"):                         # the first run, writing
            with pytest.raises(InputError, match=rf"--out {out}: {socket.gethostname()} pid {os.getpid()} is "
                                                 r"writing face.csv there now \(another aukit predict\): wait"):
                p(b, out)
            assert not (out / "face.csv").exists()
        assert not (out / ".face.predict.lock").exists()
        assert p(a, out).n_faces == 1 and not (out / ".face.predict.lock").exists()
        with pytest.raises(InputError, match="holds the predictions of"):       # it finished first: B sees its CSV
            p(b, out)


def test_options_that_do_not_fit_an_input_are_refused_before_the_model_loads(model_path, tmp_path, capsys,
                                                                             monkeypatch):
    """--fps on a video and --smooth on a folder of photos: 'failed: ValueError', exit 3, after the model loaded."""
    from aukit.cli import main

    def loaded(*a, **kw):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(deploy, "load", loaded)
    video = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    vw.write(np.zeros((64, 64, 3), np.uint8))
    vw.release()
    photos = _photo(tmp_path / "photos").parent
    args = ["predict", "--model", str(model_path), "--out", str(tmp_path / "o"), "--workers", "0", "--no-progress"]
    assert main(args + [str(video), "--fps", "30"]) == 2
    assert capsys.readouterr().err == (f"aukit predict: fps times the frames of a folder given with --frames (a video "
                                       f"has its own clock, photos have none); got fps 30.0 for {video}\n")
    assert main(args + [str(video), str(photos), "--smooth", "3"]) == 2
    assert capsys.readouterr().err == (f"aukit predict: --smooth 3 averages each face over time, and {photos} is a "
                                       "folder of photos (no time between them); give --frames if it holds one "
                                       "video's frames\n")
    assert not (tmp_path / "o").exists()


def test_no_face_says_in_how_many_frames_and_both_reasons(model_path, tmp_path, capsys):
    """'no face found; faces under --min-face 100 px are not looked for' blamed --min-face for every faceless input."""
    from aukit.cli import main
    cup = tmp_path / "cup.png"
    cv2.imwrite(str(cup), cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR))
    args = ["predict", str(cup), "--model", str(model_path), "--out", str(tmp_path / "o"), "--workers", "0"]
    assert main(args) == 1
    assert "  no face found in 1 image (faces under --min-face 100 px may be missed: lower it if the faces are " \
           "small)\n" in capsys.readouterr().err
    assert main(args + ["--min-face", "0"]) == 1
    assert "  no face found in 1 image (with --min-face 0, small faces in large frames may be missed)\n" in \
        capsys.readouterr().err


def test_a_folder_does_not_read_predicts_own_plot_as_a_photo(model_path, tmp_path):
    """face.jpg predicted into its own folder left face.png there; the folder predicted next read it as a photo."""
    photo = _photo(tmp_path / "photos")
    (tmp_path / "photos" / "other.png").write_bytes(cv2.imencode(".png", _astronaut())[1].tobytes())
    assert predict(photo, str(model_path), photo.parent, workers=0).png == photo.parent / "face.png"
    res = predict(photo.parent, str(model_path), tmp_path / "out", workers=0, plot=False)
    assert res.read().file.tolist() == ["face.jpg", "other.png"]
    assert res.skipped == ["face.csv", "face.png (aukit predict's plot)"]
