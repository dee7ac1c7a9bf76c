"""Experiment plumbing: presets, notebook parameters, shared runs, scores and constant baselines."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aukit.methods.scc import experiment as X
from aukit.methods.scc.data import SCCData, dataset_aus


def test_presets_and_paper_defaults():
    full = X.preset_config("full")
    assert (full.depth, full.input_size, full.batch_size, full.lr, full.epochs) == (50, 256, 32, 5e-4, 15)
    assert full.k == 7 and X.preset_config("full", dataset="synthau-bp4d").k == 5   # None: K_BY_DATASET, filled
    assert set(full.tables) == {"table1", "table2", "table3", "fig6"}
    quick = X.preset_config("quick")
    assert quick.depth == 18 and quick.seeds == (0,) and quick.lr == 5e-4
    with pytest.raises(ValueError):
        X.preset_config("medium")


def test_notebook_config_keeps_preset_values_for_empty_parameters():
    common = dict(dataset="synthau-disfa", fold=2, fera=True, preset="quick", seeds=[], epochs=0, tables=[],
                  out_dir="x", device="", lr=5e-4, batch_size=32, k=0, sigma=2.0)
    c = X.notebook_config(smoke=False, **common)
    assert c.preset == "quick" and c.seeds == (0,) and c.fold == 2 and c.k == 7
    c = X.notebook_config(smoke=False, **{**common, "seeds": [0, 1, 2], "tables": ["table2"], "k": 5, "epochs": 3})
    assert c.seeds == (0, 1, 2) and c.tables == ("table2",) and c.k == 5 and c.epochs == 3
    with pytest.raises(ValueError, match="SCC has no table 'Table2'; its tables: table1, table2, table3, fig6"):
        X.notebook_config(smoke=False, **{**common, "tables": ["Table2"]})       # ran Table 1 alone, silently
    s = X.notebook_config(smoke=True, **{**common, "batch_size": 0})
    assert s.preset == "smoke" and s.seeds == (0,) and s.batch_size == 8 and s.steps_per_epoch == 3
    s = X.notebook_config(smoke=True, **{**common, "seeds": [3], "steps": 2, "batch_size": 4})
    assert s.seeds == (3,) and s.steps_per_epoch == 2 and s.batch_size == 4   # smoke ran seed 0 whatever was given
    assert c.steps_per_epoch == 30                                           # -1: the preset's cap
    assert X.notebook_config(smoke=False, **{**common, "steps": 4}).steps_per_epoch == 4
    full = {**common, "preset": "full"}
    assert X.notebook_config(smoke=False, **full).steps_per_epoch is None
    assert X.notebook_config(smoke=False, **{**full, "steps": 2}).steps_per_epoch == 2
    assert X.notebook_config(smoke=False, **{**common, "steps": 0}).steps_per_epoch is None   # 0: no cap
    assert X.notebook_config(smoke=True, **{**common, "steps": 50}).steps_per_epoch == 50    # given: used in smoke too
    assert c.weights is None                                                 # "": random init
    w = X.notebook_config(smoke=False, **{**common, "weights": "/data/r18.pth"})
    assert w.weights == "/data/r18.pth" and X.configs(w, {})[0].backbone_weights == "/data/r18.pth"


def test_equal_settings_share_one_run():
    r = X.Runner(X.preset_config("full"), data=None, device="cpu")
    assert r.key(X.TABLE1["SCC-Heatmap (Ours)"]) == r.key(X.TABLE2["a"]) == r.key(X.TABLE3["e"]) == r.key({"k": 7})
    assert r.key(X.TABLE1["ResNet-Deconv"]) == r.key(X.TABLE2["b"])
    assert r.key(X.TABLE2["c"]) != r.key(X.TABLE2["a"])
    mc, tc = X.configs(X.preset_config("full"), X.TABLE2["d"])
    assert (mc.deconv_layers, mc.use_scc, mc.heatmap_size, mc.n_points) == (2, False, 32, 24)


def test_scores_and_constant_baselines():
    aus = ("AU01", "AU02")
    label = np.array([[0, 1], [2, 3], [4, 5], [0, 0]], np.float32)
    s = X.scores(label.copy(), label, aus)
    assert s["icc_avg"] == pytest.approx(1.0) and s["mae_avg"] == 0.0 and set(s) >= {"icc_AU01", "mae_AU02"}
    # pred = 2 * label: ICC(3,1) with k = 2 is 2 s_xy / (s_x^2 + s_y^2) = 2 * 2 / (1 + 4) = 0.8 (Pearson would
    # say 1); MAE = mean |label|: AU01 (0+2+4+0)/4 = 1.5, AU02 (1+3+5+0)/4 = 2.25
    s = X.scores(2 * label, label, aus)
    assert [s["icc_AU01"], s["icc_AU02"], s["icc_avg"]] == pytest.approx([0.8, 0.8, 0.8], abs=1e-6)
    assert [s["mae_AU01"], s["mae_AU02"], s["mae_avg"]] == pytest.approx([1.5, 2.25, 1.875], abs=1e-6)
    inten = np.array([[0, 0], [0, 0], [3, 0], [1, 2], [2, 2]], np.float32)
    data = SCCData(store=None, aus=aus, intensity=inten, centres=None, train_rows=np.array([0, 1, 2]),
                   test_rows=np.array([3, 4]))
    c = X.constant_scores(data)
    # training mean (1, 0) and median (0, 0) against test labels (1, 2), (2, 2)
    assert c["mean"]["mae_AU01"] == pytest.approx(0.5) and c["mean"]["mae_AU02"] == pytest.approx(2.0)
    assert c["median"]["mae_AU01"] == pytest.approx(1.5) and c["median"]["icc_avg"] == 0.0


def test_dataset_aus():
    assert len(dataset_aus("synthau-disfa")) == 12 and dataset_aus("bp4d") == ("AU06", "AU10", "AU12", "AU14", "AU17")
    with pytest.raises(ValueError):
        dataset_aus("affwild2")


def test_a_constant_prediction_is_named_under_table_1(monkeypatch):
    """SCC's scores dropped the metrics' flags: an AU predicted constant showed ICC 0.00 with no note."""
    aus = ("AU01", "AU02")
    label = np.array([[0, 1], [2, 3], [4, 5], [0, 0]], np.float32)
    data = SCCData(store=None, aus=aus, intensity=label, centres=None, train_rows=np.arange(4), test_rows=np.arange(4))
    ecfg = X.preset_config("quick", dataset="synthau-disfa")
    ecfg = dataclasses.replace(ecfg, seeds=(0, 1))
    r = X.Runner(ecfg, data, "cpu")

    class Fake:
        history = [{"train_loss": 1.0, "images_per_s": 1.0}]

        def eval(self):
            return self
    pred = {0: np.c_[np.full(4, 2.0), label[:, 1]], 1: label.copy()}      # seed 0 predicts AU01 constant
    monkeypatch.setattr(r, "train", lambda over, seed: (setattr(Fake, "seed", seed), Fake())[1])
    monkeypatch.setattr(r, "predict", lambda model, rows: {"pred": pred[Fake.seed], "label": label})
    r.over_seeds({})
    assert r.seed_flags({}, "icc") == {"AU01": "constant_prediction in 1 of 2 seeds"}
    assert r.seed_flags({}, "mae") == {}


def test_resolved_config_holds_the_method_dataclasses_of_every_setting():
    """run.yaml's config: the SCC dataclasses (edge, edge_bn, include_self, eq1_normalised, lr_gamma ...)
    as trained, beside the experiment's knobs; each setting named by the model fields it changes."""
    from aukit.methods.scc.config import SCCModelConfig, SCCTrainConfig
    ecfg = X.preset_config("full", dataset="synthau-bp4d", k_values=(3,))
    conf = X.resolved_config(ecfg)
    assert conf["experiment"] == dataclasses.asdict(ecfg) and conf["experiment"]["k"] == 5
    assert set(conf["model"]) == {f.name for f in dataclasses.fields(SCCModelConfig)} and conf["model"]["k"] == 5
    assert set(conf["train"]) == {f.name for f in dataclasses.fields(SCCTrainConfig)}
    assert conf["settings"] == {"table1 ResNet-Deconv": {"use_scc": False}, "table1 SCC-Heatmap (Ours)": {},
                                "table2 a": {}, "table2 b": {"use_scc": False}, "table2 c": {"deconv_layers": 2},
                                "table2 d": {"deconv_layers": 2, "use_scc": False}, "table3 e": {},
                                "table3 f": {"edge": "pair"}, "table3 g": {"edge": "diff"}, "fig6 k=3": {"k": 3}}
    assert list(X.resolved_config(X.preset_config("quick"))["settings"]) == [f"table1 {n}" for n in X.TABLE1]
