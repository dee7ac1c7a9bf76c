"""Spatial maps over faces: AU heatmaps (SCC Figs. 5/8), pixel-interest maps (PIAP-DF
Fig. 1), optical flow (RTATL Fig. 5) and RoI inpainting (RTATL Fig. 6)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .style import as_image, hide_ticks, new_figure, theme

__all__ = ["heatmap_overlay", "pi_maps", "flow_compare", "inpainting_panels"]


def _overlay(ax, face, hmap, *, vmax, alpha=0.5, cmap="jet", title=None):
    """Draw a face (S, S, 3) and a map (h, w) stretched over it (imshow interpolates)."""
    img = as_image(face)
    s_h, s_w = img.shape[:2]
    ax.imshow(img)
    hmap = np.ma.masked_less(np.asarray(hmap, dtype=np.float32), 0.05 * vmax)  # leave the face visible off-peak
    im = ax.imshow(hmap, cmap=cmap, alpha=alpha, vmin=0.0, vmax=vmax, extent=(0, s_w, s_h, 0),
                   interpolation="bilinear")
    hide_ticks(ax)
    if title:
        ax.set_title(title, fontsize="small")
    return im


def heatmap_overlay(faces, pred_maps, true_maps=None, *, aus: Sequence[str] | None = None,
                    per_au: bool = False, alpha: float = 0.5):
    """Predicted AU heatmaps over aligned faces, ground truth beside.

    faces (N, S, S, 3); pred_maps and true_maps (N, K, h, w). With ``per_au=False``
    each face shows the max over the K maps (1 column, or 2 with ground truth);
    with ``per_au=True`` one column per AU (K, or 2K with ground truth).
    All panels share one colour scale so intensities compare across panels.
    """
    pred = np.asarray(pred_maps, dtype=np.float32)
    if pred.ndim != 4 or len(pred) != len(faces):
        raise ValueError(f"pred_maps must be (N, K, h, w) with N = {len(faces)}, got {pred.shape}")
    true = None if true_maps is None else np.asarray(true_maps, dtype=np.float32)
    if true is not None and true.shape != pred.shape:
        raise ValueError(f"true_maps {true.shape} differ from pred_maps {pred.shape}")
    k = pred.shape[1]
    if len(faces) == 0:
        raise ValueError("heatmap_overlay needs at least one face")
    names = list(aus) if aus is not None else [f"map {j}" for j in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} AU names for {k} maps")
    vmax = float(max(pred.max(), 0 if true is None else true.max(), 1e-6))
    sets = [("pred", pred)] + ([("true", true)] if true is not None else [])
    ncols = len(sets) * (k if per_au else 1)
    with theme("white"):
        fig, axes = new_figure(len(faces), ncols, size=(2.0, 2.0))
        for i in range(len(faces)):
            col = 0
            for label, maps in sets:
                if per_au:
                    for j in range(k):
                        im = _overlay(axes[i, col], faces[i], maps[i, j], vmax=vmax, alpha=alpha,
                                      title=f"{label} {names[j]}" if i == 0 else None)
                        col += 1
                else:
                    im = _overlay(axes[i, col], faces[i], maps[i].max(axis=0), vmax=vmax, alpha=alpha,
                                  title=label if i == 0 else None)
                    col += 1
        fig.colorbar(im, ax=axes, shrink=0.6, label="heatmap value")   # the one scale every panel shares
    return fig


def pi_maps(predefined, learned, face, aus: Sequence[str], *, threshold: float = 0.5):
    """Pixel-interest maps of one face: predefined (K, h, w) as binary masks (top row)
    and learned (K, h, w) as heat (bottom row). Returns a Figure with 2 x K axes."""
    pre = np.asarray(predefined, dtype=np.float32)
    lea = np.asarray(learned, dtype=np.float32)
    if pre.ndim != 3 or lea.shape != pre.shape or len(aus) != len(pre):
        raise ValueError(f"predefined {pre.shape} and learned {lea.shape} must be (K, h, w) with K = {len(aus)}")
    img = as_image(face)
    with theme("white"):
        fig, axes = new_figure(2, len(aus), size=(1.8, 1.8))
        for j, au in enumerate(aus):
            ax = axes[0, j]
            ax.imshow(img)
            ax.imshow(pre[j] >= threshold, cmap="gray", alpha=0.6, extent=(0, img.shape[1], img.shape[0], 0))
            hide_ticks(ax)
            ax.set_title(au, fontsize="small")
            _overlay(axes[1, j], img, lea[j], vmax=float(max(lea[j].max(), 1e-6)))
        axes[0, 0].set_ylabel("predefined")
        axes[1, 0].set_ylabel("learned")
    return fig


def _flow_xy(flow: np.ndarray) -> np.ndarray:
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim == 4 and f.shape[1] == 2:
        return f
    if f.ndim == 4 and f.shape[-1] == 2:
        return np.moveaxis(f, -1, 1)
    raise ValueError(f"flow must be (N, 2, h, w) or (N, h, w, 2), got {f.shape}")


def flow_compare(true_flow, pred_flow, faces):
    """TV-L1 (true) vs predicted optical flow, horizontal I_x and vertical I_y in grey.

    Flows (N, 2, h, w) or (N, h, w, 2); faces (N, S, S, 3). One row per sample:
    face, true I_x, true I_y, pred I_x, pred I_y (5 axes per row)."""
    t, p = _flow_xy(true_flow), _flow_xy(pred_flow)
    if t.shape != p.shape or len(t) != len(faces):
        raise ValueError(f"true {t.shape}, pred {p.shape} and {len(faces)} faces disagree")
    # each side on its own symmetric grey scale (99th percentile of |flow|): on a shared one an
    # untrained prediction's range left the sparse true flow flat grey; the titles say the scale
    lim_t, lim_p = (float(max(np.percentile(np.abs(f), 99), 1e-6)) for f in (t, p))
    titles = ["face", f"true $I_x$ (±{lim_t:.2g} px)", f"true $I_y$ (±{lim_t:.2g} px)",
              f"pred $I_x$ (±{lim_p:.2g} px)", f"pred $I_y$ (±{lim_p:.2g} px)"]
    with theme("white"):
        fig, axes = new_figure(len(t), 5, size=(1.8, 1.8))
        for i in range(len(t)):
            axes[i, 0].imshow(as_image(faces[i]))
            for c, img in enumerate((t[i, 0], t[i, 1], p[i, 0], p[i, 1]), start=1):
                lim = lim_t if c < 3 else lim_p
                axes[i, c].imshow(img, cmap="gray", vmin=-lim, vmax=lim)
            for c in range(5):
                hide_ticks(axes[i, c])
                if i == 0:
                    axes[i, c].set_title(titles[c], fontsize="small")
    return fig


def inpainting_panels(inputs, originals, recovered):
    """RoI inpainting: rows = masked inputs, originals, recovered; one column per sample
    (each (N, S, S, 3)). Returns a Figure with 3 x N axes."""
    if not (len(inputs) == len(originals) == len(recovered)):
        raise ValueError("inputs, originals and recovered must hold the same number of images")
    with theme("white"):
        fig, axes = new_figure(3, len(inputs), size=(1.6, 1.6))
        for r, (label, imgs) in enumerate((("input", inputs), ("original", originals), ("recovered", recovered))):
            for c in range(len(inputs)):
                axes[r, c].imshow(as_image(imgs[c]))
                hide_ticks(axes[r, c])
            axes[r, 0].set_ylabel(label)
    return fig
