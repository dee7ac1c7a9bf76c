"""aukit predict's tracks over chunk boundaries (one result whatever the chunks and the workers) and
face ids per person (dlib face descriptors)."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data as skdata

from aukit import deploy
from aukit.predict import faces as F
from aukit.predict import predict

from test_mut4_predict import _box, _frame, _Scripted
from test_predict import AUS, _predict_test_net          # the tests' predict model (registered there)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    spec = deploy.DeploySpec(model="_predict_test_net", policy="tas", size=128, aus=AUS, kwargs={"n_out": 2},
                             dataset="synthau-disfa", method="test")
    return deploy.export(tmp_path_factory.mktemp("m") / "deploy.pt", _predict_test_net(), spec)


def _faces(per_frame):
    return [(r.success, r.face, r.box, r.redetected, r.confidence) for fl in per_frame for r in fl]


def _in_chunks(frames, size, every, max_faces=2, tracked_again=None):
    """``frames`` tracked chunk by chunk from clean starts and settled in order, as the worker pool does;
    also the first frames of the chunks tracked again (and in ``tracked_again`` how many frames of each)."""
    carry, again, got = F.Carry(every, max_faces=max_faces), [], []

    def retrack(images, state, clean=None):
        again.append(int(images[0][0, 0, 0]))
        res, ends = F.track_chunk(images, every, max_faces=max_faces, carried=state,
                                  **({} if clean is None else {"clean": clean}))
        (tracked_again if tracked_again is not None else []).append(len(res))
        return res, ends
    for c in range(0, len(frames), size):
        res, ends = F.track_chunk(frames[c:c + size], every, max_faces=max_faces)
        got += F.settle(carry, frames[c:c + size], res, ends, retrack)
    return got, again


def test_a_face_the_detector_misses_on_a_chunks_first_frame_goes_on_tracked(monkeypatch):
    """A chunk started without tracks: a face the detector missed on its first frame got success 0 there
    (and on to its next detection), though the chunk before tracked it to its last frame."""
    frames = [_frame(k, [(1, 50, 50)]) for k in range(12)]
    monkeypatch.setattr(F, "_ALIGNER", _Scripted({k: [(_box(50, 50), 1.0)] for k in range(12) if k != 4}))
    assert not F.process_faces(frames[4:8], 2)[0][0].success          # a clean start at frame 4 loses it
    whole, ends = F.track_chunk(frames, 2)
    assert all(fl[0].success for fl in whole) and ends.next_id == 1
    got, again = _in_chunks(frames, 4, 2)
    assert _faces(got) == _faces(whole) and again == [4]              # the chunk at 4 tracked again, alone


def test_a_chunk_tracked_again_reuses_its_detections_and_stops_where_it_joins_its_clean_start(monkeypatch):
    """A chunk tracked again (face 0 missed on its first frame, 6) ran the detector again on every frame its clean
    start had detected and refitted all its frames: now each frame is detected once, as in one piece, and the
    chunk is tracked again up to frame 8, where both runs detect both faces and hold the same tracks; the rest
    is the clean start's, its ids mapped (1 and 0 there, 2 and 0 in one piece: each frame's faces sorted
    again), a face new after the join (10) and the next chunk's (14) numbered on from the input's ids."""
    a, b, c, d = (1, 10, 10), (2, 100, 10), (3, 100, 100), (4, 10, 100)
    people = [[a] + [c] * (k < 4 or k >= 14) + [b] * (k >= 2) + [d] * (k >= 10) for k in range(18)]
    frames = [_frame(k, fl) for k, fl in enumerate(people)]
    script = {k: [(_box(x, y), 1.0 - s / 10) for s, x, y in fl if k != 6 or s != 1] for k, fl in enumerate(people)}
    monkeypatch.setattr(F, "_ALIGNER", _Scripted(script))
    whole, _ = F.track_chunk(frames, 2, max_faces=4)
    once = sorted(F._ALIGNER.detected)
    assert _ids(whole)[::2] == [[0, 1], [0, 1, 2], [0, 2], [0, 2], [0, 2], [0, 2, 3], [0, 2, 3], [0, 2, 3, 4],
                                [0, 2, 3, 4]]
    monkeypatch.setattr(F, "_ALIGNER", _Scripted(script))
    tracked = []
    got, again = _in_chunks(frames, 6, 2, 4, tracked)
    assert _faces(got) == _faces(whole) and again == [6]
    assert sorted(F._ALIGNER.detected) == once                     # the frames one piece detected, each once
    assert tracked == [3]                                          # frames 6-8 tracked again, 9-11 the clean start's


def _ids(per_frame):
    return [[r.face for r in fl if r.success] for fl in per_frame]


def test_chunks_take_the_ids_and_cuts_of_tracking_in_one_piece(monkeypatch):
    """Two faces, the detector's order turned round in the second chunk (its local ids the other way), and a
    cut to another person where the first one was at the third chunk's first frame: ids, their order in
    each frame and the cut's flag are those of tracking in one piece, and no chunk is tracked again."""
    a, b, c = (1, 10, 10), (2, 100, 10), (3, 10, 10)
    frames = [_frame(k, [a if k < 8 else c, b]) for k in range(12)]
    pair = [(_box(10, 10), 1.0), (_box(100, 10), 0.9)]
    script = {k: pair if k < 4 or k >= 8 else pair[::-1] for k in range(12)}
    monkeypatch.setattr(F, "_ALIGNER", _Scripted(script))
    whole, _ = F.track_chunk(frames, 2)
    assert [[r.face for r in fl] for fl in whole[::4]] == [[0, 1], [0, 1], [1, 2]]
    assert [r.redetected for r in whole[8]] == [False, True]
    got, again = _in_chunks(frames, 4, 2)
    assert _faces(got) == _faces(whole) and again == []


