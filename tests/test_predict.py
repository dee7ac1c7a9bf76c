"""aukit predict on real and broken inputs (tiny deployable model, CPU)."""
from __future__ import annotations

import dataclasses
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn
from skimage import data as skdata

from aukit import deploy
from aukit.predict import InputError, predict
from aukit.registry import register_model

AUS = ["AU06", "AU12"]


@register_model
def _predict_test_net(n_out: int = 2):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, n_out), nn.Sigmoid())


def export_test_model(folder):
    """The tests' predict model (2 AUs, intensity, TAS's face policy at 128 px) exported to ``folder/deploy.pt``."""
    spec = deploy.DeploySpec(model="_predict_test_net", policy="tas", size=128, aus=AUS, output="intensity",
                             kwargs={"n_out": 2}, dataset="synthau-disfa", method="test")
    return deploy.export(folder / "deploy.pt", _predict_test_net(), spec)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_test_model(tmp_path_factory.mktemp("m"))


def _read(csv):
    return pd.read_csv(csv, comment="#")


def test_astronaut_one_face(model_path, tmp_path):
    img = tmp_path / "astronaut.png"
    cv2.imwrite(str(img), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    res = predict(img, str(model_path), tmp_path / "out", workers=0)
    df = _read(res.csv)
    assert len(df) == 1 and df.success.iloc[0] == 1
    x, y, w, h = df.loc[0, ["face_x", "face_y", "face_w", "face_h"]]
    xs = df.loc[0, [f"x_{i}" for i in range(68)]].to_numpy(float)
    ys = df.loc[0, [f"y_{i}" for i in range(68)]].to_numpy(float)
    inside = ((xs >= x - 0.15 * w) & (xs <= x + 1.15 * w) & (ys >= y - 0.15 * h) & (ys <= y + 1.15 * h)).mean()
    assert inside > 0.95
    assert 0 <= df.AU06_r.iloc[0] <= 5
    assert "SynthAU" in res.csv.read_text().splitlines()[1]
    assert res.png is not None and res.png.exists()
    assert 0 < res.startup_s < res.seconds and res.steady_frames_per_s > res.frames_per_s

    # the Python call the README and the issue name: aukit.predict(...), after a bare `import aukit`
    import subprocess
    import sys
    import aukit
    again = aukit.predict(img, str(model_path), tmp_path / "again", workers=0, plot=False)
    pd.testing.assert_frame_equal(again.read(), df)
    # a model loaded in the caller's code (it raised "expected str, bytes or os.PathLike")
    from aukit import deploy
    loaded = aukit.predict(img, deploy.load(model_path), tmp_path / "loaded", workers=0, plot=False)
    pd.testing.assert_frame_equal(loaded.read(), df)
    assert "file=(a Deployed object in memory)" in loaded.csv.read_text()
    with pytest.raises(TypeError, match=r"model: a run name \(tas\), a deploy.pt path or an aukit.deploy.Deployed, "
                                        r"got Sequential \(a trained network: export it first"):
        aukit.predict(img, deploy.load(model_path).model, tmp_path / "raw", workers=0)
    code = "import aukit, sys; sys.exit(0 if callable(aukit.predict) and aukit.predict.Predictor else 1)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_folder_with_corrupt_and_faceless_frames(model_path, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / "000.jpg"), face)
    (folder / "001.jpg").write_bytes(b"not a jpeg at all")
    (folder / "006.png").write_bytes(b"")  # empty: OpenCV raises on it
    (folder / "notes.txt").write_text("session 3")                          # not images: named, not read
    (folder / "IMG_0001.HEIC").write_bytes(b"\0")
    (folder / ".DS_Store").write_bytes(b"\0")                                # hidden: neither
    (folder / "zz_exported.jpg").mkdir()                                     # a folder named like an image: not a frame
    cv2.imwrite(str(folder / "002.jpg"), np.full((200, 200, 3), 127, np.uint8))  # no face
    cv2.imwrite(str(folder / "003.jpg"), face)
    whole = (folder / "003.jpg").read_bytes()
    (folder / "004.jpg").write_bytes(whole[: len(whole) * 2 // 3])  # cut short: libjpeg would grey-fill it
    mid = len(whole) // 2
    (folder / "005.jpg").write_bytes(whole[:mid] + bytes(200) + whole[mid + 200:])  # a zeroed block: garbage after it
    res = predict(folder, str(model_path), tmp_path / "out", workers=0, detect_every=2)
    df = _read(res.csv)
    assert list(df.frame) == [0, 1, 2, 3, 4, 5, 6]          # the files' own numbers (000.jpg is frame 0)
    assert list(df.success) == [1, 0, 0, 1, 0, 0, 0]
    assert df.loc[[1, 2, 4, 5, 6], "AU06_r"].isna().all() and df.loc[[0, 3], "AU06_r"].notna().all()
    assert res.unreadable == 4 and res.n_faces == 2
    assert list(df.file) == ["000.jpg", "001.jpg", "002.jpg", "003.jpg", "004.jpg", "005.jpg", "006.png"]
    assert res.problems == ["frame 1: unreadable image 001.jpg (a text file, not an image)",
                            "frame 4: JPEG cut short (no end-of-image marker): 004.jpg",
                            "frame 5: damaged JPEG (Corrupt JPEG data: 161 extraneous bytes before marker 0xd9): 005.jpg",
                            "frame 6: empty file 006.png"]
    header = [line for line in res.csv.read_text().splitlines() if line.startswith("# unreadable:")]
    assert header == ["# unreadable: " + "; ".join(res.problems)]
    assert res.skipped == ["IMG_0001.HEIC", "notes.txt", "zz_exported.jpg/"]
    assert "# skipped, not images: 3 file(s) or folder(s): IMG_0001.HEIC, notes.txt, zz_exported.jpg/" in \
        res.csv.read_text().splitlines()


def test_a_folder_is_detected_image_by_image_unless_told_otherwise(model_path, tmp_path):
    """A folder may hold unrelated photos: by default every image is detected (a track carried from
    one photo into the next is fitted where the last face was). With the tracker trusted
    (track_ncc 0) a photo of the face 80 px further right shows the difference: tracked, its
    landmarks stay behind; detected, they match the photo predicted alone. A video keeps k = 5."""
    folder = tmp_path / "photos"
    folder.mkdir()
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / "a.png"), face)
    cv2.imwrite(str(folder / "b.png"), np.roll(face, 80, axis=1))
    kw = dict(workers=0, plot=False, track_ncc=0)
    xs = [f"x_{i}" for i in range(68)]
    default = predict(folder, str(model_path), tmp_path / "default", **kw)
    tracked = _read(predict(folder, str(model_path), tmp_path / "tracked", detect_every=5, **kw).csv)
    alone = _read(predict(folder / "b.png", str(model_path), tmp_path / "alone", **kw).csv)
    assert "detect_every=1 " in default.csv.read_text()
    got = _read(default.csv)
    assert np.abs(got.loc[1, xs].to_numpy(float) - alone.loc[0, xs].to_numpy(float)).max() < 1e-6
    assert np.abs(tracked.loc[1, xs].to_numpy(float) - alone.loc[0, xs].to_numpy(float)).mean() > 10
    video = predict(_clip(tmp_path / "clip.avi", 2), str(model_path), tmp_path / "video", **kw)
    assert "detect_every=5 " in video.csv.read_text()


def test_annotated_video_of_photos_of_other_sizes(model_path, tmp_path):
    """The annotated video takes the first image's size; a later photo of another size and shape
    is scaled into it whole, between black bars (it used to be written as a black frame)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / "a.png"), face)
    cv2.imwrite(str(folder / "b.png"), cv2.resize(face, (384, 256)))  # 3:2, scaled to 512 x 341
    predict(folder, str(model_path), tmp_path / "out", workers=0, plot=False, annotate_video=True)
    cap = cv2.VideoCapture(str(tmp_path / "out" / "photos_annotated.avi"))
    frames = [cap.read()[1] for _ in range(2)]
    assert all(f is not None and f.shape == (512, 512, 3) for f in frames)
    second = frames[1].astype(float)
    assert second[:80].mean() < 8 and second[-80:].mean() < 8          # the bars
    assert second[100:410].mean() > 60                                 # the photo


def test_a_small_face_in_a_large_frame_is_found(model_path, tmp_path):
    """The astronaut at 640 px (a 124 px dlib box) in a 1920x1080 frame: detection on the copy
    downscaled to 640 px sees a 41 px face and misses it; with min_face (default 100) it looks
    again at the scale where 100 px become DLIB_MIN_BOX and finds it where the full frame does
    (within the step between two levels of the detector's pyramid). min_face 150 looks at a
    scale where this face is 50 px: missed. With --max-faces 2 the second look also runs when
    the first found one face, a large one, and finds the small one beside it."""
    from aukit.data.align import FaceAligner
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[300:940, 800:1440] = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (640, 640),
                                          interpolation=cv2.INTER_AREA)
    img = tmp_path / "wide.png"
    cv2.imwrite(str(img), frame)
    full = FaceAligner("tas", min_face=None)
    full.policy = dataclasses.replace(full.policy, det_max_side=1920)
    truth, _ = full.detect(frame, bgr=True)
    assert truth is not None and 110 <= truth[2] - truth[0] <= 140
    assert FaceAligner("tas").detect(frame, bgr=True)[0] is None                 # the 640 px copy alone
    assert FaceAligner("tas", min_face=150).detect(frame, bgr=True)[0] is None
    found, _ = FaceAligner("tas", min_face=100).detect(frame, bgr=True)
    assert found is not None and np.abs(np.subtract(found, truth)).max() <= 0.15 * (truth[2] - truth[0])
    res = predict(img, str(model_path), tmp_path / "out", workers=0, plot=False)
    assert _read(res.csv).success.tolist() == [1] and "min_face=100 " in res.csv.read_text()
    assert _read(predict(img, str(model_path), tmp_path / "off", workers=0, plot=False,
                         min_face=None).csv).success.tolist() == [0]
    # beside a large face (found on the 640 px copy) the small one is looked for when two are wanted
    small = frame[300:940, 800:1440].copy()
    frame[:, :1080] = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (1080, 1080))
    frame[:, 1080:] = 90
    frame[300:940, 1200:1840] = small
    two = FaceAligner("tas", min_face=100)
    assert len(two.detect_all(frame, bgr=True)) == 1
    centres = sorted((b[0] + b[2]) / 2 for b, _ in two.detect_all(frame, bgr=True, want=2)[:2])  # the best two
    assert centres[0] < 1080 and 1200 < centres[1] < 1840


def test_faces_under_60_px_are_found_on_an_enlarged_copy():
    """--min-face 30 did nothing: the second look never went closer than the frame itself, where dlib
    misses faces under ~55 px. It now enlarges the copy (up to 2x); below 30 px is refused."""
    from aukit.data.align import FaceAligner
    face = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[20:220, 60:260] = face                       # a dlib box of about 40 px
    assert FaceAligner("tas", min_face=100).detect(frame, bgr=True)[0] is None
    box, _ = FaceAligner("tas", min_face=35).detect(frame, bgr=True)
    assert box is not None and 25 <= box[2] - box[0] <= 60 and 60 <= box[0] and box[2] <= 260
    with pytest.raises(ValueError, match="dlib finds faces of 30 px and more"):
        FaceAligner("tas", min_face=20)


class _WindowLength(nn.Module):
    """A sequence model that reports, for each frame, how many frames its causal window holds:
    reading a batch as one sequence, frame t sees min(t, context) + 1 frames (CPC's contract)."""
    context = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        t = torch.arange(len(x), dtype=torch.float32)
        return ((t.clamp(max=self.context) + 1) / 5 + 0 * self.w)[:, None].repeat(1, 2)


@register_model
def _predict_window_net():
    return _WindowLength()


def test_sequence_model_context_over_batches_gaps_and_photos(tmp_path):
    """CPC's contract in predict: frame t's window is full once `context` earlier frames of the same
    face exist, wherever inference batches fall (batch 2 gives what batch 64 gives); a frame without
    the face starts a new sequence; photos are read one by one unless the folder is one video's frames."""
    spec = deploy.DeploySpec(model="_predict_window_net", policy="tas", size=128, aus=AUS, output="intensity",
                             dataset="synthau-disfa", method="test")
    path = deploy.export(tmp_path / "seq.pt", _predict_window_net(), spec)
    clip = _clip(tmp_path / "clip.avi", 9, black=4)
    want = [1, 2, 3, 3, None, 1, 2, 3, 3]
    for batch, chunk in ((64, 32), (2, 2)):
        df = _read(predict(clip, str(path), tmp_path / f"b{batch}", workers=0, plot=False, batch=batch, chunk=chunk,
                           detect_every=1).csv)                   # chunks (and groups) of 2 frames: runs span them
        assert [None if np.isnan(v) else round(v) for v in df.AU06_r] == want, (batch, chunk)
    folder = tmp_path / "frames"
    folder.mkdir()
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), np.roll(face, 2 * i, axis=1))
    photos = _read(predict(folder, str(path), tmp_path / "photos", workers=0, plot=False, batch=2).csv)
    frames = _read(predict(folder, str(path), tmp_path / "as_frames", workers=0, plot=False, batch=2, frames=True).csv)
    assert photos.AU06_r.round().tolist() == [1, 1, 1, 1] and frames.AU06_r.round().tolist() == [1, 2, 3, 3]
    assert "detect_every=5 " in (tmp_path / "as_frames" / "frames.csv").read_text()
    with pytest.raises(ValueError, match="reads 2 consecutive frames before each one: it cannot skip frames"):
        predict(clip, str(path), tmp_path / "step", workers=0, plot=False, frame_step=2)


def test_track_history_splits_runs_per_face():
    """Two faces over two groups: each face's run goes on across the groups with its own last faces
    in front; a frame a face misses ends its run."""
    from aukit.predict.faces import FaceResult
    from aukit.predict.infer import TrackHistory

    def face(track, tag):
        return FaceResult(True, face=track, aligned=np.full((1, 1, 3), tag, np.uint8))

    h = TrackHistory(context=2, consecutive=True)
    g1 = [face(0, 10), face(1, 20), face(0, 11), face(1, 21), face(0, 12), FaceResult(False)]
    seqs = h.split(g1, [0, 0, 1, 1, 2, 2])
    assert [(run, [int(a[0, 0, 0]) for a in before]) for run, before in seqs] == [([0, 2, 4], []), ([1, 3], [])]
    g2 = [face(0, 13), face(1, 23)]                   # face 1 skipped frame 2: a new run
    seqs = h.split(g2, [3, 3])
    assert [(run, [int(a[0, 0, 0]) for a in before]) for run, before in seqs] == [([0], [11, 12]), ([1], [])]
    photos = TrackHistory(context=2, consecutive=False)
    assert [run for run, _ in photos.split(g1, [0, 0, 1, 1, 2, 2])] == [[0], [2], [4], [1], [3]]
    # a face detected afresh after a failed track check (a cut to another person) starts a new run:
    # CPC read the first person's frames as the second's context
    cut = TrackHistory(context=2, consecutive=True)
    g3 = [face(0, 1), face(0, 2), dataclasses.replace(face(0, 3), redetected=True), face(0, 4)]
    assert [(run, [int(a[0, 0, 0]) for a in before]) for run, before in cut.split(g3, [0, 1, 2, 3])] == \
        [([0, 1], []), ([2, 3], [])]


def test_compiled_model_gives_the_eager_rows_and_falls_back(model_path, tmp_path, monkeypatch, recwarn):
    """--compile: the rows equal the plain model's; where compiling fails the plain model runs,
    with a warning, and the rows are the same again."""
    from aukit.predict import infer
    path = _clip(tmp_path / "clip.avi", 4, black=9)
    kw = dict(workers=0, plot=False)
    plain = _read(predict(path, str(model_path), tmp_path / "plain", **kw).csv)
    compiled = _read(predict(path, str(model_path), tmp_path / "compiled", compile=True, **kw).csv)
    pd.testing.assert_frame_equal(plain, compiled, atol=1e-3, rtol=0)
    failed = [str(w.message) for w in recwarn if "torch.compile failed" in str(w.message)]
    if shutil.which("g++") or shutil.which("c++"):                 # inductor's CPU backend can build here
        assert failed == []

    def broken(model):
        def run(x):
            raise RuntimeError("no C++ compiler found\nmore lines")
        return run
    monkeypatch.setattr(infer.torch, "compile", broken)
    fallback = _read(predict(path, str(model_path), tmp_path / "fallback", compile=True, **kw).csv)
    pd.testing.assert_frame_equal(plain, fallback)
    assert any("torch.compile failed (RuntimeError: no C++ compiler found)" in str(w.message) for w in recwarn)


def test_single_image_cut_short_is_refused_with_the_reason(model_path, tmp_path):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    img = tmp_path / "face.jpg"
    img.write_bytes(buf.tobytes()[:-1000])
    with pytest.raises(InputError, match="face.jpg: JPEG cut short"):
        predict(img, str(model_path), tmp_path / "out", workers=0)


def test_numbered_frames_in_number_order(model_path, tmp_path):
    # BP4D names frames 1.jpg ... 2440.jpg without zero padding: 2 comes before 10
    from aukit.predict.frames import natural_key
    folder = tmp_path / "seq"
    folder.mkdir()
    for name in ("10.png", "2.png", "1.png", "100.png", "frame_9.png", "frame_11.png"):
        cv2.imwrite(str(folder / name), np.full((40, 40, 3), 100, np.uint8))
    res = predict(folder, str(model_path), tmp_path / "out", workers=0, plot=False)
    df = _read(res.csv)
    assert list(df.file) == ["1.png", "2.png", "10.png", "100.png", "frame_9.png", "frame_11.png"]
    assert list(df.frame) == list(range(1, 7)) and (df.success == 0).all()
    assert sorted(["b2", "a10", "a9", "A1"], key=natural_key) == ["A1", "a9", "a10", "b2"]


def _clip(path, frames: int, black: int = 3, others: dict | None = None):
    """An MJPG clip at 10 fps: the astronaut drifting 2 px a frame, frame ``black`` all black,
    frames in ``others`` replaced by those (BGR) images."""
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    others = {black: np.zeros_like(face), **(others or {})}
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for t in range(frames):
        vw.write(others[t] if t in others else np.roll(face, 2 * t, axis=1))
    vw.release()
    return path


def test_video_rows_and_tracking(model_path, tmp_path):
    path = _clip(tmp_path / "clip.avi", 6)
    res = predict(path, str(model_path), tmp_path / "out", workers=0, detect_every=3, annotate_video=True)
    df = _read(res.csv)
    assert len(df) == 6 and list(df.success) == [1, 1, 1, 0, 1, 1]
    assert df.timestamp.iloc[5] == pytest.approx(0.5)
    assert (tmp_path / "out" / "clip_annotated.avi").exists()


def _vfr_mp4(path, durations: list[int]):
    """An MP4 (mp4v) of the drifting astronaut whose frames last ``durations`` ticks of 1/10240 s
    (a variable frame rate, as phones record): OpenCV writes a constant rate, so the sample-time
    table (stts) is rewritten and the sizes of the boxes around it fixed (moov follows mdat, so
    no data offset moves); the edit list goes, since it would end the track at the old length."""
    import struct
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (512, 512))
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    for t in range(len(durations)):
        vw.write(np.roll(face, t, axis=1))
    vw.release()
    d, parents, off = bytearray(path.read_bytes()), [], 0
    end = len(d)
    while off < end:                              # walk down moov/trak/mdia/minf/stbl to stts
        size, kind = struct.unpack_from(">I4s", d, off)
        if kind == b"stts":
            break
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            parents.append(off)
            off, end = off + 8, off + size
        else:
            off += size
    body = struct.pack(">II", 0, len(durations)) + b"".join(struct.pack(">II", 1, t) for t in durations)
    new = struct.pack(">I4s", 8 + len(body), b"stts") + body
    grow = len(new) - size
    d[off:off + size] = new
    for p in parents:
        struct.pack_into(">I", d, p, struct.unpack_from(">I", d, p)[0] + grow)
    e = d.find(b"edts")
    d[e:e + 4] = b"free"
    path.write_bytes(bytes(d))
    return path


