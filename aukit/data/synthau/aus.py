"""Action Units: FACS names, muscles, regions, landmark displacements and wrinkle textures.

Each AU at intensity I in [0, 5] moves control points (see ``face.control_points``) by
``(I / 5) * ruler * move`` (``move`` in ruler units, given for the image-left point and
mirrored to its partner), then paints its FACS appearance change (furrows, wrinkles,
bulges, teeth) with opacity proportional to I / 5. Offsets of co-active AUs add.

FACS descriptions follow Ekman, Friesen & Hager (2002), FACS Manual, ch. 2-5. ``name``,
``region`` and ``muscles`` are words for people (the notebook's table, the explorer's labels);
meta.json's ``au_info`` copies ``name`` and ``region``, nothing reads ``muscles`` into the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .face import MIRROR, N_CTRL

AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)


@dataclass(frozen=True)
class AUInfo:
    name: str  # FACS name
    region: str  # facial region in words
    region_points: tuple[int, ...]  # control points whose hull (+ margin) bounds the change
    move: dict[int, tuple[float, float]] = field(default_factory=dict)  # point -> (dx, dy) ruler units at I=5
    bilateral: bool = False  # region is two separate patches, left and right
    muscles: str = ""  # the muscle(s) behind the AU (FACS Manual; standard anatomy), a teaching aid


# (dx, dy) for image-left points; partners get (-dx, dy). Upward is negative y.
AU_INFO: dict[int, AUInfo] = {
    1: AUInfo("Inner Brow Raiser", "inner brows, central forehead",
              (19, 20, 21, 22, 23, 24, 68, 69),
              {21: (0, -0.34), 20: (0, -0.24), 19: (0, -0.10), 68: (0, -0.16),
               88: (0, -0.34), 87: (0, -0.24), 86: (0, -0.10)},
              muscles="frontalis, pars medialis"),
    2: AUInfo("Outer Brow Raiser", "outer brows, lateral forehead",
              (17, 18, 19, 24, 25, 26, 70, 71),
              {17: (0, -0.30), 18: (0, -0.32), 19: (0, -0.20), 70: (0, -0.14), 85: (0, -0.32), 86: (0, -0.20)},
              bilateral=True,
              muscles="frontalis, pars lateralis"),
    4: AUInfo("Brow Lowerer", "brows, glabella",
              (18, 19, 20, 21, 22, 23, 24, 25, 27, 68, 69),
              {21: (0.12, 0.24), 20: (0.08, 0.22), 19: (0.04, 0.16), 18: (0, 0.08), 68: (0.05, 0.10),
               88: (0.06, 0.12), 87: (0.04, 0.11), 86: (0.02, 0.08), 85: (0, 0.04),  # the brow bunches
               79: (0, 0.02), 80: (0, 0.05), 81: (0, 0.06)},  # and pushes the lid fold down
              muscles="corrugator supercilii, depressor supercilii, procerus"),
    5: AUInfo("Upper Lid Raiser", "upper eyelids",
              (36, 37, 38, 39, 42, 43, 44, 45, 19, 24),
              {37: (0, -0.13), 38: (0, -0.13), 36: (0, -0.03), 39: (0, -0.02), 79: (0, -0.03), 80: (0, -0.10),
               81: (0, -0.10)}, bilateral=True,
              muscles="levator palpebrae superioris"),
    6: AUInfo("Cheek Raiser", "cheeks, lower eyelids, outer eye corners",
              (36, 40, 41, 45, 46, 47, 72, 73, 1, 15, 2, 14),
              {41: (0, -0.10), 40: (0, -0.08), 36: (0, -0.05), 72: (0, -0.22), 1: (0, -0.06)}, bilateral=True,
              muscles="orbicularis oculi, pars orbitalis"),
    7: AUInfo("Lid Tightener", "lower eyelids",
              (36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47),
              {41: (0, -0.13), 40: (0, -0.12), 37: (0, 0.04), 38: (0, 0.04)}, bilateral=True,
              muscles="orbicularis oculi, pars palpebralis"),
    9: AUInfo("Nose Wrinkler", "nose bridge, nostrils, glabella",
              (21, 22, 27, 28, 29, 30, 31, 33, 35, 39, 42),
              {31: (0.03, -0.16), 32: (0, -0.15), 33: (0, -0.14), 30: (0, -0.10), 29: (0, -0.04),
               21: (0.03, 0.10), 50: (0, -0.06), 51: (0, -0.06)},
              muscles="levator labii superioris alaeque nasi"),
    10: AUInfo("Upper Lip Raiser", "upper lip, nasolabial folds",
               (31, 35, 48, 49, 50, 51, 52, 53, 54, 72, 73),
               {50: (0, -0.20), 51: (0, -0.20), 49: (0, -0.16), 61: (0, -0.14), 62: (0, -0.14),
                31: (0, -0.06), 48: (0, -0.04)},
               muscles="levator labii superioris"),
    12: AUInfo("Lip Corner Puller", "lip corners, cheeks, lower face sides",
               (48, 49, 59, 54, 53, 55, 60, 64, 72, 73, 3, 4, 5, 6, 10, 11, 12, 13),
               {48: (-0.26, -0.22), 60: (-0.22, -0.16), 49: (-0.08, -0.06), 59: (-0.10, -0.08),
                72: (0, -0.08)},
               muscles="zygomaticus major"),
    14: AUInfo("Dimpler", "lip corners, dimples",
               (48, 49, 59, 60, 54, 53, 55, 64, 4, 12),
               {48: (0.14, 0.02), 60: (0.11, 0.01), 59: (0.04, 0.0)},
               muscles="buccinator"),
    15: AUInfo("Lip Corner Depressor", "lip corners, below the corners, jaw line",
               (48, 59, 60, 54, 55, 64, 4, 5, 6, 7, 9, 10, 11, 12, 57),
               {48: (0.02, 0.24), 60: (0.02, 0.18), 59: (0, 0.10), 49: (0, 0.05)},
               muscles="depressor anguli oris"),
    17: AUInfo("Chin Raiser", "chin, lower lip",
               (6, 7, 8, 9, 10, 55, 56, 57, 58, 59, 74),
               {57: (0, -0.14), 56: (0, -0.12), 74: (0, -0.16), 8: (0, -0.08), 7: (0, -0.06),
                66: (0, -0.06), 67: (0, -0.05)},
               muscles="mentalis"),
    20: AUInfo("Lip Stretcher", "lip corners, lower face sides",
               (48, 59, 60, 54, 55, 64, 3, 4, 5, 6, 10, 11, 12, 13),
               {48: (-0.30, 0.06), 60: (-0.26, 0.04), 59: (-0.08, 0.03), 49: (-0.08, 0.0)},
               muscles="risorius with platysma"),
    23: AUInfo("Lip Tightener", "lips",
               (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59),
               {50: (0, 0.07), 51: (0, 0.07), 56: (0, -0.07), 57: (0, -0.07), 48: (0.05, 0),
                49: (0.02, 0.05), 59: (0.02, -0.05)},
               muscles="orbicularis oris"),
    24: AUInfo("Lip Pressor", "lips, above and below the lips",
               (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 33),
               {50: (0, 0.10), 51: (0, 0.10), 56: (0, -0.10), 57: (0, -0.10), 48: (0.03, 0),
                61: (0, 0.02), 66: (0, -0.02)},
               muscles="orbicularis oris"),
    25: AUInfo("Lips Part", "lips, mouth opening",
               (48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59),
               {61: (0, -0.06), 62: (0, -0.07), 66: (0, 0.13), 67: (0, 0.11), 57: (0, 0.07),
                56: (0, 0.06), 51: (0, -0.03)},
               muscles="depressor labii inferioris, or relaxation of mentalis / orbicularis oris"),
    26: AUInfo("Jaw Drop", "mouth opening, jaw, chin",
               (5, 6, 7, 8, 9, 10, 11, 55, 56, 57, 58, 59, 74, 48, 54),
               {8: (0, 0.50), 7: (0, 0.46), 6: (0, 0.36), 5: (0, 0.20), 4: (0, 0.06), 74: (0, 0.48),
                57: (0, 0.42), 56: (0, 0.40), 55: (0, 0.34), 66: (0, 0.40), 67: (0, 0.36),
                48: (0.03, 0.10), 60: (0.03, 0.14), 62: (0, 0.03)},
               muscles="masseter relaxed, with temporalis and internal pterygoid relaxed"),
}


def _offset_table() -> np.ndarray:
    """(n_AU, N_CTRL, 2) offsets at intensity 5, ruler units, mirrored to both sides."""
    table = np.zeros((len(AUS), N_CTRL, 2))
    for a, au in enumerate(AUS):
        for k, (dx, dy) in AU_INFO[au].move.items():
            table[a, k] = (dx, dy)
            if MIRROR[k] != k:
                table[a, MIRROR[k]] = (-dx, dy)
    return table


OFFSETS = _offset_table()


def au_offsets(intensities: np.ndarray, ruler: float) -> np.ndarray:
    """Control-point offsets (N_CTRL, 2) in pixels for intensities (n_AU,) on the 0-5 scale."""
    w = np.clip(np.asarray(intensities, np.float64), 0, 5) / 5.0
    return np.tensordot(w, OFFSETS, axes=1) * ruler


def region_mask(au: int, pts: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Boolean (size, size) mask: hull of the AU's region points dilated by ``margin`` px."""
    idx = list(AU_INFO[au].region_points)
    sides = [idx]
    if AU_INFO[au].bilateral:
        sides = [[i for i in idx if pts[i, 0] <= pts[27, 0]], [i for i in idx if pts[i, 0] > pts[27, 0]]]
    poly = [cv2.convexHull(np.round(pts[s]).astype(np.int32)) for s in sides]
    mask = np.zeros((size, size), np.uint8)
    for p in poly:
        cv2.fillConvexPoly(mask, p, 1)
    k = int(2 * margin) | 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
