"""CPC figures not covered by ``aukit.viz``: pre-training curves and the AU intensity distribution (Fig. 5)."""
from __future__ import annotations

import numpy as np

from aukit.viz.style import new_figure, theme


def pretext_curves(pretext: list[dict]):
    """Training InfoNCE loss and validation Top-n accuracy per epoch, mean over seeds, per pre-training set.

    pretext: one ``{source: {"history": [epoch dicts]}}`` per seed.
    """
    sources = [s for s in ("target", "pool") if any(s in p for p in pretext)]
    with theme("whitegrid"):
        fig, ax = new_figure(1, 2, size=(3.6, 2.8))
        for src in sources:
            hists = [p[src]["history"] for p in pretext if src in p]
            n = min(len(h) for h in hists)
            ep = np.arange(1, n + 1)
            loss = np.mean([[h[i]["train_loss"] for i in range(n)] for h in hists], 0)
            ax[0, 0].plot(ep, loss, marker="o", ms=3, label=src)
            for k, style in (("top1", "-"), ("top3", "--"), ("top5", ":")):
                acc = np.mean([[h[i].get(f"val_{k}", np.nan) for i in range(n)] for h in hists], 0)
                ax[0, 1].plot(ep, acc, style, marker="o", ms=3, label=f"{src} {k}")
        ax[0, 0].set(xlabel="epoch", ylabel="train InfoNCE (Eq. 1)", title="pre-training loss")
        ax[0, 1].set(xlabel="epoch", ylabel="validation accuracy", title="Top-n (Table 1)", ylim=(0, 1))
        for a in ax[0]:
            a.legend(fontsize=7)
    return fig


def au_distribution(labels: np.ndarray, aus) -> object:
    """Fraction of labelled frames at each intensity 0..5, one group of bars per AU (CPC Fig. 5)."""
    labels = np.asarray(labels, np.float64)
    levels = np.arange(6)
    with theme("whitegrid"):
        fig, ax = new_figure(1, 1, size=(max(4.0, 0.5 * len(aus)), 2.8))
        a = ax[0, 0]
        width = 0.8 / len(levels)
        x = np.arange(len(aus))
        for k in levels:
            frac = [np.mean(np.round(col[~np.isnan(col)]) == k) if np.any(~np.isnan(col)) else 0.0
                    for col in labels.T]
            a.bar(x + (k - 2.5) * width, frac, width, label=f"{k}")
        a.set_xticks(x, [str(au) for au in aus], rotation=45)
        a.set(yscale="log", ylabel="fraction of frames", title="AU intensity distribution (training frames)")
        a.legend(title="intensity", fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                 frameon=False)   # beside the bars: inside, it hid the intensity-0 bars of AU09-AU20
    return fig
