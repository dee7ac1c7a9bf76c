"""Intensity over time: labels vs predictions per AU (TAS Fig. 3, SCC Fig. 5)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import seaborn as sns

from ..metrics import FLAG_CONSTANT_PRED, icc31
from .style import as_array, new_figure, theme

__all__ = ["intensity_curves"]


def _as_2d(x, name) -> np.ndarray:
    a = as_array(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (T,) or (T, n_aus), got {a.shape}")
    return a


def _icc_words(pred: np.ndarray, label: np.ndarray) -> str:
    """'ICC 0.71' for the legend, or what the degenerate case is: a constant label has no ICC to measure
    (icc31 returns 0.0 flagged), and 'ICC 0.00' read as a measured failure."""
    if np.ptp(label) == 0:          # checked first: icc31 names a constant prediction first when both are flat
        return "constant label"
    icc, flag = icc31(pred, label, return_flag=True)
    return f"ICC {icc:.2f}" + (": constant prediction" if flag == FLAG_CONSTANT_PRED else "")


def intensity_curves(labels, preds: Mapping[str, np.ndarray], keyframes=None, aus: Sequence[str] | None = None,
                     title: str | None = None, show_icc: bool = True, cursor: int | None = None, axes=None):
    """Label curve (green) and predicted curves of one sequence, one axis per AU.

    labels (T,) or (T, n_aus) on 0..5 (NaN = unlabelled, drawn as gaps); preds
    ``{name: same shape}`` (NaN: no prediction, e.g. no face); keyframes: frame indices
    (shared) or ``{au: indices}``, marked on the label curve; ``show_icc`` adds ICC(3,1) of
    each prediction to the legend, over the frames that have both ('constant label' where the label is
    flat there: no ICC to measure); ``cursor`` draws a vertical line at that frame. ``axes`` (a list of
    n_aus Axes) draws into an existing figure; ``aus`` default to a DataFrame's column names. Returns the Figure.
    """
    if not isinstance(preds, Mapping):
        raise TypeError(f"preds is a dict {{model name: predictions}}, got {type(preds).__name__}")
    y = _as_2d(labels, "labels")
    p = {k: _as_2d(v, f"preds[{k!r}]") for k, v in preds.items()}
    for k, v in p.items():
        if v.shape != y.shape:
            raise ValueError(f"preds[{k!r}] has shape {v.shape}, labels {y.shape}")
    if aus is None:  # a DataFrame's column names; else neutral names, not 'AU 0' (read as a FACS number)
        aus = [str(c) for c in labels.columns] if hasattr(labels, "columns") else None
    names = list(aus) if aus is not None else [f"column {j}" for j in range(y.shape[1])]
    if len(names) != y.shape[1]:
        raise ValueError(f"{len(names)} AU names for {y.shape[1]} columns")
    t = np.arange(len(y))
    for kf in (keyframes.values() if isinstance(keyframes, Mapping) else [keyframes]):
        if kf is not None and len(kf) and (np.min(kf) < 0 or np.max(kf) >= len(y)):
            raise ValueError(f"keyframes must be frame indices in 0..{len(y) - 1}, got {np.asarray(kf).tolist()}")
    values = np.concatenate([y.ravel(), *[v.ravel() for v in p.values()]])
    values = values[np.isfinite(values)]
    lo = min(-0.2, values.min() - 0.2) if values.size else -0.2
    hi = max(5.2, values.max() + 0.2) if values.size else 5.2
    with theme("whitegrid"):
        if axes is None:
            fig, grid = new_figure(len(names), 1, size=(6.0, 1.8), sharex=True)
            axes = list(grid[:, 0])
        fig = axes[0].figure
        colours = sns.color_palette("tab10", len(p) + 3)[3:]  # keep green and red for labels / first model
        for j, (ax, au) in enumerate(zip(axes, names)):
            ax.plot(t, y[:, j], color="tab:green", lw=1.5, label="label")
            kf = keyframes.get(au) if isinstance(keyframes, Mapping) else keyframes
            if kf is not None and len(kf):
                kf = np.asarray(kf, dtype=int)
                ax.plot(kf, y[kf, j], "o", color="tab:green", ms=4, label="keyframes")
            for c, (name, v) in enumerate(p.items()):
                lab = name
                both = np.isfinite(y[:, j]) & np.isfinite(v[:, j])   # a frame without a face has no prediction
                if show_icc and np.count_nonzero(both) >= 2:
                    scored = np.count_nonzero(np.isfinite(y[:, j]))
                    part = "" if both.sum() == scored else f", {both.sum()} of {scored} frames"
                    lab = f"{name} ({_icc_words(v[both, j], y[both, j])}{part})"
                ax.plot(t, v[:, j], color="tab:red" if c == 0 else colours[c], lw=1.2, label=lab)
            if cursor is not None:
                ax.axvline(cursor, color="0.3", ls="--", lw=1)
            ax.set_ylabel(au)
            ax.set_ylim(lo, hi)                           # 0..5, widened to show values outside it
            ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # beside
        axes[-1].set_xlabel("frame")
        if title:
            axes[0].set_title(title)
    return fig
