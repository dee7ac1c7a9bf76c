"""Mutation round 4, aukit.predict (faces, run, infer, shm): detection and tracking of a chunk's frames
with a scripted stand-in for dlib (no models loaded), the pipeline's sizes, smoothing, the header's
notes, batched inference and the shared-memory blocks, on hand-made inputs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from aukit import deploy
from aukit.predict import faces as F
from aukit.registry import register_model

SIDE = 40   # a face's side, px


def _person(seed):
    return np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def _frame(k, people=()):
    """A 160 x 160 BGR frame numbered ``k`` (pixel (0, 0)) with ``people``: (seed, left, top)."""
    img = np.zeros((160, 160, 3), np.uint8)
    img[0, 0, 0] = k
    for seed, x, y in people:
        img[y:y + SIDE, x:x + SIDE] = _person(seed)
    return img


class _Scripted:
    """dlib's part, scripted: frame k's detections ``((l, t, r, b), score)`` from ``script[k]``, 68
    landmarks spread over the box, the aligned crop the box's pixels."""

    def __init__(self, script):
        self.script, self.detected = script, []

    def detect_all(self, img, bgr=True, want=1):
        k = int(img[0, 0, 0])
        self.detected.append(k)
        return list(self.script.get(k, []))

    def landmarks(self, img, box):
        l, t, r, b = box
        gx, gy = np.meshgrid(np.linspace(l + 4, r - 4, 17), np.linspace(t + 4, b - 4, 4))
        return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)

    def transform(self, lm, box):
        return box

    def warp(self, img, box):
        l, t, r, b = (int(v) for v in box)
        return cv2.resize(img[t:b, l:r], (32, 32), interpolation=cv2.INTER_AREA)


def _box(x, y):
    return (x, y, x + SIDE, y + SIDE)


@pytest.fixture
def scripted(monkeypatch):
    """Install a :class:`_Scripted` aligner for ``script``; returns it."""
    def install(script):
        fake = _Scripted(script)
        monkeypatch.setattr(F, "_ALIGNER", fake)
        return fake
    return install


def _ids(out):
    return [[r.face for r in fl if r.success] for fl in out]


def test_the_detector_runs_on_the_first_frame_and_every_kth_after_it(scripted):
    fake = scripted({k: [(_box(50, 50), 1.0)] for k in range(7)})
    out = F.process_faces([_frame(k, [(1, 50, 50)]) for k in range(7)], detect_every=3, max_faces=1)
    assert fake.detected == [0, 3, 6]
    assert all(fl[0].success and not fl[0].redetected for fl in out)


def test_a_track_whose_face_changes_is_detected_afresh_and_flagged(scripted):
    fake = scripted({k: [(_box(50, 50), 1.0)] for k in range(4)})
    frames = [_frame(0, [(1, 50, 50)]), _frame(1, [(1, 50, 50)]), _frame(2, [(2, 50, 50)]), _frame(3, [(2, 50, 50)])]
    out = F.process_faces(frames, detect_every=10, max_faces=1)
    assert fake.detected == [0, 2]
    assert [fl[0].redetected for fl in out] == [False, False, True, False]


def test_an_unreadable_frame_ends_every_track(scripted):
    fake = scripted({0: [(_box(50, 50), 1.0)], 2: [(_box(50, 50), 1.0)]})
    out = F.process_faces([_frame(0, [(1, 50, 50)]), None, _frame(2, [(1, 50, 50)])], detect_every=10)
    assert fake.detected == [0, 2]
    assert [fl[0].success for fl in out] == [True, False, True]


def test_a_detection_takes_the_id_of_the_track_it_overlaps_and_new_ids_are_never_reused(scripted):
    a, b, c = (1, 10, 10), (2, 100, 10), (3, 10, 100)
    scripted({0: [(_box(10, 10), 1.0), (_box(100, 10), 0.9)], 1: [(_box(10, 10), 1.0)],
              2: [(_box(10, 10), 1.0), (_box(10, 100), 0.8)]})
    out = F.process_faces([_frame(0, [a, b]), _frame(1, [a]), _frame(2, [a, c])], detect_every=1, max_faces=2)
    assert _ids(out) == [[0, 1], [0], [0, 2]]