def test_video_timestamps_follow_the_container_clock(model_path, tmp_path):
    """A variable frame rate: frame 2 comes 0.5 s after frame 1. index / fps (fps 6, the average)
    would put it at 0.33 s; the CSV has the container's times. A constant-rate clip keeps k / fps."""
    vfr = _vfr_mp4(tmp_path / "phone.mp4", [1024, 5120, 1024, 1024, 1024, 1024])
    res = predict(vfr, str(model_path), tmp_path / "out", workers=0, plot=False)
    df = _read(res.csv)
    assert df.timestamp.tolist() == pytest.approx([0.0, 0.1, 0.6, 0.7, 0.8, 0.9])
    assert "timestamps=container" in res.csv.read_text().splitlines()[0] and df.success.all()
    cfr = _read(predict(_clip(tmp_path / "clip.avi", 4, black=9), str(model_path), tmp_path / "out", workers=0,
                        plot=False).csv)
    assert cfr.timestamp.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_video_clock_without_container_times_and_over_a_bad_frame():
    """A backend that reports no position gives k / fps; a frame that failed to read sits one
    average frame after the previous one (not at 0, and never before it)."""
    from aukit.predict.frames import VideoClock

    class Cap:
        def __init__(self, ms):
            self.ms = iter(ms)

        def get(self, prop):
            assert prop == cv2.CAP_PROP_POS_MSEC
            return next(self.ms)

    still = VideoClock(Cap([0.0, 0.0, 0.0]), fps=4)
    assert [still.stamp(i, True) for i in range(3)] == [0.0, 0.25, 0.5] and still.source == "index/fps"
    moving = VideoClock(Cap([0.0, 100.0, 700.0]), fps=5)
    got = [moving.stamp(0, True), moving.stamp(1, True), moving.stamp(2, False), moving.stamp(3, True)]
    assert got == pytest.approx([0.0, 0.1, 0.3, 0.7]) and moving.source == "container"


