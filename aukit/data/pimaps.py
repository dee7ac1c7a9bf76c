"""PIAP-DF predefined Pixel-Interest (PI) maps from 68 landmarks (PIAP-DF Sec. 3.1, Fig. 3).

The paper draws the regions in its Fig. 3 without coordinates, so the polygons below are
our reading of it (choice, documented here): each AU region is the union of convex
hulls of landmark sets, some points shifted vertically by a multiple of the ruler
r = |x39 - x42| (negative = up). Left/right parts are separate hulls.
  AU1  inner brows 20-23 and the same points up r*0.6
  AU2  outer brows 17-19 / 24-26 and the same up r*0.6
  AU4  brows 19-24, nasal root 27, inner eye corners 39, 42
  AU5  upper lids 36-39 / 42-45 and the same up r/3
  AU6  cheeks 1-3, 31, 40, 41 / 13-15, 35, 46, 47
  AU7  eyes 36-41 / 42-47 with their top and bottom pushed out by r/4
  AU9  nose 27-35 and inner eye corners 39, 42
  AU10 upper lip 48-54 and nostrils 31-35
  AU12, AU14  lip-corner regions 3-5, 31, 48, 49, 59 / 11-13, 35, 53-55
  AU15, AU20  lower lip-corner regions 4-6, 48, 58, 59 / 10-12, 54-56
  AU17 chin 6-10, 56-58
  AU23, AU24, AU25  lips 48-59
  AU26 lower lips and jaw 48, 54-59, 5-11
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from .labelio import au_col, au_number


def _up(idx, k):
    return [(i, -k) for i in idx]


REGIONS: dict[int, list[list]] = {
    1: [[20, 21, 22, 23] + _up([20, 21, 22, 23], 0.6)],
    2: [[17, 18, 19] + _up([17, 18, 19], 0.6), [24, 25, 26] + _up([24, 25, 26], 0.6)],
    4: [[19, 20, 21, 22, 23, 24, 27, 39, 42]],
    5: [[36, 37, 38, 39] + _up([37, 38], 1 / 3), [42, 43, 44, 45] + _up([43, 44], 1 / 3)],
    6: [[1, 2, 3, 31, 40, 41], [13, 14, 15, 35, 46, 47]],
    7: [[36, 39] + _up([37, 38], 0.25) + _up([40, 41], -0.25),
        [42, 45] + _up([43, 44], 0.25) + _up([46, 47], -0.25)],
    9: [[27, 28, 29, 30, 31, 32, 33, 34, 35, 39, 42]],
    10: [[31, 32, 33, 34, 35, 48, 49, 50, 51, 52, 53, 54]],
    12: [[3, 4, 5, 31, 48, 49, 59], [11, 12, 13, 35, 53, 54, 55]],
    15: [[4, 5, 6, 48, 58, 59], [10, 11, 12, 54, 55, 56]],
    17: [[6, 7, 8, 9, 10, 56, 57, 58]],
    23: [list(range(48, 60))],
    26: [[48, 54, 55, 56, 57, 58, 59, 5, 6, 7, 8, 9, 10, 11]],
}
REGIONS[14] = REGIONS[12]
REGIONS[20] = REGIONS[15]
REGIONS[24] = REGIONS[25] = REGIONS[23]


def _polygon(lm: np.ndarray, part: list, ruler: float) -> np.ndarray:
    pts = []
    for p in part:
        if isinstance(p, tuple):
            i, k = p
            pts.append((lm[i, 0], lm[i, 1] + k * ruler))
        else:
            pts.append((lm[p, 0], lm[p, 1]))
    return cv2.convexHull(np.asarray(pts, np.float32)).reshape(-1, 2)


def _check_frame(lm: np.ndarray, src: float, src_size) -> None:
    """Refuse landmarks that lie in another frame: 256-px store landmarks with ``size=64`` and no
    ``src_size`` drew every map outside the 64-px frame, all zeros without a word."""
    pts = lm[np.isfinite(lm)]
    if pts.size == 0 or (pts.min() >= -0.25 * src and pts.max() <= 1.25 * src):
        return
    given = f"src_size={src_size}" if src_size else f"src_size (not given: it defaults to size={src:g})"
    raise ValueError(f"landmarks span {pts.min():.0f}..{pts.max():.0f} px, far outside the {src:g}-px frame of "
                     f"{given}: pass src_size, the side of the images the landmarks were found on "
                     "(a store's: src_size=store.size)")


def pi_maps(landmarks: np.ndarray, aus, size: int, src_size: int | None = None) -> np.ndarray:
    """uint8 (N, len(aus), size, size) binary maps (1 inside the AU region).

    landmarks: (N, 68, 2) pixel coordinates in a `src_size` frame (default: `size`; a store's
    landmarks are in its own frame, ``src_size=store.size``). Landmarks far outside that frame
    (by more than a quarter of it) raise a ValueError: they are in another frame.
    """
    lm = np.asarray(landmarks, np.float32)
    lm = lm[None] if lm.ndim == 2 else lm
    src = float(src_size or size)
    _check_frame(lm, src, src_size)
    scale = size / src
    regions = []
    for a in aus:
        n = au_number(a)
        if n not in REGIONS:
            raise ValueError(f"no PI-map region for AU{n}; supported: {sorted(REGIONS)}")
        regions.append(REGIONS[n])
    out = np.zeros((len(lm), len(regions), size, size), np.uint8)
    shift = 4  # sub-pixel precision for fillConvexPoly
    for i in range(len(lm)):
        pts = lm[i] * scale
        ruler = abs(pts[39, 0] - pts[42, 0])
        for j, parts in enumerate(regions):
            for part in parts:
                poly = np.round(_polygon(pts, part, ruler) * (1 << shift)).astype(np.int32)
                cv2.fillConvexPoly(out[i, j], poly, 1, lineType=cv2.LINE_8, shift=shift)
    return out


def store_pi_maps(store, aus, size: int = 64, chunk: int = 1024) -> np.ndarray:
    """uint8 memmap (N, len(aus), size, size): `pi_maps` of a FrameStore, cached in derived/."""
    name = f"pimaps_{size}_{'-'.join(au_col(au_number(a)) for a in aus)}.npy"
    path = store.derived(name)
    if path.is_file():
        return np.load(path, mmap_mode="r")
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")   # parallel callers: each its own, then one wins
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(store), len(aus), size, size))
    for i in range(0, len(store), chunk):
        arr[i:i + chunk] = pi_maps(store.landmarks[i:i + chunk], aus, size, src_size=store.size)
    arr.flush()
    del arr
    os.replace(tmp, path)  # complete or absent, never half-written
    return np.load(path, mmap_mode="r")
