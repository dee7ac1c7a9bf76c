"""Difference rows for an ablation sweep: a grid axis other than fold and seeds (``lambda_rank: [0, 0.1]``)
compared value by value with its first value, cell against cell on the same fold and seeds (and the
same other axes), mean ± std of those paired differences. aggregate.md gave the groups' means side by
side only, and their difference has a smaller spread than either mean's when the folds differ a lot.
"""
from __future__ import annotations

import pandas as pd

from .sweep_grid import _slug

PAIRED_BY = ("fold", "seed", "seeds")


def differences(df: pd.DataFrame, grid: dict, metrics: list[str]) -> str:
    """aggregate.md's section of measured paired differences ("" when the grid has no ablation axis)."""
    axes = [k for k in grid if k not in PAIRED_BY and len(grid[k]) > 1]
    rows = [row for axis in axes for row in _axis_rows(df, grid, axis, metrics)]
    if not rows:
        return ""
    paired = [k for k in grid if k in PAIRED_BY] or ["(nothing: one cell per value)"]
    head = ["axis", "compared", "other axes", *metrics, "pairs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return (f"\nMeasured differences, value minus the axis's first value, paired cell by cell on "
            f"{', '.join(paired)} and the other axes: mean ± std of the paired differences (± -: one pair); "
            "measured here, not the paper's:\n\n" + "\n".join(lines) + "\n")


def _axis_rows(df: pd.DataFrame, grid: dict, axis: str, metrics: list[str]) -> list[list[str]]:
    others = [k for k in grid if k != axis and k not in PAIRED_BY]
    on = [k for k in grid if k != axis]
    base_label = _slug(grid[axis][0])
    base = df[df[axis] == base_label]
    rows = []
    for value in grid[axis][1:]:
        label = _slug(value)
        this = df[df[axis] == label]
        pairs = this.merge(base, on=on, suffixes=("", "_base")) if on else this.merge(base, how="cross",
                                                                                     suffixes=("", "_base"))
        if pairs.empty:
            continue
        for key, sub in (pairs.groupby(others, sort=False) if others else [((), pairs)]):
            key = key if isinstance(key, tuple) else (key,)
            where = ", ".join(f"{k} {v}" for k, v in zip(others, key)) or "-"
            cells = [_spread(sub[m] - sub[f"{m}_base"]) if f"{m}_base" in sub else "-" for m in metrics]
            rows.append([axis, f"{label} - {base_label}", where, *cells, str(len(sub))])
    return rows


def _spread(diff: pd.Series) -> str:
    diff = diff.dropna()
    if diff.empty:
        return "-"
    std = diff.std()
    return f"{diff.mean():+.4f} ± " + ("-" if len(diff) < 2 else f"{std:.4f}")