def test_a_tracked_face_that_is_gone_is_not_reported(model_path, tmp_path):
    """Between detections dlib's shape predictor fits 68 points to anything: a black frame and a
    frame with no face (skimage's coffee cup) inside a tracked stretch get success 0, and the
    face is found again on the next frame."""
    cup = cv2.resize(cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR), (512, 512))
    path = _clip(tmp_path / "clip.avi", 8, black=2, others={4: cup})   # frames 1, 2 and 4 are tracked
    kw = dict(workers=0, plot=False, detect_every=5)
    res = predict(path, str(model_path), tmp_path / "out", **kw)
    df = _read(res.csv)
    assert list(df.success) == [1, 1, 0, 1, 0, 1, 1, 1]
    assert df.loc[[2, 4], "AU06_r"].isna().all() and res.redetected == 2
    assert "track_lost_redetected=2" in res.csv.read_text().splitlines()[3]
    trusting = _read(predict(path, str(model_path), tmp_path / "trusting", track_ncc=0, **kw).csv)
    assert list(trusting.success) == [1] * 8        # what the tracker alone reports


def test_bad_inputs(model_path, tmp_path):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"cannot open video .*empty.avi: the file is empty \(0 bytes\)"):
        predict(empty, str(model_path), tmp_path / "o", workers=0)
    notes = tmp_path / "notes.txt"                           # passed by mistake: neither an image nor a video
    notes.write_text("session notes")
    with pytest.raises(InputError, match="notes.txt is neither an image .* nor a video"):
        predict(notes, str(model_path), tmp_path / "o", workers=0)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no images"):
        predict(tmp_path / "nothing", str(model_path), tmp_path / "o", workers=0)
    for name in ("IMG_0002.HEIC", "IMG_0010.HEIC", "IMG_0001.HEIC", "notes.txt"):    # a phone's photos
        (tmp_path / "phone" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "phone" / name).write_bytes(b"\0")
    with pytest.raises(InputError, match=r"no images \(.*\); it has 4 other file\(s\) \(IMG_0001.HEIC, IMG_0002.HEIC, "
                                         r"IMG_0010.HEIC, \.\.\.\)"):
        predict(tmp_path / "phone", str(model_path), tmp_path / "o", workers=0)
    (tmp_path / "phone" / "interview.mp4").write_bytes(b"\0")                  # a folder of recordings
    with pytest.raises(InputError, match=r"it has 1 video\(s\) \(interview.mp4\): give them as inputs "
                                         r"\(.*phone/\*\) to predict each"):
        predict(tmp_path / "phone", str(model_path), tmp_path / "o", workers=0)
    with pytest.raises(FileNotFoundError, match="no deployable model.*no run folder under .* holds one"):
        predict(tmp_path / "nothing", "no_such_run", tmp_path / "o", workers=0, runs=tmp_path)


