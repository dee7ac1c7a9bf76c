"""Undefined per-AU scores and F1's unit in every paper's tables (explore24 #2, #7, #10).

On a lab's own small dataset an AU often has no positive label among a fold's test subjects (F1 undefined) or a
constant test label (ICC undefined). Its 0 entered the average unnoted: RTATL named only never-predicted AUs, PIAP-DF
passed no flags, CPC stripped them, TAS's and SCC's averaged tables said nothing. One convention now (aukit.metrics,
aukit.report.flags): an undefined score shows "n/a†", is left out of Avg and named; the model's own zero keeps its
value, marked "‡", and counts. F1 tables are in % everywhere and say so (a dataset of your own showed 0-1)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from aukit import metrics as M


@pytest.fixture
def ownlab(tmp_path, monkeypatch):
    """A manifest in use (AUKIT_MANIFEST) with 'ownlab', a dataset of the user's own (table layout, 3 AUs)."""
    from aukit.data import manifest
    entries = yaml.safe_load(manifest.MANIFEST_PATH.read_text())
    entries["ownlab"] = {"layout": "table", "root": str(tmp_path / "ownlab"), "label_kind": "occurrence",
                         "occurrence_aus": [1, 2, 17],
                         "patterns": {"frames": "frames/{subject}/{sequence}/{frame}.jpg",
                                      "labels": "labels/{subject}_{sequence}.csv"}}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(entries))
    monkeypatch.setenv("AUKIT_MANIFEST", str(tmp_path / "manifest.yaml"))
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)
    return "ownlab"


def _report(slug, tmp_path, dataset, seeds=(0,)):
    from aukit.report import Report
    return Report(slug, folder=tmp_path / slug, dataset=dataset, preset="smoke", seeds=list(seeds), device="cpu")


def _read(rep, name):
    long = pd.read_csv(rep.dir / "tables" / f"{name}.csv")
    return long[long["kind"] == "measured"].set_index("method"), (rep.dir / "tables" / f"{name}.md").read_text()


def _lab_f1():
    """Test labels of 3 AUs where AU17 has no positive frame, and two models' probabilities: one predicts AU17
    present on two frames (an unflagged 0 before), the other never predicts AU02."""
    label = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], float)
    good = np.array([[.9, .6, .8], [.1, .7, .1], [.8, .6, .9], [.2, .1, .1], [.7, .3, .2]])   # AU02: 2 TP, 1 FP
    stuck = np.array([[.9, .1, .1], [.1, .1, .1], [.8, .2, .1], [.2, .1, .1], [.7, .3, .1]])
    return label, {"RTATL": M.per_au("f1", good, label, ["AU01", "AU02", "AU17"]),
                   "Backbone^T": M.per_au("f1", stuck, label, ["AU01", "AU02", "AU17"])}


def test_rtatl_table_on_your_own_dataset_is_in_percent_and_names_the_undefined_au(ownlab, tmp_path):
    """The explorer's labocc RTATL table: AU17 (no positive test label) at 0.00 in both rows, averaged in with no
    note, and the values 0-1 where every other F1 table is in %."""
    from aukit.methods.rtatl.experiment import add_table1, results_frame, seed_flags
    _, res = _lab_f1()
    assert res["RTATL"]["flags"] == {"AU17": "no_positives"}      # predicted present twice: still undefined
    runs = {v: [r] for v, r in res.items()}
    mean, std = results_frame(runs, [1, 2, 17])
    rep = _report("rtatl", tmp_path, ownlab)
    add_table1(rep, mean, std, seed_flags(runs, [1, 2, 17]))
    rows, md = _read(rep, "table1")
    assert rows.loc["RTATL", "AU01"] == pytest.approx(100.0) and rows.loc["RTATL", "AU02"] == pytest.approx(80.0)
    assert np.isnan(rows.loc["RTATL", "AU17"]) and rows.loc["RTATL", "Avg"] == pytest.approx(90.0)
    assert rows.loc["Backbone^T", "Avg"] == pytest.approx(50.0)       # AU01 1.0 and AU02's genuine 0
    assert "| RTATL |" in md and "| 100.0 | 80.0 | n/a† | 90.0 |" in md and "| 100.0 | 0.0‡ | n/a† | 50.0 |" in md
    assert ("n/a†: AU17: no positive label among the test frames (F1 undefined); left out of Avg, the mean over "
            "the AUs scored here (with them counted as 0 it would read RTATL 60.0, Backbone^T 33.3).") in md
    assert "‡ Backbone^T AU02: no test frame predicted present (F1 = 0), the model's score, counted in Avg." in md
    assert "- Unit: F1 in % (measured fractions x 100; metrics.json keeps fractions, 0-1)." in md
    rep.add_metrics(f1_avg_rtatl=res["RTATL"]["avg"])
    rep.write()
    record = json.loads((rep.dir / "metrics.json").read_text())
    assert record["undefined_scores"] == {"table1": {"RTATL": {"AU17": "no_positives"},
                                                     "Backbone^T": {"AU17": "no_positives"}}}
    assert record["model_zero_scores"] == {"table1": {"Backbone^T": {"AU02": "never_predicted"}}}
    assert record["f1_avg_rtatl"] == pytest.approx(0.9)


