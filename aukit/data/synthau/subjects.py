"""Identities: face shape, skin tone, hair, brows, a sex-linked cue, glasses, background.

A :class:`Subject` is a frozen record of appearance parameters drawn from a seeded RNG.
:func:`subject_image` paints it onto the neutral base face once (in base-face
coordinates; it is cached), and :func:`shape_offsets` gives the landmark offsets that
reshape the face in every frame's warp. The sex-linked cue is a beard/stubble and thicker
brows for ``M`` subjects, lip colour and eyeliner for ``F`` subjects.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .face import SIZE, base_face

_HAIR = ((0.10, 0.07, 0.05), (0.22, 0.14, 0.08), (0.40, 0.27, 0.15), (0.75, 0.60, 0.35),
         (0.55, 0.22, 0.10), (0.60, 0.58, 0.56), (0.05, 0.05, 0.06))  # black..blond, red, grey, jet
_SKIN = ((1.0, 1.0, 1.0), (0.93, 0.86, 0.80), (0.80, 0.66, 0.56), (0.66, 0.50, 0.40),
         (0.50, 0.36, 0.28), (1.02, 0.96, 0.86))  # per-channel gains on the photo's skin


@dataclass(frozen=True)
class Subject:
    name: str
    sex: str  # "F" or "M"; drives the sex-linked cue
    shape: tuple[float, ...]  # 7 values in [-1, 1]: jaw, length, eyes, brows, nose, mouth, cheeks
    skin: tuple[float, float, float]  # RGB gains on skin
    hair: tuple[float, float, float]  # hair RGB
    brow: float  # brow thickening, 0..1
    beard: float  # beard/stubble density, 0 for F
    lips: float  # lip colour strength, 0 for M
    glasses: bool
    background: tuple[float, float, float]
    seed: int  # texture noise seed

    def to_dict(self) -> dict:
        return asdict(self)


def sample_subject(name: str, sex: str, rng: np.random.Generator, glasses_rate: float = 0.25) -> Subject:
    """Draw one identity. ``sex`` must be 'F' or 'M'."""
    if sex not in ("F", "M"):
        raise ValueError(f"subject {name}: sex must be 'F' or 'M', got {sex!r}")
    skin = np.array(_SKIN[rng.integers(len(_SKIN))]) * rng.uniform(0.95, 1.05, 3)
    hair = np.clip(np.array(_HAIR[rng.integers(len(_HAIR))]) * rng.uniform(0.85, 1.15, 3), 0, 1)
    male = sex == "M"
    return Subject(
        name=name, sex=sex,
        shape=tuple(float(v) for v in rng.uniform(-1, 1, 7)),
        skin=tuple(float(v) for v in skin), hair=tuple(float(v) for v in hair),
        brow=float(rng.uniform(0.5, 1.0) if male else rng.uniform(0.0, 0.4)),
        beard=float(rng.uniform(0.45, 1.0)) if male else 0.0,
        lips=0.0 if male else float(rng.uniform(0.35, 0.8)),
        glasses=bool(rng.random() < glasses_rate),
        background=tuple(float(v) for v in rng.uniform(0.3, 0.95, 3)),
        seed=int(rng.integers(2 ** 31 - 1)),
    )


def shape_offsets(subject: Subject) -> np.ndarray:
    """(68, 2) landmark offsets (pixels, base-face frame) that give the subject's face shape."""
    b = base_face()
    lm, r = b.landmarks, b.ruler
    jaw, length, eyes, brows, nose, mouth, cheeks = subject.shape
    off = np.zeros((68, 2))
    cx = lm[27, 0]
    off[2:15, 0] += 0.07 * jaw * (lm[2:15, 0] - cx)  # jaw width
    chin_w = np.exp(-((np.arange(17) - 8) / 2.5) ** 2)
    off[0:17, 1] += 0.18 * r * length * chin_w  # face length at the chin
    off[55:60, 1] += 0.05 * r * length
    off[36:42, 0] -= 0.06 * r * eyes  # eye spacing
    off[42:48, 0] += 0.06 * r * eyes
    off[17:27, 1] -= 0.12 * r * brows  # brow height
    off[31:36, 0] += 0.10 * (lm[31:36, 0] - lm[33, 0]) * nose * 1.5  # nose width
    off[48:68, 0] += 0.10 * mouth * (lm[48:68, 0] - lm[51, 0])  # mouth width
    off[[1, 2, 3], 0] -= 0.08 * r * cheeks  # cheek fullness
    off[[13, 14, 15], 0] += 0.08 * r * cheeks
    return off