def test_models_lists_the_trained_models_predict_finds(model_path, tmp_path, capsys):
    """`aukit models` shows what `--model NAME` can take, read from each deploy.pt; a damaged one is
    a row saying so; a wrong name lists the names there are."""
    from aukit.cli import main
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    for folder in (runs / "tas_disfa", reports / "old" / "models", reports / "tas_disfa", runs / "empty"):
        folder.mkdir(parents=True)
    shutil.copy(model_path, runs / "tas_disfa" / "deploy.pt")
    shutil.copy(model_path, reports / "old" / "models" / "deploy.pt")
    shutil.copy(model_path, reports / "tas_disfa" / "deploy.pt")          # shadowed by runs/, as find() picks
    (runs / "broken").mkdir()
    (runs / "broken" / "deploy.pt").write_bytes(b"")
    (reports / "run_tas" / "model").mkdir(parents=True)                     # `aukit run tas --out reports/run_tas`
    shutil.copy(model_path, reports / "run_tas" / "model" / "deploy.pt")
    assert deploy.find("run_tas", (runs, reports)) == reports / "run_tas" / "model" / "deploy.pt"
    assert deploy.find(str(reports / "run_tas")) == reports / "run_tas" / "model" / "deploy.pt"   # the folder's path
    shutil.rmtree(reports / "run_tas")
    assert [n for n, _ in deploy.available((runs, reports))] == ["broken", "tas_disfa", "old"]
    assert main(["models", "--runs", str(runs), str(reports)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in out[2:5]}
    assert rows["tas_disfa"][1:6] == ["test", "synthau-disfa", "intensity", str(len(AUS)), "128"]
    assert rows["tas_disfa"][-1] == str(runs / "tas_disfa" / "deploy.pt")
    assert rows["old"][-1] == str(reports / "old" / "models" / "deploy.pt")
    assert "unreadable:" in " ".join(rows["broken"]) and "empty file" in " ".join(rows["broken"])
    # the shadowed copy is listed too, as one --model NAME does not reach
    assert out[5].startswith("  (tas_disfa: by path)") and out[5].endswith(str(reports / "tas_disfa" / "deploy.pt"))
    assert out[6].startswith("architectures") and "tas_resnet34" in out[7]
    with pytest.raises(FileNotFoundError, match=r"\(the run folders hold broken, tas_disfa, old\)"):
        deploy.find("tas", (runs, reports))


def test_chunk_reader_keeps_order_and_raises_reading_errors():
    from aukit.predict.frames import ChunkReader, Frame
    frames = (Frame(i, 0.0, None) for i in range(10))
    chunks = list(ChunkReader(frames, 4, ahead=1))
    assert [[f.index for f in c] for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    def broken():
        yield Frame(0, 0.0, None)
        raise OSError("disk gone at frame 1")
    with pytest.raises(OSError, match="disk gone"):
        list(ChunkReader(broken(), 1))
    with pytest.raises(ValueError, match="chunk size"):
        ChunkReader(iter([]), 0)


def test_folder_images_decoded_in_threads_keep_their_order():
    """A folder's images are decoded by several threads: results come in the files' order, never
    more than ``ahead`` are started before the consumer takes them, and leaving early stops the rest."""
    import threading
    import time
    from aukit.predict.frames import in_threads
    started, lock = [], threading.Lock()

    def slow(i):
        with lock:
            started.append(i)
        time.sleep(0.002 * ((7 * i) % 5))          # later items often finish first
        return i * i

    assert list(in_threads(slow, range(40), threads=4, ahead=8)) == [i * i for i in range(40)]
    started.clear()
    it = in_threads(slow, range(1000), threads=4, ahead=8)
    assert [next(it) for _ in range(3)] == [0, 1, 4]
    assert len(started) <= 3 + 8
    it.close()
    n = len(started)
    time.sleep(0.05)
    assert len(started) == n <= 3 + 8


def test_stream_over_worker_processes_returns_chunks_in_order():
    """Two worker processes, more chunks than may be in flight: results come back in order,
    one per frame, the faceless chunk without a face."""
    from aukit.predict.faces import FacePipeline
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    items = [(i, [np.roll(face, 3 * i, axis=1)] * 2 if i != 2 else [np.zeros_like(face)] * 2) for i in range(5)]
    pipe = FacePipeline("tas", detect_every=2, workers=2)
    try:
        out = list(pipe.stream(iter(items), inflight=2))
    finally:
        pipe.close()
    assert [tag for tag, _ in out] == [0, 1, 2, 3, 4]
    assert all(len(faces) == 1 for _, res in out for faces in res)          # one face a frame by default
    assert [[f[0].success for f in res] for _, res in out] == [[True, True], [True, True], [False, False],
                                                               [True, True], [True, True]]
    assert out[1][1][0][0].aligned.shape == (256, 256, 3)


def test_bgr_frames_give_what_the_aligner_gives_for_rgb():
    """Frames stay BGR from the decoder to the workers; the box, its score, the landmarks and the
    RGB aligned crop are exactly those of the aligner (as ``prepare`` runs it) on the RGB frame."""
    from aukit.data.align import FaceAligner
    from aukit.predict.faces import FacePipeline
    rgb = skdata.astronaut()
    big = cv2.resize(rgb, (1200, 1100))              # above det_max_side: the detector sees a downscaled copy
    pipe = FacePipeline("tas", detect_every=1, workers=0)
    try:
        got = [r for _, res in pipe.stream(iter([(0, [np.ascontiguousarray(im[..., ::-1]) for im in (rgb, big)])]))
               for faces in res for r in faces]
    finally:
        pipe.close()
    a = FaceAligner("tas")
    for im, r in zip((rgb, big), got):
        box, score = a.detect(im)
        lm = a.landmarks(im, box)
        assert r.success and r.confidence == score
        assert r.box == (box[0], box[1], box[2] - box[0], box[3] - box[1])
        np.testing.assert_array_equal(r.landmarks, lm)
        np.testing.assert_array_equal(r.aligned, a.warp(im, a.transform(lm, box)))


def test_face_pipeline_fails_fast_on_a_bad_policy():
    """Checked before any worker starts (a multiprocessing.Pool would respawn failing workers forever)."""
    from aukit.predict.faces import FacePipeline
    with pytest.raises(ValueError, match="unknown alignment policy"):
        FacePipeline("no_such_policy", workers=2)


def test_batches_flushed_mid_video_give_the_same_rows(model_path, tmp_path):
    """Inference in batches of 2 faces from chunks of 2 frames (several flushes, one across the
    faceless frame) writes the same rows as one batch for the whole clip."""
    path = _clip(tmp_path / "clip.avi", 7)
    kw = dict(workers=0, plot=False, detect_every=1)
    one = _read(predict(path, str(model_path), tmp_path / "one", **kw).csv)
    small = _read(predict(path, str(model_path), tmp_path / "small", batch=2, chunk=2, **kw).csv)
    assert list(small.success) == [1, 1, 1, 0, 1, 1, 1]
    pd.testing.assert_frame_equal(one, small)


def test_one_predictor_for_several_inputs_and_after_an_early_exit(model_path, tmp_path, monkeypatch):
    """A Predictor keeps its two worker processes across inputs: each input's CSV is the one
    predict() writes for it alone, including after a call that failed mid-stream (the chunks it
    left in the workers are dropped and their shared-memory blocks let go)."""
    from aukit.predict import Predictor, run
    a, b = _clip(tmp_path / "a.avi", 12), _clip(tmp_path / "b.avi", 9, black=5)
    alone = [_read(predict(v, str(model_path), tmp_path / "alone", workers=2, plot=False).csv) for v in (a, b)]
    real_infer = run._infer

    def broken(*args):
        raise RuntimeError("device lost")
    with Predictor(str(model_path), workers=2) as p:
        pool = p.pipe.pool
        monkeypatch.setattr(run, "_infer", broken)
        with pytest.raises(RuntimeError, match="device lost"):
            p(a, tmp_path / "kept", plot=False, chunk=5)
        assert p.pipe.blocks._busy == {}
        monkeypatch.setattr(run, "_infer", real_infer)
        kept = [_read(p(v, tmp_path / "kept", plot=False).csv) for v in (a, b)]
        assert p.pipe.pool is pool
    for x, y in zip(alone, kept):
        pd.testing.assert_frame_equal(x, y)
    assert list(kept[1].success) == [1, 1, 1, 1, 1, 0, 1, 1, 1]


def test_cli_runs_every_input_and_says_which_failed(model_path, tmp_path, capsys):
    from aukit.cli import main
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 90, np.uint8))
    out = tmp_path / "out"
    args = ["predict", "--model", str(model_path), "--out", str(out), "--workers", "0"]
    assert main(args + [str(face), str(tmp_path / "missing.mp4"), str(blank)]) == 2
    err = capsys.readouterr().err
    assert "[2/3] input not found" in err and "missing.mp4" in err
    assert _read(out / "face.csv").success.tolist() == [1] and _read(out / "blank.csv").success.tolist() == [0]
    assert main(args + [str(face), str(blank)]) == 1          # one input without a face
    # inputs of one name (BP4D's F001/T1 and M001/T1) write names told apart by their folders
    for subject in ("F001", "M001"):
        (tmp_path / "2D" / subject / "T1").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "2D" / subject / "T1" / "1.png"), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    assert main(args + [str(tmp_path / "2D/F001/T1"), str(tmp_path / "2D/M001/T1"), str(face)]) == 0
    assert all(_read(out / f"{n}.csv").success.tolist() == [1] for n in ("F001_T1", "M001_T1", "face"))
    capsys.readouterr()
    assert main(args + [str(face), str(face)]) == 2
    assert "an input is given twice" in capsys.readouterr().err
    assert main(args + [str(tmp_path / "2D")]) == 2                 # subfolders only: say how to give them
    assert "has 2 subfolder(s) (F001, M001): give them as inputs" in capsys.readouterr().err


