"""TAS figures built from tiny hand-made results (no training): Fig. 3 shows a sequence whose label moves."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from aukit import viz
from aukit.methods.tas import experiment as E
from aukit.methods.tas import reporting as R

AUS = ["AU06", "AU12"]


def _fig3_inputs(labels_by_seq: dict):
    """A TASData stand-in and A1 / A2 results over sequences ``{(subject, sequence): (T, 2) labels}``."""
    idx = pd.concat([pd.DataFrame({"subject": s, "sequence": q, "frame": np.arange(len(y))})
                     for (s, q), y in labels_by_seq.items()], ignore_index=True)
    label = np.concatenate([np.asarray(y, float) for y in labels_by_seq.values()])
    data = SimpleNamespace(aus=AUS, store=SimpleNamespace(index=idx))
    ev = {"rows": np.arange(len(idx)), "label": label}
    results = {n: {"eval": {**ev, "pred": label + 0.3 * (k + 1)}} for k, n in enumerate(("A1", "A2"))}
    return data, results


def _ramp(t, top):
    return np.linspace(0, top, t)


def test_fig3_shows_the_test_sequence_and_au_whose_label_varies_most():
    """The first test sequence (F002 T1) had AU12 flat at 0: the figure showed two flat lines and 'ICC 0.00'.
    The sequence and AU with the largest label variance are shown, named in the title with the reason."""
    flat = np.zeros((8, 2))
    small = np.stack([_ramp(8, 1.0), np.zeros(8)], 1)       # AU06 moves a little
    big = np.stack([np.zeros(8), _ramp(8, 4.0)], 1)          # AU12 of M003 T2 moves most
    data, results = _fig3_inputs({("F002", "T1"): flat, ("F002", "T2"): small, ("M003", "T1"): flat,
                                  ("M003", "T2"): big})
    pick = E.varying_sequence(data, results["A1"]["eval"])
    assert (pick["subject"], pick["sequence"], pick["au"]) == ("M003", "T2", "AU12")
    assert (pick["lo"], pick["hi"]) == (0.0, 4.0)
    labels, _, where = E.sequence_curves(data, {"A1": results["A1"]["eval"]}, "AU06")   # one AU given: its sequence
    assert where == ("F002", "T2") and np.ptp(labels) == 1.0
    fig = R.curves_figure(data, results, names=("A1", "A2"))
    title = fig._suptitle.get_text()
    assert "AU12" in title and "M003" in title and "T2" in title and "varies most" in title
    assert [ax.get_ylabel() for ax in fig.axes] == ["AU12", "AU12"]
    assert np.ptp(fig.axes[0].get_lines()[0].get_ydata()) == 4.0          # the label curve drawn is the moving one
    assert "A2 (ICC 1.00)" in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]


def test_fig3_ties_go_to_the_first_name_and_a_flat_label_is_said_to_be_constant():
    ramp = np.stack([_ramp(6, 2.0), _ramp(6, 2.0)], 1)
    data, results = _fig3_inputs({("M001", "T1"): ramp, ("F001", "T2"): ramp, ("F001", "T1"): ramp})
    pick = E.varying_sequence(data, results["A1"]["eval"])
    assert (pick["subject"], pick["sequence"], pick["au"]) == ("F001", "T1", "AU06")
    data, results = _fig3_inputs({("F002", "T1"): np.zeros((6, 2)), ("F005", "T1"): np.ones((6, 2))})
    fig = R.curves_figure(data, results, names=("A1",), au="AU12")
    assert "constant label" in fig._suptitle.get_text() and "varies most" not in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["label", "A1 (constant label)"]                      # not 'ICC 0.00' as if measured


def test_intensity_curves_name_a_constant_label_instead_of_an_icc():
    lab = np.zeros(10)
    fig = viz.intensity_curves(lab, {"m": np.linspace(0, 1, 10), "flat": np.full(10, 0.6)}, aus=["AU12"])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == \
        ["label", "m (constant label)", "flat (constant label)"]
    fig = viz.intensity_curves(np.linspace(0, 3, 10), {"flat": np.full(10, 0.6)}, aus=["AU12"])
    assert fig.axes[0].get_legend().get_texts()[1].get_text() == "flat (ICC 0.00: constant prediction)"


def _on_top(ax) -> set:
    """The colours that show: at each point position, the colour of the point drawn last there."""
    top = {}
    for coll in ax.collections:                      # drawn in the order they were added
        cols = coll.get_facecolor()
        for k, xy in enumerate(coll.get_offsets()):
            top[tuple(np.round(xy, 6))] = tuple(np.round(cols[k % len(cols)][:3], 3))
    return set(top.values())


def test_fig6_shows_every_au_where_their_features_coincide(monkeypatch):
    """A1's five AU features of a frame nearly coincide: drawn AU after AU, the last two AUs covered the others
    (two of five colours showed). Points are drawn see-through in a shuffled order, with a legend entry each."""
    from aukit.viz import tsne
    aus = ["AU06", "AU10", "AU12", "AU14", "AU17"]
    n = 30
    idx = pd.DataFrame({"subject": "F002", "sequence": "T1", "frame": np.arange(n)})
    data = SimpleNamespace(aus=aus, n_aus=5, store=SimpleNamespace(index=idx))
    frame = np.random.default_rng(0).normal(size=(n, 1, 4))
    ev = {"rows": np.arange(n), "features": np.repeat(frame, 5, axis=1)}    # every AU of a frame at one point
    monkeypatch.setattr(tsne, "embed_tsne", lambda x, **kw: np.asarray(x)[:, :2])
    fig = R.tsne_subject_figure(data, {"A1": {"eval": ev}, "A6": {"eval": ev}})
    colours = {tuple(np.round(c[:3], 3)) for c in tsne._category_colours(aus).values()}
    for ax in fig.axes:
        assert _on_top(ax) == colours                                       # all five AUs show
        assert [t.get_text() for t in ax.get_legend().get_texts()] == aus
        assert all(c.get_alpha() is None or c.get_alpha() < 1 for c in ax.collections)