def _flaky_clip(path, frames: int):
    """A still SynthAU face, turned (roll 17, yaw 0.7), with sensor noise: dlib's detector finds it on about
    one frame in four, the tracker holds it."""
    from aukit.data.synthau.render import Nuisance, render
    from aukit.data.synthau.subjects import sample_subject
    rng = np.random.default_rng(3)
    sample_subject("S0", "F", rng)
    subject = sample_subject("S1", "M", rng)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (512, 512))
    for t in range(frames):
        img, _ = render(subject, np.zeros(17), Nuisance(noise=4.0, angle=17, yaw=0.7), rng=np.random.default_rng(t))
        vw.write(cv2.cvtColor(cv2.resize(img, (512, 512)), cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def test_a_tracked_face_goes_on_over_chunks_and_the_csv_is_one_whatever_the_workers(model_path, tmp_path):
    """Chunks of 10 frames (one worker) and of 5 (two): the face was dropped from each chunk's first frame
    to its next detection wherever the detector missed it there (a 300-frame clip: 214 rows of 300 with a
    face, 292 now, every one after the first detection); the CSV is the same in-process, with one worker
    and with two."""
    clip = _flaky_clip(tmp_path / "still.avi", 60)
    from aukit.predict import Predictor
    runs, pipes = [], []
    for workers in (0, 1, 2):
        with Predictor(str(model_path), workers=workers) as p:
            runs.append(p(clip, tmp_path / f"w{workers}", chunk=10, plot=False).read())
            pipes.append(p.pipe)
    df = runs[0]
    start = int(df.success.idxmax())
    assert df.success.iloc[start:].all() and df.success.sum() >= 50, df.success.tolist()
    for other in runs[1:]:
        pd.testing.assert_frame_equal(other, df)
    assert pipes[1].retracked >= 1 and pipes[2].retracked >= 1          # chunks were tracked again


def _two_people(path):
    """1000x500 at 10 fps: the astronaut (left) on frames 0-7 and 16-23, an LFW face (right) from frame 8."""
    a = cv2.resize(cv2.cvtColor(skdata.astronaut()[20:270, 95:345], cv2.COLOR_RGB2BGR), (500, 500))
    lfw = (skdata.lfw_subset()[0] * 255).astype(np.uint8)
    b = cv2.cvtColor(cv2.resize(lfw, (500, 500), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    grey = np.full_like(a, 120)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1000, 500))
    for t in range(24):
        vw.write(np.concatenate([a if t < 8 or t >= 16 else grey, b if t >= 8 else grey], 1))
    vw.release()
    return path


def test_a_person_back_in_view_keeps_their_id_and_another_person_gets_another(model_path, tmp_path, capsys):
    """--max-faces 2: the astronaut leaves (frames 9-16) and comes back (found at the detection on frame 21): a
    new track, which took a new id.
    Its dlib descriptor lies 0.05 from her first track's, the LFW face's 0.94 from hers: she keeps id 0, the
    other face (new while she is away, so she is a candidate) gets 1. --no-reid: one id per track."""
    from aukit.cli import main
    clip = _two_people(tmp_path / "two.avi")
    res = predict(clip, str(model_path), tmp_path / "out", workers=0, max_faces=2, plot=False)
    df = res.read()
    left, right = df[df.face_x < 500], df[df.face_x >= 500]
    assert left.frame.tolist() == list(range(1, 9)) + list(range(21, 25)) and right.frame.min() == 9
    assert set(left.face_id) == {0} and set(right.face_id) == {1}
    assert "# face_id: one per person: a face tracked afresh" in res.csv.read_text()
    args = ["predict", str(clip), "--model", str(model_path), "--out", str(tmp_path / "tracks"), "--workers", "0",
            "--max-faces", "2", "--no-progress", "--no-reid"]
    assert main(args) == 0
    capsys.readouterr()
    csv = tmp_path / "tracks" / "two.csv"
    tracks = pd.read_csv(csv, comment="#")
    assert tracks[tracks.face_x < 500].groupby("face_id").frame.min().tolist() == [1, 21]     # a new id
    assert "# face_id: one per track (--no-reid)" in csv.read_text()


def test_person_ids_match_the_nearest_absent_person_once():
    """Descriptors stand in for faces (``describe`` returns the face's box x as a 1-d point): the nearest
    earlier person within the threshold is taken, not one in the frame, and each person once a frame."""
    from aukit.predict.reid import PersonIds
    ids = PersonIds(threshold=0.6, describe=lambda image, r: np.array([r.box[0]], float))
    face = lambda track, x: F.FaceResult(True, (x, 0, 10, 10), 1.0, face=track)     # noqa: E731
    frames = [[face(0, 0.0), face(1, 5.0)],          # two persons: 0 and 1
              [face(1, 5.0)],                         # 0 gone
              [face(1, 5.0), face(2, 0.5)],           # a new track near person 0 (absent): 0
              [face(3, 0.4), face(4, 5.2)],           # both gone and back at once: 0 and 1 each, nearest pairs
              [face(3, 0.4), face(5, 0.3)]]           # near 0, who is in the frame: a new person, 2
    ids.assign([None] * len(frames), frames)
    assert [[r.face for r in fl] for fl in frames] == [[0, 1], [1], [0, 1], [0, 1], [0, 2]]
    assert ids.described == 6
