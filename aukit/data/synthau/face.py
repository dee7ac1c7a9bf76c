"""The base face: scikit-image's astronaut photograph, its 68 landmarks, and the warp.

Every SynthAU frame is this one real photograph (``skimage.data.astronaut()``, public
domain: Eileen Collins, NASA) warped by landmark displacements. A real photo keeps dlib's
HOG detector working, which procedural cartoon faces do not.

Coordinates are (x, y) pixels of the SIZE x SIZE canvas, y pointing down. The 68 points
follow dlib/iBUG order (0-based). Twenty-five extra control points (forehead, cheeks, chin,
far anchors, upper-lid folds, brow undersides; see :func:`control_points`) let AUs move skin that has no
landmark.

Warp (backward map for ``cv2.remap``), a thin-plate spline (Bookstein 1989)::

    B(x) = a_0 + A x + sum_k w_k U(|x - q_k|),   U(r) = r^2 log r^2          (1)

with q_k the destination control points and w, a solved so that B(q_k) = p_k (the source
points); twelve border anchors follow the head-pose affine rigidly, so the background
moves with the head and the deformation stays on the face. B is evaluated on a 64 x 64
grid and upsampled: ~3 ms per 256 x 256 frame.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 256  # canvas side in pixels; the face is ~150 px wide (dlib HOG finds it)
CROP = (145, 52, 160)  # (x0, y0, side) of the astronaut crop, 512 px photo -> SIZE
N_LM = 68
N_CTRL = 93  # 68 landmarks + 25 extra control points

# left <-> right partner of every control point (image left/right), for mirrored AUs
MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw 0-16
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows 17-26
     27, 28, 29, 30, 35, 34, 33, 32, 31,  # nose 27-35
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes 36-47
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips 48-59
     64, 63, 62, 61, 60, 67, 66, 65,  # inner lips 60-67
     69, 68, 71, 70, 73, 72, 74, 76, 75, 77, 78,  # extra points 68-78
     82, 83, 84, 79, 80, 81,  # upper-lid folds 79-84
     89, 90, 91, 92, 85, 86, 87, 88])  # brow undersides 85-92


def models_dir() -> str:
    """Folder of face-recognition-models' dlib files (located without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package face-recognition-models is not installed "
                           "(needed for shape_predictor_68_face_landmarks.dat)")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


@functools.lru_cache(maxsize=1)
def dlib_models():
    """(frontal face detector, 68-point shape predictor), loaded once per process."""
    import dlib
    path = os.path.join(models_dir(), "shape_predictor_68_face_landmarks.dat")
    if not os.path.exists(path):
        raise FileNotFoundError(f"dlib shape predictor missing: {path}")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(path)


def dlib_landmarks(rgb: np.ndarray, upsample: int = 0) -> np.ndarray | None:
    """68 dlib landmarks (68, 2) float32 of the largest detected face, or None."""
    import dlib
    detector, predictor = dlib_models()
    rects = detector(np.ascontiguousarray(rgb), upsample)
    if len(rects) == 0:
        return None
    rect = max(rects, key=lambda r: r.width() * r.height())
    shape = predictor(np.ascontiguousarray(rgb), dlib.rectangle(rect.left(), rect.top(),
                                                               rect.right(), rect.bottom()))
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(N_LM)], np.float32)


def ruler_of(lm: np.ndarray) -> float:
    """The AU-centre rules' ruler: distance between the inner eye corners 39 and 42 (pixels)."""
    return float(np.linalg.norm(lm[42] - lm[39]))


