"""aukit predict's tracks over chunk boundaries (one result whatever the chunks and the workers) and
face ids per person (dlib face descriptors)."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data as skdata

from aukit.predict import faces as F
from aukit.predict import predict

from test_mut4_predict import _box, _frame, _Scripted
from test_predict import export_test_model          # the tests' predict model (registered there)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_test_model(tmp_path_factory.mktemp("m"))


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
    other face (new while she is away, so she is a candidate) gets 1. --no-reid: one id per track. Two workers
    (chunks of 5 frames: rows held back until their persons are decided) write the same CSV."""
    from aukit.cli import main
    clip = _two_people(tmp_path / "two.avi")
    res = predict(clip, str(model_path), tmp_path / "out", workers=0, max_faces=2, plot=False)
    df = res.read()
    two = predict(clip, str(model_path), tmp_path / "two", workers=2, max_faces=2, plot=False, chunk=5)
    pd.testing.assert_frame_equal(two.read(), df)
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


def _look(track, x, score, detected=True):
    """A face of ``track`` whose descriptor is ``x`` (a 1-d point: see ``_persons``), found by the detector
    (``score`` its own) or tracked (``score`` its last detection's)."""
    return F.FaceResult(True, (x, 0, 10, 10), score, face=track, detected=detected)


def _persons(**kw):
    from aukit.predict.reid import PersonIds
    return PersonIds(describe=lambda image, r: np.array([r.box[0]], float), **kw)


def test_a_new_track_is_described_on_its_best_scoring_detection_of_its_first_three():
    """Only a track's first frame was described: she came back blurred (0.9 from herself, scored 0.2) and took a
    new id. Now her best-scoring detection of the first three (1.2, 0.1 from herself) decides: not a tracked
    frame, which repeats its detection's score, nor a fourth detection."""
    frames = [[_look(0, 0.0, 1.0)], [],
              [_look(1, 0.9, 0.2)], [_look(1, 0.95, 0.2, detected=False)], [_look(1, 0.1, 1.2)],
              [_look(1, 2.0, 1.2, detected=False)], [_look(1, 0.5, 0.8)], [_look(1, 0.5, 0.8, detected=False)],
              [_look(1, 3.0, 2.0)]]
    ids = _persons()
    ids.assign([None] * len(frames), frames)
    assert [[r.face for r in fl] for fl in frames] == [[0], [], [0], [0], [0], [0], [0], [0], [0]]
    assert ids.described == 2


def test_rows_wait_for_their_persons_and_the_ids_do_not_depend_on_the_chunks():
    """Chunks come back, in order, once their faces' persons are decided: at a new track's third detection, on
    the frame after it ends, after ``window`` frames, or at the input's end; the ids are those of the whole
    input at once, however it is cut."""
    def frames():
        return [[_look(0, 0.0, 1.0)], [_look(0, 0.0, 1.0, False)], [_look(0, 0.0, 1.0)],      # 0: decided at 3
                [_look(0, 0.0, 1.0), _look(1, 5.0, 1.0)], [_look(0, 0.0, 1.0, False), _look(1, 5.0, 1.0, False)],
                [_look(1, 5.0, 1.0, False)], [_look(1, 5.0, 1.0, False)],                   # 1: decided at 6
                [_look(2, 0.3, 1.0)], [_look(2, 0.3, 1.0)]]                               # 2: the end decides
    whole = frames()
    _persons(window=4).assign([None] * len(whole), whole)
    assert [[r.face for r in fl] for fl in whole] == [[0], [0], [0], [0, 1], [0, 1], [1], [1], [0], [0]]
    for size in (1, 2, 4):
        ids, cut, back = _persons(window=4), frames(), []
        for c in range(0, len(cut), size):
            back.append(ids.feed(c, [None] * len(cut[c:c + size]), cut[c:c + size]))
        back.append(ids.finish())
        assert [[r.face for r in fl] for fl in cut] == [[r.face for r in fl] for fl in whole]
        given = [c for got in back for c in got]
        assert given == list(range(0, len(cut), size))
        if size == 1:           # back: frames 0-2 at 3 (track 0's third detection), 3-6 at 6 (window), 7-8 at the end
            assert [len(got) for got in back] == [0, 0, 0, 3, 0, 0, 4, 0, 0, 2]


