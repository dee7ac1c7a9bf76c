"""Hyper-parameter sweeps with error bars over seeds (TAS Fig. 5 lambda, SCC Fig. 6 k,
RTATL Fig. 4 labelled subjects)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import seaborn as sns

from .style import new_figure, theme

__all__ = ["sweep_plot"]


def sweep_plot(x: Sequence, means: Mapping[str, Sequence[float]], stds: Mapping[str, Sequence[float]] | None = None,
               xlabel: str = "", ylabel: str = "", *, reference: Mapping[str, float] | None = None,
               categorical_x: bool = False, title: str | None = None, ax=None):
    """One line per name: mean over seeds with +/- std error bars, on one axis.

    x: the swept values (n,); means/stds ``{name: (n,)}``; reference ``{name: y}`` draws a
    dotted horizontal line (e.g. TAS's A1 star). ``categorical_x`` spaces the x values
    evenly (the papers' lambda grids). Returns the Figure.
    """
    if not isinstance(means, Mapping):
        raise TypeError(f"means is a dict {{line name: values}}, got {type(means).__name__}")
    stray = sorted(set(stds or {}) - set(means))
    if stray:
        raise ValueError(f"stds for {stray} have no means (means are for {list(means)})")
    xs = np.arange(len(x)) if categorical_x else np.asarray(x, dtype=np.float64)
    for name, m in means.items():
        if len(m) != len(x):
            raise ValueError(f"means[{name!r}] has {len(m)} values for {len(x)} x values")
        if stds is not None and name in stds and len(stds[name]) != len(x):
            raise ValueError(f"stds[{name!r}] has {len(stds[name])} values for {len(x)} x values")
    with theme("whitegrid"):
        if ax is None:
            fig, axes = new_figure(1, 1, size=(4.0, 3.0))
            ax = axes[0, 0]
        fig = ax.figure
        pal = sns.color_palette("tab10", len(means) + len(reference or {}))
        for c, (name, m) in enumerate(means.items()):
            err = None if stds is None or name not in stds else np.asarray(stds[name], dtype=np.float64)
            ax.errorbar(xs, np.asarray(m, dtype=np.float64), yerr=err, marker="o", ms=4, capsize=3,
                        color=pal[c], label=name)
        for c, (name, y) in enumerate((reference or {}).items(), start=len(means)):
            ax.axhline(y, ls=":", color=pal[c], label=name)
        if categorical_x:
            ax.set_xticks(xs, [str(v) for v in x])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small", frameon=False)
        if title:
            ax.set_title(title)
    return fig
