"""`aukit predict` on media as users have it: containers without a frame count, several inputs where
one fails. Container quirks that cv2.VideoWriter cannot write are simulated by wrapping
cv2.VideoCapture (ffmpeg is not a dependency)."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch.nn as nn
from skimage import data as skdata

from aukit import deploy
from aukit.cli import main
from aukit.predict import frames as F
from aukit.predict import predict
from aukit.registry import register_model

AUS = ["AU06", "AU12"]
NO_COUNT = -1.3835058055282163e+17     # what OpenCV reports for a MediaRecorder WebM or a piped MKV
REAL_CAPTURE = cv2.VideoCapture


@register_model
def _media_test_net(n_out: int = 2):
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, n_out), nn.Sigmoid())


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    spec = deploy.DeploySpec(model="_media_test_net", policy="tas", size=128, aus=AUS, output="intensity",
                             dataset="synthau-disfa", method="test")
    return str(deploy.export(tmp_path_factory.mktemp("m") / "deploy.pt", _media_test_net(), spec))


def _face():
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


def _read(csv):
    return pd.read_csv(csv, comment="#")


def _clip(path, frames: int):
    """An MJPG clip at 10 fps of the astronaut drifting 2 px a frame."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for t in range(frames):
        vw.write(np.roll(_face(), 2 * t, axis=1))
    vw.release()
    return path


class _Capture:
    """cv2.VideoCapture with some properties replaced (``props``: {cv2.CAP_PROP_...: value})."""
    props: dict = {}

    def __init__(self, path):
        self.cap = REAL_CAPTURE(path)

    def get(self, prop):
        return self.props[prop] if prop in self.props else self.cap.get(prop)

    def __getattr__(self, name):
        return getattr(self.cap, name)


def _capture(monkeypatch, **props):
    """Make predict's reader see the container properties ``props`` (names without CAP_PROP_)."""
    cls = type("Capture", (_Capture,), {"props": {getattr(cv2, f"CAP_PROP_{k}"): v for k, v in props.items()}})
    monkeypatch.setattr(F.cv2, "VideoCapture", cls)


def test_a_video_without_a_frame_count_is_read_to_its_end(model_path, tmp_path, monkeypatch, capsys):
    """A browser's WebM declares no count: OpenCV's -1.4e17 emptied the start-up read (IndexError)."""
    clip = _clip(tmp_path / "webcam.avi", 7)
    _capture(monkeypatch, FRAME_COUNT=NO_COUNT)
    frames, info = F.read_frames(clip)
    assert info["n_frames"] == 0 and [f.index for f in frames] == list(range(7))
    res = predict(clip, model_path, tmp_path / "out", workers=0, plot=False)
    assert res.n_frames == 7 and _read(res.csv).frame.tolist() == list(range(1, 8))
    assert main(["predict", str(clip), "--model", model_path, "--out", str(tmp_path / "cli"), "--workers", "0"]) == 0
    assert "7frame" in capsys.readouterr().err.replace(" ", "")      # a bar with no total counts what it read


def test_one_input_that_fails_is_named_and_the_others_still_run(model_path, tmp_path, monkeypatch, capsys):
    """Only an unreadable input was caught: any other error in one input stopped every later one."""
    from aukit.predict import run
    photos = []
    for name in ("a", "b", "c"):
        photos.append(tmp_path / f"{name}.png")
        cv2.imwrite(str(photos[-1]), _face())
    real = run.read_frames

    def broken_on_b(path, **kw):
        if F.Path(path).stem == "b":
            raise RuntimeError("decoder fell over")
        return real(path, **kw)
    monkeypatch.setattr(run, "read_frames", broken_on_b)
    args = ["predict", *map(str, photos), "--model", model_path, "--out", str(tmp_path / "out"), "--workers", "0",
            "--no-progress"]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert f"[2/3] {photos[1]} failed: RuntimeError: decoder fell over (AUKIT_DEBUG=1 shows" in err
    assert "Traceback" not in err
    assert [p.name for p in sorted((tmp_path / "out").glob("*.csv"))] == ["a.csv", "c.csv"]
    monkeypatch.setenv("AUKIT_DEBUG", "1")
    assert main(args) == 3 and "Traceback" in capsys.readouterr().err


