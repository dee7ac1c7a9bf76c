"""Shared figure style and saving. Figures are built on ``matplotlib.figure.Figure``
directly (no pyplot state), so they are safe under the Agg backend and in loops."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["theme", "new_figure", "save_figure", "as_image", "hide_ticks", "show_figures_inline"]

_NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}  # PNG's default metadata has no date


@contextmanager
def theme(style: str = "whitegrid", context: str = "paper"):
    """Seaborn style and context for the figures built inside the block."""
    with sns.axes_style(style), sns.plotting_context(context):
        yield


def show_figures_inline() -> bool:
    """In a Jupyter kernel, show a Figure left as a cell's value (or given to ``display``) as a PNG.
    pyplot's inline backend registers that display only when pyplot is imported, which aukit never
    does: TAS's and PIAP-DF's figures showed as "<Figure size 640x220 with 2 Axes>". A display the
    user or pyplot set up already is kept. True when figures display as images."""
    import sys
    if "IPython" not in sys.modules:             # not inside IPython: nothing to set up
        return False
    from IPython import get_ipython
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    formatters = shell.display_formatter.formatters
    if any(Figure in formatters[m].type_printers for m in ("image/png", "image/svg+xml", "image/jpeg")):
        return True
    from IPython.core.pylabtools import select_figure_formats
    select_figure_formats(shell, {"png"})
    return True


def new_figure(nrows: int, ncols: int, *, size: tuple[float, float] = (2.4, 2.4), **kwargs):
    """A constrained-layout Figure with an (nrows, ncols) array of axes; size is per panel."""
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save_figure(fig: Figure, folder: str | Path, name: str, formats=("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write ``<folder>/<name>.png`` and ``.pdf``; returns the paths.

    The files carry no creation date, so a rerun that draws the same figure writes the same bytes
    and a diff of ``reports/`` shows only what changed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in formats:
        path = folder / f"{name}.{ext}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=_NO_DATE.get(ext))
        paths.append(path)
    return paths


def as_array(x, dtype=np.float64) -> np.ndarray:
    """Values to draw as a NumPy array: a torch tensor is detached and moved to the CPU first (a model's
    output requires grad, and NumPy refuses it)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def as_image(img) -> np.ndarray:
    """An (S, S, 3) face as float RGB in [0, 1] for imshow: uint8 0..255, or floats in 0..1; a grey
    (S, S, 1) face is repeated to 3 channels (imshow would draw one channel in false colour).
    Floats outside 0..1 are refused, not clipped: a face in 0..255 came out white, a normalised
    one (mean 0) half black."""
    if hasattr(img, "detach"):   # torch: a uint8 face stays uint8 (as float it read as 0..255 floats and was refused)
        img = img.detach().cpu()
        img = (img.float() if img.is_floating_point() else img).numpy()
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[-1] not in (1, 3):
        raise ValueError(f"expected an (S, S, 3) image, got shape {img.shape}")
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"a float face must be RGB in 0..1, got values {lo:.3g}..{hi:.3g} "
                         f"({'divide by 255, or pass uint8' if hi > 1 and lo >= 0 else 'undo the normalisation'})")
    return np.clip(img, 0.0, 1.0)


def hide_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


show_figures_inline()
