"""AU appearance changes painted after the warp (FACS 'appearance changes').

Wrinkles and furrows darken a shade layer, bulges brighten a light layer, both drawn
at the warped control points ``pts`` (93, 2) in face-aligned axes (so they follow the
head pose) with opacity proportional to intensity / 5. The mouth cavity and teeth
appear wherever the inner lips are apart, whichever AUs parted them.
"""
from __future__ import annotations

import cv2
import numpy as np

from .aus import AUS
from .face import MIRROR

_SHIFT = 2  # sub-pixel drawing: coordinates in 1/4 px
_TEETH = np.array([0.93, 0.91, 0.85], np.float32)
_CAVITY = np.array([0.22, 0.08, 0.08], np.float32)


class _Canvas:
    """Face-aligned drawing helper: P(k, dx, dy) = pts[k] + ruler * (dx * ex + dy * ey)."""

    def __init__(self, pts: np.ndarray, ruler: float, size: int):
        self.pts, self.r = pts, ruler
        ex = pts[45] - pts[36]
        self.ex = ex / np.linalg.norm(ex)
        self.ey = np.array([-self.ex[1], self.ex[0]])
        self.shade = np.zeros((size, size), np.float32)
        self.light = np.zeros((size, size), np.float32)

    def p(self, k: int, dx: float = 0.0, dy: float = 0.0, side: int = 0) -> np.ndarray:
        """Point relative to control point k; side=1 mirrors it to the image-right partner."""
        if side:
            k, dx = int(MIRROR[k]), -dx
        return self.pts[k] + self.r * (dx * self.ex + dy * self.ey)

    def line(self, layer: np.ndarray, points, value: float, thickness: int = 1) -> None:
        pts = np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)
        cv2.polylines(layer, [pts], False, float(value), thickness, cv2.LINE_8, _SHIFT)

    def blob(self, layer: np.ndarray, centre, axes_r: tuple[float, float], value: float) -> None:
        c = tuple(int(v) for v in np.round(np.asarray(centre) * (1 << _SHIFT)))
        ax = tuple(int(max(1, v * self.r * (1 << _SHIFT))) for v in axes_r)
        angle = float(np.degrees(np.arctan2(self.ex[1], self.ex[0])))
        cv2.ellipse(layer, c, ax, angle, 0, 360, float(value), -1, cv2.LINE_8, _SHIFT)


def _arc(c: _Canvas, k: int, dx0: float, dx1: float, dy: float, bow: float, side: int = 0, n: int = 7):
    """n points from (dx0, dy) to (dx1, dy) relative to k, bowed upward by ``bow`` in the middle."""
    t = np.linspace(0, 1, n)
    return [c.p(k, dx0 + (dx1 - dx0) * ti, dy - bow * np.sin(np.pi * ti), side) for ti in t]


