"""Label selection and sampling: keyframes and segments (TAS), sparse labels and windows (CPC).

Every random choice takes a `seed` and returns arrays, so a selection is reproduced
from its seed and can be saved next to a run with `save_selection`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import au_col, au_number


def keyframes(x) -> np.ndarray:
    """Positions of local peaks and valleys of a 1-d intensity trajectory.

    Runs of equal values (plateaus) are collapsed; a run that is higher (lower) than
    both neighbouring runs is a peak (valley) and is represented by its middle frame
    (lower middle for even lengths). The first and last runs count as extrema when they
    differ from their only neighbour (a trajectory starts and ends a trend). A constant
    trajectory has no keyframes. x must be finite.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"keyframes expects a 1-d array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("keyframes expects finite values; split the trajectory at NaNs first")
    if len(x) == 0:
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    ends = np.r_[starts[1:], len(x)] - 1
    v = x[starts]
    if len(v) == 1:
        return np.zeros(0, np.int64)
    d = np.sign(np.diff(v))  # never 0 after collapsing runs
    turn = np.r_[True, d[1:] != d[:-1], True]  # run k is an extremum
    k = np.flatnonzero(turn)
    return ((starts[k] + ends[k]) // 2).astype(np.int64)


def _finite_runs(v: np.ndarray) -> list[np.ndarray]:
    ok = np.isfinite(v)
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    return [np.arange(a, b) for a, b in zip(edges[::2], edges[1::2])]


def _rows(df: pd.DataFrame) -> np.ndarray:
    return df["row"].to_numpy(np.int64) if "row" in df else np.arange(len(df), dtype=np.int64)


def segments(index_df: pd.DataFrame, au, T: int = 16, return_info: bool = False):
    """(n_seg, T) store rows: T frames linearly sampled between consecutive keyframes.

    One AU (`au` = 12 or 'AU12'), within each (subject, sequence) ordered by frame and
    within runs of finite labels. Each segment is oriented valley -> peak (a falling
    segment is reversed). With return_info, also a DataFrame (subject, sequence,
    v_first, v_last) per segment: the two keyframe labels at positions 0 and T-1.
    """
    col = au_col(au_number(au))
    if col not in index_df:
        raise KeyError(f"{col} not in the index columns")
    segs, info = [], []
    df = index_df.assign(_rows=_rows(index_df)).sort_values(["subject", "sequence", "frame"], kind="stable")
    for (subj, seq), g in df.groupby(["subject", "sequence"], sort=True):
        v = g[col].to_numpy(np.float64)
        rows = g["_rows"].to_numpy()
        for run in _finite_runs(v):
            kf = run[keyframes(v[run])]
            for a, b in zip(kf[:-1], kf[1:]):
                pos = np.round(np.linspace(a, b, T)).astype(np.int64)
                if v[a] > v[b]:
                    pos = pos[::-1]
                segs.append(rows[pos])
                info.append((subj, seq, v[pos[0]], v[pos[-1]]))
    out = np.asarray(segs, np.int64).reshape(-1, T)
    if return_info:
        return out, pd.DataFrame(info, columns=["subject", "sequence", "v_first", "v_last"])
    return out


def sparse_labels(n: int, fraction: float, seed: int) -> np.ndarray:
    """bool (n,): exactly round(fraction * n) (at least 1 if fraction > 0) frames chosen at random."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    k = int(round(fraction * n))
    k = max(k, 1) if fraction > 0 and n > 0 else k
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).choice(n, size=k, replace=False)] = True
    return mask


def frames_per_segment(segs: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n_seg, k) rows: k distinct frames per segment, random, kept in segment order."""
    segs = np.asarray(segs)
    if k > segs.shape[1]:
        raise ValueError(f"k={k} exceeds segment length {segs.shape[1]}")
    rng = np.random.default_rng(seed)
    pos = np.sort(np.argsort(rng.random(segs.shape), axis=1)[:, :k], axis=1)
    return np.take_along_axis(segs, pos, axis=1)


def windows(index_df: pd.DataFrame, rows, length: int, stride: int = 1, seed: int = 0,
            return_position: bool = False):
    """(n, length) rows of windows around each labelled row, the labelled frame at a random slot.

    Windows stay inside the labelled frame's (subject, sequence) and take every `stride`-th
    frame (CPC Sec. 3.4: the labelled frame's position varies each time it is queried).
    Slots that would leave the sequence are not drawn; a sequence shorter than the window
    repeats its edge frames. With return_position, also the (n,) slot of the labelled frame.
    """
    rng = np.random.default_rng(seed)
    all_rows = _rows(index_df)
    df = index_df.assign(_rows=all_rows).sort_values(["subject", "sequence", "frame"], kind="stable")
    order = df["_rows"].to_numpy()
    seq_id = df.groupby(["subject", "sequence"], sort=False).ngroup().to_numpy()
    pos_of = np.empty(all_rows.max() + 1 if len(all_rows) else 0, np.int64)
    pos_of[order] = np.arange(len(order))
    starts = np.r_[0, np.flatnonzero(np.diff(seq_id)) + 1]
    ends = np.r_[starts[1:], len(order)]
    start_of = starts[seq_id]
    end_of = ends[seq_id]
    rows = np.asarray(rows, np.int64)
    out = np.empty((len(rows), length), np.int64)
    slots = np.empty(len(rows), np.int64)
    offs = np.arange(length) * stride
    for i, r in enumerate(rows):
        p = pos_of[r]
        a, b = start_of[p], end_of[p]  # sequence occupies [a, b)
        valid = [s for s in range(length) if p - s * stride >= a and p - s * stride + offs[-1] < b]
        s = int(rng.choice(valid)) if valid else int(rng.integers(length))
        slots[i] = s
        out[i] = order[np.clip(p - s * stride + offs, a, b - 1)]
    return (out, slots) if return_position else out


def save_selection(path, *, seed: int, **arrays) -> Path:
    """Write arrays + seed to `path` (.npz) so a run's label selection can be reloaded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, __meta__=np.array(json.dumps({"seed": int(seed), "arrays": sorted(arrays)})), **arrays)
    return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")


def load_selection(path) -> dict:
    """Inverse of save_selection: {'seed': int, name: array, ...}."""
    with np.load(path) as z:
        meta = json.loads(str(z["__meta__"]))
        return {"seed": meta["seed"], **{k: z[k] for k in meta["arrays"]}}