def test_rtatl_names_a_flag_of_any_seed_and_its_disfa_table_is_in_percent(tmp_path):
    """The flags came from the first seed alone; the DISFA ablation (no paper table beside it) was in 0-1."""
    from aukit.methods.rtatl.experiment import add_table1, results_frame, seed_flags
    label, res = _lab_f1()
    later = M.per_au("f1", np.full_like(label, 0.9), label, ["AU01", "AU02", "AU17"])
    runs = {"RTATL": [res["RTATL"], later], "Backbone^T": [res["Backbone^T"], later]}
    flags = seed_flags(runs, [1, 2, 17])
    assert flags["Backbone^T"] == {"AU02": "never_predicted in 1 of 2 seeds", "AU17": "no_positives in 2 of 2 seeds"}
    mean, std = results_frame(runs, [1, 2, 17])
    rep = _report("rtatl", tmp_path, "synthau-disfa", seeds=(0, 1))
    add_table1(rep, mean, std, flags)
    rows, md = _read(rep, "table1")
    assert rows.loc["RTATL", "AU02"] == pytest.approx(100 * (0.8 + 4 / 7) / 2)     # all present: 2 TP, 3 FP
    assert "n/a† |" in md and "no test frame predicted present (F1 = 0) in 1 of 2 seeds" in md
    assert "- Unit: % (measured fractions x 100; metrics.json keeps fractions, 0-1)." in md
    assert "(F1 undefined) in" not in md                          # the test frames are every seed's


def test_piap_df_tables_name_the_undefined_and_never_predicted_aus(tmp_path):
    """PIAP-DF's notebook passed no flags to its tables: 0.00s with no note at all."""
    from aukit.methods.piap_df import experiment as X
    from aukit.methods.piap_df import report as R
    _, res = _lab_f1()
    seeds = [{"Baseline": res["Backbone^T"], "PIAP": res["RTATL"], "PIAP-DF": res["RTATL"]}] * 2
    mean, std = X.f1_frames(seeds, [1, 2, 17])
    flags = X.f1_flags(seeds, [1, 2, 17])
    assert flags["Baseline"] == {"AU02": "never_predicted in 2 of 2 seeds", "AU17": "no_positives in 2 of 2 seeds"}
    rep = _report("piap_df", tmp_path, "synthau-bp4d", seeds=(0, 1))
    table3 = R.add_ablation_table(rep, mean, std, flags)
    assert table3.loc["PIAP", "AU17"] == "n/a†" and table3.loc["Baseline", "AU02"] == 0.0   # the notebook's view
    shown = R.add_comparison_table(rep, mean, std, flags)
    assert shown.loc["PIAP-DF", "AU17"] == "n/a†"
    rows, md = _read(rep, "table3_ablation")
    assert np.isnan(rows.loc["PIAP", "AU17"]) and rows.loc["PIAP", "Avg"] == pytest.approx(90.0)
    assert "n/a†: AU17: no positive label among the test frames (F1 undefined); left out of Avg" in md
    assert "‡ Baseline AU02: no test frame predicted present (F1 = 0) in 2 of 2 seeds" in md
    assert shown.loc["PIAP", "Avg"] == pytest.approx(90.0)            # what the notebook shows, in % as tables/
    _, md1 = _read(rep, "table1_comparison")
    assert "n/a†: AU17" in md1 and "Baseline" not in md1.split("- ")[-1]