def test_two_detections_over_one_track_get_two_ids(scripted):
    scripted({0: [(_box(40, 40), 1.0)], 1: [(_box(40, 40), 1.0), (_box(60, 40), 0.9)]})
    out = F.process_faces([_frame(0, [(1, 40, 40)]), _frame(1, [(1, 40, 40), (2, 60, 40)])], detect_every=1,
                          max_faces=2)
    assert _ids(out) == [[0], [0, 1]]


def test_a_near_flat_crop_has_no_signature():
    ramp = np.tile((np.arange(32) % 2 + 100).astype(np.uint8)[None, :, None], (32, 1, 3))   # one grey level apart
    assert F.signature(ramp) is None
    sig = F.signature(np.ascontiguousarray(cv2.resize(_person(1), (32, 32))))
    assert sig is not None and float(sig @ sig) == pytest.approx(1.0, abs=1e-5)


def test_a_tracked_box_stays_inside_the_image():
    lm = np.array([[90.0, 60.0], [150.0, 100.0]])
    rel = (-0.5, -0.5, 0.5, 0.5)
    assert F.tracked_box(lm, rel, (120, 160, 3)) == (60, 40, 159, 119)
    assert F.tracked_box(lm - 80, rel, (120, 160, 3)) == (0, 0, 100, 40)


def test_iou_of_apart_overlapping_and_equal_boxes():
    assert F.iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0 and F.iou((0, 0, 10, 10), (0, 30, 10, 10)) == 0.0
    assert F.iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert F.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0


def test_a_face_that_moved_keeps_its_id_at_under_half_overlap(scripted):
    scripted({0: [(_box(40, 40), 1.0)], 1: [(_box(55, 40), 1.0)]})                   # IoU 1000 / 2200
    out = F.process_faces([_frame(0, [(1, 40, 40)]), _frame(1, [(1, 55, 40)])], detect_every=1, max_faces=2)
    assert _ids(out) == [[0], [0]]


def _at(x, face, confidence=1.0):
    return F.FaceResult(True, (x, 0, 100, 100), confidence, face=face)


def _link(carry, per_frame):
    """A chunk tracked from a clean start (local ids in detection order, no crops) linked by ``carry``."""
    first = [(r.box, None) for r in per_frame[0]]
    tracks = [dict(face=r.face, box=r.box, ref=None) for r in per_frame[-1]]
    carry.link(per_frame, F.Ends(first, tracks, 1 + max(r.face for fl in per_frame for r in fl)))


def test_a_chunks_best_scoring_face_claims_the_previous_face_first():
    ids = F.Carry(detect_every=1)
    _link(ids, [[_at(0, 0)]])
    nxt = [[_at(40, 0, confidence=0.9), _at(10, 1, confidence=0.2)]]    # IoU 0.43 and 0.82 with face 0
    _link(ids, nxt)
    assert [(r.box[0], r.face) for r in nxt[0]] == [(40, 0), (10, 1)]


def test_faces_of_a_chunk_link_to_the_last_frame_of_the_one_before():
    ids = F.Carry(detect_every=1)
    _link(ids, [[_at(0, 0)], [_at(300, 0)]])                               # the face moved within the chunk
    nxt = [[_at(310, 0, confidence=0.9), _at(0, 1, confidence=0.5)]]
    _link(ids, nxt)
    assert [(r.box[0], r.face) for r in nxt[0]] == [(310, 0), (0, 1)]


