"""t-SNE of AU features (TAS Figs. 4 and 6)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.colors import ListedColormap
from sklearn.manifold import TSNE

from .style import hide_ticks, new_figure, theme

__all__ = ["embed_tsne", "tsne_features"]


def embed_tsne(features: np.ndarray, *, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-d t-SNE embedding of features (N, d) -> (N, 2); perplexity is capped at (N - 1) / 3."""
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if len(x) < 4:
        raise ValueError(f"t-SNE needs at least 4 samples, got {len(x)}")
    perp = float(min(perplexity, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(x)


CATEGORY_ALPHA = 0.8   # overlapping points of different categories mix instead of one hiding the other
IDENTITY_NAMES = ("subject", "identity", "person", "id")   # colourings that are ids even when integers


def _is_numeric(values: np.ndarray, name: str = "") -> bool:
    """A continuous quantity (intensity) rather than ids: numbers, unless the colouring is named
    as identities (integer subject ids 1..27 are categories, not a scale)."""
    return np.issubdtype(np.asarray(values).dtype, np.number) and str(name).lower() not in IDENTITY_NAMES


def _category_colours(values) -> dict:
    """{category: colour} in order of first appearance: the same subject keeps one colour in every
    panel of a figure (the highlighted-subject panel coloured F004 as the subject panel coloured M002)."""
    cats = list(dict.fromkeys(np.asarray(values).tolist()))
    return dict(zip(cats, sns.color_palette("bright" if len(cats) <= 10 else "husl", len(cats))))


def _intensity_cmap() -> ListedColormap:
    """Blues from 0.35 up: Blues(0) is near white, so intensity 0 (most frames) vanished on the white
    axes; the colour bar is drawn from this same map, so it shows the colours used."""
    return ListedColormap(matplotlib.colormaps["Blues"](np.linspace(0.35, 1.0, 256)), name="Blues_visible")


def _draw_order(n: int) -> np.ndarray:
    """A fixed shuffle of the points: drawn category after category, the last one covered the others where
    they overlap (TAS Fig. 6's A1 panel showed two of its five AUs); shuffled, each shows through. Seeded,
    so a rerun draws the same figure."""
    return np.random.default_rng(0).permutation(n)


def _legend(ax, colours: Mapping, size: float) -> None:
    """One entry per category, drawn from empty proxies (the points are one shuffled collection); beside the
    axes in columns when there are more than 12 categories (it covered the points inside)."""
    for c, col in colours.items():
        ax.scatter([], [], color=col, s=size, edgecolors="none", label=str(c))
    if len(colours) <= 12:
        ax.legend(fontsize="x-small", markerscale=1.5, frameon=False, loc="best")
    else:
        ax.legend(fontsize="xx-small", markerscale=1.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  ncol=int(np.ceil(len(colours) / 16)))


def _scatter(ax, xy, values, name, fig, size):
    if _is_numeric(values, name):  # intensity: light -> dark blue
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=_intensity_cmap(), s=size, edgecolors="none")
        fig.colorbar(sc, ax=ax, shrink=0.7, label=name)
    else:  # subject identities: bright categorical colours, half see-through, in a shuffled order
        colours = _category_colours(values)
        order = _draw_order(len(xy))
        ax.scatter(xy[order, 0], xy[order, 1], c=[colours[v] for v in np.asarray(values)[order].tolist()],
                   s=size, alpha=CATEGORY_ALPHA, edgecolors="none", label="_points")
        _legend(ax, colours, size)


def tsne_features(features, color_by: Mapping[str, Sequence], *, highlight: Sequence | None = None,
                  highlight_key: str = "subject", title: str | None = None, perplexity: float = 30.0,
                  seed: int = 0, point_size: float = 8.0):
    """t-SNE panels of AU features.

    features: (N, d) array, or a dict ``{model name: (N, d)}`` for side-by-side models
      (e.g. TAS A1 vs A4); one row of panels per model.
    color_by: ``{name: (N,)}``; numeric values get a continuous colour map (intensity),
      other values, and entries named subject, identity, person or id, categorical colours
      (subject ids, integers too), drawn see-through in a fixed shuffled order with a legend entry per
      category, so overlapping categories all show. One panel per entry.
    highlight: subject ids drawn in colour over grey points (the ids are looked up in
      ``color_by[highlight_key]``); adds one panel per row.
    Returns a Figure with rows x (len(color_by) + bool(highlight)) axes.
    """
    models = dict(features) if isinstance(features, Mapping) else {"": features}
    colourings = {k: np.asarray(v) for k, v in color_by.items()}
    n = {len(np.asarray(f)) for f in models.values()} | {len(v) for v in colourings.values()}
    if len(n) != 1:
        raise ValueError(f"features and color_by differ in length: {sorted(n)}")
    if highlight is not None and highlight_key not in colourings:
        raise ValueError(f"highlight needs color_by[{highlight_key!r}]")
    ncols = len(colourings) + (highlight is not None)
    with theme("white"):
        fig, axes = new_figure(len(models), ncols, size=(3.0, 2.8))
        for r, (model, feats) in enumerate(models.items()):
            xy = embed_tsne(feats, perplexity=perplexity, seed=seed)
            for c, (name, values) in enumerate(colourings.items()):
                ax = axes[r, c]
                _scatter(ax, xy, values, name, fig, point_size)
                ax.set_title(f"{model}: {name}" if model else name)
                hide_ticks(ax)
            if highlight is not None:
                ax = axes[r, -1]
                ids = colourings[highlight_key]
                ax.scatter(xy[:, 0], xy[:, 1], color="0.85", s=point_size, edgecolors="none")
                colours = _category_colours(ids)               # as the subject panel beside it
                for h in highlight:
                    m, col = ids == h, colours.get(h, "0.3")
                    ax.scatter(xy[m, 0], xy[m, 1], color=col, s=point_size * 1.5, edgecolors="none", label=str(h))
                ax.legend(fontsize="x-small", frameon=False)
                ax.set_title(f"{model}: highlighted {highlight_key}" if model else f"highlighted {highlight_key}")
                hide_ticks(ax)
        if title:
            fig.suptitle(title)
    return fig