def test_output_names_are_distinct_and_short(tmp_path):
    from aukit.predict.frames import output_names
    for sub in ("2D/F001/T1", "2D/F001/T2", "2D/M001/T1", "x/clip"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "x" / "clip.mp4").write_bytes(b"")
    assert output_names([tmp_path / "2D/F001/T1", tmp_path / "2D/M001/T1", tmp_path / "2D/F001/T2"]) == \
        ["F001_T1", "M001_T1", "T2"]
    assert output_names([tmp_path / "x/clip", tmp_path / "x/clip.mp4"]) == ["clip", "clip_mp4"]
    assert output_names([tmp_path / "x/clip.mp4"]) == ["clip"]


def test_cli_shows_progress_over_the_frames_unless_told_not_to(model_path, tmp_path, capsys):
    from aukit.cli import main
    path = _clip(tmp_path / "clip.avi", 64)
    args = ["predict", "--model", str(model_path), "--out", str(tmp_path / "out"), "--workers", "0", "--batch", "2",
            str(path)]
    assert main(args) == 0                                    # chunks of 30 frames: three updates of the bar
    err = capsys.readouterr().err
    assert "clip: 100%" in err and "64/64" in err             # the container's count is the total
    assert "faces=63" in err.rsplit("64/64", 1)[1]            # faces so far (frame 3 is black), not the last batch's
    assert main(args + ["--no-progress"]) == 0
    assert "64/64" not in capsys.readouterr().err


