"""Square matrices as annotated heatmaps: AU-indicator similarity (RTATL Fig. 7),
channel relations (SCC Fig. 7)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import seaborn as sns

from .style import new_figure, theme

__all__ = ["similarity_heatmap", "cosine_similarity"]


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of row vectors (K, d) -> (K, K)."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


def similarity_heatmap(matrix, labels: Sequence[str], annotate: bool = True, *, title: str | None = None,
                       cmap: str = "RdBu_r", vmin: float | None = None, vmax: float | None = None, fmt: str = ".2f"):
    """A (K, K) matrix with row/column labels; 2 axes (heatmap and colour bar).

    The colour scale is symmetric around 0 unless vmin/vmax are given."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or len(labels) != m.shape[0]:
        raise ValueError(f"expected a (K, K) matrix with K = {len(labels)} labels, got {m.shape}")
    if vmin is None and vmax is None:
        lim = float(np.nanmax(np.abs(m))) or 1.0
        vmin, vmax = -lim, lim
    k = len(labels)
    with theme("white"):
        fig, axes = new_figure(1, 1, size=(0.5 * k + 2.0, 0.45 * k + 1.5))
        sns.heatmap(m, ax=axes[0, 0], xticklabels=labels, yticklabels=labels, annot=annotate, fmt=fmt,
                    cmap=cmap, vmin=vmin, vmax=vmax, square=True, annot_kws={"fontsize": 7}, cbar=True)
        if title:
            axes[0, 0].set_title(title)
    return fig