@functools.lru_cache(maxsize=None)
def _masks() -> dict[str, np.ndarray]:
    """Soft (SIZE, SIZE) masks of the base face: skin, hair, background, beard, lips, eyes."""
    b = base_face()
    img, lm, r = b.image, b.landmarks, b.ruler
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)

    def poly(pts):
        m = np.zeros((SIZE, SIZE), np.float32)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1.0)
        return m

    forehead = lm[26:16:-1] + (0, -0.55 * r)
    face = poly(np.concatenate([lm[0:17], forehead]))
    neck = poly(np.array([lm[4], lm[12], (lm[12, 0] - 0.1 * r, SIZE * 0.80), (lm[4, 0] + 0.1 * r, SIZE * 0.80)]))
    skin = np.clip(face + neck, 0, 1)
    bg = ((hsv[..., 1] < 0.14) & (hsv[..., 2] > 0.68)).astype(np.float32) * (1 - skin)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    head = ((yy < lm[4, 1]) & (xx > lm[0, 0] - 1.6 * r) & (xx < lm[16, 0] + 1.6 * r)).astype(np.float32)
    hair = head * (1 - skin) * (1 - bg)
    beard_outline = np.concatenate([lm[3:14], lm[[54]] + (0.25 * r, -0.2 * r), lm[[35]] + (0.1 * r, 0.05 * r),
                                    lm[[31]] + (-0.1 * r, 0.05 * r), lm[[48]] + (-0.25 * r, -0.2 * r)])
    lips = poly(lm[48:60])
    beard = np.clip(poly(beard_outline) - cv2.dilate(lips, np.ones((5, 5), np.uint8)), 0, 1)
    eyes = poly(lm[36:42]) + poly(lm[42:48])
    soft = lambda m, s: cv2.GaussianBlur(m, (0, 0), s)  # noqa: E731
    return {"skin": soft(skin, 3), "hair": soft(hair, 1.5), "bg": soft(bg, 1.5), "beard": soft(beard, 3),
            "lips": soft(lips, 1.0), "eyes": eyes}


@functools.lru_cache(maxsize=256)
def subject_image(subject: Subject) -> np.ndarray:
    """The subject painted on the neutral base face: float32 (SIZE, SIZE, 3) RGB in [0, 1]."""
    b = base_face()
    m = _masks()
    img = b.image.copy()
    lum = img.mean(-1, keepdims=True)
    rng = np.random.default_rng(subject.seed)
    img = img * (1 - m["skin"][..., None]) + img * np.array(subject.skin, np.float32) * m["skin"][..., None]
    hair_lum = lum / max(float(np.median(lum[m["hair"] > 0.5])), 1e-3)
    hair = np.clip(np.array(subject.hair, np.float32) * hair_lum, 0, 1)
    img = img * (1 - m["hair"][..., None]) + hair * m["hair"][..., None]
    bg = np.clip(np.array(subject.background, np.float32) * lum / max(float(np.median(lum[m["bg"] > 0.5])), 1e-3), 0, 1)
    img = img * (1 - m["bg"][..., None]) + bg * m["bg"][..., None]
    lm = b.landmarks
    if subject.brow > 0:  # thicker, darker brows in the hair colour
        layer = np.zeros((SIZE, SIZE), np.float32)
        for seg in (lm[17:22], lm[22:27]):
            cv2.polylines(layer, [np.round(seg * 4).astype(np.int32)], False, 1.0, 2 + int(3 * subject.brow),
                          cv2.LINE_8, 2)
        a = (cv2.GaussianBlur(layer, (0, 0), 1.2) * (0.35 + 0.5 * subject.brow))[..., None]
        img = img * (1 - a) + np.array(subject.hair, np.float32) * 0.6 * a
    if subject.beard > 0:  # stubble: fine dark noise in the beard area
        grain = cv2.GaussianBlur(rng.random((SIZE, SIZE)).astype(np.float32), (0, 0), 0.6)
        dens = m["beard"] * subject.beard * (0.45 + 0.55 * grain)
        a = np.clip(dens, 0, 0.9)[..., None]
        img = img * (1 - a) + np.minimum(np.array(subject.hair, np.float32) * 0.5, 0.12) * a
    if subject.lips > 0:  # lip colour and eyeliner
        a = (m["lips"] * subject.lips)[..., None]
        lip = np.array([0.72, 0.12, 0.22], np.float32) * (lum / max(float(lum.mean()), 1e-3))
        img = img * (1 - a) + np.clip(lip, 0, 1) * a
        layer = np.zeros((SIZE, SIZE), np.float32)
        for seg in (lm[36:40], lm[42:46]):
            cv2.polylines(layer, [np.round(seg * 4).astype(np.int32)], False, 1.0, 2, cv2.LINE_8, 2)
        a = (cv2.GaussianBlur(layer, (0, 0), 0.7) * 0.6 * subject.lips)[..., None]
        img = img * (1 - a)
    out = np.clip(img, 0, 1).astype(np.float32)
    out.setflags(write=False)
    return out