def _two_faces(path, frames: int, leaves: int):
    """Two astronauts side by side (1024x512), drifting apart, the right one darker (the model scores it
    differently); the right one is gone from frame ``leaves``."""
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    dark = (face * 0.75).astype(np.uint8)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1024, 512))
    for t in range(frames):
        right = np.roll(dark, 2 * t, axis=1) if t < leaves else np.full_like(face, 120)
        vw.write(np.concatenate([np.roll(face, -2 * t, axis=1), right], axis=1))
    vw.release()
    return path


@pytest.mark.parametrize("workers", [0, 1])     # in-process, and through a worker and shared memory
def test_several_faces_get_a_row_each_and_keep_their_ids(model_path, tmp_path, workers):
    """--max-faces 2: one row per (frame, face); ids stay with their face across chunks (40 frames
    are 2 chunks in-process, 4 with a worker); a face that leaves ends its rows; smoothing and
    the annotated video work per face."""
    path = _two_faces(tmp_path / "two.avi", 40, leaves=24)
    res = predict(path, str(model_path), tmp_path / "out", workers=workers, max_faces=2, smooth=3,
                  annotate_video=True)
    df = _read(res.csv)
    assert res.n_frames == 40 and len(df) == 24 * 2 + 16 and df.success.all()
    assert df.groupby("frame").size().tolist() == [2] * 24 + [1] * 16
    left, right = df[df.face_x < 512], df[df.face_x >= 512]
    assert left.face_id.nunique() == 1 and right.face_id.nunique() == 1          # one id each, whole clip
    assert set(left.face_id) | set(right.face_id) == {0, 1}
    assert left.frame.tolist() == list(range(1, 41)) and right.frame.tolist() == list(range(1, 25))
    assert res.redetected == 1                                                  # frame 24: the right face left
    assert np.isfinite(df["AU06_r"]).all() and (tmp_path / "out" / "two_annotated.avi").exists()
    raw = _read(predict(path, str(model_path), tmp_path / "raw", workers=workers, max_faces=2, plot=False).csv)
    for fid, g in raw.groupby("face_id"):                      # smoothing runs over each face's own frames
        v = g["AU06_r"].to_numpy()
        want = [v[max(0, i - 1):i + 2].mean() for i in range(len(v))]
        np.testing.assert_allclose(df.loc[df.face_id == fid, "AU06_r"], want, atol=2e-3)
    assert abs(left["AU06_r"].mean() - right["AU06_r"].mean()) > 0.01   # the two faces' series differ
    one = _read(predict(path, str(model_path), tmp_path / "one", workers=workers).csv)
    assert len(one) == 40 and (one.face_id == 0).all()                           # the default: one face a frame


def test_smoothing_is_the_nan_aware_centred_mean():
    """_smooth against the plain definition: each frame the mean of the values present within
    window // 2 frames of it; a missing value stays missing; a window of 1 changes nothing."""
    from aukit.predict.run import _smooth
    rng = np.random.default_rng(0)
    x = rng.random((300, 3)) * 5
    x[rng.random(x.shape) < 0.2] = np.nan
    x[100:110] = np.nan
    for window in (3, 4, 7):
        h = window // 2
        want = np.array([[np.nan if np.isnan(x[t, c]) else np.nanmean(x[max(0, t - h):t + h + 1, c])
                          for c in range(3)] for t in range(len(x))])
        np.testing.assert_allclose(_smooth(x, window), want, rtol=1e-12, equal_nan=True)
    assert _smooth(x, 1) is x


def _linked(carry, per_frame):
    """``per_frame`` (a chunk tracked from a clean start: local ids, faces without crops) linked by ``carry``."""
    from aukit.predict.faces import Ends
    first = [(r.box, None) for r in per_frame[0] if r.success]
    tracks = [dict(face=r.face, box=r.box, ref=None) for r in per_frame[-1] if r.success]
    carry.link(per_frame, Ends(first, tracks, 1 + max((r.face for fl in per_frame for r in fl if r.success),
                                                       default=-1)))


def test_face_ids_link_chunks_by_overlap():
    from aukit.predict.faces import Carry, FaceResult
    ids = Carry(detect_every=1)                         # no continuity check: linked by overlap alone
    a = lambda x, face: FaceResult(True, (x, 0, 100, 100), 1.0, face=face)       # noqa: E731
    chunk1 = [[a(0, 0), a(500, 1)], [a(4, 0), a(496, 1)]]
    _linked(ids, chunk1)
    assert [r.face for r in chunk1[1]] == [0, 1]
    chunk2 = [[a(492, 0), a(8, 1)], [a(800, 2)]]       # local ids in another order; a third face appears
    _linked(ids, chunk2)
    assert sorted((r.box[0], r.face) for r in chunk2[0]) == [(8, 0), (492, 1)] and chunk2[1][0].face == 2
    chunk3 = [[FaceResult(False)], [a(800, 0)]]        # a frame without faces breaks every track
    _linked(ids, chunk3)
    assert chunk3[1][0].face == 3