def test_outputs_never_replace_a_file_predict_did_not_write(model_path, tmp_path, monkeypatch, capsys):
    """`predict dup/face.jpg --out dup` wrote the AU plot over the user's dup/face.png (and face.csv)."""
    from aukit.predict import run
    dup = tmp_path / "dup"
    dup.mkdir()
    cv2.imwrite(str(dup / "face.jpg"), _face())
    cv2.imwrite(str(dup / "face.png"), np.full((40, 40, 3), 7, np.uint8))       # the user's own picture
    before = (dup / "face.png").read_bytes()
    args = ["predict", str(dup / "face.jpg"), "--model", model_path, "--workers", "0", "--no-progress", "--out"]

    class NoModel:                                                             # refused before any work
        def __init__(self, *a, **kw):
            raise AssertionError("the model was loaded")
    with monkeypatch.context() as m:
        m.setattr(run, "Predictor", NoModel)
        assert main(args + [str(dup)]) == 2
    assert f"{dup / 'face.png'} is there and aukit predict did not write it" in capsys.readouterr().err
    assert (dup / "face.png").read_bytes() == before and not (dup / "face.csv").exists()
    (dup / "face.csv").write_text("subject,score\n1,2\n")                       # the user's CSV of that name
    with pytest.raises(F.InputError, match="face.csv is there .*its first line is not predict's header"):
        predict(dup / "face.jpg", model_path, dup, workers=0, plot=False)
    out = tmp_path / "out"                                                     # predict's own outputs: replaced
    for _ in range(2):
        assert main(args + [str(out), "--annotate"]) == 0
    said = capsys.readouterr().out                              # one photo: "1 image"; the video named too
    assert ": 1 image (0 unreadable), face found in 1; " in said and f"\n  {out / 'face_annotated.avi'}" in said
    assert "tracking" not in said and "images/s" in said                   # photos are not tracked
    assert {p.name for p in out.iterdir()} == {"face.csv", "face.png", "face_annotated.avi"}
    (out / "face.csv").unlink()                          # a plot whose CSV is gone is no longer known as predict's
    assert main(args + [str(out)]) == 2


def _two_people(path, frames: int, swap: int):
    """Two astronauts side by side (1024x512); the right one dimmed (the detector scores it lower) until
    frame ``swap``, the left one from there."""
    face = _face()
    dim = (face * 0.5 + 64).astype(np.uint8)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1024, 512))
    for t in range(frames):
        vw.write(np.concatenate([face, dim] if t < swap else [dim, face], axis=1))
    vw.release()
    return path


@pytest.mark.parametrize("workers", [0, 1])           # in-process, and over chunks a worker tracks apart
def test_one_face_a_frame_follows_the_person_and_says_others_were_seen(model_path, tmp_path, workers, capsys):
    """--max-faces 1 took the best-scoring face at every detection: with two people in view the rows
    switched person as their scores crossed. The face followed is kept while it is in view."""
    clip = _two_people(tmp_path / "two.avi", 20, swap=8)
    res = predict(clip, model_path, tmp_path / "out", workers=workers, plot=False, chunk=5)
    df = _read(res.csv)
    assert len(df) == 20 and df.success.all() and (df.face_id == 0).all()
    assert (df.face_x < 512).all()                              # the left person throughout
    note = "faces seen in 15 of 20 frames; kept one face, followed while in view (--max-faces 2 keeps 2"
    assert res.notes[0].startswith(f"2 or more {note}")     # the dim one is found from frame 6 (MJPG's scores)
    assert f"# {res.notes[0]}" in res.csv.read_text()
    assert main(["predict", str(clip), "--model", model_path, "--out", str(tmp_path / "cli"), "--workers", "0",
                 "--no-progress"]) == 0
    assert note in capsys.readouterr().err


