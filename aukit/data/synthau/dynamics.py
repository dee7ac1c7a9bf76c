"""Intensity trajectories (onset-apex-offset events) and smooth nuisance trajectories.

An expression event picks either a co-occurrence pattern (with probability
``cooccurrence``) or one AU alone, then rises (onset), holds an apex that wobbles
(local peaks and valleys: the keyframes TAS samples between), and falls (offset).
Events overlap in time; an AU's trajectory is the maximum over its events. Labels are
the trajectory rounded to integers 0-5 (:func:`quantize`), the coding BP4D and DISFA use (0 absent,
1-5 for FACS's letters A-E, whose bands are unequal; here the bins are equal).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .aus import AUS
from .render import Nuisance

# AU combinations of common spontaneous expressions (EMFACS prototypes, simplified)
PATTERNS: tuple[tuple[int, ...], ...] = (
    (6, 12), (6, 12, 25), (6, 12, 25, 26), (12, 25), (1, 2), (1, 2, 5), (1, 2, 5, 25, 26),
    (4, 9), (4, 9, 10), (4, 7), (9, 10, 17), (1, 4, 15), (1, 4, 15, 17), (25, 26), (23, 24),
    (14, 17), (20, 25), (1, 2, 4, 5, 20, 25), (15, 17), (7, 12),
)
_IDX = {au: i for i, au in enumerate(AUS)}


def _envelope(n: int, start: int, onset: int, apex: int, offset: int, wobble: np.ndarray) -> np.ndarray:
    """(n,) profile in [0, ~1]: smoothstep rise, wobbling plateau, smoothstep fall."""
    t = np.arange(n, dtype=np.float64) - start
    rise = np.clip(t / onset, 0, 1)
    fall = np.clip((onset + apex + offset - t) / offset, 0, 1)
    s = lambda u: u * u * (3 - 2 * u)  # noqa: E731  smoothstep
    env = np.minimum(s(rise), s(fall))
    return env * wobble


def au_trajectories(n_frames: int, rng: np.random.Generator, cooccurrence: float = 0.7,
                    activity: float = 1.0, apex_shift: dict[int, float] | None = None) -> np.ndarray:
    """Continuous intensities (n_frames, 17) in AUS order, in [0, 5].

    ``activity`` scales the event rate; ``apex_shift`` adds to the apex of the given AUs
    (the knob behind the spurious subject <-> intensity correlation).
    """
    if not 0.0 <= cooccurrence <= 1.0:
        raise ValueError(f"cooccurrence must lie in [0, 1], got {cooccurrence}")
    out = np.zeros((n_frames, len(AUS)))
    shift = apex_shift or {}
    t = int(rng.integers(0, 12))
    while t < n_frames:
        if rng.random() < cooccurrence:
            aus = PATTERNS[rng.integers(len(PATTERNS))]
        else:
            aus = (AUS[rng.integers(len(AUS))],)
        onset, apex, offset = (int(rng.integers(5, 22)), int(rng.integers(4, 30)), int(rng.integers(6, 26)))
        level = rng.uniform(1.4, 5.2)
        for au in aus:
            peak = np.clip(level * rng.uniform(0.75, 1.15) + shift.get(au, 0.0), 0.6, 5.3)
            phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.45)
            k = np.arange(n_frames)
            wobble = peak * (1 - 0.16 * (0.5 + 0.5 * np.sin(freq * k + phase)))
            out[:, _IDX[au]] = np.maximum(out[:, _IDX[au]], _envelope(n_frames, t, onset, apex, offset, wobble))
        t += int(rng.integers(onset // 2 + 1, onset + apex + offset + 8) / max(activity, 1e-3))
    return np.clip(out, 0, 5)


def quantize(x: np.ndarray) -> np.ndarray:
    """Integer labels 0-5 (BP4D/DISFA coding of FACS A-E) from continuous intensities (round half up)."""
    return np.clip(np.floor(np.asarray(x) + 0.5), 0, 5).astype(np.int64)


def random_intensities(rng: np.random.Generator, n: int, cooccurrence: float = 0.7) -> np.ndarray:
    """(n, 17) independent still-image intensities: one pattern or single AU at a random level."""
    out = np.zeros((n, len(AUS)))
    for i in range(n):
        for _ in range(rng.integers(0, 3)):
            aus = PATTERNS[rng.integers(len(PATTERNS))] if rng.random() < cooccurrence else (AUS[rng.integers(len(AUS))],)
            level = rng.uniform(0.5, 5.0)
            for au in aus:
                out[i, _IDX[au]] = max(out[i, _IDX[au]], min(5.0, level * rng.uniform(0.75, 1.15)))
    return out


def _smooth(n: int, rng: np.random.Generator, amp: float, period: float) -> np.ndarray:
    """Low-pass Gaussian noise with std ``amp`` (the filter's analytic std, so short tracks stay small)."""
    x = gaussian_filter1d(rng.normal(0, 1, n + int(6 * period)), period, mode="wrap")[:n]
    return amp * x * np.sqrt(2 * np.sqrt(np.pi) * period)


def nuisance_track(n: int, rng: np.random.Generator, strength: float = 1.0) -> list[Nuisance]:
    """Per-frame nuisance for one sequence: slow head motion and lighting drift, fixed
    camera blur and noise levels with rare blurred frames."""
    s = strength
    angle, yaw = _smooth(n, rng, 2.5 * s, 25), _smooth(n, rng, 0.3 * s, 35)
    scale = 1 + _smooth(n, rng, 0.02 * s, 40)
    tx, ty = _smooth(n, rng, 3.0 * s, 30), _smooth(n, rng, 2.5 * s, 30)
    gain = rng.uniform(1 - 0.15 * s, 1 + 0.1 * s) + _smooth(n, rng, 0.04 * s, 50)
    light = rng.uniform(-0.6, 0.6) * s + _smooth(n, rng, 0.15 * s, 60)
    tint = tuple(float(v) for v in 1 + rng.uniform(-0.06, 0.06, 3) * s)
    blur0, noise = rng.uniform(0, 0.7) * s, rng.uniform(1.0, 4.0) * s
    blur = blur0 + (rng.random(n) < 0.04) * rng.uniform(0.6, 1.5, n) * s
    return [Nuisance(float(angle[i]), float(scale[i]), float(tx[i]), float(ty[i]), float(np.clip(yaw[i], -1, 1)),
                     float(gain[i]), float(np.clip(light[i], -1, 1)), tint, float(blur[i]), float(noise))
            for i in range(n)]


def still_nuisance(rng: np.random.Generator, strength: float = 1.0) -> Nuisance:
    """Nuisance for an independent still (larger pose and lighting spread)."""
    s = strength
    return Nuisance(float(rng.normal(0, 4 * s)), float(1 + rng.normal(0, 0.04 * s)), float(rng.normal(0, 4 * s)),
                    float(rng.normal(0, 4 * s)), float(np.clip(rng.normal(0, 0.4 * s), -1, 1)),
                    float(rng.uniform(1 - 0.2 * s, 1 + 0.12 * s)), float(rng.uniform(-0.8, 0.8) * s),
                    tuple(float(v) for v in 1 + rng.uniform(-0.08, 0.08, 3) * s),
                    float(rng.uniform(0, 1.0) * s), float(rng.uniform(1, 5) * s))