def test_cli_max_faces(model_path, tmp_path, capsys):
    from aukit.cli import main
    path = _two_faces(tmp_path / "two.avi", 6, leaves=6)
    args = ["predict", "--model", str(model_path), "--out", str(tmp_path / "out"), "--workers", "0", "--no-progress"]
    assert main(args + ["--max-faces", "2", str(path)]) == 0
    assert "12 faces found (up to 2 a frame)" in capsys.readouterr().out
    assert len(_read(tmp_path / "out" / "two.csv")) == 12
    with pytest.raises(SystemExit):
        main(args + ["--max-faces", "0", str(path)])
    assert "--max-faces: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("n_faces", [1, 3, 12])
def test_curves_have_a_line_per_face_and_a_legend_for_a_few(n_faces):
    from aukit.predict.output import curves_figure
    rows = [{"frame": t, "timestamp": t / 10, "face_id": f, "success": 1, "AU06_r": f + t / 20, "AU12_r": 1.0}
            for t in range(20) for f in range(n_faces) if not (f == 1 and 5 <= t < 10)]   # face 1 away for 5 frames
    fig = curves_figure(pd.DataFrame(rows), AUS, "clip")
    ax = fig.axes[0]
    assert len(ax.lines) == n_faces
    assert (ax.get_legend() is not None) == (1 < n_faces <= 10)
    assert ("(12 faces, one line each)" in fig._suptitle.get_text()) == (n_faces == 12)
    if n_faces > 1:                                   # an absence is a gap in its line, not a bridge
        assert np.isnan(ax.lines[1].get_ydata()[5:10]).all() and np.isfinite(ax.lines[1].get_ydata()[10:]).all()


def test_an_hours_curves_are_binned_in_minutes_with_the_faceless_stretches_shaded():
    """A 20-minute video's panels were solid bands in seconds, its 7-s faceless stretches invisible."""
    from aukit.predict.output import CURVE_BINS, curves_figure
    n, fps = 3600 * 25, 25.0
    t = np.arange(n) / fps
    away = (t % 60) >= 53                                     # 7 s of every minute without a face
    au = np.where(away, np.nan, 2.5 + 2 * np.sin(2 * np.pi * t / 600))
    df = pd.DataFrame({"frame": np.arange(1, n + 1), "timestamp": t, "face_id": 0, "success": (~away).astype(int),
                       "AU06_r": au, "AU12_r": au})
    fig = curves_figure(df, AUS, "interview")
    ax = fig.axes[0]
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert len(x) == CURVE_BINS and x.max() == pytest.approx(60, abs=0.1)            # minutes, binned
    assert ax.get_xlabel() == "time (min)"
    assert np.nanmax(y) == pytest.approx(4.5, abs=0.05) and np.nanmin(y) == pytest.approx(0.5, abs=0.05)
    assert len(ax.collections) == 1                           # the min-max band
    assert len(ax.patches) == 60                              # one grey span per faceless stretch
    a, b = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()
    assert (a, b) == (pytest.approx(53 / 60, abs=0.01), pytest.approx(1.0, abs=0.01))
    assert "mean line, min-max band" in fig._suptitle.get_text() and "grey: no face" in fig._suptitle.get_text()
    short = curves_figure(df.iloc[:500], AUS, "clip").axes[0]                     # a short clip: every frame
    assert len(short.lines[0].get_xdata()) == 500 and len(short.patches) == 0


