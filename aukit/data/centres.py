"""AU centres from 68 dlib landmarks (the rules of EAC-Net, Li et al. 2018, and JAA-Net, Shao et al. 2018).

Two points per AU (left, right), 0-based landmark indices; ruler = |x39 - x42| (inner
eye corners); "up" is -y in image coordinates.
  AU1 21,22 up r/2      AU2 18,25 up r/3      AU4 19,24 down r/3    AU6 41,46 down r
  AU5 mean(37,38), mean(43,44): upper eyelids (our choice; no rule in the baselines)
  AU7 38,43             AU9 32,34 up r/2 (JAA-Net)
  AU10 49,53 (EAC-Net, default) or 61,63 (JAA-Net, au10="jaa")
  AU12 AU14 AU15 AU20 48,54 (lip corners)   AU17 AU26 56,58 down r/2
  AU23 AU24 AU25 51,57
"""
from __future__ import annotations

import numpy as np

from .labelio import au_number

# AU -> (left index or pair to average, right index or pair, shift in rulers: + = down)
RULES: dict[int, tuple] = {
    1: (21, 22, -1 / 2), 2: (18, 25, -1 / 3), 4: (19, 24, 1 / 3), 5: ((37, 38), (43, 44), 0.0),
    6: (41, 46, 1.0), 7: (38, 43, 0.0), 9: (32, 34, -1 / 2), 10: (49, 53, 0.0),
    12: (48, 54, 0.0), 14: (48, 54, 0.0), 15: (48, 54, 0.0), 20: (48, 54, 0.0),
    17: (56, 58, 1 / 2), 23: (51, 57, 0.0), 24: (51, 57, 0.0), 25: (51, 57, 0.0), 26: (56, 58, 1 / 2),
}
SUPPORTED_AUS = tuple(sorted(RULES))


def _point(lm: np.ndarray, idx) -> np.ndarray:
    return lm[:, list(idx)].mean(1) if isinstance(idx, tuple) else lm[:, idx]


def au_centres(landmarks: np.ndarray, aus, au10: str = "eac") -> np.ndarray:
    """float32 (N, len(aus), 2, 2) centre points [left, right] x [x, y] per AU.

    landmarks: (N, 68, 2) or (68, 2) pixel coordinates; aus: ints or names ('AU12').
    """
    lm = np.asarray(landmarks, np.float32)
    single = lm.ndim == 2
    lm = lm[None] if single else lm
    if lm.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (N, 68, 2), got {lm.shape}")
    ruler = np.abs(lm[:, 39, 0] - lm[:, 42, 0])  # (N,)
    out = np.empty((len(lm), len(aus), 2, 2), np.float32)
    for j, a in enumerate(aus):
        n = au_number(a)
        if n not in RULES:
            raise ValueError(f"no AU-centre rule for AU{n}; supported: {SUPPORTED_AUS}")
        left, right, shift = RULES[n]
        if n == 10 and au10 == "jaa":
            left, right = 61, 63
        elif n == 10 and au10 != "eac":
            raise ValueError(f"au10 must be 'eac' or 'jaa', got {au10!r}")
        out[:, j, 0] = _point(lm, left)
        out[:, j, 1] = _point(lm, right)
        out[:, j, :, 1] += (shift * ruler)[:, None]
    return out[0] if single else out
