"""SCC-specific figures (Figs. 6-8); Fig. 5 uses ``aukit.viz`` directly.

Each function takes arrays and returns a matplotlib Figure; the experiment saves it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from aukit.viz import sweep_plot
from aukit.viz.style import as_image, hide_ticks, new_figure, theme


def point_names(aus: Sequence[str]) -> list[str]:
    """Names of the N = 2A output maps, AU-major: AU06-L, AU06-R, ..."""
    return [f"{a}-{side}" for a in aus for side in ("L", "R")]


def k_sweep(ks: Sequence[int], icc: Mapping[str, tuple], mae: Mapping[str, tuple]):
    """Fig. 6: ICC and MAE (mean +/- std over seeds) against k. icc/mae: {"mean": (n,), "std": (n,)}."""
    with theme("whitegrid"):
        fig, axes = new_figure(1, 2, size=(3.6, 2.8))
        sweep_plot(list(ks), {"ICC": icc["mean"]}, {"ICC": icc["std"]}, "k (nearest neighbours)", "ICC(3,1)",
                   categorical_x=True, ax=axes[0, 0])
        sweep_plot(list(ks), {"MAE": mae["mean"]}, {"MAE": mae["std"]}, "k (nearest neighbours)", "MAE",
                   categorical_x=True, ax=axes[0, 1])
    return fig


def _overlay(ax, face, hmap, vmax, title=None):
    img = as_image(face)
    s = img.shape[0]
    ax.imshow(img)
    ax.imshow(hmap, cmap="jet", alpha=0.5, vmin=0.0, vmax=vmax, extent=(0, s, s, 0), interpolation="bilinear")
    hide_ticks(ax)
    if title:
        ax.set_title(title, fontsize="small")


def compare_heatmaps(face: np.ndarray, maps: Mapping[str, np.ndarray], aus: Sequence[str],
                     labels: np.ndarray | None = None):
    """Fig. 8: one face's per-AU heatmaps (max over an AU's two points) for each model (rows).

    face (S, S, 3); maps {model: (N, R, R)} with N = 2 len(aus); labels (len(aus),) in titles.
    """
    names = list(maps)
    per_au = {m: np.asarray(v, np.float32).reshape(len(aus), 2, *np.shape(v)[-2:]).max(1) for m, v in maps.items()}
    vmax = float(max(max(v.max() for v in per_au.values()), 1e-6))
    with theme("white"):
        fig, axes = new_figure(len(names), len(aus), size=(1.6, 1.7))
        for r, m in enumerate(names):
            for j, au in enumerate(aus):
                t = f"{au}" + (f" (label {labels[j]:.0f})" if labels is not None and np.isfinite(labels[j]) else "")
                _overlay(axes[r, j], face, per_au[m][j], vmax, title=t if r == 0 else None)
                axes[r, j].text(2, 12, f"{per_au[m][j].max():.2f}", color="w", fontsize="x-small")
            axes[r, 0].set_ylabel(m, fontsize="small")
    return fig


def channel_patterns(head_weight: np.ndarray, aus: Sequence[str], faces: np.ndarray, responses: np.ndarray,
                     channels: Sequence[int] = (0, 1), face_labels: Sequence[str] | None = None,
                     title: str | None = None):
    """Fig. 7: (a) 1x1-conv weights w_ji of channels j toward each output map i (Eq. 5);
    (b) the faces and those channels' responses F^L_j.

    head_weight (N, C); faces (F, S, S, 3); responses (F, len(channels), R, R). ``face_labels`` say what
    each face row is (the caller knows why it picked them: "most activates channel 1"); ``title`` is the
    figure's. Without them the figure had no title and its face rows no labels: nothing said which face was
    which or that they were chosen by their response.
    """
    names = point_names(aus)
    w = np.asarray(head_weight, np.float32)
    nf = len(faces)
    face_labels = list(face_labels) if face_labels is not None else [f"face {i + 1}" for i in range(nf)]
    if len(face_labels) != nf:
        raise ValueError(f"{len(face_labels)} face labels for {nf} faces")
    with theme("whitegrid"):
        fig = Figure(figsize=(max(8.0, 0.3 * len(names)), 2.2 * (len(channels) + nf)), layout="constrained")
        grid = fig.add_gridspec(len(channels) + nf, 1 + len(channels))
        for r, c in enumerate(channels):
            ax = fig.add_subplot(grid[r, :])
            ax.bar(np.arange(len(names)), w[:, c], color=np.where(w[:, c] >= 0, "tab:red", "tab:blue"))
            ax.set_xticks(np.arange(len(names)), names, rotation=90, fontsize="x-small")
            ax.set_ylabel(f"w, channel {c + 1}")
            if r == 0:
                ax.set_title(f"(a) 1x1-conv weights of channels {_channel_words(channels)} toward each output map",
                             fontsize="small")
        vmax = float(max(responses.max(), 1e-6))
        for i in range(nf):
            r = len(channels) + i
            ax = fig.add_subplot(grid[r, 0])
            ax.imshow(as_image(faces[i]))
            hide_ticks(ax)
            ax.set_ylabel(face_labels[i], fontsize="small")
            if i == 0:
                ax.set_title("(b) input face", fontsize="small")
            for j, c in enumerate(channels):
                ax = fig.add_subplot(grid[r, 1 + j])
                ax.imshow(responses[i, j], cmap="viridis", vmin=0.0, vmax=vmax)
                hide_ticks(ax)
                if i == 0:
                    ax.set_title(f"channel {c + 1} response", fontsize="small")
        fig.suptitle(title or f"Fig. 7: channels {_channel_words(channels)}: weights and responses on {nf} faces")
    return fig


def _channel_words(channels: Sequence[int]) -> str:
    """1-based channel numbers as words: (0, 1) -> '1 and 2'."""
    nums = [str(c + 1) for c in channels]
    return nums[0] if len(nums) == 1 else ", ".join(nums[:-1]) + " and " + nums[-1]
