"""Teaching helpers for notebooks/00_synthau.ipynb: AU sliders, galleries, intensity curves.

Figures are returned (matplotlib ``Figure``); the notebook decides where to save them.
:func:`explorer` needs a Jupyter front end; headless runs use the static figures.

Intensity: FACS itself scores an AU's intensity with the letters A (trace) to E (maximum), ordinal
bands of unequal width. BP4D and DISFA code them as numbers, 0 (absent) and 1-5 (= A-E), and so does
SynthAU, but it renders intensity linearly in [0, 5] and rounds it into equal-width bins
(:func:`facs_letter` names a value's band).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .aus import AU_INFO, AUS, region_mask
from .dynamics import quantize
from .face import SIZE, control_points, ruler_of
from .render import Nuisance, render
from .subjects import Subject, sample_subject


FACS_LETTERS = ("absent", "A", "B", "C", "D", "E")   # numeric label 0-5 -> FACS intensity
FACS_WORDS = ("absent", "trace", "slight", "marked or pronounced", "severe or extreme", "maximum")


def facs_letter(intensity: float) -> str:
    """The FACS intensity letter of a 0-5 value, rounded as SynthAU's labels are (half up):
    "absent" for 0, "A" (trace) for 1 ... "E" (maximum) for 5."""
    return FACS_LETTERS[int(quantize(intensity))]


def demo_subject(name: str = "F001", sex: str = "F", seed: int = 0) -> Subject:
    """The demo subject of the AU gallery and the explorer: an identity drawn on its own (name "F001",
    seed 0, no glasses). It is not the dataset's F001, which the generator draws from its own stream
    and looks different."""
    return sample_subject(name, sex, np.random.default_rng(seed), glasses_rate=0.0)


def au_label(au: int) -> str:
    """One line on an AU: number, FACS name, region, muscles (the explorer's tooltips)."""
    info = AU_INFO[au]
    return f"AU{au} {info.name} ({info.region}); muscles: {info.muscles}"


def region_spill(subject: Subject | None = None, intensity: float = 5.0, threshold: float = 8.0) -> dict[int, float]:
    """Per AU, the share of the pixels it changes (mean over RGB above ``threshold`` grey levels, the AU
    alone at ``intensity`` against the neutral face) that lie outside its region: the hull of its
    ``region_points`` before and after the move, dilated by 0.3 ruler, as the render tests take it.

    The warp is a smooth spline, so movement carries into the neighbouring skin (AU2's raised brow
    stretches the lateral lid skin below its brow region). Default subject: the demo subject."""
    subject = subject or demo_subject()
    img0, lm0 = render(subject, np.zeros(len(AUS)))
    pts0, margin = control_points(lm0.astype(np.float64)), 0.3 * ruler_of(lm0)
    out = {}
    for au in AUS:
        x = np.zeros(len(AUS))
        x[AUS.index(au)] = intensity
        img, lm = render(subject, x)
        changed = np.abs(img.astype(np.float32) - img0).mean(-1) > threshold
        inside = region_mask(au, pts0, SIZE, margin) | region_mask(au, control_points(lm.astype(np.float64)),
                                                                    SIZE, margin)
        out[au] = float((changed & ~inside).sum() / changed.sum()) if changed.any() else float("nan")
    return out


def au_gallery(subject: Subject | None = None, intensity: float = 5.0):
    """Figure: neutral face, then each AU alone at ``intensity``, titled with FACS names; the
    suptitle names the subject (default the demo subject) and the intensity with its FACS letter."""
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
    who = "demo subject" if subject == demo_subject() else f"subject {subject.name}"
    letter = facs_letter(intensity)
    fig.suptitle(f"{who}: each AU alone at intensity {intensity:g} ({letter})", fontsize=11)
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


def co_activity(labels, aus) -> tuple[int, int]:
    """How much the AUs ``aus`` act together in a sequence's labels (a DataFrame with AU01...):
    (how many of them are active, label >= 1, in a frame where another of them is active too;
    in how many frames at least two of them are active)."""
    on = np.stack([labels[f"AU{au:02d}"].to_numpy() >= 1 for au in aus], 1)
    together = on.sum(1) >= 2
    return int(on[together].any(0).sum()), int(together.sum())


def pick_sequence(root, dataset: str, aus) -> tuple[str, tuple[int, int]]:
    """The sequence of ``dataset`` where ``aus`` are most active together, and its
    :func:`co_activity`: the most AUs active alongside another, then the most frames with two or more
    active, then the first key in sorted order. Deterministic: it reads only the labels."""
    import pandas as pd
    root = Path(root)
    seqs = read_meta(root)["ground_truth"][dataset]
    scored = [(co_activity(pd.read_csv(root / seqs[k]["labels"]), aus), k) for k in sorted(seqs)]
    best = max(scored, key=lambda t: t[0])   # max keeps the first of equal scores: the first key
    return best[1], best[0]


def sequence_curves(root, dataset: str = "bp4d", key: str | None = None, aus=(1, 2, 6, 12, 25, 26)):
    """Figure: continuous intensities and integer labels of one sequence, keyframes marked.

    ``key`` as in meta.json's ground_truth, e.g. "F001_T1"; by default the sequence where ``aus`` are
    most active together (:func:`pick_sequence`), so that co-occurring AUs show as such. The title
    names the sequence and, when it was picked, why.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from aukit.data.sampling import keyframes
    root = Path(root)
    meta = read_meta(root)
    dataset = _dataset(dataset, sorted(meta["ground_truth"]))
    seqs = meta["ground_truth"][dataset]
    key = key or None   # "" (a notebook parameter left empty) picks as None does
    if key is not None and key not in seqs:
        keys = sorted(seqs)
        more = f" ... {len(keys)} in all" if len(keys) > 12 else ""
        raise ValueError(f"{dataset} has no sequence {key!r} (it has {keys[:12]}{more})")
    if not set(aus) <= set(AUS):
        raise ValueError(f"SynthAU renders AUs {list(AUS)}, not {sorted(set(aus) - set(AUS))}")
    names = ", ".join(f"AU{au}" for au in aus)
    if key is None:
        key, (n_co, frames) = pick_sequence(root, dataset, aus)
        title = (f"{dataset} {key}, picked of {len(seqs)} sequences as the one where {names} act most together\n"
                 f"({n_co} of them active alongside another; two or more active in {frames} frames)")
    else:
        title = f"{dataset} {key}"
    cont = np.load(root / seqs[key]["intensity"])
    labels = pd.read_csv(root / seqs[key]["labels"])
    fig, axes = plt.subplots(len(aus), 1, figsize=(11, 1.5 * len(aus) + 0.4), sharex=True)
    for ax, au in zip(np.atleast_1d(axes), aus):
        y = labels[f"AU{au:02d}"].to_numpy()
        ax.plot(cont[:, AUS.index(au)], lw=1, color="0.6", label="continuous (rendered)")
        ax.step(np.arange(len(y)), y, where="mid", lw=1.2, label="label 0-5")
        k = keyframes(y)
        ax.plot(k, y[k], "o", ms=3, color="C3", label="keyframes")
        ax.set_ylabel(f"AU{au}")
        ax.set_ylim(-0.3, 5.5)
        ax.set_yticks(range(6))
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=7, ncol=3)
    np.atleast_1d(axes)[-1].set_xlabel(f"frame of {dataset} {key}")
    fig.supylabel("intensity (0 absent, 1-5 = A-E)", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def explorer(subject: Subject | None = None):
    """ipywidgets UI: one slider per AU (FACS name and muscles as the label, region too in the tooltip),
    the FACS letter of its value beside it, and a roll slider; the face re-renders when a slider is
    released (a render takes 0.2-1.6 s: a drag would queue one per step). Default face: the demo subject."""
    import ipywidgets as w
    demo = subject is None or subject == demo_subject()
    subject = subject or demo_subject()
    image = w.Image(format="png", width=320)
    note = w.Label()   # why the face did not change, when it did not
    scale = "0 absent, 1-5 = FACS " + ", ".join(f"{a} {b}" for a, b in zip(FACS_LETTERS[1:], FACS_WORDS[1:]))
    sliders = {au: w.FloatSlider(0.0, min=0, max=5, step=0.25, description=f"AU{au}", continuous_update=False,
                                 tooltip=f"{au_label(au)}. Intensity {scale}",
                                 style={"description_width": "50px"}) for au in AUS}
    letters = {au: w.Label(facs_letter(0.0), layout=w.Layout(width="52px")) for au in AUS}
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

    def lettered(label):
        def update(change):
            """The FACS letter of the slider's rounded value ("" while it is not a number)."""
            label.value = facs_letter(change["new"]) if np.isfinite(change["new"]) else ""
        return update

    for au, s in sliders.items():
        s.observe(lettered(letters[au]), names="value")
    for s in list(sliders.values()) + [roll]:
        s.observe(shown, names="value")
    redraw()
    rows = [w.HBox([sliders[au], letters[au], w.Label(f"{AU_INFO[au].name} ({AU_INFO[au].muscles})",
                                                      tooltip=au_label(au))]) for au in AUS]
    who = "demo subject (not the dataset's F001)" if demo else f"subject {subject.name}"
    head = w.HTML(f"<b>{who}</b><br>intensity: {scale}")
    return w.HBox([w.VBox([image, note]), w.VBox([head] + rows + [roll])])


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