def _cpc(dataset, aus=("AU01", "AU02")):
    """CPC results of one seed: each variant's per-AU ICC/MAE as experiment.score returns them (with flags)."""
    from aukit.methods.cpc.experiment import VARIANTS_2PCT, Results
    label = np.array([[0, 2], [1, 2], [3, 2], [5, 2]], float)          # AU02's test label is constant
    pred = np.array([[0.5, 1], [1, 2], [2.5, 2], [4, 3]], float)
    scores = {"icc": M.per_au("icc", pred, label, aus), "mae": M.per_au("mae", pred, label, aus)}
    val = {"history": [], "val": {"top1": 0.2, "top3": 0.5, "top5": 0.7}}
    return Results(dataset, "", list(aus), [0], "cpu", per_seed=[{v: scores for v in VARIANTS_2PCT if "pool" not in v}],
                   pretext=[{"target": val}], const=[{"icc": {"avg": 0.0}, "mae": {"avg": 0.6}}],
                   const_median=[{"mae": {"avg": 0.55}}], configs={"sparse": {"label_fraction": 0.1}}), scores


def test_cpc_tables_keep_the_flags_an_icc_of_a_constant_label_is_named(tmp_path):
    """CPC's report stripped the flags: AU02's ICC 0.000 (constant test label) in every row, no note."""
    from aukit.methods.cpc.report import write_report
    res, scores = _cpc("synthau-disfa")
    assert scores["icc"]["flags"] == {"AU02": "constant_label"}
    assert scores["icc"]["avg"] == scores["icc"]["AU01"]             # AU02 out of the average
    write_report(res, tmp_path / "r", preset="quick")
    long = pd.read_csv(tmp_path / "r" / "tables" / "table2_icc.csv")
    rows = long[long["kind"] == "measured"].set_index("method")
    assert list(rows.index)[0] == "R18 10%" and rows["AU02"].isna().all()
    md = (tmp_path / "r" / "tables" / "table2_icc.md").read_text()
    assert md.count("n/a†") == len(rows) + 1        # each row's cell, and the note
    assert "n/a†: AU02: the label is constant on the test frames (ICC undefined); left out of Avg" in md
    mae = (tmp_path / "r" / "tables" / "table2_mae.md").read_text()
    assert "†" not in mae                                            # MAE is defined on a constant label
    record = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert record["undefined_scores"]["table2_icc"]["R18 10%"] == {"AU02": "constant_label"}


def test_tas_averaged_tables_say_which_aus_their_icc_leaves_out(tmp_path):
    """Tables 2-4 hold ICC and MAE averaged over AUs: nothing said that AU02's ICC (constant label) was not in it,
    nor which of the model's zeros were."""
    from aukit.methods.tas import reporting as R
    from aukit.methods.tas.data import TASData
    aus = ["AU01", "AU02", "AU04"]
    run = {"seed": 0, **{f"{m}_{a}": 0.3 for m in ("icc", "mae") for a in aus}, "icc_avg": 0.3, "mae_avg": 0.5,
           "flags": {"icc_AU02": "constant_label", "icc_AU04": "constant_prediction"}}
    empty = np.zeros(0, np.int64)
    data = TASData("synthau-bp4d", None, aus, np.zeros((0, 3), np.float32), empty, empty, empty,
                   np.zeros((0, 4), np.int64), empty, [], [])
    rep = _report("tas", tmp_path, "synthau-bp4d")
    R.add_overall_table(rep, "table2", data, {R.PAPER_NAME: {"runs": [run]}}, row_map={R.PAPER_NAME: "Ours"})
    _, md = _read(rep, "table2")
    assert "- The averages leave out AU02: the label is constant on the test frames (ICC undefined)." in md
    assert "- AU04: the prediction is constant (ICC = 0), the model's score, counted in the averages." in md


