"""RTATL experiment plumbing without training: the resolved config run.yaml records."""
from __future__ import annotations

import dataclasses

import pytest

from aukit.methods.rtatl import experiment as E
from aukit.methods.rtatl.config import RTATLModelConfig, RTATLTrainConfig


def test_resolved_config_holds_the_method_dataclasses_of_every_row():
    """run.yaml's config: RTATL's dataclasses (mask_prob, pseudo_threshold, roi_channels, d_model ...) as
    trained, beside the experiment's knobs; each Table 1 / Fig. 4 row named by the fields it changes."""
    ecfg = E.preset_config("full", variants=("Backbone^G", "Jigsaw", "RTATL"), sweep_methods=("Rotation",))
    conf = E.resolved_config(ecfg, 200)
    assert conf["experiment"] == dataclasses.asdict(ecfg)
    assert set(conf["model"]) == {f.name for f in dataclasses.fields(RTATLModelConfig)}
    assert set(conf["train"]) == {f.name for f in dataclasses.fields(RTATLTrainConfig)}
    assert conf["model"]["roi_channels"] == 128 and conf["model"]["d_model"] == 128
    assert conf["train"]["mask_prob"] == 0.5 and conf["train"]["crop_size"] == 192
    assert conf["variants"] == {
        "Backbone^G": {"model": {"relation": "gcn"}, "train": {"roii": False, "ofe": False}},
        "Jigsaw": {"model": {"roi": False, "relation": "none"}, "train": {"roii": False, "ofe": False, "jigsaw": True}},
        "RTATL": {"model": {}, "train": {}},
        "Rotation": {"model": {}, "train": {"roii": False, "ofe": False, "rotation": True}}}
    no_sweep = E.resolved_config(dataclasses.replace(ecfg, sweep_subjects=()), 100)
    assert list(no_sweep["variants"]) == ["Backbone^G", "Jigsaw", "RTATL"] and no_sweep["train"]["image_size"] == 100


def test_the_label_sweep_trains_in_the_experiment_and_the_figure_only_plots(monkeypatch):
    """Fig. 4's 15+ models were trained inside figures.py: the loop is experiment.label_sweep, returning
    arrays; figures.label_sweep_figure draws them; FLOP counting left figures too (efficiency.py)."""
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from aukit.methods.rtatl import efficiency, figures

    assert not hasattr(figures, "label_sweep") and not hasattr(figures, "efficiency")
    assert callable(efficiency.efficiency)
    data = SimpleNamespace(store=SimpleNamespace(index=pd.DataFrame({"subject": list("aabbcc")})),
                           train_rows=np.arange(6))
    trained = []

    def fake_load(*a, labelled_subjects=None, seed=0, **kw):
        return SimpleNamespace(n=labelled_subjects, test_rows=np.arange(2), labels=np.zeros((2, 1)))

    def fake_train(ecfg, variant, sub, seed, device, out_dir=None):
        trained.append((variant, sub.n, seed))
        return SimpleNamespace(score=(0.1 if variant == "RTATL" else 0.2) * (sub.n or 3) + 0.01 * seed), []

    monkeypatch.setattr(E, "load_data", fake_load)
    monkeypatch.setattr(E, "train_variant", fake_train)
    monkeypatch.setattr(E, "predict_rows", lambda net, sub, rows, device: net.score)
    monkeypatch.setattr(E, "f1_scores", lambda probs, labels, aus: {   # Rotation's seed 0 never predicts AU02
        "avg": probs, "flags": {"AU02": "never_predicted"} if trained[-1][0] == "Rotation" and trained[-1][2] == 0
        else {}})
    ecfg = E.preset_config("smoke", sweep_subjects=(1, 2, 5), sweep_methods=("RTATL", "Rotation"), sweep_seeds=(0, 1))
    out = E.label_sweep(ecfg, data, "cpu")
    assert out["counts"] == [1, 2, 3]                                    # 5 > the 3 present: all present instead
    assert len(trained) == 3 * 2 * 2 and ("RTATL", None, 1) in trained  # None: every subject
    assert np.allclose(out["means"]["RTATL"], [10.5, 20.5, 30.5])
    assert np.allclose(out["stds"]["Rotation"], [100 * np.std([0.2, 0.21], ddof=1)] * 3)
    assert out["metrics"] == pytest.approx({f"sweep_{m.lower()}_{k}": v / 100 for m in ("RTATL", "Rotation")
                                            for k, v in zip(out["counts"], out["means"][m])})
    once = {"AU02": "never_predicted in 1 of 2 seeds"}
    assert out["flags"] == {**{f"RTATL {k} subjects": {} for k in (1, 2, 3)},      # every point, for the note
                            **{f"Rotation {k} subjects": once for k in (1, 2, 3)}}
    fig = figures.label_sweep_figure(out["counts"], out["means"], out["stds"], "synthau-bp4d", 1)
    assert isinstance(fig, Figure)
