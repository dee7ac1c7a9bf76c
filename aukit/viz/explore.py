"""Browse a finished run: subject, sequence, AU and frame -> face, heatmap overlay,
intensity curve with a cursor, and per-AU prediction bars.

Interactive (ipywidgets) inside a Jupyter front end; otherwise, or with
``static=True`` or the environment variable ``AUKIT_STATIC=1`` (set it in headless
papermill runs, where a kernel exists but nobody looks at widgets), it returns one
static matplotlib Figure of the chosen (or first) selection.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from .curves import intensity_curves
from .heatmaps import _overlay
from .style import as_array, as_image, hide_ticks, theme

__all__ = ["explore", "explore_figure", "has_frontend"]


def has_frontend() -> bool:
    """True inside a Jupyter kernel (ZMQ shell) unless ``AUKIT_STATIC`` is set."""
    if os.environ.get("AUKIT_STATIC", "").lower() in ("1", "true", "yes"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _sequences(index: pd.DataFrame, subject) -> list:
    """A subject's sequence names, in the index's order."""
    return list(dict.fromkeys(index.loc[index["subject"] == subject, "sequence"].tolist()))


def _sequence_rows(index: pd.DataFrame, subject, sequence) -> np.ndarray:
    """Positional rows of one sequence, ordered by frame."""
    m = (index["subject"].to_numpy() == subject) & (index["sequence"].to_numpy() == sequence)
    rows = np.flatnonzero(m)
    if rows.size == 0:
        raise ValueError(f"subject {subject!r} has no sequence {sequence!r} (it has {_sequences(index, subject)})")
    return rows[np.argsort(index["frame"].to_numpy()[rows], kind="stable")]


def _check_inputs(faces, index: pd.DataFrame, labels: np.ndarray, preds: np.ndarray, aus) -> None:
    """One row of index, labels and preds per face, a column per AU; named errors, not an indexer's."""
    n = len(faces)
    if n == 0:
        raise ValueError("no faces to explore")
    for name, a in (("labels", labels), ("preds", preds)):
        if a.shape != (n, len(aus)):
            raise ValueError(f"{name} must be (faces, AUs) = ({n}, {len(aus)}), got {a.shape}")
    if len(index) != n:
        raise ValueError(f"index has {len(index)} rows for {n} faces")
    missing = [c for c in ("subject", "sequence", "frame") if c not in index]
    if missing:
        raise ValueError(f"index lacks column(s) {missing}")


def _resolve(index: pd.DataFrame, labels: np.ndarray, aus, subject=None, sequence=None, au=None,
             position=None) -> tuple:
    """A selection with its defaults filled in and checked, the same for the static view and the
    widgets' first view: (subject, sequence, au, rows of the sequence, position within it)."""
    subject = index["subject"].iloc[0] if subject is None else subject
    if not (index["subject"] == subject).any():
        known = list(pd.unique(index["subject"]))
        more = " ..." if len(known) > 10 else ""
        raise ValueError(f"subject {subject!r} is not in the index (it has {known[:10]}{more})")
    sequence = _sequences(index, subject)[0] if sequence is None else sequence
    au = aus[0] if au is None else au
    if au not in list(aus):
        raise ValueError(f"AU {au!r} is not among this run's AUs {list(aus)}")
    rows = _sequence_rows(index, subject, sequence)
    if position is None:
        lab = labels[rows, list(aus).index(au)]
        position = int(np.nanargmax(lab)) if np.isfinite(lab).any() else 0
    return subject, sequence, au, rows, int(np.clip(position, 0, len(rows) - 1))


def _heatmap_top(heatmaps, rows: np.ndarray, block: int = 64) -> float:
    """Top of a sequence's colour scale: its largest heatmap value, read ``block`` frames at a time
    (``heatmaps[rows]`` copied the whole sequence at once: 375 MB for 2000 frames of 12x64x64)."""
    top = max(float(as_array(heatmaps[rows[i:i + block]], np.float32).max()) for i in range(0, len(rows), block))
    return max(top, 1e-6)


