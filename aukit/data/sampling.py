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


def runs(index_df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stretches of consecutive frames: ``(order, run_id, run_len)``, ``order`` the rows sorted by
    (subject, sequence, frame), ``run_id``/``run_len`` per position of ``order``.

    A run ends where a sequence ends or where its frame numbers step further than the sequence's
    usual step (its median): a frame dropped for want of a face, or absent from the copy (Aff-Wild2's
    ``cropped_aligned`` leaves them out), so a clip never jumps over missing frames. Non-numeric
    frame names make the whole sequence one run."""
    df = index_df.assign(_rows=_rows(index_df)).sort_values(["subject", "sequence", "frame"], kind="stable")
    order = df["_rows"].to_numpy()
    if not len(df):                      # no frame: no run (the callers say what they needed)
        return order, np.zeros(0, np.int64), np.zeros(0, np.int64)
    seq_id = df.groupby(["subject", "sequence"], sort=False).ngroup().to_numpy()
    frame = pd.to_numeric(df["frame"], errors="coerce").to_numpy(np.float64)
    step = np.r_[np.nan, np.diff(frame)]
    step[np.r_[True, seq_id[1:] != seq_id[:-1]]] = np.nan          # no step into a sequence's first frame
    usual = pd.Series(step).groupby(seq_id).transform("median").to_numpy()
    new = np.r_[True, seq_id[1:] != seq_id[:-1]] | (step > usual)    # NaN steps compare False: no split
    run_id = np.cumsum(new) - 1
    run_len = np.bincount(run_id)[run_id] if len(run_id) else np.zeros(0, np.int64)
    return order, run_id, run_len


def _run_bounds(index_df: pd.DataFrame):
    """(order, position of each store row in ``order``, start and end of each position's run)."""
    all_rows = _rows(index_df)
    order, run_id, _ = runs(index_df)
    pos_of = np.empty(all_rows.max() + 1 if len(all_rows) else 0, np.int64)
    pos_of[order] = np.arange(len(order))
    starts = np.r_[0, np.flatnonzero(np.diff(run_id)) + 1]
    ends = np.r_[starts[1:], len(order)]
    return order, pos_of, starts[run_id], ends[run_id]


def _slots(p: int, a: int, b: int, length: int, stride: int) -> list[int]:
    """The window slots at which position ``p`` can sit with the whole window inside [a, b)."""
    return [s for s in range(length) if p - s * stride >= a and p - s * stride + (length - 1) * stride < b]


def fits(index_df: pd.DataFrame, rows, length: int, stride: int = 1) -> np.ndarray:
    """bool (n,): whether a whole window of ``length`` frames at ``stride`` can hold each row
    inside its run of consecutive frames (:func:`windows` repeats edge frames for the others)."""
    order, pos_of, start_of, end_of = _run_bounds(index_df)
    pos = pos_of[np.asarray(rows, np.int64)]
    return np.array([bool(_slots(p, start_of[p], end_of[p], length, stride)) for p in pos], bool)


def windows(index_df: pd.DataFrame, rows, length: int, stride: int = 1, seed: int = 0,
            return_position: bool = False):
    """(n, length) rows of windows around each labelled row, the labelled frame at a random slot.

    Windows stay inside the labelled frame's run of consecutive frames (:func:`runs`: its
    (subject, sequence), never across missing frames) and take every `stride`-th frame (CPC
    Sec. 3.4: the labelled frame's position varies each time it is queried). Slots that would
    leave the run are not drawn; where no slot fits (:func:`fits`) the window repeats the run's
    edge frames. With return_position, also the (n,) slot of the labelled frame.
    """
    rng = np.random.default_rng(seed)
    order, pos_of, start_of, end_of = _run_bounds(index_df)
    rows = np.asarray(rows, np.int64)
    out = np.empty((len(rows), length), np.int64)
    slots = np.empty(len(rows), np.int64)
    offs = np.arange(length) * stride
    for i, r in enumerate(rows):
        p = pos_of[r]
        a, b = start_of[p], end_of[p]  # the run occupies [a, b)
        valid = _slots(p, a, b, length, stride)
        s = int(rng.choice(valid)) if valid else int(rng.integers(length))
        slots[i] = s
        out[i] = order[np.clip(p - s * stride + offs, a, b - 1)]
    return (out, slots) if return_position else out


def tiles(index_df: pd.DataFrame, length: int, stride: int = 1) -> np.ndarray:
    """(n, length) rows: the non-overlapping windows of ``length`` frames at ``stride`` that tile each
    run of consecutive frames (:func:`runs`) from its first frame; a run's tail shorter than a window
    is left out. CPC §4's 33,509 Aff-Wild2 training sequences are such a tiling."""
    order, run_id, _ = runs(index_df)
    span = (length - 1) * stride + 1
    starts = np.r_[0, np.flatnonzero(np.diff(run_id)) + 1] if len(order) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(order)]
    first = [np.arange(a, b - span + 1, span) for a, b in zip(starts, ends)]
    first = np.concatenate(first) if first else np.zeros(0, np.int64)
    return order[first[:, None] + np.arange(length) * stride].reshape(len(first), length)


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


__all__ = ["fits", "frames_per_segment", "keyframes", "load_selection", "runs", "save_selection", "segments",
           "sparse_labels", "tiles", "windows"]