def control_points(lm: np.ndarray) -> np.ndarray:
    """(93, 2): the 68 landmarks plus 25 points derived from them.

    68/69 central forehead above the inner brows, 70/71 lateral forehead, 72/73 cheek
    apexes, 74 chin boss, 75/76/77 far forehead anchors, 78 neck anchor, 79-81 and 82-84
    the upper-lid folds above eye points 36-38 and 45-43, 85-88 and 89-92 the brows'
    undersides below brow points 18-21 and 25-22. Folds hold the lashes to the lid and
    undersides the brow hair to the brow, so a brow that rises or falls stretches or
    compresses the bare lid skin between them (a brow raise smeared lashes and hair).
    """
    r = ruler_of(lm)
    up = np.array([0.0, -r])
    extra = np.stack([
        lm[21] + 0.9 * up, lm[22] + 0.9 * up,
        lm[18] + 0.9 * up, lm[25] + 0.9 * up,
        (lm[2] + lm[31]) / 2, (lm[14] + lm[35]) / 2,
        (lm[8] + lm[57]) / 2,
        lm[19] + 2.0 * up, lm[24] + 2.0 * up, lm[27] + 2.2 * up,
        lm[8] - 1.4 * up,
        lm[36] + 0.06 * up, lm[37] + 0.10 * up, lm[38] + 0.10 * up,
        lm[45] + 0.06 * up, lm[44] + 0.10 * up, lm[43] + 0.10 * up,
        *(lm[[18, 19, 20, 21, 25, 24, 23, 22]] - 0.08 * up),
    ])
    return np.concatenate([lm[:N_LM], extra]).astype(np.float64)


def pose_matrix(angle_deg: float, scale: float, tx: float, ty: float,
                centre: tuple[float, float] = (SIZE / 2, SIZE / 2)) -> np.ndarray:
    """2x3 forward affine A (source face -> output): rotation+scale about ``centre``, shift."""
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += (tx, ty)
    return m