def test_frame_step_predicts_every_nth_frame_at_its_own_number_and_time(model_path, tmp_path):
    """--frame-step 3 on a variable-frame-rate clip: frames 0 and 3 only, at the container's times
    (frame 3 is at 0.7 s, not 3/6 s); a folder of one video's frames keeps its file names."""
    vfr = _vfr_mp4(tmp_path / "phone.mp4", [1024, 5120, 1024, 1024, 1024, 1024])
    res = predict(vfr, str(model_path), tmp_path / "out", workers=0, plot=False, frame_step=3)
    df = _read(res.csv)
    assert df.frame.tolist() == [1, 4] and df.timestamp.tolist() == pytest.approx([0.0, 0.7]) and df.success.all()
    assert res.n_frames == 2 and "frame_step=3 " in res.csv.read_text()
    full = _read(predict(vfr, str(model_path), tmp_path / "full", workers=0, plot=False).csv)
    cols = [c for c in df.columns if c.endswith("_r")]
    np.testing.assert_allclose(df[cols].to_numpy(float), full.loc[[0, 3], cols].to_numpy(float), atol=1e-3)
    folder = tmp_path / "frames"
    folder.mkdir()
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    for i in range(1, 8):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.roll(face, 2 * i, axis=1))
    got = _read(predict(folder, str(model_path), tmp_path / "f", workers=0, plot=False, frames=True, frame_step=2).csv)
    assert got.frame.tolist() == [1, 3, 5, 7] and got.file.tolist() == ["1.jpg", "3.jpg", "5.jpg", "7.jpg"]
    predict(_clip(tmp_path / "clip.avi", 6), str(model_path), tmp_path / "a", workers=0, plot=False, frame_step=2,
            annotate_video=True)
    cap = cv2.VideoCapture(str(tmp_path / "a" / "clip_annotated.avi"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5) and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3   # real time
    cap.release()


def test_frame_step_reads_past_a_bad_frame_and_the_clock_counts_the_gap():
    from aukit.predict.frames import VideoClock

    class Cap:
        def get(self, prop):
            return 0.0                                        # no container times: index / fps

    clock = VideoClock(Cap(), fps=10)
    assert [clock.stamp(0, True), clock.stamp(4, False), clock.stamp(8, True)] == pytest.approx([0.0, 0.4, 0.8])


def test_the_figures_leave_the_callers_matplotlib_alone():
    """aukit.predict in a notebook switched the backend to Agg and set seaborn's theme for the
    session: the user's next plt.show() showed nothing and fonts shrank."""
    import matplotlib
    from matplotlib.figure import Figure
    from aukit.predict.output import curves_figure
    before_backend, before = matplotlib.get_backend(), dict(matplotlib.rcParams)
    n = 8
    video = pd.DataFrame({"frame": np.arange(1, n + 1), "timestamp": np.arange(n) / 4, "success": 1, "face_id": 0,
                          "AU01_r": np.linspace(0, 4, n), "AU12_r": np.linspace(4, 0, n)})
    photos = video.assign(file=[f"{i}.jpg" for i in range(n)])
    for fig in (curves_figure(video, ["AU01", "AU12"], "t"), curves_figure(video.iloc[:1], ["AU01", "AU12"], "t"),
                curves_figure(photos, ["AU01", "AU12"], "t", photos=True)):
        assert isinstance(fig, Figure) and fig.axes
    assert matplotlib.get_backend() == before_backend
    changed = {k for k, v in matplotlib.rcParams.items() if str(v) != str(before.get(k))}
    assert not changed, changed


@pytest.mark.parametrize("max_faces", [1, 2])
def test_a_tracked_face_gets_the_detectors_box_and_crop(max_faces):
    """Tracked frames took the box around the landmarks (~10% larger, not square) where detected
    frames took dlib's: the CSV's face box jumped every k-th frame and CPC's box crop zoomed in and
    out, so its tracking check failed (NCC 0.51) and CPC re-detected 4 frames of 5."""
    from aukit.predict.faces import FacePipeline
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frames = [face] * 5                                  # a still scene: every frame is the same face
    pipe = FacePipeline("cpc", detect_every=5, workers=0, max_faces=max_faces)
    try:
        got = [faces[0] for _, res in pipe.stream(iter([(0, frames)])) for faces in res]
    finally:
        pipe.close()
    assert all(r.success for r in got) and not any(r.redetected for r in got)
    detected = np.array(got[0].box, float)
    for r in got[1:]:
        assert np.abs(np.array(r.box, float) - detected).max() <= 0.03 * detected[2], (r.box, got[0].box)
        diff = np.abs(r.aligned.astype(float) - got[0].aligned.astype(float)).mean()
        assert diff < 3.0, diff                          # the same crop, up to landmark jitter


def test_a_sequence_model_on_photos_says_it_read_each_alone(tmp_path, capsys):
    """CPC reads consecutive frames; on a photo (or a folder without --frames) each is read alone,
    and its outputs differ from a video's by up to 0.6: the CSV header and the summary now say so."""
    from aukit.methods.cpc import CPCModelConfig, CPCNet
    from aukit.methods.cpc.deploy import export_deployable
    torch.manual_seed(0)
    path = export_deployable(CPCNet(CPCModelConfig(image_size=32, num_aus=2)).eval(), ["AU06", "AU12"],
                             tmp_path / "cpc.pt", "synthau-disfa", window=3, stride=2, size=32)
    img = tmp_path / "astronaut.png"
    cv2.imwrite(str(img), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    res = predict(img, str(path), tmp_path / "out", workers=0, plot=False)
    assert "# note: cpc reads 4 consecutive frames before each one; these are photos" in res.csv.read_text()
    assert "each was read alone" in capsys.readouterr().err


def test_faces_in_a_folder_of_photos_are_numbered_per_photo(model_path, tmp_path):
    """--max-faces 2 on unrelated photos linked face ids across them by box overlap (ten photos of
    different people all face 0, or ids counting up over the folder): each photo's faces are 0, 1."""
    face = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (320, 320))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, top in enumerate((0, 330)):                   # two faces a photo, none overlapping the other photo's
        img = np.full((660, 660, 3), 90, np.uint8)
        img[top:top + 320, 0:320] = face
        img[top:top + 320, 340:660] = face
        cv2.imwrite(str(folder / f"{i}.png"), img)
    df = _read(predict(folder, str(model_path), tmp_path / "out", workers=0, max_faces=2, plot=False).csv)
    assert df.groupby("file")["face_id"].apply(list).to_dict() == {"0.png": [0, 1], "1.png": [0, 1]}


def test_an_interrupted_run_keeps_the_rows_it_predicted(model_path, tmp_path, monkeypatch, capsys):
    """Ctrl-C at 50% of an hour's video left an empty folder: rows were written only at the end."""
    from aukit.predict import run as R
    clip = _clip(tmp_path / "long.avi", 12)
    infer, calls = R._infer, []

    def stop_on_the_third(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return infer(*a, **kw)
    monkeypatch.setattr(R, "_infer", stop_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        predict(clip, str(model_path), tmp_path / "out", workers=0, plot=False, batch=2, chunk=2)
    partial = tmp_path / "out" / "long.partial.csv"
    rows = _read(partial)
    assert not (tmp_path / "out" / "long.csv").exists() and 4 <= len(rows) < 12
    assert rows.frame.tolist() == list(range(1, len(rows) + 1))          # in order, none lost or doubled
    assert f"the {len(rows)} rows predicted so far are in {partial}" in capsys.readouterr().err
    monkeypatch.setattr(R, "_infer", infer)
    whole = _read(predict(clip, str(model_path), tmp_path / "out", workers=0, plot=False, batch=2, chunk=2).csv)
    assert len(whole) == 12 and not partial.exists()                    # a finished run removes it
    cols = [c for c in whole.columns if c.endswith("_r")]
    np.testing.assert_allclose(rows[cols].to_numpy(float), whole[cols].to_numpy(float)[:len(rows)], atol=1e-3)


def test_a_model_from_a_run_off_the_defaults_says_so(tmp_path, monkeypatch, capsys):
    """A 2-step 'full' run's deploy.pt was listed and used as if trained as the paper trains."""
    import json
    from aukit.cli import main
    spec = deploy.DeploySpec(model="_predict_test_net", policy="tas", size=128, aus=AUS, output="intensity",
                             kwargs={"n_out": 2}, dataset="bp4d", method="tas")
    monkeypatch.setenv("AUKIT_RUN_CHANGED", json.dumps({"steps": 2, "epochs": 1}))
    path = deploy.export(tmp_path / "runs" / "short" / "deploy.pt", _predict_test_net(), spec)
    assert deploy.read_spec(path).changed == "steps=2, epochs=1"
    monkeypatch.delenv("AUKIT_RUN_CHANGED")
    assert main(["models", "--runs", str(tmp_path / "runs")]) == 0
    assert "bp4d (changed: steps=2, epochs=1)" in capsys.readouterr().out
    csv = predict(_clip(tmp_path / "c.avi", 3), str(path), tmp_path / "out", workers=0, plot=False).csv
    assert "trained on bp4d (its run changed steps=2, epochs=1)" in csv.read_text()


def test_a_model_from_a_smoke_run_says_its_outputs_mean_nothing(tmp_path, monkeypatch, capsys):
    """A smoke run by hand in JupyterLab writes deploy.pt where a real run would: it was listed and used as one."""
    from aukit import nb
    from aukit.cli import main
    spec = deploy.DeploySpec(model="_predict_test_net", policy="tas", size=128, aus=AUS, output="intensity",
                             kwargs={"n_out": 2}, dataset="bp4d", method="tas")
    monkeypatch.setenv(nb.PRESET_ENV, "smoke")                          # start_run's, in the notebook's kernel
    path = deploy.export(tmp_path / "runs" / "tas" / "deploy.pt", _predict_test_net(), spec)
    assert deploy.read_spec(path).preset == "smoke" and deploy.read_spec(path).smoke
    monkeypatch.delenv(nb.PRESET_ENV)
    assert main(["models", "--runs", str(tmp_path / "runs")]) == 0
    assert "bp4d, smoke preset" in capsys.readouterr().out
    res = predict(_clip(tmp_path / "c.avi", 3), str(path), tmp_path / "out", workers=0, plot=False)
    text = res.csv.read_text()
    assert "trained on bp4d (smoke preset)" in text and "comes from a smoke run" in text
    assert any("its outputs mean nothing" in n for n in res.notes)
    quick = deploy.export(tmp_path / "q.pt", _predict_test_net(), dataclasses.replace(spec, preset="quick"))
    assert deploy.read_spec(quick).preset == "quick" and not deploy.read_spec(quick).smoke
