"""aukit.viz.explore in widget mode, driven without a front end: set the widgets' values and
read what the callback drew (the figures handed to IPython's display) or wrote to the output area."""
import importlib

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("ipywidgets")

EX = importlib.import_module("aukit.viz.explore")  # the module; aukit.viz.explore is the function

AUS = ["AU01", "AU06", "AU12"]
# subject A: T1 (30 frames), T2 (10); subject B: T1 (5), T3 (50): T1 is in both, as on BP4D and SynthAU
PARTS = [("A", "T1", 30), ("A", "T2", 10), ("B", "T1", 5), ("B", "T3", 50)]


@pytest.fixture
def run():
    rng = np.random.default_rng(0)
    index = pd.DataFrame([(s, q, f) for s, q, n in PARTS for f in range(n)], columns=["subject", "sequence", "frame"])
    n = len(index)
    faces = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 6, (n, 3)).astype(float)
    return faces, index, labels, rng.random((n, 3)) * 5, rng.random((n, 3, 4, 4)).astype(np.float32)


@pytest.fixture
def drawn(monkeypatch):
    """The figures explore() displays, in order."""
    import IPython.display
    figs = []
    monkeypatch.setattr(IPython.display, "display", lambda fig, **k: figs.append(fig))
    return figs


def open_explorer(run, **selection):
    faces, index, labels, preds, heatmaps = run
    return EX.explore(faces, index, labels, preds, AUS, heatmaps, static=False, **selection)


def widgets(ui):
    (subj, seq, au), pos = ui.children[0].children, ui.children[1]
    return subj, seq, au, pos, ui.children[-1]


def title(fig):
    return fig.axes[0].get_title()


def test_subject_change_keeping_the_sequence_name_redraws_and_resets_the_range(run, drawn):
    ui = open_explorer(run)
    subj, seq, _, pos, _ = widgets(ui)
    assert (subj.value, seq.value, pos.max) == ("A", "T1", 29)
    pos.value = 29
    n = len(drawn)
    subj.value = "B"                       # B has a T1 too (5 frames): the dropdown's value does not change
    assert len(drawn) == n + 1, "one redraw"
    assert (seq.value, pos.max, pos.value) == ("T1", 4, 4)
    assert title(drawn[-1]) == "B T1 frame 4"
    seq.value = "T3"
    assert pos.max == 49 and title(drawn[-1]).startswith("B T3 ")
    subj.value = "A"                       # A has no T3: its first sequence
    assert (seq.value, pos.max) == ("T1", 29) and title(drawn[-1]).startswith("A T1 ")


def test_widgets_open_on_the_selection_given_as_the_static_view_does(run, drawn):
    faces, index, labels, preds, heatmaps = run
    sel = dict(subject="B", sequence="T3", au="AU12", position=20)
    subj, seq, au, pos, _ = widgets(open_explorer(run, **sel))
    assert (subj.value, seq.value, au.value, pos.value, pos.max) == ("B", "T3", "AU12", 20, 49)
    static = EX.explore(faces, index, labels, preds, AUS, heatmaps, static=True, **sel)
    assert title(drawn[-1]) == title(static) == "B T3 frame 20"
    # no position: both open on the AU's peak label
    _, _, _, pos, _ = widgets(open_explorer(run, subject="B", sequence="T3", au="AU06"))
    static = EX.explore(faces, index, labels, preds, AUS, heatmaps, static=True, subject="B", sequence="T3", au="AU06")
    assert title(drawn[-1]) == title(static) == f"B T3 frame {pos.value}"


def test_a_bad_first_selection_is_refused_as_in_the_static_view(run, drawn):
    for static in (True, False):
        faces, index, labels, preds, heatmaps = run
        with pytest.raises(ValueError, match=r"subject 'Z' is not in the index \(it has \['A', 'B'\]\)"):
            EX.explore(faces, index, labels, preds, AUS, static=static, subject="Z")
        with pytest.raises(ValueError, match=r"subject 'B' has no sequence 'T2' \(it has \['T1', 'T3'\]\)"):
            EX.explore(faces, index, labels, preds, AUS, static=static, subject="B", sequence="T2")


class CountedReads:
    """Heatmaps that count the values read through them."""

    def __init__(self, a):
        self.a, self.read = a, 0

    def __len__(self):
        return len(self.a)

    def __getitem__(self, i):
        r = self.a[i]
        self.read += r.size
        return r


def test_the_heatmap_scale_is_read_once_per_sequence_not_on_every_redraw(run, drawn):
    faces, index, labels, preds, heatmaps = run
    counted = CountedReads(heatmaps)
    ui = EX.explore(faces, index, labels, preds, AUS, counted, static=False, subject="B", sequence="T3")
    subj, seq, au, pos, _ = widgets(ui)
    frame, t3 = heatmaps[0].size, heatmaps[(index.subject == "B").to_numpy() & (index.sequence == "T3").to_numpy()]
    assert counted.read == len(t3) * frame + frame          # the sequence once for its top, then the frame drawn
    overlay = drawn[-1].axes[1].images[-1]
    assert overlay.get_clim() == (0.0, pytest.approx(float(t3.max())))
    read = counted.read
    for v in (3, 10, 49):
        pos.value = v
    au.value = "AU12"
    assert counted.read - read == 4 * frame                  # each redraw reads its own frame only
    seq.value = "T1"
    seq.value = "T3"
    assert counted.read - read == 4 * frame + 5 * frame + 2 * frame   # B/T1's 5 frames once, T3 from the cache
    assert drawn[-1].axes[1].images[-1].get_clim()[1] == pytest.approx(float(t3.max()))


def shown_text(out):
    return "".join(o.get("text", "") for o in out.outputs)


def test_a_callback_error_replaces_the_figure_with_its_message(run, drawn, monkeypatch):
    ui = open_explorer(run)
    subj, seq, au, pos, out = widgets(ui)
    subj.value = "B"
    n = len(drawn)
    seq.value = None                        # a front end can send an empty choice
    assert len(drawn) == n and shown_text(out) == (
        "aukit.viz.explore cannot show this view: ValueError: subject 'B' has no sequence None (it has ['T1', 'T3'])\n")
    seq.value = "T3"                        # the widgets still work
    assert len(drawn) == n + 1 and title(drawn[-1]).startswith("B T3 ")

    def broken(*a, **k):
        raise RuntimeError("heatmap of the wrong shape")
    monkeypatch.setattr(EX, "_overlay", broken)
    pos.value = 7
    assert len(drawn) == n + 1
    assert shown_text(out) == "aukit.viz.explore cannot show this view: RuntimeError: heatmap of the wrong shape\n"


def test_the_static_view_takes_a_models_outputs_as_tensors_that_require_grad(run):
    """explore_figure read labels, predictions and heatmaps with np.asarray: a model's outputs (tensors
    requiring grad) raised "Can't call numpy() on Tensor that requires grad", as intensity_curves did."""
    import torch
    from aukit import viz
    faces, index, labels, preds, maps = run
    want = viz.explore_figure(faces, index, labels, preds, AUS, maps)
    got = viz.explore_figure(faces, index, torch.tensor(labels), torch.tensor(preds, requires_grad=True), AUS,
                             torch.tensor(maps, requires_grad=True))
    assert [ax.get_title() for ax in got.axes] == [ax.get_title() for ax in want.axes]
    np.testing.assert_allclose(got.axes[2].lines[1].get_ydata(), want.axes[2].lines[1].get_ydata(), rtol=1e-6)