def test_tas_table1_metrics_hold_null_for_an_undefined_icc_not_zero(tmp_path):
    """Table 1 shows AU02's ICC (constant test label) as n/a†; metrics.json's icc_AU02 held a 0.0 beside it."""
    from aukit.methods.tas import reporting as R
    from aukit.methods.tas.data import TASData
    aus = ["AU01", "AU02"]
    runs = [{"seed": s, "icc_AU01": 0.4, "icc_AU02": 0.0, "mae_AU01": 0.5, "mae_AU02": 0.2, "icc_avg": 0.4,
             "mae_avg": 0.35, "flags": {"icc_AU02": "constant_label"}} for s in (0, 1)]
    empty = np.zeros(0, np.int64)
    data = TASData("synthau-bp4d", None, aus, np.zeros((0, 2), np.float32), empty, empty, empty,
                   np.zeros((0, 4), np.int64), empty, [], [])
    out = R.add_table1(_report("tas", tmp_path, "synthau-bp4d"), data, {"A6": {"runs": runs}})
    assert out["icc_AU02"] is None and out["icc_AU01"] == pytest.approx(0.4)
    assert out["mae_AU02"] == pytest.approx(0.2)


def test_scc_tables_flag_undefined_iccs_and_its_record_says_which_split_ran(tmp_path, monkeypatch):
    """SCC's Tables 2-3 (ICC/MAE averaged) had no note of the AUs their ICC leaves out; run.yaml recorded
    `fera: true` for a run on fold 1 (DISFA, or a dataset of your own)."""
    from aukit.methods.scc import experiment as X
    from aukit.methods.scc import report_figures
    from aukit.methods.scc.data import SCCData
    aus = ("AU01", "AU02")
    label = np.array([[0, 1], [2, 1], [4, 1], [1, 1]], np.float32)     # AU02's test label is constant
    data = SCCData(store=None, aus=aus, intensity=label, centres=None, train_rows=np.arange(4),
                   test_rows=np.arange(4), info={"aus_dropped": {}})

    class Fake:
        history = [{"train_loss": 1.0, "images_per_s": 1.0}]

        def eval(self):
            return self
    monkeypatch.setattr(X, "load_data", lambda *a, **k: data)
    monkeypatch.setattr(X.Runner, "train", lambda self, over, seed: Fake())
    monkeypatch.setattr(X.Runner, "predict", lambda self, model, rows: {"pred": label + [[0.5, 0], [0, 1], [1, 0],
                                                                                        [0, 2]], "label": label})
    monkeypatch.setattr(report_figures, "make", lambda *a: ({}, {}))
    monkeypatch.chdir(tmp_path)
    ecfg = X.preset_config("smoke", dataset="synthau-disfa", out_dir=str(tmp_path / "scc"), tables=("table1", "table2"))
    assert ecfg.fera
    X.run(ecfg)
    md1 = (tmp_path / "scc" / "tables" / "table1_disfa_icc.md").read_text()
    assert "n/a†: AU02: the label is constant on the test frames (ICC undefined); left out of Avg" in md1
    md2 = (tmp_path / "scc" / "tables" / "table2.md").read_text()
    assert "- The averages leave out AU02: the label is constant on the test frames (ICC undefined)." in md2
    measured = json.loads((tmp_path / "scc" / "metrics.json").read_text())
    for slug in ("scc_heatmap", "resnet_deconv"):     # metrics.json: null where the table reads n/a†, not a 0.0
        assert measured[f"icc_AU02_{slug}"] is None and measured[f"icc_AU01_{slug}"] > 0
        assert isinstance(measured[f"mae_AU02_{slug}"], float)
    run = yaml.safe_load((tmp_path / "scc" / "run.yaml").read_text())
    assert run["config"]["experiment"]["fera"] is False and run["config"]["experiment"]["fold"] == 1
    assert X.ran_split(dataclasses.replace(ecfg, fold=2))[1] == 2


def test_partial_copy_of_your_own_dataset_names_no_paper_protocol(ownlab, tmp_path, monkeypatch):
    """'not comparable with the paper's protocol' stood under every table of a dataset no paper reports."""
    from aukit.data import splits
    monkeypatch.setattr(splits, "PARTIAL", ["ownlab fold 1: this copy lacks 0 of 2 training and 1 of 1 test subjects "
                                            "(S4)"])
    rep = _report("rtatl", tmp_path, ownlab)
    rep.add_table("t", pd.DataFrame({"AU01": [0.5], "Avg": [0.5]}, index=["RTATL"]))
    _, md = _read(rep, "t")
    assert "paper's protocol" not in md
    assert ("PARTIAL COPY: ownlab fold 1: this copy lacks 0 of 2 training and 1 of 1 test subjects (S4); the run "
            "trained and tested on part of its fold (the folds: round robin over the sorted subject ids") in md
    paper = _report("rtatl", tmp_path / "p", "bp4d")
    paper.add_table("t", pd.DataFrame({"AU01": [0.5], "Avg": [0.5]}, index=["RTATL"]))
    assert "not comparable with the paper's protocol" in _read(paper, "t")[1]