def _paint_au(c: _Canvas, au: int, s: float) -> None:
    """Draw AU ``au`` at strength s = intensity / 5 into the shade/light layers."""
    if au == 1:  # horizontal wrinkles across the central forehead
        for i, dy in enumerate((-0.55, -0.78, -1.0)):
            c.line(c.shade, _arc(c, 21, -0.3, 0.3 + (c.pts[22, 0] - c.pts[21, 0]) / c.r, dy, 0.06), 0.28 * s)
    for side in (0, 1):
        if au == 2:  # wrinkles above the lateral brows
            for dy in (-0.55, -0.75, -0.95):
                c.line(c.shade, _arc(c, 18, -0.35, 0.3, dy, 0.05, side), 0.26 * s)
        elif au == 4:  # vertical glabella furrows, brow bulge
            c.line(c.shade, [c.p(21, 0.12, -0.3, side), c.p(21, 0.22, 0.1, side), c.p(21, 0.2, 0.3, side)],
                   0.42 * s, 2)
            c.blob(c.shade, c.p(20, 0.0, -0.05, side), (0.35, 0.15), 0.10 * s)
        elif au == 5:  # more sclera visible under the raised upper lid
            c.line(c.light, [c.p(k, 0, 0.07, side) for k in (37, 38)], 0.35 * s, 1)
        elif au == 6:  # crow's feet, infra-orbital furrow, raised cheek
            o = c.p(36, -0.12, 0.0, side)
            for end in ((-0.5, -0.16), (-0.55, 0.02), (-0.47, 0.2)):
                c.line(c.shade, [o, c.p(36, *end, side)], 0.34 * s)
            c.line(c.shade, [c.p(k, 0, 0.38, side) for k in (36, 41, 40, 39)], 0.24 * s, 1)
            c.blob(c.light, c.p(72, 0.05, -0.25, side), (0.38, 0.22), 0.14 * s)
        elif au == 7:  # lower-lid bulge
            c.line(c.shade, [c.p(k, 0, 0.14, side) for k in (36, 41, 40, 39)], 0.26 * s, 1)
            c.line(c.light, [c.p(k, 0, 0.06, side) for k in (41, 40)], 0.15 * s, 1)
        elif au == 9:  # wrinkles across the nose bridge, flared nostril wings
            if side == 0:
                for dy in (0.12, 0.28, 0.44):
                    c.line(c.shade, [c.p(27, -0.24, dy), c.p(27, 0.0, dy + 0.04), c.p(27, 0.24, dy)], 0.34 * s)
            c.blob(c.shade, c.p(31, -0.08, -0.05, side), (0.12, 0.1), 0.18 * s)
        elif au == 10:  # deepened nasolabial fold
            c.line(c.shade, [c.p(31, -0.22, -0.1, side), c.p(31, -0.42, 0.2, side), c.p(48, -0.2, -0.02, side)],
                   0.40 * s, 2)
        elif au == 12:  # nasolabial fold pulled up and out, cheek highlight
            c.line(c.shade, [c.p(31, -0.3, -0.05, side), c.p(48, -0.3, -0.25, side), c.p(48, -0.12, 0.08, side)],
                   0.26 * s, 2)
            c.blob(c.light, c.p(72, 0.1, -0.05, side), (0.3, 0.2), 0.10 * s)
        elif au == 14:  # dimples lateral to the lip corners
            c.blob(c.shade, c.p(48, -0.2, 0.02, side), (0.08, 0.10), 0.50 * s)
            c.line(c.shade, [c.p(48, -0.15, -0.18, side), c.p(48, -0.17, 0.18, side)], 0.32 * s, 2)
        elif au == 15:  # shadow below the depressed corners
            c.line(c.shade, [c.p(48, -0.02, 0.05, side), c.p(48, -0.1, 0.42, side)], 0.28 * s, 2)
        elif au == 20:  # horizontal stretch lines beside the corners
            c.line(c.shade, [c.p(48, -0.08, 0.0, side), c.p(48, -0.38, 0.04, side)], 0.22 * s)
            c.line(c.shade, [c.p(48, -0.1, 0.14, side), c.p(48, -0.34, 0.2, side)], 0.16 * s)
    if au == 17:  # chin boss and the mentolabial furrow
        c.line(c.shade, _arc(c, 57, -0.35, 0.35, 0.22, -0.05), 0.32 * s, 2)
        c.blob(c.light, c.pts[74], (0.35, 0.22), 0.12 * s)
    elif au == 23:  # narrowed, tense lip outline
        c.line(c.shade, list(c.pts[48:60]) + [c.pts[48]], 0.22 * s, 1)
    elif au == 24:  # bulges above the upper and below the lower lip, paler lips
        c.line(c.shade, _arc(c, 51, -0.35, 0.35, -0.16, 0.03), 0.18 * s, 2)
        c.line(c.shade, _arc(c, 57, -0.35, 0.35, 0.14, -0.04), 0.24 * s, 2)
        c.blob(c.light, (c.pts[51] + c.pts[57]) / 2, (0.4, 0.12), 0.14 * s)


