"""dlib path on skimage's astronaut, alignment policies, AU centres and PI maps."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from aukit.data import au_centres, pi_maps
from aukit.data.align import _ARCFACE_112, FaceAligner, apply_affine, five_points, get_policy, similarity


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def tas():
    return FaceAligner("tas")


def test_one_face_68_landmarks_eyes_on_template(astronaut, tas):
    rects, scores, _ = tas.detector.run(astronaut, 0, 0.0)
    assert len(rects) == 1 and scores[0] > 0
    aligned, lm, m = tas(astronaut)
    assert aligned.shape == (256, 256, 3) and aligned.dtype == np.uint8
    assert lm.shape == (68, 2) and np.isfinite(lm).all()
    tpl = tas.policy.template()[:2]
    # the landmarks carried through the transform sit on the template ...
    assert np.abs(five_points(lm)[:2] - tpl).max() < 1e-3
    # ... and dlib, run again on the aligned crop, finds the eyes there too (within 2 px)
    box, _ = tas.detect(aligned)
    eyes = five_points(tas.landmarks(aligned, box))[:2]
    assert np.abs(eyes - tpl).max() < 2.0


def test_no_face_returns_none(tas):
    assert tas(np.full((200, 200, 3), 128, np.uint8)) is None


@pytest.mark.parametrize("name,size", [("cpc", 128), ("rtatl", 200), ("scc", 256), ("piap", 256)])
def test_policies_sizes_and_landmarks_inside(astronaut, name, size):
    aligned, lm, m = FaceAligner(name)(astronaut)
    assert aligned.shape == (size, size, 3)
    assert (lm > -0.1 * size).all() and (lm < 1.1 * size).all()
    if name == "cpc":  # tight crop: no rotation
        assert abs(m[0, 1]) < 1e-6 and abs(m[1, 0]) < 1e-6


def test_the_best_scoring_detection_wins_over_a_larger_false_one(astronaut):
    """JPEG-compressed frames of the bench clip where dlib also finds the shoulder patch
    (score ~0) in a box as large as the face's (score ~1): the face must be picked."""
    import cv2

    from aukit.bench.endtoend import clip_frame
    bgr = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    frames = [cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", clip_frame(bgr, t), [cv2.IMWRITE_JPEG_QUALITY, 75])[1],
                                        cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for t in (35, 85)]
    for pick, face in (("score", True), ("largest", False)):
        a = FaceAligner(get_policy("tas", det_pick=pick))
        for img in frames:
            (l, t, r, b), score = a.detect(img)
            assert (b < 256) == face, (pick, (l, t, r, b), score)   # the face is in the top half, the patch below
    with pytest.raises(ValueError, match="det_pick"):
        get_policy("tas", det_pick="first")


def _face_crop(image, aligner, zoom: float, side: int = 112):
    """A crop like Aff-Wild2's cropped_aligned: the face aligned on the ArcFace template, enlarged
    ``zoom`` times so that it touches the edges; with the crop's own landmarks (from the full image)."""
    box, _ = aligner.detect(image)
    lm = aligner.landmarks(image, box).astype(np.float64)
    tpl = (0.5 + (_ARCFACE_112 - 0.5) * zoom) * side
    m = similarity(five_points(lm), tpl)
    import cv2
    return np.ascontiguousarray(cv2.warpAffine(image, m, (side, side))), apply_affine(m, lm)


def test_a_face_crop_whose_face_touches_the_edges_is_found_with_its_landmarks(astronaut):
    cpc = FaceAligner("cpc")
    crop, truth = _face_crop(astronaut, cpc, zoom=1.4)
    # the face fills the 112-px crop: dlib's window cannot reach it without the replicated border
    assert FaceAligner(get_policy("cpc", det_edge_pad=0)).detect(crop)[0] is None
    box, score = cpc.detect(crop)
    assert box is not None and score > 0
    assert box[0] < 8 and box[3] > 112 - 8          # the box reaches the crop's edges (past them is fine)
    # landmarks fitted on a bordered copy, handed back in the crop's pixels: within 2 px of the truth
    assert np.abs(cpc.landmarks(crop, box) - truth).mean() < 2.0
    # images with a longer side above det_pad_max_side (scene frames) get no second look
    assert FaceAligner(get_policy("cpc", det_pad_max_side=100)).detect(crop)[0] is None


def test_landmarks_of_a_box_past_the_edge_read_a_replicated_border(astronaut):
    scc = FaceAligner("scc")
    crop, truth = _face_crop(astronaut, scc, zoom=1.3)
    box, _ = scc.detect(crop)
    assert box[3] > crop.shape[0]                        # this box reaches past the bottom edge
    # dlib alone reads black outside the image; the bordered copy is closer to the truth
    import dlib
    shape = scc.predictor(crop, dlib.rectangle(*box))
    black = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    ours = scc.landmarks(crop, box)
    assert np.abs(ours - truth).mean() < np.abs(black - truth).mean()
    assert np.abs(ours - truth).mean() < 1.5


def test_edge_pad_must_be_a_fraction():
    with pytest.raises(ValueError, match="det_edge_pad"):
        get_policy("tas", det_edge_pad=1.5)


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    a, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = s * src @ rot.T + t
    m = similarity(src, dst)
    assert np.allclose(apply_affine(m, src), dst, atol=1e-9)


