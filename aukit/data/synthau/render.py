"""Render one frame: subject + AU intensities + nuisance -> uint8 RGB image and 68 landmarks.

Pipeline per frame (a few ms at 256 x 256):
1. destination control points = base points + subject shape offsets + AU offsets, then the
   head-pose affine;
2. thin-plate-spline backward map (face.py, eq. 1: kernel U(r) = r^2 log r^2 plus an affine part,
   fitted with a small ridge to the control points and to rigid border and face-ring anchors,
   evaluated on a 64 x 64 grid and upsampled) and ``cv2.remap`` of the subject image;
3. ground-truth landmarks = destination landmarks (the spline interpolates them, up to the ridge);
4. AU textures (textures.py), glasses, illumination, blur, sensor noise.
JPEG compression happens when the writers save the frame.

Frames are rendered from the continuous intensity trajectory, linear in intensity; labels are
its rounding (half up, see dynamics.py) into equal-width bins 0-5. That is the numeric coding
BP4D and DISFA use (0 absent, 1-5 = FACS intensities A-E), but FACS's own A (trace) to E
(maximum) bands are ordinal and not equal-width: SynthAU's label bins are a simplification.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import textures
from .aus import AUS, au_offsets
from .face import SIZE, base_face, control_points, fit_warp, pose_matrix, ring_anchors
from .subjects import Subject, shape_offsets, subject_image



@dataclass
class Nuisance:
    """Per-frame nuisance factors; the defaults give a clean, frontal, evenly lit frame."""
    angle: float = 0.0  # in-plane head roll, degrees
    scale: float = 1.0
    tx: float = 0.0  # pixels
    ty: float = 0.0
    yaw: float = 0.0  # horizontal squash of one face side, [-1, 1] ~ +-8 degrees of yaw
    gain: float = 1.0  # global brightness
    light: float = 0.0  # left-right illumination gradient, [-1, 1]
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour temperature gains
    blur: float = 0.0  # Gaussian blur sigma, pixels
    noise: float = 0.0  # sensor noise std on the 0-255 scale


def render(subject: Subject, intensities, nuisance: Nuisance | None = None,
           rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (image uint8 (SIZE, SIZE, 3) RGB, landmarks float32 (68, 2)).

    ``intensities``: (17,) continuous AU intensities in AUS order, 0-5.
    ``rng`` draws the sensor noise (required when ``nuisance.noise > 0``).
    """
    nz = nuisance or Nuisance()
    intensities = np.asarray(intensities, np.float64)
    if intensities.shape != (len(AUS),):
        raise ValueError(f"intensities must have shape ({len(AUS)},) in AUS order {AUS}, got {intensities.shape}")
    b = base_face()
    r = b.ruler
    face_lm = b.landmarks + shape_offsets(subject)
    dst = control_points(face_lm) + au_offsets(intensities, r)
    if nz.yaw:  # turn: compress the side moving away, in proportion to distance from the midline
        cx = dst[27, 0]
        dx = dst[:, 0] - cx
        dst[:, 0] = cx + dx * (1 - 0.12 * nz.yaw * np.sign(dx)) + 0.08 * r * nz.yaw
    pose = pose_matrix(nz.angle, nz.scale, nz.tx, nz.ty)
    dst = dst @ pose[:, :2].T + pose[:, 2]
    warp = fit_warp(control_points(b.landmarks), dst, pose, rigid=ring_anchors(b.landmarks))
    mx, my = warp.maps(SIZE)
    img = cv2.remap(subject_image(subject), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lm = dst[:68]  # B(q_k) = p_k up to the ridge (< 0.05 px): q_k are the true landmarks
    img = textures.paint(img, dst, r * nz.scale, intensities)
    if subject.glasses:
        img = _glasses(img, dst, r * nz.scale)
    img = _light(img, nz)  # also scales to 0-255
    if nz.blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), nz.blur)
    if nz.noise > 0:
        if rng is None:
            raise ValueError("nuisance.noise > 0 needs an rng for the sensor noise")
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(nz.noise)
    img += np.float32(0.5)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8), lm.astype(np.float32)


def _glasses(img: np.ndarray, pts: np.ndarray, ruler: float) -> np.ndarray:
    """Thin dark frames around both eyes and a bridge (drawn after the warp: rigid)."""
    layer = np.zeros(img.shape[:2], np.float32)
    ex = pts[45] - pts[36]
    angle = float(np.degrees(np.arctan2(ex[1], ex[0])))
    centres = [pts[36:42].mean(0), pts[42:48].mean(0)]
    for c in centres:
        cv2.ellipse(layer, tuple(int(v) for v in np.round(c * 4)), (int(0.72 * ruler * 4), int(0.48 * ruler * 4)),
                    angle, 0, 360, 1.0, 2, cv2.LINE_8, 2)
    inner = [c + (np.sign(pts[27, 0] - c[0]) * 0.72 * ruler, 0) for c in centres]
    cv2.line(layer, tuple(int(v) for v in np.round(inner[0] * 4)), tuple(int(v) for v in np.round(inner[1] * 4)),
             1.0, 2, cv2.LINE_8, 2)
    a = cv2.GaussianBlur(layer, (0, 0), 0.6)[..., None] * 0.85
    return img * (1 - a) + 0.08 * a


def _light(img: np.ndarray, nz: Nuisance) -> np.ndarray:
    """Gain, left-right gradient and tint as one (1, W, 3) factor; returns 0-255 float32."""
    ramp = np.linspace(-1, 1, img.shape[1], dtype=np.float32)[None, :, None]
    factor = (255.0 * nz.gain * (1 + 0.25 * nz.light * ramp)) * np.array(nz.tint, np.float32)
    return (img * factor.astype(np.float32)).astype(np.float32, copy=False)


def render_face(subject: Subject | None = None, intensities=None, **nuisance) -> np.ndarray:
    """Convenience for notebooks: render a subject (default: explore's demo subject, which is not
    the dataset's F001).

    ``intensities``: (17,) array in AUS order or a dict {au: value}; missing AUs are 0.
    """
    from .subjects import sample_subject
    if subject is None:
        subject = sample_subject("F001", "F", np.random.default_rng(0))
    if intensities is None:
        intensities = np.zeros(len(AUS))
    elif isinstance(intensities, dict):
        unknown = sorted(set(intensities) - set(AUS))
        if unknown:
            raise ValueError(f"unknown AU(s) {unknown}; SynthAU renders {AUS}")
        intensities = np.array([float(intensities.get(au, 0.0)) for au in AUS])
    img, _ = render(subject, intensities, Nuisance(**nuisance))
    return img