def _invert_affine(a: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(a.astype(np.float64))


def _tps_kernel(d2: np.ndarray) -> np.ndarray:
    """U(r) = r^2 log r^2, with U(0) = 0."""
    return d2 * np.log(np.maximum(d2, 1e-12))


@dataclass
class Warp:
    """Thin-plate-spline backward map (1) fitted to (source p_k, destination q_k) pairs."""
    centres: np.ndarray  # (K, 2) destination points q_k
    weights: np.ndarray  # (K, 2) kernel weights w_k
    affine: np.ndarray  # (3, 2) rows: constant, x, y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """B(x) for points x (N, 2) -> source points (N, 2)."""
        x = np.asarray(x)
        dt = np.float32 if x.dtype == np.float32 else np.float64
        c = self.centres.astype(dt)
        d2 = (x * x).sum(1)[:, None] + (c * c).sum(1)[None] - 2 * (x @ c.T)  # (N, K), one matmul
        a = self.affine.astype(dt)
        return _tps_kernel(np.maximum(d2, 0)) @ self.weights.astype(dt) + a[0] + x @ a[1:]

    def maps(self, size: int = SIZE, step: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Dense (map_x, map_y) float32 (size, size) for cv2.remap.

        B is evaluated on a grid every ``step`` px, at the sample centres cv2.resize
        assumes (step * i + (step - 1) / 2), and upsampled bilinearly: the spline is smooth
        at that scale and this is 16x cheaper than evaluating every pixel.
        """
        n = size // step
        t = (np.arange(n, dtype=np.float32) * step + (step - 1) / 2)
        gx, gy = np.meshgrid(t, t)
        coarse = self(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)).astype(np.float32)
        coarse = coarse.reshape(n, n, 2)
        dense = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(dense[..., 0]), np.ascontiguousarray(dense[..., 1])


def border_anchors(size: int = SIZE) -> np.ndarray:
    """(12, 2) points on the canvas border that follow the head pose rigidly."""
    e = np.array([0.0, size / 3, 2 * size / 3, size - 1.0])
    top = np.stack([e, np.zeros(4)], 1)
    bottom = np.stack([e, np.full(4, size - 1.0)], 1)
    left = np.stack([np.zeros(2), e[1:3]], 1)
    right = np.stack([np.full(2, size - 1.0), e[1:3]], 1)
    return np.concatenate([top, bottom, left, right])


def ring_anchors(lm: np.ndarray, n: int = 20) -> np.ndarray:
    """(n, 2) points on an ellipse around the face (1.3x its width, 1.5x its height).

    They are rigid (move with the head pose only), so expression warps stay on the face
    instead of nudging hair, suit and background edges by fractions of a pixel.
    """
    top = lm[17:27, 1].min()
    centre = np.array([(lm[0, 0] + lm[16, 0]) / 2, (top + lm[8, 1]) / 2])
    axes = np.array([0.65 * (lm[16, 0] - lm[0, 0]), 0.75 * (lm[8, 1] - top)])
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + axes * np.stack([np.cos(t), np.sin(t)], 1)


def fit_warp(src: np.ndarray, dst: np.ndarray, pose: np.ndarray | None = None,
             ridge: float = 1.0, rigid: np.ndarray | None = None) -> Warp:
    """Fit the TPS backward map (1) with B(q_k) = p_k, rigid border and ``rigid`` anchors.

    Solves [[U + ridge I, P], [P^T, 0]] [w; a] = [p; 0], U_ij = U(|q_i - q_j|), P = [1, q].
    ``ridge`` (px^2 units of U) absorbs coincident destinations such as closed lips.
    """
    a_fwd = pose if pose is not None else pose_matrix(0, 1, 0, 0)
    a_inv = _invert_affine(a_fwd)
    anchors = border_anchors()
    if rigid is not None:  # face-frame anchors: source = themselves, destination = posed
        anchors = np.concatenate([anchors, rigid @ a_fwd[:, :2].T + a_fwd[:, 2]])
    dst = np.concatenate([np.asarray(dst, np.float64), anchors])
    src = np.concatenate([np.asarray(src, np.float64), anchors @ a_inv[:, :2].T + a_inv[:, 2]])
    k = len(dst)
    d2 = ((dst[:, None] - dst[None]) ** 2).sum(-1)
    lhs = np.zeros((k + 3, k + 3))
    lhs[:k, :k] = _tps_kernel(d2) + ridge * np.eye(k)
    lhs[:k, k] = 1.0
    lhs[:k, k + 1:] = dst
    lhs[k, :k] = 1.0
    lhs[k + 1:, :k] = dst.T
    rhs = np.zeros((k + 3, 2))
    rhs[:k] = src
    sol = np.linalg.solve(lhs, rhs)
    return Warp(dst, sol[:k], sol[k:])


def apply_warp(image: np.ndarray, warp: Warp) -> np.ndarray:
    """Warp an (H, W, C) image with the backward map (bilinear, reflected border)."""
    mx, my = warp.maps(image.shape[0])
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class BaseFace:
    image: np.ndarray  # (SIZE, SIZE, 3) float32 RGB in [0, 1], neutral expression
    landmarks: np.ndarray  # (68, 2) float64 landmarks of ``image``
    ruler: float


# dlib's 68 landmarks of skimage.data.astronaut() (512 x 512), from
# astronaut_landmarks_dlib(); stored so that generation does not load dlib (~3 s per
# process). tests/test_synthau_faces.py checks that dlib still returns them.
ASTRONAUT_LANDMARKS = np.array([
    [179, 104], [180, 116], [181, 127], [182, 139], [185, 150], [191, 160], [200, 168], [209, 176], [220, 178],
    [232, 177], [243, 171], [253, 163], [260, 154], [265, 143], [268, 131], [270, 120], [272, 108], [186, 94],
    [192, 88], [200, 87], [208, 89], [216, 92], [236, 93], [244, 91], [252, 91], [260, 92], [265, 99], [226, 102],
    [225, 111], [225, 119], [225, 127], [214, 131], [219, 133], [224, 134], [229, 133], [234, 132], [195, 101],
    [200, 98], [207, 98], [212, 104], [206, 104], [199, 104], [237, 106], [243, 100], [250, 100], [255, 105],
    [250, 107], [244, 107], [201, 139], [209, 139], [218, 139], [224, 141], [230, 140], [238, 140], [246, 141],
    [238, 151], [229, 155], [222, 156], [216, 155], [208, 150], [204, 141], [218, 143], [223, 144], [230, 143],
    [243, 142], [229, 150], [223, 151], [217, 150]], np.float64)


def astronaut_landmarks_dlib() -> np.ndarray:
    """Run dlib (HOG detector, upsample 1, + 68-point predictor) on the astronaut photo."""
    from skimage import data
    lm = dlib_landmarks(data.astronaut(), upsample=1)
    if lm is None:
        raise RuntimeError("dlib found no face in skimage.data.astronaut(); check the dlib install")
    return lm


def _astronaut_crop() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data
    photo = data.astronaut()
    lm = ASTRONAUT_LANDMARKS
    x0, y0, side = CROP
    crop = cv2.resize(photo[y0:y0 + side, x0:x0 + side], (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    lm = (lm.astype(np.float64) - (x0, y0)) * (SIZE / side)
    return crop.astype(np.float32) / 255.0, lm


@functools.lru_cache(maxsize=1)
def base_face() -> BaseFace:
    """The neutral base face: the photo's smile undone (teeth hidden, lip corners lowered).

    The photo smiles (AU6+12+25); SynthAU needs intensity 0 to look neutral. The teeth are
    painted over with lip colour, then the inner lips close on their mean line and the lip
    corners drop onto that line and narrow (a smile's corners sit above it: the photo's by
    0.1-0.24 ruler). Landmarks of the result come from the warp's forward map.
    """
    img, lm = _astronaut_crop()
    r = ruler_of(lm)
    mouth = lm[60:68].astype(np.int32)
    lip = np.median(img[_poly_mask(lm[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]) > 0.5], axis=0)
    fill = np.zeros(img.shape[:2], np.float32)
    cv2.fillPoly(fill, [mouth], 1.0, cv2.LINE_AA)
    fill = cv2.dilate(fill, np.ones((3, 3), np.uint8))
    fill = cv2.GaussianBlur(fill, (0, 0), 1.0)[..., None]
    img = img * (1 - fill) + lip[None, None] * fill

    dst = lm.copy()
    seam = (lm[[61, 62, 63]] + lm[[67, 66, 65]]) / 2
    dst[[61, 62, 63]] = seam
    dst[[67, 66, 65]] = seam
    dst[[56, 57, 58]] += (0, -0.12 * r)
    level = seam[:, 1].mean()  # the closed lips' line; the smile lifted the corners above it
    for inner, outer, upper, lower, inward in ((60, 48, 49, 59, 1), (64, 54, 53, 55, -1)):
        dst[inner] = (lm[inner, 0] + inward * 0.06 * r, level)
        dst[outer] = (lm[outer, 0] + inward * 0.08 * r, level + 0.02 * r)
        dst[upper, 1] = level - 0.15 * r
        dst[lower, 1] = level + 0.15 * r
    dst[[40, 41, 46, 47]] += (0, 0.04 * r)  # relax the smile's cheek push on the lower lids
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):  # as in generation's workers: the same base pixels in every process
        warp = fit_warp(control_points(lm), control_points(dst), rigid=ring_anchors(lm))
    neutral = apply_warp(img, warp)
    lm_n = dst  # B(q_k) = p_k: the feature at p_k now sits at q_k
    # a thin dark seam where the lips meet
    seam_pts = lm_n[[60, 61, 62, 63, 64]].astype(np.float32)
    shade = np.zeros(img.shape[:2], np.float32)
    cv2.polylines(shade, [np.round(seam_pts * 4).astype(np.int32)], False, 0.45, 2, cv2.LINE_AA, shift=2)
    shade = cv2.GaussianBlur(shade, (0, 0), 0.8)[..., None]
    neutral = np.clip(neutral * (1 - shade), 0, 1).astype(np.float32)
    neutral.setflags(write=False)
    return BaseFace(neutral, lm_n, ruler_of(lm_n))


def _poly_mask(points: np.ndarray, size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1.0)
    return mask
