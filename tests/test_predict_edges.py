"""`aukit predict` at the edges users reach: outputs that would overwrite inputs, long recordings'
timestamps, a video whose first frames do not decode, smoothing and occurrence, symlinked inputs,
motion photos, folders of unreadable files, macOS metadata files, odd file names."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pandas as pd
import pytest
import torch.nn as nn
from skimage import data as skdata

from aukit import deploy
from aukit.cli import main
from aukit.data.imagefile import CUT_SHORT, read_bgr
from aukit.predict import InputError, predict
from aukit.predict.frames import output_names, read_frames
from aukit.predict.output import curves_figure, write_csv
from aukit.registry import register_model

AUS = ["AU06", "AU12"]


@register_model
def _edge_test_net(n_out: int = 2):
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, n_out), nn.Sigmoid())


def _model(path, output="intensity"):
    spec = deploy.DeploySpec(model="_edge_test_net", policy="tas", size=128, aus=AUS, output=output,
                             dataset="synthau-disfa", method="test")
    return str(deploy.export(path, _edge_test_net(), spec))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("m") / "deploy.pt")


def _face():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


def _read(csv):
    return pd.read_csv(csv, comment="#")


def test_outputs_never_overwrite_an_input(model_path, tmp_path, capsys):
    """Predicting face.png into its own folder wrote the curves over the photo; a folder's plot
    written among its frames was read as a photo by the next run."""
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    before = photo.read_bytes()
    with pytest.raises(InputError, match=r"face.png would overwrite the input"):
        predict(photo, model_path, tmp_path, workers=0)
    assert photo.read_bytes() == before and not (tmp_path / "face.csv").exists()
    with pytest.raises(InputError, match="is the input folder"):
        predict(tmp_path, model_path, tmp_path, workers=0)
    (tmp_path / "taken").write_text("")
    assert main(["predict", str(photo), "--model", model_path, "--out", str(tmp_path / "taken"), "--workers", "0",
                 "--no-progress"]) == 2
    assert "taken is a file, not a folder" in capsys.readouterr().err
    assert predict(photo, model_path, tmp_path / "out", workers=0).n_faces == 1      # elsewhere: fine


def test_csv_keeps_the_times_of_a_long_recording(tmp_path):
    """A fixed 4 significant digits wrote 1201 for every frame of a second 20 minutes in."""
    df = pd.DataFrame({"frame": [36000, 36001], "timestamp": [1201.2012, 1201.2346], "x_0": [1803.25, 12.5],
                       "AU06_r": [0.123, np.nan]})
    got = _read(write_csv(df, tmp_path / "t.csv", ["input=a\nb.mp4"]))
    assert got["timestamp"].tolist() == [1201.2012, 1201.2346] and got["x_0"].tolist() == [1803.25, 12.5]
    assert np.isnan(got["AU06_r"].iloc[1])
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "# input=a\\nb.mp4"   # a header line stays a comment
    # written whole or not at all: a run killed while writing left a cut CSV whose header said it was complete
    (tmp_path / "t.csv").write_text("earlier\n")

    class Boom:
        def __str__(self):
            raise OSError("disk full")
    bad = df.astype(object)
    bad.loc[1, "x_0"] = Boom()
    with pytest.raises(OSError, match="disk full"):
        write_csv(bad, tmp_path / "t.csv", ["input=x"])
    assert (tmp_path / "t.csv").read_text() == "earlier\n"


def _mjpg_with_bad_start(path, n=8, bad=2):
    """An MJPG AVI of the astronaut whose first ``bad`` frames' JPEG data are zeroed."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for t in range(n):
        vw.write(np.roll(_face(), 2 * t, axis=1))
    vw.release()
    raw = bytearray(path.read_bytes())
    at = raw.index(b"movi")                    # the frames' chunks follow (the header may name '00dc' too)
    for _ in range(bad):
        at = raw.index(b"00dc", at + 4)
        size = int.from_bytes(raw[at + 4:at + 8], "little")
        raw[at + 8:at + 8 + size] = bytes(size)
    path.write_bytes(bytes(raw))
    return path