_CHIN_NOISE = cv2.GaussianBlur(np.random.default_rng(17).normal(0, 1, (256, 256)).astype(np.float32), (0, 0), 1.3)


def _mouth(img: np.ndarray, pts: np.ndarray, ruler: float) -> np.ndarray:
    """Paint the cavity and teeth inside the inner-lip polygon when the lips are apart."""
    upper, lower = pts[[60, 61, 62, 63, 64]], pts[[64, 65, 66, 67, 60]]
    gap = float(np.mean(pts[[67, 66, 65], 1] - pts[[61, 62, 63], 1]))
    if gap < 0.025 * ruler:  # AU25 at 1 parts the lips by 0.04 ruler: a dark line, as FACS trace A
        return img
    size = img.shape[0]
    mouth = np.zeros((size, size), np.float32)
    s = 1 << _SHIFT
    cv2.fillPoly(mouth, [np.round(np.concatenate([upper, lower[1:-1]]) * s).astype(np.int32)], 1.0,
                 cv2.LINE_8, _SHIFT)
    teeth = np.zeros_like(mouth)
    h_up = min(0.6 * gap, 0.24 * ruler)
    band = np.concatenate([upper, upper[::-1] + (0, h_up)])
    cv2.fillPoly(teeth, [np.round(band * s).astype(np.int32)], 1.0, cv2.LINE_8, _SHIFT)
    if gap > 0.3 * ruler:  # lower teeth show once the jaw has dropped
        h_lo = min(0.15 * gap, 0.12 * ruler)
        band = np.concatenate([lower, lower[::-1] - (0, h_lo)])
        cv2.fillPoly(teeth, [np.round(band * s).astype(np.int32)], 1.0, cv2.LINE_8, _SHIFT)
    gaps = np.zeros_like(mouth)
    for dx in (-0.36, -0.18, 0.0, 0.18, 0.36):
        x = pts[62] + (dx * ruler, 0)
        cv2.line(gaps, tuple(np.round(x * s).astype(int)), tuple(np.round((x + (0, h_up)) * s).astype(int)),
                 0.5, 1, cv2.LINE_8, _SHIFT)
    mouth = cv2.GaussianBlur(mouth, (0, 0), 0.7)[..., None]
    teeth = (cv2.GaussianBlur(teeth, (0, 0), 0.6) * (1 - cv2.GaussianBlur(gaps, (0, 0), 0.5)))[..., None]
    inside = _CAVITY * (1 - teeth) + _TEETH * teeth
    return img * (1 - mouth) + inside * mouth


def paint(img: np.ndarray, pts: np.ndarray, ruler: float, intensities: np.ndarray) -> np.ndarray:
    """Apply all AU textures to a warped float RGB image (H, W, 3) in [0, 1]."""
    c = _Canvas(pts, ruler, img.shape[0])
    for au, value in zip(AUS, intensities):
        if value > 0.05:
            _paint_au(c, au, min(float(value), 5.0) / 5.0)
    chin = float(intensities[AUS.index(17)])
    if chin > 0.05:  # 'orange-peel' chin skin
        blob = np.zeros_like(c.shade)
        c.blob(blob, pts[74], (0.4, 0.26), 1.0)
        blob = cv2.GaussianBlur(blob, (0, 0), 2.0)
        c.shade += np.clip(_CHIN_NOISE[:blob.shape[0], :blob.shape[1]], 0, None) * blob * 0.22 * chin / 5
    shade = cv2.GaussianBlur(c.shade, (0, 0), 0.9)[..., None]
    light = cv2.GaussianBlur(c.light, (0, 0), 3.0)[..., None]
    out = img * (1 - np.clip(shade, 0, 0.8)) + light * (1 - img)
    return _mouth(out, pts, ruler)