def explore_figure(faces, index: pd.DataFrame, labels, preds, aus: Sequence[str], heatmaps=None, *,
                   subject=None, sequence=None, au: str | None = None, position: int | None = None,
                   vmax: float | None = None):
    """The static view: 4 axes (face, overlay, curve, per-AU bars) for one selection.

    ``position`` is the frame's position within the sequence (default: the peak label
    of ``au``). Defaults pick the first subject, its first sequence and the first AU.
    ``vmax`` tops the heatmap colour scale (default: the sequence's largest heatmap value,
    which :func:`explore` works out once per sequence).
    """
    labels, preds = as_array(labels), as_array(preds)
    _check_inputs(faces, index, labels, preds, aus)
    subject, sequence, au, rows, position = _resolve(index, labels, aus, subject, sequence, au, position)
    j = list(aus).index(au)
    r = rows[position]
    with theme("whitegrid"):
        from matplotlib.figure import Figure
        fig = Figure(figsize=(11, 5.5), layout="constrained")
        gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.6])
        ax_face, ax_map = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
        ax_curve, ax_bar = fig.add_subplot(gs[1, :]), fig.add_subplot(gs[0, 2])
        ax_face.imshow(as_image(faces[r]))
        hide_ticks(ax_face)
        ax_face.set_title(f"{subject} {sequence} frame {index['frame'].iloc[r]}", fontsize="small")
        if heatmaps is not None:
            hm = as_array(heatmaps[r], np.float32)
            vmax = _heatmap_top(heatmaps, rows) if vmax is None else vmax
            _overlay(ax_map, faces[r], hm[j], vmax=vmax, title=f"{au} heatmap")
        else:
            ax_map.imshow(as_image(faces[r]))
            hide_ticks(ax_map)
            ax_map.set_title("no heatmaps for this method", fontsize="small")
        intensity_curves(labels[rows, j], {"prediction": preds[rows, j]}, aus=[au], cursor=position,
                         axes=[ax_curve], title=f"{au} over the sequence")
        frames = index["frame"].to_numpy()[rows]   # the curve's x is the position; the title names the frame
        ax_curve.set_xlabel(f"position in {sequence} ({len(rows)} frames: {frames[0]} .. {frames[-1]})")
        x = np.arange(len(aus))
        ax_bar.bar(x - 0.2, np.nan_to_num(labels[r], nan=0.0), 0.4, color="tab:green", label="label")
        ax_bar.bar(x + 0.2, preds[r], 0.4, color="tab:red", label="prediction")
        ax_bar.set_xticks(x, list(aus), rotation=60, fontsize="x-small")
        ax_bar.set_ylim(0, 5.2)
        ax_bar.legend(fontsize="x-small", frameon=False)
        ax_bar.set_title("all AUs at this frame", fontsize="small")
    return fig


def explore(faces, index: pd.DataFrame, labels, preds, aus: Sequence[str], heatmaps=None, *,
            static: bool | None = None, **selection):
    """ipywidgets browser over a finished run, or one static Figure (see module doc).

    faces (N, S, S, 3); index with columns subject, sequence, frame (row i <-> face i);
    labels and preds (N, n_aus) on 0..5; heatmaps (N, n_aus, h, w) or None.
    ``selection`` (subject, sequence, au, position) sets the first view, checked and defaulted as
    :func:`explore_figure` does, whichever the mode.
    """
    labels, preds = as_array(labels), as_array(preds)
    _check_inputs(faces, index, labels, preds, aus)
    index = index.reset_index(drop=True)
    if static or (static is None and not has_frontend()):
        return explore_figure(faces, index, labels, preds, aus, heatmaps, **selection)

    import ipywidgets as W
    from IPython.display import display

    subject, sequence, au, rows, position = _resolve(index, labels, aus, **selection)
    w_subj = W.Dropdown(options=list(dict.fromkeys(index["subject"].tolist())), value=subject,
                        description="subject")
    w_seq = W.Dropdown(options=_sequences(index, subject), value=sequence, description="sequence")
    w_au = W.Dropdown(options=list(aus), value=au, description="AU")
    w_pos = W.IntSlider(min=0, max=len(rows) - 1, value=position, description="frame", continuous_update=False)
    out = W.Output()

    tops = {}   # (subject, sequence) -> its heatmaps' top, read once: the slider redraws often
    busy = []   # non-empty while update() moves the other widgets: their own events must not draw

    def update(change):
        """Any widget moved: bring the ones below it in line, then draw once. An error replaces the
        figure with its message (raised from a callback, it went to the kernel log, the old figure kept)."""
        if busy:
            return
        busy.append(True)
        try:
            align(change.owner)
        except Exception as e:
            shown(e)
            return
        finally:
            busy.pop()
        try:
            draw()
        except Exception as e:
            shown(e)

    def align(moved):
        # a new subject's sequences keep T1 if it has one, which fires no event: its range is set here
        if moved is w_subj:
            seqs = _sequences(index, w_subj.value)
            keep = w_seq.value if w_seq.value in seqs else seqs[0]
            w_seq.options = seqs
            w_seq.value = keep
        w_pos.max = len(_sequence_rows(index, w_subj.value, w_seq.value)) - 1   # clamps the value

    def shown(e: Exception):
        out.outputs = ({"output_type": "stream", "name": "stderr",
                        "text": f"aukit.viz.explore cannot show this view: {type(e).__name__}: {e}\n"},)

    def draw():
        key = (w_subj.value, w_seq.value)
        if heatmaps is not None and key not in tops:
            tops[key] = _heatmap_top(heatmaps, _sequence_rows(index, *key))
        fig = explore_figure(faces, index, labels, preds, aus, heatmaps, subject=key[0], sequence=key[1],
                             au=w_au.value, position=w_pos.value, vmax=tops.get(key))
        with out:
            out.clear_output(wait=True)
            display(fig)

    draw()
    for w in (w_subj, w_seq, w_au, w_pos):
        w.observe(update, "value")
    return W.VBox([W.HBox([w_subj, w_seq, w_au]), w_pos, out])