def test_a_video_whose_first_frames_do_not_decode_keeps_the_rest(model_path, tmp_path):
    clip = _mjpg_with_bad_start(tmp_path / "clip.avi")
    res = predict(clip, model_path, tmp_path / "out", workers=0, detect_every=1)
    df = _read(res.csv)
    assert df["frame"].tolist() == list(range(1, 9)) and df["success"].tolist() == [0, 0] + [1] * 6
    assert res.unreadable == 2 and df.loc[:1, "AU06_r"].isna().all()
    assert res.problems == ["frames 1-2: the video's frame does not decode"]       # one run, said once
    step = _read(predict(clip, model_path, tmp_path / "step", workers=0, frame_step=3).csv)
    assert step["frame"].tolist() == [1, 4, 7] and step["success"].tolist() == [0, 1, 1]
    with pytest.raises(InputError, match=r"no readable frames \(the first 3 frames do not decode; codec 'MJPG': "
                                         r"damaged frames, or a codec this OpenCV does not decode\)"):
        read_frames(_mjpg_with_bad_start(tmp_path / "dead.avi", n=3, bad=3))


def test_smoothing_carries_to_occurrence_and_refuses_photos(tmp_path):
    occ = _model(tmp_path / "occ.pt", output="probs")
    vw = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for t in range(12):
        vw.write(np.roll(_face(), 9 * t, axis=0))
    vw.release()
    df = _read(predict(tmp_path / "clip.avi", occ, tmp_path / "out", workers=0, smooth=5).csv)
    for au in AUS:
        p = df[f"{au}_p"].to_numpy()
        np.testing.assert_array_equal(df[f"{au}_c"].to_numpy(), np.where(np.isnan(p), np.nan, p >= 0.5))
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), _face())
    with pytest.raises(ValueError, match="is a folder of photos"):
        predict(folder, occ, tmp_path / "o2", workers=0, smooth=3)
    assert predict(folder, occ, tmp_path / "o3", workers=0, smooth=3, frames=True).n_faces == 1


def test_symlinked_inputs_are_named_as_given(tmp_path):
    """git-annex / DataLad: sub01.mp4 and sub02.mp4 may link to one object named by its hash."""
    obj = tmp_path / ".git/annex/objects/ab/SHA256E-s1--dead.mp4"
    obj.parent.mkdir(parents=True)
    obj.write_bytes(b"\0")
    for name in ("sub01.mp4", "sub02.mp4"):
        os.symlink(obj, tmp_path / name)
    assert output_names([tmp_path / "sub01.mp4", tmp_path / "sub02.mp4"]) == ["sub01", "sub02"]
    with pytest.raises(InputError, match="an input is given twice"):
        output_names([tmp_path / "sub01.mp4", tmp_path / "." / "sub01.mp4"])


def test_a_motion_photo_is_a_photo_and_a_cut_one_is_not(tmp_path):
    """Phones append a short video after the JPEG's end marker; the picture is whole."""
    ok, buf = cv2.imencode(".jpg", _face())
    jpeg = buf.tobytes()
    (tmp_path / "PXL_1.MP.jpg").write_bytes(jpeg + b"\0\0\0\x18ftypmp42" + os.urandom(3000))
    img, why = read_bgr(tmp_path / "PXL_1.MP.jpg")
    assert why == "" and img.shape == (512, 512, 3)
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) * 2 // 3])
    assert read_bgr(tmp_path / "cut.jpg") == (None, f"{CUT_SHORT}: cut.jpg")


def test_folder_of_unreadable_files_exits_2_and_hidden_files_are_not_frames(model_path, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "1.jpg").write_bytes(b"")
    (folder / "2.jpg").write_bytes(b"not an image")
    args = ["predict", str(folder), "--model", model_path, "--out", str(tmp_path / "out"), "--workers", "0",
            "--no-progress"]
    assert main(args) == 2                  # nothing could be read: not "no face" (1)
    cv2.imwrite(str(folder / "3.png"), _face())
    (folder / "._3.png").write_bytes(b"\0\x05\x16\x07")                  # macOS AppleDouble metadata
    assert main(args) == 0
    assert _read(tmp_path / "out" / "bad.csv")["frame"].tolist() == [1, 2, 3]


