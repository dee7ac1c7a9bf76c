"""TAS Table 4 settings (S1, S2, S3) and the Fig. 5 lambda sweep, at smoke scale on tiny SynthAU:
the full preset's extra runs train, evaluate and draw (they are not part of the quick preset)."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.notebooks


def test_table4_settings_and_lambda_sweep(synthau_tiny, tmp_path):
    import matplotlib.pyplot as plt

    from aukit.methods.tas import TASConfig, TASModelConfig, TASTrainConfig, ablation_config
    from aukit.methods.tas import experiment as E, reporting as R
    from aukit.methods.tas.data import load_data, segment_batches
    from aukit.report import Report

    data = load_data("synthau-bp4d", fold=1, T=4)
    cfg = TASConfig(model=TASModelConfig(depth=18, attention_hidden=4, mlp_hidden=8),
                    train=TASTrainConfig(T=4, batch_size=2, label_fraction=0.5))
    opts = E.RunOptions(device="cpu", size=32, epochs=1, max_steps=2, eval_stride=4)

    # what each setting labels: keyframe/S2 two entries per segment (its AU), S1 every frame and AU
    def labelled(setting):
        b = next(iter(segment_batches(data, setting, batch_size=2, seed=0, size=32, label_fraction=0.5)))
        return b["target"]
    t_key, t_s1, t_s2, t_s3 = (labelled(s) for s in ("keyframe", "S1", "S2", "S3"))
    assert [int(np.isfinite(t.numpy()).sum(axis=(1, 2))[0]) for t in (t_key, t_s2)] == [2, 2]
    assert np.isfinite(t_s1.numpy()).mean() > 0.9 and t_s3.ndim == 2

    a1, a4, a6 = (ablation_config(k, cfg) for k in ("A1", "A4", "A6"))
    settings = {"S1 Baseline": (a1, "S1"), "S2 + L_all": (a6, "S2"), "S3 + L_sub": (a4, "S3")}
    t4 = E.run_variants(data, settings, [0], opts)
    report = Report("tas", folder=tmp_path / "tas", dataset="synthau-bp4d", preset="smoke", seeds=[0], device="cpu")
    table = R.add_overall_table(report, "table4", data, t4, title="Table 4")
    assert list(table.index[:3]) == list(settings) and np.isfinite(table.loc[list(settings)].to_numpy(float)).all()

    base = E.run_variants(data, {"A1": (a1, "keyframe")}, [0], opts)
    sweep = E.lambda_sweep(data, a6, {"lambda_rank": [0.05, 0.2], "lambda_sub": [0.001, 0.01]}, [0], opts)
    assert list(sweep["lambda_rank"]) == ["lambda_rank=0.05", "lambda_rank=0.2"]
    cfgs = [r["config"]["loss"]["lambda_rank"] for r in sweep["lambda_rank"].values()]
    assert cfgs == [0.05, 0.2]                                   # each run varies one lambda, the others stay
    assert all(r["config"]["loss"]["lambda_spd"] == a6.loss.lambda_spd for r in sweep["lambda_sub"].values())
    figs = R.sweep_figures(sweep, data, base)
    assert set(figs) == {f"fig5_{lam}_{m}" for lam in ("lambda_rank", "lambda_sub") for m in ("icc", "mae")}
    for fig in figs.values():
        assert fig.axes
        plt.close(fig)


def test_runs_scored_on_their_training_subjects(synthau_tiny):
    """train_eval adds each seed's fit to its own training subjects (the semi-supervised frames it never saw
    labelled), the same numbers evaluate() gives on those rows, and flat_summary carries their mean and std."""
    import dataclasses

    from aukit.methods.tas import TASConfig, TASModelConfig, TASTrainConfig, ablation_config
    from aukit.methods.tas import experiment as E
    from aukit.methods.tas.data import load_data

    data = load_data("synthau-bp4d", fold=1, T=4)
    cfg = ablation_config("A1", TASConfig(model=TASModelConfig(depth=18, attention_hidden=4, mlp_hidden=8),
                                          train=TASTrainConfig(T=4, batch_size=2)))
    opts = E.RunOptions(device="cpu", size=32, epochs=1, max_steps=2, eval_stride=4)
    plain = E.run_variants(data, {"A1": (cfg, "keyframe")}, [0], opts)
    assert "train_icc_avg" not in plain["A1"]["runs"][0] and "A1_train_icc_avg" not in E.flat_summary(plain)

    res = E.run_variants(data, {"A1": (cfg, "keyframe")}, [0, 1], dataclasses.replace(opts, train_eval=True),
                         keep=["A1"])
    train_rows = E.eval_rows(data, 4, "train")
    assert not set(train_rows) & set(data.test_rows)
    direct = E.evaluate(res["A1"]["model"], data, opts, rows=train_rows)["metrics"]
    last = res["A1"]["runs"][-1]
    assert last["train_icc_avg"] == pytest.approx(direct["icc_avg"], abs=1e-6)
    assert last["train_mae_avg"] == pytest.approx(direct["mae_avg"], abs=1e-6)
    flat = E.flat_summary(res)
    values = [r["train_mae_avg"] for r in res["A1"]["runs"]]
    assert flat["A1_train_mae_avg"] == pytest.approx(np.mean(values))
    assert flat["A1_train_mae_avg_std"] == pytest.approx(np.std(values, ddof=1))


def test_table1_notes_the_constant_predictions_behind_its_zeros(tmp_path):
    """aukit train wrote flags icc_AU06: constant_prediction; the notebook's Table 1 showed 0.00 unexplained."""
    from types import SimpleNamespace
    from aukit.methods.tas import reporting as R
    from aukit.report import Report
    aus = ["AU01", "AU06"]

    def run(seed, flagged):
        flat = {"icc_AU01": 0.4, "icc_AU06": 0.0 if flagged else 0.3, "icc_avg": 0.2, "mae_AU01": 0.5,
                "mae_AU06": 0.6, "mae_avg": 0.55}
        return {**flat, "seed": seed, "flags": {"icc_AU06": "constant_prediction"} if flagged else {}}
    results = {"A6": {"runs": [run(0, True), run(1, True), run(2, False)]}}
    rep = Report("tas", folder=tmp_path, dataset="synthau-bp4d", preset="quick", seeds=[0, 1, 2], device="cpu")
    R.add_table1(rep, SimpleNamespace(dataset="synthau-bp4d", aus=aus, aus_dropped={}), results)
    icc = (tmp_path / "tables/table1_icc.md").read_text()
    assert "- ‡ AU06: the prediction is constant (ICC = 0) in 2 of 3 seeds, the model's score, counted in Avg." in icc
    assert "prediction is constant" not in (tmp_path / "tables/table1_mae.md").read_text()