def test_a_track_takes_no_person_it_was_seen_beside():
    """Tracks in view together: the second's best face lies nearest the first's person, decided before it (on
    the frame the second came, its third detection), so it gets a new person; a fourth, nearest that person too
    but seen beside neither, takes it."""
    a, b, c = (lambda x, d=True, k=k: _look(k, x, 1.0, d) for k in range(3))
    frames = [[a(0.0)], [a(0.0)], [a(0.0), b(0.2)], [a(0.0, False), b(0.2, False)], [b(0.2, False), c(5.0)],
              [c(5.0), _look(3, 0.1, 1.0)], [c(5.0), _look(3, 0.1, 1.0)]]
    _persons().assign([None] * len(frames), frames)
    assert [[r.face for r in fl] for fl in frames] == [[0], [0], [0, 1], [0, 1], [1, 2], [0, 2], [0, 2]]


def _degraded(img, how, amount):
    """The astronaut's or Grace Hopper's face as a track sees it coming into view: blurred, far or half out."""
    if how == "blur":
        return cv2.GaussianBlur(img, (0, 0), amount)
    if how == "far":                    # ``amount`` px across, enlarged back
        small = cv2.resize(img, (amount, amount), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, img.shape[1::-1])
    out = np.zeros_like(img)            # "edge": ``amount`` of its width past the frame's left side
    cut = int(img.shape[1] * amount)
    out[:, cut:] = img[:, :img.shape[1] - cut]
    return out


def _track_of(images, track):
    """Each image's best detection as track ``track``'s face (the detector's score, detected)."""
    out = []
    for img in images:
        [(box, score)] = F._ALIGNER.detect_all(img, bgr=True, want=1)[:1]
        lm, aligned, _ = F._fit(img, box)
        l, t, r, b = box
        out.append([F.FaceResult(True, (l, t, r - l, b - t), score, lm, aligned, face=track, detected=True)])
    return out


def test_faces_coming_into_view_blurred_or_far_keep_their_persons(monkeypatch):
    """dlib's descriptors of real faces that come into view degraded. The astronaut and Grace Hopper, each
    blurred (sigma 6, 3.5, 1.5; their first detections score 0.2 and 0.8): the first frames' descriptors lay
    0.52 apart and both took id 0. The astronaut far (45, 70, 120 px) and then half out of the frame (45, 35,
    20% of her width): 0.64 apart, two ids. Described on their best-scoring detections: two ids, then one."""
    import matplotlib.cbook
    from aukit.data.align import FaceAligner
    from aukit.predict.reid import PersonIds
    monkeypatch.setattr(F, "_ALIGNER", FaceAligner("tas", min_face=100))
    astronaut = cv2.resize(cv2.cvtColor(skdata.astronaut()[20:270, 95:345], cv2.COLOR_RGB2BGR), (500, 500))
    grace = cv2.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    grace = cv2.resize(grace[40:460, 50:470], (500, 500))
    for first, then, persons in ((astronaut, grace, [0, 1]), (astronaut, astronaut, [0, 0])):
        one, two = ([_degraded(face, "blur", s) for s in (6, 3.5, 1.5)] for face in (first, then)) \
            if persons == [0, 1] else ([_degraded(first, "far", px) for px in (45, 70, 120)],
                                       [_degraded(then, "edge", f) for f in (0.45, 0.35, 0.2)])
        images = one + [None] + two
        frames = _track_of(one, 0) + [[F.FaceResult(False)]] + _track_of(two, 1)
        PersonIds().assign(images, frames)
        assert [fl[0].face for fl in frames[:3]] == [persons[0]] * 3
        assert [fl[0].face for fl in frames[4:]] == [persons[1]] * 3
