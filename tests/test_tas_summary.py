"""TAS metrics.json summary (the notebook's last cell, now reporting.summary_metrics / add_headline)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from aukit.methods.tas import reporting as R

AUS = ["AU06", "AU12"]


def run(seed, icc, mae, train_icc, train_mae):
    return {"icc_AU06": icc, "icc_AU12": icc + 0.1, "icc_avg": icc + 0.05, "mae_AU06": mae, "mae_AU12": mae + 0.2,
            "mae_avg": mae + 0.1, "train_icc_avg": train_icc, "train_mae_avg": train_mae, "train_loss": 1.0,
            "seed": seed, "flags": {}}


def results():
    hist = lambda *speeds: [{"images_per_s": s} for s in speeds]     # noqa: E731  one record per epoch
    return {"A1": {"runs": [run(0, 0.2, 0.8, 0.5, 0.4)], "history": [hist(5.0, 10.0)]},
            "A6": {"runs": [run(0, 0.4, 0.6, 0.7, 0.3), run(1, 0.6, 0.4, 0.9, 0.1)],
                   "history": [hist(1.0, 20.0), hist(2.0, 30.0)]}}


def test_summary_metrics_keys_order_and_values():
    """The same keys, in the same order, and the values the notebook's last cell computed inline."""
    data = SimpleNamespace(aus=AUS, seg_rows=np.zeros((7, 4), np.int64), keyframe_fraction=lambda: 0.25)
    res = results()
    t3 = pd.DataFrame({"ICC": [0.25, 0.55], "MAE": [0.9, 0.6]}, index=["A1", "A6"])
    per_au = {"icc_AU06": 0.5, "icc_AU12": 0.6, "mae_AU06": 0.5, "mae_AU12": 0.7}
    t0 = time.perf_counter() - 5.0
    const = {"zero_mae_avg": 0.3, "train_median_mae_avg": 0.4, "median_mae_avg": 1.2, "mae_avg": 1.5,
             "floor_mae_avg": 0.3, "floor_constant": "zero"}
    m = R.summary_metrics(data, res, "A6", per_au=per_au, const=const, t3=t3, t_start=t0)
    assert list(m)[:19] == ["icc_avg", "mae_avg", *per_au, "floor_mae_avg", "floor_constant", "const_zero_mae_avg",
                            "const_train_median_mae_avg", "const_median_mae_avg", "const_mae_avg", "train_icc_avg",
                            "train_mae_avg", "n_segments", "keyframe_fraction", "t3_order_icc", "t3_A1_icc_avg",
                            "t3_A1_icc_avg_std"]
    assert list(m)[-2:] == ["images_per_s", "wall_time_s"]
    assert m["icc_avg"] == pytest.approx(0.55) and m["mae_avg"] == pytest.approx(0.6)     # A6's mean over seeds
    assert m["train_icc_avg"] == pytest.approx(0.8) and m["train_mae_avg"] == pytest.approx(0.2)
    assert (m["n_segments"], m["keyframe_fraction"], m["const_median_mae_avg"]) == (7, 0.25, 1.2)
    assert (m["floor_mae_avg"], m["floor_constant"], m["const_zero_mae_avg"], m["const_mae_avg"]) == (0.3, "zero", 0.3,
                                                                                                      1.5)
    assert m["t3_order_icc"] == "A6 (0.550) > A1 (0.250)"
    assert m["t3_A6_icc_avg"] == pytest.approx(0.55)
    assert m["t3_A6_icc_avg_std"] == pytest.approx(np.std([0.45, 0.65], ddof=1))
    assert m["images_per_s"] == pytest.approx(20.0)                 # last epochs 10, 20, 30: every variant and seed
    assert 5.0 <= m["wall_time_s"] < 60.0
    assert all(isinstance(m[k], float) for k in ("icc_avg", "mae_avg", "images_per_s", "wall_time_s"))


@pytest.mark.parametrize("dataset, bench", [("synthau-disfa", "disfa"), ("bp4d", "bp4d"), ("synthau-bp4d", "bp4d")])
def test_add_headline_names_the_papers_table1_row(dataset, bench):
    calls = []
    report = SimpleNamespace(headline=lambda *keys: calls.append(("headline", keys)),
                             add_reference=lambda *args: calls.append(("reference", args)))
    R.add_headline(report, dataset)
    assert calls == [("headline", ("icc_avg", "mae_avg", "floor_mae_avg", "floor_constant")),
                     ("reference", ("icc_avg", "tas", f"table1_{bench}_icc", "Ours")),
                     ("reference", ("mae_avg", "tas", f"table1_{bench}_mae", "Ours"))]