def test_a_sweep_on_your_own_dataset_keeps_the_undefined_au_out_of_its_means(ownlab, tmp_path, monkeypatch):
    """A sweep's tables average its cells' CSVs: AU17, undefined in fold 1's test frames, must not enter the
    per-AU mean as fold 1's 0; aggregate.md said the tables stood "beside the paper's numbers" on a dataset no
    paper reports."""
    from aukit import sweep
    from aukit.data import splits
    grid = {"fold": [1, 2], "seeds": [[0]]}
    for cell in sweep.expand({}, grid, tmp_path):
        fold = cell.params["fold"]
        monkeypatch.setattr(splits, "USED", {ownlab: fold})
        label = np.array([[1, 0, fold - 1], [0, 1, 0], [1, 1, fold - 1]], float)    # fold 1: no AU17 positive
        res = M.per_au("f1", np.array([[.9, .2, .8], [.1, .7, .1], [.8, .6, .9]]), label, ["AU01", "AU02", "AU17"])
        from aukit.report import Report
        rep = Report("rtatl", folder=cell.folder, dataset=ownlab, preset="smoke", seeds=[0], device="cpu")
        rep.add_table("table1", pd.DataFrame([[res["AU01"], res["AU02"], res["AU17"], res["avg"]]], index=["RTATL"],
                                             columns=["AU01", "AU02", "AU17", "Avg"]), None, unit="%",
                      flags={"RTATL": res["flags"]})
        rep.add_metrics(f1_avg_rtatl=res["avg"])
        rep.write()
        (cell.folder / "params.json").write_text(json.dumps(cell.params))
    sweep.aggregate(tmp_path, grid)
    long = pd.read_csv(tmp_path / "tables" / "table1.csv").set_index("kind")
    assert np.isnan(long.loc["measured", "AU17"]) and long.loc["measured", "AU01"] == pytest.approx(100.0)
    md = (tmp_path / "tables" / "table1.md").read_text()
    assert ("RTATL AU17: n/a in 1 of 2 runs (left out of their Avg): no positive label among the test frames (F1 "
            "undefined).") in md
    assert "beside the paper's numbers where it reports the dataset:" in (tmp_path / "aggregate.md").read_text()


def test_an_auc_average_names_the_aus_of_one_class_it_leaves_out(tmp_path):
    """RTATL's and PIAP-DF's auc_avg averaged AUC 0.5 ("one_class") in and dropped the flag; no table shows them,
    so metrics.json names them (Report.add_flags)."""
    from aukit.methods.piap_df import experiment as X
    from aukit.methods.rtatl.experiment import seed_flags
    label, _ = _lab_f1()
    label[:, 1] = 1.0                                         # AU02 present on every test frame: one class too
    prob = np.tile([.6, .4, .7], (5, 1))
    auc = M.per_au("auc", prob, label, ["AU01", "AU02", "AU17"])
    assert auc["flags"] == {"AU02": "one_class", "AU17": "one_class"} and auc["avg"] == auc["AU01"] == 0.5
    f1 = M.per_au("f1", prob, label, ["AU01", "AU02", "AU17"])
    assert f1["flags"] == {"AU02": "never_predicted", "AU17": "no_positives"}   # AU02's F1 is defined: the model's 0
    seeds = [{"PIAP": {**f1, "auc_avg": auc["avg"], "auc_flags": auc["flags"]}}]
    assert X.f1_flags(seeds, [1, 2, 17], "auc_flags") == {"PIAP": auc["flags"]}
    runs = {"RTATL": [{**f1, "auc_flags": auc["flags"]}]}
    assert seed_flags(runs, [1, 2, 17], "auc_flags") == {"RTATL": auc["flags"]}
    rep = _report("rtatl", tmp_path, "synthau-bp4d")
    rep.add_flags("auc", seed_flags(runs, [1, 2, 17], "auc_flags"))
    rep.add_flags("empty", {"RTATL": {}})
    rep.add_metrics(auc_avg_rtatl=auc["avg"])
    rep.write()
    record = json.loads((rep.dir / "metrics.json").read_text())
    assert record["undefined_scores"] == {"auc": {"RTATL": {"AU02": "one_class", "AU17": "one_class"}}}
    assert "model_zero_scores" not in record