def test_unknown_policy_and_field():
    with pytest.raises(ValueError, match="unknown alignment policy"):
        get_policy("nope")
    with pytest.raises(ValueError, match="unknown AlignPolicy fields"):
        get_policy("tas", sise=3)


def _toy_landmarks():
    lm = np.zeros((68, 2), np.float32)
    lm[:, 0] = np.arange(68)
    lm[:, 1] = 100 + np.arange(68)
    lm[39, 0], lm[42, 0] = 40.0, 52.0  # ruler = 12
    return lm


def test_au_centres_rules():
    lm = _toy_landmarks()
    c = au_centres(lm[None], ["AU1", 4, 5, 6, 10, 26])
    assert c.shape == (1, 6, 2, 2)
    np.testing.assert_allclose(c[0, 0], [[21, 121 - 6], [22, 122 - 6]])   # AU1 up r/2
    np.testing.assert_allclose(c[0, 1], [[19, 119 + 4], [24, 124 + 4]])   # AU4 down r/3
    np.testing.assert_allclose(c[0, 2], [[37.5, 137.5], [43.5, 143.5]])   # AU5 upper lids
    np.testing.assert_allclose(c[0, 3], [[41, 141 + 12], [46, 146 + 12]])  # AU6 down r
    np.testing.assert_allclose(c[0, 4], [[49, 149], [53, 153]])          # AU10 EAC-Net
    np.testing.assert_allclose(c[0, 5], [[56, 156 + 6], [58, 158 + 6]])   # AU26 down r/2
    jaa = au_centres(lm, [10], au10="jaa")
    np.testing.assert_allclose(jaa[0], [[61, 161], [63, 163]])
    with pytest.raises(ValueError, match="AU3"):
        au_centres(lm, [3])


def test_pi_maps_regions(astronaut, tas):
    _, lm, _ = tas(astronaut)
    maps = pi_maps(lm[None], [1, 2, 12, 25], size=64, src_size=256)
    assert maps.shape == (1, 4, 64, 64) and maps.dtype == np.uint8
    assert set(np.unique(maps)) <= {0, 1}
    area = maps.sum(axis=(2, 3))[0]
    assert (area > 0).all() and (area < 64 * 64 / 4).all()
    # AU2 has two parts (left and right brow ends): both halves of the map are set
    assert maps[0, 1, :, :32].any() and maps[0, 1, :, 32:].any()
    # regions sit where the landmarks are: AU1 (brows) above AU25 (lips)
    ys = [np.nonzero(maps[0, j])[0].mean() for j in (0, 3)]
    assert ys[0] < ys[1]
    # the lips map covers the mouth landmarks
    mouth = np.round(lm[48:60] * 64 / 256).astype(int)
    assert maps[0, 3, mouth[:, 1].clip(0, 63), mouth[:, 0].clip(0, 63)].mean() > 0.8


def test_dlib_model_folder_from_the_environment(tmp_path, monkeypatch):
    """AUKIT_DLIB_MODELS points at a folder holding the models (a machine without
    face-recognition-models); a model missing there is named with the variable."""
    from aukit.data.align import model_path
    shipped = model_path()
    monkeypatch.setenv("AUKIT_DLIB_MODELS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="AUKIT_DLIB_MODELS"):
        model_path()
    (tmp_path / shipped.name).symlink_to(shipped)
    assert model_path() == tmp_path / shipped.name
    monkeypatch.delenv("AUKIT_DLIB_MODELS")
    assert model_path() == shipped


def test_every_au_centre_follows_reference_md():
    """Catches any AU's landmark pair or shift (size, direction) drifting from the EAC-Net / JAA-Net
    rules."""
    lm = np.array([[2.0 * i, 200.0 + 3 * i] for i in range(68)], np.float32)   # point i = (2i, 200 + 3i)
    r = abs(lm[39, 0] - lm[42, 0])                                                # ruler = |78 - 84| = 6

    def P(i, dy=0.0):      # landmark i (or the mean of a pair) moved by dy; image y grows downward: up = -dy
        x, y = (np.mean([2.0 * j for j in i]), np.mean([200.0 + 3 * j for j in i])) if isinstance(i, tuple) \
            else (2.0 * i, 200.0 + 3 * i)
        return [x, y + dy]

    want = {
        1: [P(21, -r / 2), P(22, -r / 2)], 2: [P(18, -r / 3), P(25, -r / 3)], 4: [P(19, r / 3), P(24, r / 3)],
        5: [P((37, 38)), P((43, 44))],                     # the module's documented choice: upper eyelids
        6: [P(41, r), P(46, r)], 7: [P(38), P(43)], 9: [P(32, -r / 2), P(34, -r / 2)],
        10: [P(49), P(53)],                                # EAC-Net (default)
        12: [P(48), P(54)], 14: [P(48), P(54)], 15: [P(48), P(54)], 20: [P(48), P(54)],
        17: [P(56, r / 2), P(58, r / 2)], 23: [P(51), P(57)], 24: [P(51), P(57)], 25: [P(51), P(57)],
        26: [P(56, r / 2), P(58, r / 2)],
    }
    assert r == 6
    got = au_centres(np.stack([lm, lm]), list(want))
    assert got.shape == (2, len(want), 2, 2)
    for j, (au, pts) in enumerate(want.items()):
        np.testing.assert_allclose(got[1, j], pts, err_msg=f"AU{au}")
    np.testing.assert_allclose(au_centres(lm, [10], au10="jaa")[0], [P(61), P(63)])  # JAA-Net inner lip
