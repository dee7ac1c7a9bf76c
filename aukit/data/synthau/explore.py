"""Teaching helpers for notebooks/00_synthau.ipynb: AU sliders, galleries, intensity curves.

Figures are returned (matplotlib ``Figure``); the notebook decides where to save them.
:func:`explorer` needs a Jupyter front end; headless runs use the static figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .aus import AU_INFO, AUS
from .render import Nuisance, render
from .subjects import Subject, sample_subject


def demo_subject(name: str = "F001", sex: str = "F", seed: int = 0) -> Subject:
    return sample_subject(name, sex, np.random.default_rng(seed), glasses_rate=0.0)


def au_label(au: int) -> str:
    info = AU_INFO[au]
    return f"AU{au} {info.name} ({info.region})"


def au_gallery(subject: Subject | None = None, intensity: float = 5.0):
    """Figure: neutral face, then each AU alone at ``intensity``, titled with FACS names."""
    import matplotlib.pyplot as plt
    subject = subject or demo_subject()
    fig, axes = plt.subplots(3, 6, figsize=(15, 8))
    for ax, au in zip(axes.ravel(), (0,) + AUS):
        x = np.zeros(len(AUS))
        if au:
            x[AUS.index(au)] = intensity
        ax.imshow(render(subject, x)[0][30:240, 25:231])
        ax.set_title("neutral" if not au else f"AU{au} {AU_INFO[au].name}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def subject_gallery(meta_or_root, dataset: str = "bp4d", n: int = 12):
    """Figure: the neutral face of the first ``n`` (at least 1) subjects of ``dataset`` in meta.json;
    the dataset's name in any case ("BP4D" or "bp4d")."""
    import matplotlib.pyplot as plt
    if n < 1:
        raise ValueError(f"n is the number of faces to show: at least 1, got {n}")
    meta = read_meta(meta_or_root)
    dataset = _dataset(dataset, sorted({v["dataset"] for v in meta["subjects"].values()}))
    names = [k for k, v in meta["subjects"].items() if v["dataset"] == dataset][:n]
    cols = min(6, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names):
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["subjects"][name].items() if k != "dataset"}
        ax.imshow(render(Subject(**d), np.zeros(len(AUS)))[0])
        ax.set_title(f"{name} ({d['sex']})", fontsize=9)
    fig.tight_layout()
    return fig


def sequence_curves(root, dataset: str = "bp4d", key: str | None = None, aus=(1, 2, 4, 6, 12, 25)):
    """Figure: continuous intensities and integer labels of one sequence, keyframes marked
    (``key`` as in meta.json's ground_truth, e.g. "F001_T1"; default the first)."""
    import matplotlib.pyplot as plt
    from aukit.data.sampling import keyframes
    root = Path(root)
    meta = read_meta(root)
    dataset = _dataset(dataset, sorted(meta["ground_truth"]))
    seqs = meta["ground_truth"][dataset]
    key = key or sorted(seqs)[0]
    if key not in seqs:
        keys = sorted(seqs)
        more = f" ... {len(keys)} in all" if len(keys) > 12 else ""
        raise ValueError(f"{dataset} has no sequence {key!r} (it has {keys[:12]}{more})")
    if not set(aus) <= set(AUS):
        raise ValueError(f"SynthAU renders AUs {list(AUS)}, not {sorted(set(aus) - set(AUS))}")
    cont = np.load(root / seqs[key]["intensity"])
    import pandas as pd
    labels = pd.read_csv(root / seqs[key]["labels"])
    fig, axes = plt.subplots(len(aus), 1, figsize=(11, 1.5 * len(aus)), sharex=True)
    for ax, au in zip(np.atleast_1d(axes), aus):
        y = labels[f"AU{au:02d}"].to_numpy()
        ax.plot(cont[:, AUS.index(au)], lw=1, color="0.6", label="continuous (rendered)")
        ax.step(np.arange(len(y)), y, where="mid", lw=1.2, label="label 0-5")
        k = keyframes(y)
        ax.plot(k, y[k], "o", ms=3, color="C3", label="keyframes")
        ax.set_ylabel(f"AU{au}")
        ax.set_ylim(-0.3, 5.5)
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=7, ncol=3)
    np.atleast_1d(axes)[-1].set_xlabel(f"frame of {dataset} {key}")
    fig.tight_layout()
    return fig


def explorer(subject: Subject | None = None):
    """ipywidgets UI: one slider per AU (FACS name and region as the label) and a roll slider, each
    re-rendering when released (a render takes 0.2-1.6 s: a drag would queue one per step)."""
    import ipywidgets as w
    subject = subject or demo_subject()
    image = w.Image(format="png", width=320)
    note = w.Label()   # why the face did not change, when it did not
    sliders = {au: w.FloatSlider(0.0, min=0, max=5, step=0.25, description=f"AU{au}", continuous_update=False,
                                 tooltip=au_label(au), style={"description_width": "50px"}) for au in AUS}
    roll = w.FloatSlider(0.0, min=-8, max=8, step=0.5, description="roll", continuous_update=False,
                         tooltip="in-plane rotation, degrees", style={"description_width": "50px"})

    def redraw(_=None):
        import cv2
        x = np.array([sliders[au].value for au in AUS])
        bad = [f"{s.description} = {s.value}" for s in list(sliders.values()) + [roll] if not np.isfinite(s.value)]
        if bad:   # render() never returns on a NaN
            note.value = f"not rendered: {', '.join(bad)} is not a number"
            return
        img, _ = render(subject, x, Nuisance(angle=roll.value))
        image.value = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes()
        note.value = ""

    def shown(change):
        """A callback's error goes under the face (it went to the kernel log, the old face kept)."""
        try:
            redraw()
        except Exception as e:
            note.value = f"not rendered: {type(e).__name__}: {e}"

    for s in list(sliders.values()) + [roll]:
        s.observe(shown, names="value")
    redraw()
    rows = [w.HBox([sliders[au], w.Label(f"{AU_INFO[au].name}: {AU_INFO[au].region}")]) for au in AUS]
    return w.HBox([w.VBox([image, note]), w.VBox(rows + [roll])])


def _dataset(name: str, known: list[str]) -> str:
    """A dataset's name as meta.json writes it (lower case), or a refusal naming those it has."""
    if name.lower() not in known:
        raise ValueError(f"no dataset {name!r} in this SynthAU tree (it has {known})")
    return name.lower()


def read_meta(meta_or_root) -> dict:
    """A SynthAU tree's meta.json (a tree's root folder), or the dict itself when given one."""
    if isinstance(meta_or_root, dict):
        return meta_or_root
    return json.loads((Path(meta_or_root) / "meta.json").read_text())