def test_a_row_without_a_defined_au_has_no_avg_and_a_row_not_shown_no_note(tmp_path):
    """Every AU undefined: per_au's avg is the placeholders' mean (0.0), which the table must not show as a score;
    flags of a row the table leaves out (PIAP-DF's comparison keeps two of seven) name nothing under it."""
    res = M.per_au("f1", np.full((4, 2), 0.7), np.zeros((4, 2)), ["AU01", "AU02"])
    assert res["avg"] == 0.0 and set(res["flags"].values()) == {"no_positives"}
    rep = _report("rtatl", tmp_path, "synthau-bp4d")
    frame = pd.DataFrame([[0.0, 0.0, 0.0]], index=["RTATL"], columns=["AU01", "AU02", "Avg"])
    rep.add_table("t", frame, flags={"RTATL": res["flags"], "OFE": {"AU04": "never_predicted"}})
    rows, md = _read(rep, "t")
    assert rows.loc["RTATL", ["AU01", "AU02", "Avg"]].isna().all() and "| n/a† | n/a† | n/a† |" in md
    assert "OFE" not in md and "AU04" not in md


def test_a_sweep_figure_names_the_aus_its_averages_leave_out_and_metrics_json_records_them(tmp_path):
    """TAS Fig. 5, SCC Fig. 6 and RTATL Fig. 4 plot averages over AUs: an undefined ICC (constant test label) left
    out of every point, or a model's zero counted in some, was said in the tables' notes but not under the figure."""
    import matplotlib.pyplot as plt

    from aukit.methods.tas import reporting as R
    from aukit.methods.tas.data import TASData
    from aukit.report import flags as F
    aus = ["AU01", "AU02"]

    def run(seed, zero):
        return {"seed": seed, "icc_AU01": 0.0 if zero else 0.5, "icc_AU02": 0.0, "mae_AU01": 0.4, "mae_AU02": 0.1,
                "icc_avg": 0.0 if zero else 0.5, "mae_avg": 0.25,
                "flags": {"icc_AU02": "constant_label", **({"icc_AU01": "constant_prediction"} if zero else {})}}
    sweep = {"lambda_rank": {"lambda_rank=0.1": {"runs": [run(0, False), run(1, False)]},
                             "lambda_rank=1": {"runs": [run(0, True), run(1, False)]}}}
    empty = np.zeros(0, np.int64)
    data = TASData("synthau-bp4d", None, aus, np.zeros((0, 2), np.float32), empty, empty, empty,
                   np.zeros((0, 4), np.int64), empty, [], [])
    rep = _report("tas", tmp_path, "synthau-bp4d", seeds=(0, 1))
    figs = R.add_sweep_figures(rep, sweep, data)
    stamp = lambda name: next(t.get_text() for t in figs[name].texts if t.get_gid() == "aukit-stamp")  # noqa: E731
    assert ("The averages leave out AU02: the label is constant on the test frames (ICC undefined). The averages "
            "count AU01 (1 of 2 points; in 1 of 2 seeds there): the prediction is constant (ICC = 0), the model's "
            "score.") in stamp("fig5_lambda_rank_icc")
    assert "leave out" not in stamp("fig5_lambda_rank_mae")          # MAE is defined on every AU
    rep.write()
    record = json.loads((rep.dir / "metrics.json").read_text())
    both = {"AU02": "constant_label in 2 of 2 seeds"}
    assert record["undefined_scores"]["fig5_lambda_rank_icc"] == {"lambda_rank=0.1": both, "lambda_rank=1": both}
    assert record["model_zero_scores"]["fig5_lambda_rank_icc"] == {
        "lambda_rank=1": {"AU01": "constant_prediction in 1 of 2 seeds"}}
    assert F.figure_note({"a": {}, "b": {}}) == "" and F.figure_note(None) == ""
    for fig in figs.values():
        plt.close(fig)