def test_an_out_that_cannot_be_written_is_one_line_before_any_work(model_path, tmp_path, monkeypatch, capsys):
    """A read-only --out gave chained tracebacks after the model and the workers had started, the
    partial rows' clean-up raising a second error over the first."""
    import tempfile

    from aukit.predict import run
    from aukit.predict.output import PartialRows
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), _face())
    (tmp_path / "a_file").write_text("")
    args = ["predict", str(photo), "--model", model_path, "--workers", "0", "--no-progress", "--out"]

    def read_only(*a, **kw):
        raise OSError(30, "Read-only file system")
    with monkeypatch.context() as m:
        m.setattr(run, "Predictor", None)                   # not reached: nothing starts
        assert main(args + [str(tmp_path / "a_file" / "out")]) == 2
        assert capsys.readouterr().err.strip() == f"aukit predict: --out {tmp_path / 'a_file' / 'out'} cannot be " \
                                                  "written: Not a directory"
        m.setattr(tempfile, "TemporaryFile", read_only)
        assert main(args + [str(tmp_path / "ro")]) == 2
        assert "cannot be written: Read-only file system" in capsys.readouterr().err
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(F.InputError, match="cannot be written: Read-only"):     # the Python call: before reading
        predict(photo, model_path, tmp_path / "ro", workers=0)
    rows = PartialRows(tmp_path / "ro" / "x.partial.csv", photo)
    monkeypatch.setattr(F.Path, "unlink", read_only)
    assert rows.close(keep=False) is None                   # a second error would hide the first


def test_an_interrupted_rerun_leaves_the_finished_outputs_whole(model_path, tmp_path, monkeypatch, capsys):
    """The annotated video was written to its final name: Ctrl-C in a re-run left the old CSV and plot
    beside a new, cut-off video. And stopped before its first batch, predict said that what it left was
    named above: nothing was."""
    from aukit.predict import run
    clip, out = _clip(tmp_path / "clip.avi", 12), tmp_path / "out"
    kw = dict(workers=0, annotate_video=True, batch=2, chunk=2)
    predict(clip, model_path, out, **kw)
    whole = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(whole) == {"clip.csv", "clip.png", "clip_annotated.avi"}
    infer, calls = run._infer, []

    def stop_on(n):
        def fn(*a, **k):
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt
            return infer(*a, **k)
        return fn
    monkeypatch.setattr(run, "_infer", stop_on(3))
    with pytest.raises(KeyboardInterrupt):
        predict(clip, model_path, out, **kw)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name in whole} == whole     # untouched
    assert {p.name for p in out.iterdir()} - set(whole) == {"clip.partial.csv", "clip_annotated.partial.avi"}
    assert "their annotated frames in" in capsys.readouterr().err
    monkeypatch.setattr(run, "_infer", infer)
    predict(clip, model_path, out, **kw)                   # finished: the partial files go
    assert {p.name for p in out.iterdir()} == set(whole)
    calls.clear()
    monkeypatch.setattr(run, "_infer", stop_on(1))
    args = ["predict", str(clip), "--model", model_path, "--out", str(tmp_path / "new"), "--workers", "0",
            "--no-progress"]
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"interrupted in {clip}; it left nothing of that input (stopped before its first rows)" in err
    assert "named above" not in err and list((tmp_path / "new").iterdir()) == []


class _Times:
    """A capture whose position (CAP_PROP_POS_MSEC) reads the given times in turn."""

    def __init__(self, ms):
        self.ms = iter(ms)

    def get(self, prop):
        return next(self.ms)


def test_container_times_that_go_back_or_repeat_are_not_passed_on(model_path, tmp_path, monkeypatch):
    """86 of 150 container times repeated and the CSV had them; from the first that goes back or
    repeats the clock counts frames / fps, and the header and the result say so."""
    clock = F.VideoClock(_Times([0.0, 100.0, 200.0, 200.0, 150.0, 900.0]), fps=10)
    assert [clock.stamp(i, True) for i in range(6)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert clock.source == "container+index/fps" and "repeat at frame 4:" in clock.note
    fine = F.VideoClock(_Times([0.0, 100.0, 700.0]), fps=5)
    assert [fine.stamp(0, True), fine.stamp(1, True), fine.stamp(2, False), fine.stamp(3, True)] == \
        pytest.approx([0.0, 0.1, 0.3, 0.7]) and fine.source == "container" and not fine.note
    clip = _clip(tmp_path / "muxed.avi", 6)
    _capture(monkeypatch, POS_MSEC=100.0)                     # every frame at 0.1 s
    res = predict(clip, model_path, tmp_path / "out", workers=0, plot=False)
    assert _read(res.csv).timestamp.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert "timestamps=container+index/fps" in res.csv.read_text() and "repeat at frame 2" in res.notes[0]
