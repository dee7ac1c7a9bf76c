"""A sweep over folds 1-3 puts the mean of its runs' tables beside the paper's 3-fold numbers."""
import json

import numpy as np
import pandas as pd
import pytest

from aukit import reported as R
from aukit import sweep
from aukit.data import splits
from aukit.report import Report

AUS = ["AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26"]


def _cell(folder, fold, seed, value, monkeypatch, dataset="disfa", preset="full", changed=None,
          weights="effnet_b1_imagenet.pth", partial=False):
    """One finished sweep cell of a PIAP-DF-like run on ``dataset`` ``fold``: F1 ``value`` + AU index."""
    monkeypatch.setattr(splits, "USED", {dataset: fold})
    monkeypatch.setattr(splits, "PARTIAL", [f"{dataset} fold {fold}: this copy lacks SN003"] if partial else [])
    monkeypatch.setenv("AUKIT_RUN_CHANGED", json.dumps(changed or {}))
    rep = Report("piap_df", folder=folder, dataset=dataset, preset=preset, seeds=[seed], device="cpu",
                 weights=weights)
    measured = pd.DataFrame([[value + i / 100 for i in range(len(AUS))]], index=["ours"], columns=AUS)
    measured["Avg"] = measured.mean(axis=1)
    rep.add_table("table2", measured, R.table("piap_df", "table2"), row_map={"ours": "PIAP"},
                  flags={"ours": {"AU26": "never_predicted"}} if seed == 1 else None)
    rep.add_metrics(f1_avg=float(measured["Avg"].iloc[0]))
    rep.write()
    (folder / "params.json").write_text(json.dumps({"fold": fold, "seeds": [seed]}))


def _sweep(tmp_path, monkeypatch, folds=(1, 2, 3), **kw):
    grid = {"fold": list(folds), "seeds": [[0], [1]]}
    for c in sweep.expand({}, grid, tmp_path):
        f, s = c.params["fold"], c.params["seeds"][0]
        _cell(c.folder, f, s, 0.1 * f + 0.02 * s, monkeypatch, **kw)
    sweep.aggregate(tmp_path, grid)
    long = pd.read_csv(tmp_path / "tables/table2.csv")
    return long, (tmp_path / "tables/table2.md").read_text()


def test_folds_1_to_3_on_the_papers_setup_get_difference_rows(tmp_path, monkeypatch):
    long, md = _sweep(tmp_path, monkeypatch)
    rows = long.set_index("kind")
    # fold f's runs: 0.1 f + 0.00 and + 0.02 (seeds) -> fold means 0.11, 0.21, 0.31 -> mean 0.21 (+ AU index / 100)
    # in the paper's unit: the runs' tables were written in % already
    assert rows.loc["measured", "AU01"] == pytest.approx(21.0)
    assert rows.loc["measured", "AU26"] == pytest.approx(28.0)
    assert rows.loc["measured_std", "AU01"] == pytest.approx(np.std([11, 21, 31], ddof=1))
    reported = R.table("piap_df", "table2").loc["PIAP"]
    diff = long[(long.kind == "difference")].iloc[0]
    assert diff["AU04"] == pytest.approx(23.0 - reported["AU04"])
    assert "mean of folds 1, 2, 3" in md and "6 runs" in md and "fold 2: 2" in md
    assert "ours AU26: 0 in 3 of 6 runs: no test frame predicted present (F1 = 0)." in md
    assert "reported (PIAP-DF, DISFA)" in md and "n/a" not in md
    assert "tables/table2.md" in (tmp_path / "aggregate.md").read_text()


def test_two_folds_or_a_quick_preset_get_no_difference_rows(tmp_path, monkeypatch):
    long, md = _sweep(tmp_path / "a", monkeypatch, folds=(1, 2))
    assert "difference" not in set(long.kind)
    assert "the paper reports the mean over folds 1, 2 and 3; these runs measured folds 1, 2" in md
    long, md = _sweep(tmp_path / "b", monkeypatch, preset="quick")
    assert "difference" not in set(long.kind) and "not the paper's setup: preset quick" in md
    long, md = _sweep(tmp_path / "c", monkeypatch, changed={"steps": 2})
    assert "difference" not in set(long.kind) and "steps=2" in md
    long, md = _sweep(tmp_path / "d", monkeypatch, dataset="synthau-disfa")
    assert "difference" not in set(long.kind) and "measured on synthau-disfa, reported on disfa" in md
    long, md = _sweep(tmp_path / "e", monkeypatch, weights=None)          # PIAP-DF starts from ImageNet
    assert "difference" not in set(long.kind) and "the trunk started from random weights" in md


def test_each_fold_weighs_the_same_whatever_its_number_of_runs(tmp_path, monkeypatch):
    grid = {"fold": [1, 2, 3], "seeds": [[0], [1]]}
    for c in sweep.expand({}, grid, tmp_path):
        f, s = c.params["fold"], c.params["seeds"][0]
        if f == 3 and s == 1:
            continue                                     # fold 3 has one run
        _cell(c.folder, f, s, {1: 0.1, 2: 0.2, 3: 0.6}[f] + 0.02 * s, monkeypatch)
    sweep.aggregate(tmp_path, grid)
    long = pd.read_csv(tmp_path / "tables/table2.csv").set_index("kind")
    # fold means 11, 21, 60 -> 30.667; the mean over the five runs would be 29.4
    assert long.loc["measured", "AU01"] == pytest.approx((11 + 21 + 60) / 3)


def test_a_stale_table_goes_when_the_sweep_has_no_finished_cell(tmp_path, monkeypatch):
    _sweep(tmp_path, monkeypatch)
    for folder in tmp_path.glob("fold=*"):
        (folder / "metrics.json").unlink()
    sweep.aggregate(tmp_path, {"fold": [1, 2, 3], "seeds": [[0], [1]]})
    assert not (tmp_path / "tables").exists()


def test_a_partial_copy_is_in_the_averaged_label_and_said_once(tmp_path, monkeypatch):
    """The averaged row's label dropped PARTIAL COPY (a row copied out read like the paper's protocol),
    and the note repeated it once per fold."""
    long, md = _sweep(tmp_path, monkeypatch, partial=True)
    assert "difference" not in set(long.kind)
    assert "measured (disfa, mean of folds 1, 2, 3, PARTIAL COPY, full, 6 runs)" in md
    assert md.count("PARTIAL COPY: disfa fold") == 1 and "(and 2 more folds' copies" in md


def test_runs_are_averaged_by_method_not_by_row_position():
    """The fold means were stacked as arrays: a run listing its methods in another order (or lacking one)
    averaged one method's numbers with another's."""
    from types import SimpleNamespace

    from aukit.report.folds import _average
    a = pd.DataFrame({"AU01": [1.0, 10.0]}, index=["x", "y"])
    b = pd.DataFrame({"AU01": [20.0, 2.0]}, index=["y", "x"])          # same methods, other order
    c = pd.DataFrame({"AU01": [3.0]}, index=["x"])                     # y missing: a gap, not a shift
    folds, mean, std, _ = _average([SimpleNamespace(fold=f, measured=m) for f, m in ((1, a), (2, b), (3, c))])
    assert folds == [1, 2, 3] and mean.loc["x", "AU01"] == pytest.approx(2.0) and np.isnan(mean.loc["y", "AU01"])
    assert std.loc["x", "AU01"] == pytest.approx(1.0)