def test_one_face_a_frame_follows_the_person_until_gone_and_counts_crowded_frames():
    a, b = (lambda c: _at(0, 0, c)), (lambda c: _at(300, 1, c))
    frames = [[a(0.9), b(0.5)], [a(0.4), b(0.8)], [b(0.7)], [a(0.95), b(0.6)], [F.FaceResult(False)],
              [a(0.85), b(0.55)]]
    one = F.FollowOne()
    one.keep(frames)
    assert [fl[0].confidence for fl in frames] == [0.9, 0.4, 0.7, 0.6, 0.0, 0.85]
    assert [fl[0].redetected for fl in frames] == [False, False, True, False, False, False]
    assert {fl[0].face for fl in frames if fl[0].success} == {0} and one.crowded == 4


def test_one_face_a_frame_tracks_two_but_not_a_weak_second(scripted):
    scripted({0: [(_box(10, 10), 1.0), (_box(100, 10), 0.8)], 1: [(_box(10, 10), 1.0), (_box(100, 10), 0.3)]})
    people = [(1, 10, 10), (2, 100, 10)]
    out = F.process_payload([_frame(0, people), _frame(1, people)], detect_every=1, max_faces=1)
    assert [len(fl) for fl in out] == [2, 1]
    assert F.tracked(1) == F.FOLLOW_TRACKS and F.tracked(3) == 3


def test_crops_written_to_shared_memory_land_in_each_faces_slot(scripted):
    from aukit.predict import shm
    script = {0: [(_box(10, 10), 1.0), (_box(100, 10), 0.9)], 1: [(_box(10, 100), 1.0)], 2: [(_box(100, 100), 1.0)]}
    frames = [_frame(0, [(1, 10, 10), (2, 100, 10)]), _frame(1, [(3, 10, 100)]), _frame(2, [(4, 100, 100)])]
    scripted(script)
    want = F.process_payload(frames, detect_every=1, max_faces=2)
    blocks = shm.Blocks(32, slots=2)
    try:
        layout = blocks.put(frames)
        got = F.process_payload(layout, detect_every=1, max_faces=2)
        crops = blocks.collect(layout)
    finally:
        blocks.close()
    assert [len(fl) for fl in got] == [2, 1, 1] and all(r.aligned is None for fl in got for r in fl)
    for i, faces in enumerate(want):
        for k, r in enumerate(faces):
            np.testing.assert_array_equal(crops[2 * i + k], r.aligned)


def test_a_pipeline_for_no_faces_is_refused():
    with pytest.raises(ValueError, match="max_faces must be at least 1, got 0"):
        F.FacePipeline("tas", workers=0, max_faces=0)