def test_annotated_video_keeps_frames_before_the_first_image(model_path, tmp_path):
    """A block of unreadable frames only (256 and more) came before the writer had a frame size:
    it was dropped from the annotated video."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(260):
        (folder / f"{i}.jpg").write_bytes(b"")
    cv2.imwrite(str(folder / "300.png"), _face())
    res = predict(folder, model_path, tmp_path / "out", workers=0, annotate_video=True, plot=False)
    cap = cv2.VideoCapture(str(tmp_path / "out" / "frames_annotated.avi"))
    assert res.n_frames == 261 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 261


def test_one_photo_is_a_bar_chart_and_a_lone_frame_a_point():
    """A single image's curves were one invisible point on a -0.04..0.04 frame axis."""
    df = pd.DataFrame({"frame": [0, 0], "face_id": [0, 1], "timestamp": [0.0, 0.0], "success": [1, 1],
                       "AU06_r": [2.0, 4.0], "AU12_r": [1.0, 0.5]})
    fig = curves_figure(df, AUS, "one photo")
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert len(fig.axes) == 1 and heights == [0.5, 1.0, 2.0, 4.0]          # two faces x two AUs
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == AUS
    gap = pd.DataFrame({"frame": [0, 1, 2], "face_id": [0, 0, 0], "timestamp": [0.0, 0.1, 0.2],
                        "success": [0, 1, 0], "AU06_r": [np.nan, 2.0, np.nan], "AU12_r": [np.nan, 1.0, np.nan]})
    assert curves_figure(gap, AUS, "clip").axes[0].lines[0].get_marker() == "o"   # seen once between gaps


def test_a_folder_of_photos_is_a_heatmap_of_photo_by_au():
    """Unrelated photos drawn as curves over 'frame' joined them into a time series."""
    df = pd.DataFrame({"frame": [0, 1, 2, 2], "file": ["a.jpg", "b.jpg", "group.jpg", "group.jpg"],
                       "face_id": [0, 0, 0, 1], "timestamp": [0.0] * 4, "success": [1, 0, 1, 1],
                       "AU06_r": [2.0, np.nan, 4.0, 1.0], "AU12_r": [1.0, np.nan, 0.5, 3.0]})
    fig = curves_figure(df, AUS, "photos", photos=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a.jpg", "b.jpg", "group.jpg #0", "group.jpg #1"]
    values = ax.collections[0].get_array()
    assert values.size == 8 and np.ma.count_masked(values) == 2             # b.jpg has no face: no value
    assert curves_figure(df, AUS, "frames").axes[0].lines                   # --frames: curves over time


def test_annotation_is_drawn_after_scaling_a_photo_to_the_video():
    """A 4000x3000 photo's box was drawn 2 px wide, then shrunk away; a 64-px photo's 'no face'
    was enlarged 9x over the picture; an unreadable photo said 'no face'."""
    import pandas as pd

    from aukit.predict.output import annotate, fit
    big = np.full((3000, 4000, 3), 255, np.uint8)
    fitted, scale, offset = fit(big, 300, 400)
    assert fitted.shape == (300, 400, 3) and scale == pytest.approx(0.1) and offset == (0, 0)
    row = pd.Series({"success": 1, "face_id": 0, "face_x": 1000, "face_y": 1000, "face_w": 1000, "face_h": 1000,
                     **{f"x_{i}": 1500 for i in range(68)}, **{f"y_{i}": 1500 for i in range(68)}, "AU06_r": 2.0})
    out = annotate(fitted, row, ["AU06"], scale=scale, offset=offset)
    green = (out[..., 1] == 255) & (out[..., 0] == 0) & (out[..., 2] == 0)
    ys, xs = np.nonzero(green)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (99, 99, 201, 201)     # the box at 1/10, 2 px wide
    small = np.zeros((64, 64, 3), np.uint8)
    fitted, scale, offset = fit(small, 300, 400)
    blank = annotate(fitted, [], ["AU06"], scale=scale, offset=offset, empty="unreadable")
    red = (blank[..., 2] == 255) & (blank[..., 1] == 0)
    assert 0 < red.sum() < 0.02 * red.size                                    # the word at the video's size


def test_a_video_cut_short_names_its_missing_frames_once(model_path, tmp_path, monkeypatch):
    """A file cut at 60 %: 47 rows each said 'does not decode' and the header listed 20 of them."""
    import cv2
    path = tmp_path / "cut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for _ in range(4):
        w.write(np.zeros((64, 64, 3), np.uint8))
    w.release()
    real = cv2.VideoCapture.get
    monkeypatch.setattr(cv2.VideoCapture, "get",          # the container still declares the 10 frames recorded
                        lambda self, prop: 10.0 if prop == cv2.CAP_PROP_FRAME_COUNT else real(self, prop))
    res = predict(path, model_path, tmp_path / "o", workers=0, plot=False)
    assert res.n_frames == 10 and res.unreadable == 6
    assert res.problems == ["frames 5-10: the video's frame does not decode (to the end: the file may be cut short)"]
    assert "# unreadable: frames 5-10: " in res.csv.read_text()