def test_smoothing_averages_each_face_alone_and_a_mean_of_one_half_is_present():
    import pandas as pd

    from aukit.predict.run import _smoothed
    df = pd.DataFrame({"face_id": [0, 1, 0, 1, 0, 1], "AU01_r": [1.0, 4.0, 2.0, 4.0, 3.0, 4.0],
                       "AU01_p": [0.4, 0.1, 0.6, 0.1, 0.5, 0.1], "AU01_c": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    out = _smoothed(df, 3)
    assert out.AU01_r.tolist() == [1.5, 4.0, 2.0, 4.0, 2.5, 4.0]
    assert out.AU01_p.tolist() == [0.5, 0.1, 0.5, 0.1, 0.55, 0.1]
    assert out.AU01_c.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_the_crowded_note_names_images_for_photos_and_frames_for_a_video():
    from aukit.predict.run import crowded_note
    assert crowded_note(3, 10, photos=True).startswith("2 or more faces seen in 3 of 10 images; kept the best-scoring")
    assert crowded_note(3, 10, photos=False).startswith("2 or more faces seen in 3 of 10 frames; kept one face")


def test_the_steady_rate_leaves_the_start_up_out():
    from aukit.predict.run import PredictResult
    r = PredictResult(None, None, n_frames=100, n_faces=100, unreadable=0, seconds=5.0, startup_s=3.0)
    assert r.frames_per_s == 20.0 and r.steady_frames_per_s == 50.0


def test_a_model_that_fails_to_compile_is_tried_once_and_runs_eager(monkeypatch):
    from aukit.predict.infer import CompiledOrEager
    tried = []

    def broken(model):
        def run(x):
            tried.append(len(x))
            raise RuntimeError("no C++ compiler\nmore")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    net = CompiledOrEager(torch.nn.Identity())
    with pytest.warns(UserWarning, match=r"torch.compile failed \(RuntimeError: no C\+\+ compiler\)") as caught:
        outs = [net(torch.ones(2)), net(torch.zeros(3))]
    assert tried == [2] and len(caught) == 1 and outs[1].tolist() == [0.0, 0.0, 0.0]


def test_frames_that_are_not_colour_uint8_and_an_empty_chunk_go_by_pipe_without_a_warning():
    import warnings

    from aukit.predict import shm
    blocks = shm.Blocks(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert blocks.put([np.zeros((4, 4, 3), np.float32)]) is None
        assert blocks.put([np.zeros((4, 4), np.uint8)]) is None
        assert blocks.put([]) is None
    assert blocks.blocks == 0 and blocks.piped == 0


def test_a_block_is_made_only_with_a_tenth_of_dev_shm_to_spare(monkeypatch):
    from aukit.predict import shm
    frame = [np.zeros((8, 8, 3), np.uint8)]                    # 192 bytes + a 192-byte crop: a 512-byte block
    monkeypatch.setattr(shm, "shm_free_bytes", lambda: 540.0)
    piped = shm.Blocks(8)
    with pytest.warns(RuntimeWarning, match="a chunk needs") as caught:
        assert piped.put(frame) is None and piped.put(frame) is None
    assert len(caught) == 1 and piped.piped == 2                  # said once
    monkeypatch.setattr(shm, "shm_free_bytes", lambda: 570.0)
    blocks = shm.Blocks(8)
    try:
        assert blocks.put(frame) is not None
    finally:
        blocks.close()


def test_free_room_under_dev_shm_is_what_a_user_may_still_take(monkeypatch):
    from types import SimpleNamespace

    from aukit.predict import shm
    fs = SimpleNamespace(f_bavail=3, f_bfree=5, f_blocks=100, f_frsize=4096)
    monkeypatch.setattr(shm.os, "statvfs", lambda p: fs)
    assert shm.shm_free_bytes() == 3 * 4096


def test_collected_crops_stay_when_the_block_takes_the_next_chunk():
    from aukit.predict import shm
    blocks = shm.Blocks(4)
    try:
        first = blocks.put([np.zeros((4, 4, 3), np.uint8)])
        shm.crops(shm.attach(first.name), first)[...] = 7
        crops = blocks.collect(first)
        second = blocks.put([np.ones((4, 4, 3), np.uint8)])
        assert second.name == first.name
        shm.crops(shm.attach(second.name), second)[...] = 9
        assert (crops == 7).all()
    finally:
        blocks.close()


@pytest.mark.parametrize("output", ["intensity", "occurrence"])
def test_a_group_without_faces_gives_nan_rows_under_the_models_output(output):
    from types import SimpleNamespace

    from aukit.predict.infer import infer
    model = SimpleNamespace(spec=SimpleNamespace(aus=["AU01", "AU02"], output=output), context=0)
    outs = infer(model, [F.FaceResult(False)] * 3, 4, torch.device("cpu"))
    assert list(outs) == [output] and outs[output].shape == (3, 2) and np.isnan(outs[output]).all()


def test_one_worker_keeps_the_callers_chunk_for_an_input_of_known_length():
    from aukit.predict import chunk_size
    assert chunk_size(32, 1, 81, 1) == 32 and chunk_size(32, 1, 81, 2) == 11


@register_model
def _mut4_pooled_net():
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(12, 2),
                               torch.nn.Softplus())


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A deployable model file and a folder of 12 blank photos and 21 files that are not images."""
    root = tmp_path_factory.mktemp("mut4")
    spec = deploy.DeploySpec(model="_mut4_pooled_net", policy="tas", size=64, aus=["AU01", "AU12"],
                             output="intensity", dataset="disfa", method="pooled")
    model = deploy.export(root / "pooled.pt", _mut4_pooled_net(), spec)
    folder = root / "photos"
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"blank{i:02d}.png"), np.zeros((48, 48, 3), np.uint8))
    for i in range(21):
        (folder / f"note{i:02d}.txt").write_text("x")
    return model, folder


def test_a_photo_folder_run_names_what_it_skipped_and_its_settings(photos, tmp_path, capsys):
    from aukit.predict import Predictor
    model, folder = photos
    with Predictor(str(model), workers=0, min_face=None) as p:
        p.pipe.stream = _faceless_stream
        with pytest.raises(ValueError, match="frame_step must be at least 1, got 0"):
            p(folder, tmp_path, frame_step=0)
        with pytest.raises(ValueError, match="--smooth 2 averages each face over time"):
            p(folder, tmp_path, smooth=2)
        res = p(folder, tmp_path, plot=False, progress=True)
    header = [ln for ln in res.csv.read_text().splitlines() if ln.startswith("#")]
    assert " min_face=off " in header[2]
    assert header[-1].startswith("# skipped, not images: 21 file(s) or folder(s): note00.txt, ")
    assert header[-1].endswith("note19.txt, ...")
    assert "writing the CSV" not in capsys.readouterr().err and res.n_frames == 12


def test_photo_faces_are_numbered_by_score_and_a_frame_redetected_counts_once(photos, tmp_path):
    from aukit.predict import Predictor
    model, folder = photos
    crop = np.zeros((64, 64, 3), np.uint8)

    def scripted_stream(items, inflight=None, detect_every=None):
        for n, (tag, images) in enumerate(items):
            weak, strong = (F.FaceResult(True, (10 * k, 0, 50, 50), c, np.zeros((68, 2)), crop, True, face=k)
                            for k, c in ((0, 0.3), (1, 0.9)))
            yield tag, [[weak, strong] if n == 0 and i == 0 else [F.FaceResult(False)] for i in range(len(images))]

    with Predictor(str(model), workers=0, max_faces=2) as p:
        p.pipe.stream = scripted_stream
        res = p(folder, tmp_path, plot=False)
    df = res.read()
    first = df[df.file == df.file.iloc[0]]
    assert first.face_id.tolist() == [0, 1] and first.confidence.tolist() == [0.9, 0.3]
    assert res.redetected == 1 and "track_lost_redetected=1" in res.csv.read_text()


def _faceless_stream(items, inflight=None, detect_every=None):
    for tag, images in items:
        yield tag, [[F.FaceResult(False)] for _ in images]


@pytest.mark.parametrize("runs,more", [(20, False), (21, True)])
def test_the_header_names_twenty_runs_of_unreadable_frames_and_marks_more(photos, tmp_path, runs, more):
    from aukit.predict import Predictor
    model, _ = photos
    for i in range(runs):
        cv2.imwrite(str(tmp_path / f"{2 * i:03d}.png"), np.zeros((8, 8, 3), np.uint8))
        (tmp_path / f"{2 * i + 1:03d}.png").write_bytes(b"not a png")
    with Predictor(str(model), workers=0) as p:
        p.pipe.stream = _faceless_stream
        res = p(tmp_path, tmp_path / "out", plot=False)
    line = next(ln for ln in res.csv.read_text().splitlines() if ln.startswith("# unreadable: "))
    assert res.unreadable == runs and line.endswith("; ...") is more


def test_a_folder_of_one_videos_frames_is_plotted_over_time(photos, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from aukit.predict import Predictor, run
    model, folder = photos
    drawn = []
    monkeypatch.setattr(run, "curves_figure", lambda *a, photos: drawn.append(photos) or Figure((1, 1)))
    with Predictor(str(model), workers=0) as p:
        p.pipe.stream = _faceless_stream
        p(folder, tmp_path / "frames", frames=True)
        p(folder, tmp_path / "photos")
    assert drawn == [False, True]
