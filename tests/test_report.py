"""The report writer on a fake result: every file exists, measured and reported never swap."""
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from aukit import metrics as M  # noqa: E402
from aukit import reported as R  # noqa: E402
from aukit import viz  # noqa: E402
from aukit.report import Report, compare, frame_from_results, load_metrics, write_index  # noqa: E402

AUS = ["AU06", "AU10", "AU12", "AU14", "AU17"]


def fake_run(seed):
    """Per-AU ICC/MAE of a noisy fake predictor: measured here, not typed in."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 6, (60, 5)).astype(float)
    pred = np.clip(label + rng.normal(0, 1.0, label.shape), 0, 5)
    return M.per_au("icc", pred, label, AUS), M.per_au("mae", pred, label, AUS)


def build(tmp_path, dataset, preset="smoke"):
    runs = [fake_run(s) for s in (0, 1)]
    icc = M.aggregate([r[0] for r in runs])
    mae = M.aggregate([r[1] for r in runs])
    r = Report("tas", out_dir=tmp_path, dataset=dataset, preset=preset, seeds=[0, 1], device="cpu",
               config={"lr": 0.005})
    r.add_metrics(icc_avg=icc["avg"][0], mae_avg=mae["avg"][0], **{f"icc_{a}": icc[a][0] for a in AUS})
    r.headline("icc_avg", "mae_avg")
    r.add_reference("icc_avg", "tas", "table1_bp4d_icc", "Ours")
    measured = frame_from_results({"TAS (ours)": icc}, AUS)
    std = pd.DataFrame([[icc[a][1] for a in AUS] + [icc["avg"][1]]], index=["TAS (ours)"], columns=AUS + ["Avg"])
    reported = R.table("tas", "table1_bp4d_icc")
    r.add_table("table1_bp4d_icc", measured, reported, row_map={"TAS (ours)": "Ours"}, measured_std=std)
    r.add_figure("curve", viz.intensity_curves(np.arange(10) % 6, {"m": np.arange(10) % 5}))
    return r, r.write(), measured, reported


def test_report_writes_every_file(tmp_path, monkeypatch):
    from aukit.data import store
    monkeypatch.setattr(store, "OPENED", {"synthau-bp4d__tas256__0123": {"frames": 9, "fingerprint": "ab"}})
    _, out, measured, _ = build(tmp_path, "synthau-bp4d")
    folder = tmp_path / "tas"
    run = yaml.safe_load((folder / "run.yaml").read_text())
    assert run["stores"] == {"synthau-bp4d__tas256__0123": {"frames": 9, "fingerprint": "ab"}}
    for rel in ["metrics.json", "reported.json", "run.yaml", "tables/table1_bp4d_icc.csv",
                "tables/table1_bp4d_icc.md", "figures/curve.png", "figures/curve.pdf"]:
        assert (folder / rel).is_file() and (folder / rel).stat().st_size > 0, rel
    m = load_metrics(folder)
    assert m["dataset"] == "synthau-bp4d" and m["preset"] == "smoke" and m["seeds"] == [0, 1] and m["device"] == "cpu"
    assert m["icc_avg"] == pytest.approx(measured.loc["TAS (ours)", "Avg"])
    refs = json.loads((folder / "reported.json").read_text())
    assert refs["icc_avg"]["value"] == R.table("tas", "table1_bp4d_icc").loc["Ours", "Avg"]
    assert "icc_avg" in m and m["icc_avg"] != refs["icc_avg"]["value"]

    index = write_index(tmp_path)
    text = index.read_text()
    assert "| tas |" in text and "synthau-bp4d" in text and "reported 0.71" in text and "[folder](tas/)" in text
    assert "Scientific checks" not in text
    check = folder / "checks" / "keyframe_3seeds"
    check.mkdir(parents=True)
    (check / "README.md").write_text("Measured on a CPU.\n\n# TAS A1 vs A6, 3 seeds\n")
    text = write_index(tmp_path).read_text()
    assert "## Scientific checks" in text and "- tas: [TAS A1 vs A6, 3 seeds](tas/checks/keyframe_3seeds/README.md)" in text


def test_measured_and_reported_columns_not_swapped(tmp_path):
    _, _, measured, reported = build(tmp_path, "synthau-bp4d")
    csv = pd.read_csv(tmp_path / "tas" / "tables" / "table1_bp4d_icc.csv")
    mrow = csv[(csv.kind == "measured") & (csv.method == "TAS (ours)")].iloc[0]
    rrow = csv[(csv.kind == "reported") & (csv.method == "Ours")].iloc[0]
    for col in AUS + ["Avg"]:
        assert mrow[col] == pytest.approx(measured.loc["TAS (ours)", col])
        assert rrow[col] == pytest.approx(reported.loc["Ours", col])
    assert mrow["label"] == "measured (synthau-bp4d, smoke, seeds 0,1)"
    assert rrow["label"] == "reported (TAS, BP4D; different dataset)"
    assert "difference" not in set(csv.kind)  # SynthAU vs BP4D: no difference column
    assert set(csv[csv.kind == "reported"].method) == set(reported.index)  # baselines kept for orientation
    md = (tmp_path / "tas" / "tables" / "table1_bp4d_icc.md").read_text()
    assert "n/a: different dataset" in md and " ± " in md


def test_one_seed_shows_no_spread(tmp_path):
    """A single run's std is not a spread of zero: the table shows the mean alone and says why."""
    measured = pd.DataFrame([[0.5, 0.25]], index=["m"], columns=["AU12", "Avg"])
    std = pd.DataFrame([[0.0, 0.0]], index=["m"], columns=["AU12", "Avg"])
    for seeds, spread in (([0], False), ([0, 1], True)):
        r = Report("tas", out_dir=tmp_path / str(len(seeds)), dataset="synthau-bp4d", preset="quick", seeds=seeds,
                   device="cpu")
        r.add_table("t", measured, measured_std=std)
        md = (tmp_path / str(len(seeds)) / "tas" / "tables" / "t.md").read_text()
        if spread:
            assert "| 0.50 ± 0.00 | 0.25 ± 0.00 |" in md and "One seed" not in md
        else:
            assert "| 0.50 | 0.25 |" in md and "0.50 ±" not in md and "One seed: no spread" in md


def test_one_seed_writes_null_spreads_in_metrics_json(tmp_path):
    """metrics.json of a one-seed run has no std of 0: every std over seeds is null (valid JSON)."""
    values = {"f1_rtatl": 0.5, "f1_std_rtatl": 0.0, "t3_A0_icc_avg_std": 0.0, "mae_standard": 0.3, "n_aus": 5}
    for seeds in ([0], [0, 1]):
        r = Report("tas", out_dir=tmp_path / str(len(seeds)), dataset="synthau-bp4d", preset="quick", seeds=seeds,
                   device="cpu")
        r.add_metrics(**values)
        r.write()
        m = json.loads((tmp_path / str(len(seeds)) / "tas" / "metrics.json").read_text())
        spread = {k: m[k] for k in values}
        if len(seeds) == 1:
            assert spread == {**values, "f1_std_rtatl": None, "t3_A0_icc_avg_std": None}
        else:
            assert spread == values


def test_difference_on_same_dataset(tmp_path):
    _, _, measured, reported = build(tmp_path, "bp4d", preset="full")
    csv = pd.read_csv(tmp_path / "tas" / "tables" / "table1_bp4d_icc.csv")
    diff = csv[csv.kind == "difference"].iloc[0]
    assert diff["label"] == "measured - reported"
    assert diff["AU12"] == pytest.approx(measured.loc["TAS (ours)", "AU12"] - reported.loc["Ours", "AU12"])


def test_percent_tables_scale_measured_and_flags_are_noted(tmp_path):
    r = Report("rtatl", out_dir=tmp_path, dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    aus = ["AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26"]
    rng = np.random.default_rng(0)
    label = (rng.random((80, 8)) < 0.3).astype(float)
    label[:, 0] = 0
    prob = rng.random((80, 8)) * (np.arange(8) > 0)
    res = M.per_au("f1", prob, label, aus)
    r.add_table("table3", frame_from_results({"RTATL": res}, aus), R.table("rtatl", "table3"),
                flags={"RTATL": res["flags"]})
    csv = pd.read_csv(tmp_path / "rtatl" / "tables" / "table3.csv")
    mrow = csv[csv.kind == "measured"].iloc[0]
    assert mrow["AU02"] == pytest.approx(100 * res["AU02"])
    md = (tmp_path / "rtatl" / "tables" / "table3.md").read_text()
    # AU01 has no positive test label: no F1 to show, and Avg is the mean over the 7 others
    assert np.isnan(mrow["AU01"]) and mrow["Avg"] == pytest.approx(100 * np.mean([res[a] for a in aus[1:]]))
    assert "| n/a† |" in md and "Unit: F1 in % (measured fractions x 100" in md
    assert "n/a†: AU01: no positive label among the test frames (F1 undefined); left out of Avg" in md
    res = M.per_au("f1", np.zeros_like(prob), label, aus)          # a model stuck at "absent"
    r.add_table("table3", frame_from_results({"RTATL": res}, aus), R.table("rtatl", "table3"),
                flags={"RTATL": res["flags"]})
    md = (tmp_path / "rtatl" / "tables" / "table3.md").read_text()
    assert "| 0.0‡ |" in md
    assert ("‡ AU02, AU04, AU06, AU09, AU12, AU25, AU26: no test frame predicted present (F1 = 0), the model's "
            "score, counted in Avg.") in md


def test_bad_metric_values_are_errors(tmp_path):
    r = Report("scc", out_dir=tmp_path, dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    with pytest.raises(ValueError, match="nan"):
        r.add_metrics(icc_avg=float("nan"))
    with pytest.raises(TypeError, match="flatten"):
        r.add_metrics(icc={"AU01": 0.1})
    r.headline("mae_avg")
    with pytest.raises(ValueError, match="headline"):
        r.write()


def test_exact_folder_for_papermill_out_dir(tmp_path):
    r = Report("cpc", folder=tmp_path / "sweeps" / "cell0", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    r.add_metrics(icc_avg=0.3)
    assert r.write()["metrics"] == tmp_path / "sweeps" / "cell0" / "metrics.json"


def test_a_report_started_by_hand_keeps_the_last_finished_run_in_previous(tmp_path, capsys):
    """A notebook rerun by hand starts its report clean; the run it replaces moves to previous/."""
    first = Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    first.add_metrics(icc_avg=0.3)
    first.write()
    second = Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    assert not (tmp_path / "r" / "metrics.json").exists()
    assert json.loads((tmp_path / "r" / "previous" / "metrics.json").read_text())["icc_avg"] == 0.3
    assert f"moved to {tmp_path / 'r' / 'previous'}" in capsys.readouterr().out
    second.add_metrics(icc_avg=0.5)
    second.write()
    Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    assert json.loads((tmp_path / "r" / "previous" / "metrics.json").read_text())["icc_avg"] == 0.5


def test_what_a_notebook_shows_of_its_run_is_what_metrics_json_holds(tmp_path):
    """RTATL and SCC returned report.metrics: a one-seed run showed f1_std 0.0 where metrics.json has null."""
    one = Report("rtatl", folder=tmp_path / "a", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    one.add_metrics(f1_avg_rtatl=0.5, f1_std_rtatl=0.0)
    assert one.measured == {"f1_avg_rtatl": 0.5, "f1_std_rtatl": None}
    one.write()
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["f1_std_rtatl"] is None
    two = Report("rtatl", folder=tmp_path / "b", dataset="disfa", preset="smoke", seeds=[0, 1], device="cpu")
    two.add_metrics(f1_avg_rtatl=0.5, f1_std_rtatl=0.1)
    assert two.measured["f1_std_rtatl"] == 0.1


def test_compare_without_reported():
    m = pd.DataFrame({"ICC": [0.5], "MAE": [0.7]}, index=["A6"])
    long = compare(m, None, measured_label="measured (x)")
    assert list(long.kind) == ["measured"] and long.loc[0, "ICC"] == 0.5


def test_the_same_dataset_on_another_split_gets_no_difference_rows(tmp_path, monkeypatch):
    """TAS on BP4D fold 1 was differenced against TAS's FERA2015-split numbers, and one DISFA fold
    against 3-fold means, under labels that named no fold."""
    from aukit import reported as R
    from aukit.data import splits
    from aukit.report import Report
    measured = pd.DataFrame({"AU06": [0.7], "AU10": [0.6], "AU12": [0.8], "AU14": [0.3], "AU17": [0.4],
                             "Avg": [0.56]}, index=["Ours"])
    ref = R.table("tas", "table1_bp4d_icc")
    for fold, diff, words in ((1, False, "the paper used the FERA2015 split"), ("fera", True, None)):
        monkeypatch.setattr(splits, "USED", {"bp4d": fold})
        rep = Report("tas", folder=tmp_path / str(fold), dataset="bp4d", preset="full", seeds=[0], device="cpu")
        rep.add_table("t", measured, ref)
        long = pd.read_csv(tmp_path / str(fold) / "tables/t.csv")
        assert ("difference" in set(long.kind)) is diff
        md = (tmp_path / str(fold) / "tables/t.md").read_text()
        label = "FERA2015 split" if fold == "fera" else "fold 1"
        assert f"measured (bp4d, {label}, full, seeds 0)" in md
        if words:
            assert words in md and "reported (TAS, BP4D, fera split)" in md and "different dataset" not in md
    monkeypatch.setattr(splits, "USED", {"disfa": 2})
    rep = Report("tas", folder=tmp_path / "d", dataset="disfa", preset="quick", seeds=[0], device="cpu")
    rep.add_table("t", measured.iloc[:, :0].assign(Avg=[0.5]), R.table("tas", "table1_disfa_icc"))
    assert "mean over the three subject-exclusive folds; this run measured fold 2 only" in \
        (tmp_path / "d/tables/t.md").read_text()


def test_a_run_off_the_papers_setup_gets_no_difference_rows(tmp_path, monkeypatch):
    """A 'full' SCC run with steps 2 (a constant predictor) showed an MAE below every reported
    method, differenced against the paper under a label that said only 'full'; a quick run on real
    BP4D was differenced too."""
    from aukit.data import splits
    monkeypatch.setattr(splits, "USED", {"bp4d": "fera"})
    measured = pd.DataFrame({"AU06": [0.7], "AU10": [0.6], "AU12": [0.8], "AU14": [0.3], "AU17": [0.4],
                             "Avg": [0.56]}, index=["Ours"])
    ref = R.table("tas", "table1_bp4d_icc")
    cases = (("full", {}, None),
             ("full", {"steps": 2, "epochs": 1}, "not the paper's setup: the full preset with steps=2, epochs=1"),
             ("quick", {}, "not the paper's setup: preset quick trains a smaller network"))
    for i, (preset, changed, why) in enumerate(cases):
        monkeypatch.setenv("AUKIT_RUN_CHANGED", json.dumps(changed))
        rep = Report("tas", folder=tmp_path / str(i), dataset="bp4d", preset=preset, seeds=[0], device="cpu")
        rep.add_table("t", measured, ref)
        long = pd.read_csv(tmp_path / str(i) / "tables/t.csv")
        md = (tmp_path / str(i) / "tables/t.md").read_text()
        assert ("difference" in set(long.kind)) is (why is None), md
        if why:
            assert why in md and "different dataset" not in md and "reported (TAS, BP4D)" in md
        if changed:
            assert "measured (bp4d, FERA2015 split, full, changed: steps=2, epochs=1, seeds 0)" in md
            rep.add_metrics(icc_avg=0.5)
            rep.write()
            assert json.loads((tmp_path / str(i) / "metrics.json").read_text())["changed_parameters"] == changed
            assert "| full (changed: steps=2, epochs=1) |" in write_index(tmp_path / str(i) / "..").read_text()


def test_changed_parameters_leave_out_the_ones_that_only_choose_what_runs():
    from aukit import nb
    assert nb.changed_parameters("scc", {"dataset": "bp4d", "preset": "full", "steps": 2, "epochs": 0,
                                         "lr": 0.0, "batch_size": 4, "seeds": [0], "tables": ["table1"]}) == \
        {"steps": 2, "batch_size": 4}
    # RTATL's lambda1 None stands for RTATLTrainConfig's 0.1: a grid's 0.1 is no change (it blocked difference rows)
    assert nb.changed_parameters("rtatl", {"lambda1": 0.1, "lambda2": 0.3, "lambda_f": 0.2, "lr": None}) == \
        {"lambda2": 0.3}


def test_a_real_run_names_the_synthetic_side_sets_it_read(tmp_path, monkeypatch):
    """CPC on real DISFA pre-trained on synthau-affwild2 by default, and nothing said so."""
    from aukit.data import splits, store
    monkeypatch.setattr(store, "OPENED", {"disfa__cpc128__ab": {}, "synthau-affwild2__cpc128__cd": {}})
    rep = Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="quick", seeds=[0], device="cpu")
    assert rep.synthetic_side_sets == ["synthau-affwild2"]
    rep.add_table("t", pd.DataFrame({"Avg": [0.5]}, index=["m"]))
    assert "This disfa run also read synthetic SynthAU data: synthau-affwild2" in (tmp_path / "r/tables/t.md").read_text()
    rep.add_metrics(icc_avg=0.5)
    rep.write()
    assert json.loads((tmp_path / "r/metrics.json").read_text())["synthetic_side_sets"] == ["synthau-affwild2"]
    assert Report("cpc", folder=tmp_path / "s", dataset="synthau-disfa", preset="quick", seeds=[0],
                  device="cpu").synthetic_side_sets == []
    # a full run that read a synthetic side set is not the paper's setup: no difference rows
    monkeypatch.setattr(splits, "USED", {"disfa": 1})
    rep = Report("cpc", folder=tmp_path / "f", dataset="disfa", preset="full", seeds=[0], device="cpu")
    rep.add_table("t", pd.DataFrame({"Avg": [0.5]}, index=["Ours(*Affwild2)-2%"]), R.table("cpc", "table2_icc"))
    md = (tmp_path / "f/tables/t.md").read_text()
    assert "difference" not in set(pd.read_csv(tmp_path / "f/tables/t.csv").kind)
    assert "it read synthetic side sets (synthau-affwild2) where the paper read real ones" in md


def test_a_full_run_from_random_weights_is_not_the_setup_of_a_paper_that_started_from_imagenet(tmp_path, monkeypatch):
    """SCC, RTATL and PIAP-DF start from ImageNet; with no -p weights the full run's tables were
    differenced against the paper as if it were its setup."""
    from aukit.data import splits
    monkeypatch.setattr(splits, "USED", {"disfa": 1})
    for slug, weights, diff in (("scc", None, False), ("scc", "resnet50.pth", True), ("tas", None, True)):
        paper_key = ("scc", "table1_disfa_icc") if slug == "scc" else ("tas", "table1_disfa_icc")
        measured = pd.DataFrame({"Avg": [0.5]}, index=["SCC-Heatmap (Ours)" if slug == "scc" else "Ours"])
        rep = Report(slug, folder=tmp_path / f"{slug}{weights}", dataset="disfa", preset="full", seeds=[0],
                     device="cpu", weights=weights)
        ref = R.table(*paper_key)
        ref.attrs["caption"] += " (on the most challenging fold)"      # one fold: fold 1 is its split here
        rep.add_table("t", measured, ref)
        md = (tmp_path / f"{slug}{weights}/tables/t.md").read_text()
        assert ("difference" in set(pd.read_csv(tmp_path / f"{slug}{weights}/tables/t.csv").kind)) is diff, md
        assert ("the trunk started from random weights; the paper started from ImageNet (ResNet-50" in md) is \
            (slug == "scc" and weights is None)


def test_avg_stays_the_last_column_when_the_reported_table_has_more_aus():
    m = pd.DataFrame({"AU01": [50.0], "Avg": [50.0]}, index=["m"])
    r = pd.DataFrame({"AU01": [40.0], "AU02": [30.0], "Avg": [35.0]}, index=["m"])
    assert list(compare(m, r, measured_label="x").columns)[3:] == ["AU01", "AU02", "Avg"]


def test_a_value_that_rounds_to_zero_reads_0_00_not_minus():
    """SCC's table printed -0.00 for an ICC of -2e-09."""
    from aukit.report.tables import to_markdown
    long = compare(pd.DataFrame({"AU01": [-2e-9], "Avg": [-0.004]}, index=["m"]), None, measured_label="x")
    md = to_markdown(long)
    assert "| m | x | 0.00 | 0.00 |" in md and "-0.00" not in md
    assert "| m | x | -0.013 |" in to_markdown(compare(pd.DataFrame({"Avg": [-0.0126]}, index=["m"]), None,
                                                        measured_label="x"), decimals=3)


def test_every_figure_says_what_it_was_measured_on_below_its_axes(tmp_path):
    """SCC's figures (fig5, fig7, fig8) carried no dataset: copied out of the report, a SynthAU
    heatmap read as the paper's."""
    import matplotlib
    matplotlib.use("Agg")
    r = Report("scc", out_dir=tmp_path, dataset="synthau-disfa", preset="quick", seeds=[0, 1], device="cpu")
    fig = viz.intensity_curves(np.arange(10) % 6, {"m": np.arange(10) % 5})
    r.add_figure("curve", fig)
    r.add_figure("curve", fig)                       # a second save keeps one stamp
    stamps = [t for t in fig.texts if t.get_gid() == "aukit-stamp"]
    assert [t.get_text() for t in stamps] == [r.measured_label] and "synthau-disfa" in r.measured_label
    # below every axis and tick label: the saved figure grew downwards to hold it, overlapping nothing
    text_top = stamps[0].get_window_extent().y1
    assert all(ax.get_tightbbox().y0 >= text_top for ax in fig.axes)


def test_a_report_starts_from_an_empty_folder_but_keeps_checks(tmp_path):
    """A notebook run by hand (not through aukit run, which clears first) showed the last run's
    fig6_k_sweep.png as its own, although this run drew no Fig. 6."""
    old = tmp_path / "scc"
    for rel in ("figures/fig6_k_sweep.png", "tables/table2.md", "metrics.json", "checks/t1/README.md"):
        (old / rel).parent.mkdir(parents=True, exist_ok=True)
        (old / rel).write_text("from the last run")
    Report("scc", out_dir=tmp_path, dataset="synthau-disfa", preset="quick", seeds=[0], device="cpu")
    assert not (old / "figures").exists() and not (old / "tables").exists() and not (old / "metrics.json").exists()
    assert (old / "checks/t1/README.md").read_text() == "from the last run"


def test_index_puts_a_percent_reference_on_the_measured_scale(tmp_path):
    """index.md put F1 0.0872 beside 'reported 64.4': the tables multiply by 100, the index did not."""
    r = Report("piap_df", out_dir=tmp_path, dataset="synthau-bp4d", preset="quick", seeds=[0], device="cpu")
    r.add_metrics(f1_piap_df=0.0872)
    r.headline("f1_piap_df")
    r.add_reference("f1_piap_df", "piap_df", "table3", "PIAP-DF")
    r.write()
    text = write_index(tmp_path).read_text()
    assert "f1_piap_df 0.0872 (reported 0.644, printed 64.4%: PIAP-DF Table 3" in text


def test_index_lists_the_sweeps_with_their_finished_cells(tmp_path):
    """A sweep's aggregate was in no index: reports/index.md listed the paper runs only."""
    sweep = tmp_path / "scc" / "sweeps" / "folds"
    for cell, done in (("fold=1", True), ("fold=2", True), ("fold=3", False)):
        (sweep / cell).mkdir(parents=True)
        (sweep / cell / "params.json").write_text("{}")
        if done:
            (sweep / cell / "metrics.json").write_text("{}")
    (sweep / "aggregate.md").write_text("measured")
    (tmp_path / "tas" / "sweeps" / "empty").mkdir(parents=True)         # no aggregate yet: not listed
    text = write_index(tmp_path).read_text()
    assert "## Sweeps" in text and "- scc: `folds`, 2 of 3 cells finished: [aggregate](scc/sweeps/folds/aggregate.md)" \
        in text and "`empty`" not in text
    assert "## Sweeps" not in write_index(tmp_path / "none").read_text()


def test_compare_scales_the_std_row_with_the_measured_row():
    """Catches the measured std left unscaled: an F1 table in % printed "45.00 ± 0.02" for a 2-point spread."""
    m = pd.DataFrame({"AU01": [0.45], "Avg": [0.5]}, index=["A"])
    s = pd.DataFrame({"AU01": [0.02], "Avg": [0.01]}, index=["A"])
    long = compare(m, None, measured_label="x", measured_std=s, scale=100).set_index("kind")
    assert long.loc["measured", "AU01"] == pytest.approx(45.0) and long.loc["measured", "Avg"] == pytest.approx(50.0)
    assert long.loc["measured_std", "AU01"] == pytest.approx(2.0)
    assert long.loc["measured_std", "Avg"] == pytest.approx(1.0)


def test_a_run_without_a_side_set_its_paper_read_is_not_the_papers_setup(tmp_path, monkeypatch):
    """RTATL with -p unlabelled "" (no unlabelled faces) and PIAP-DF without BP4D's uncoded frames or DISFA
    in x_u got difference rows with nothing said."""
    from aukit.data import sidesets, splits
    from aukit.methods.piap_df.experiment import unlabelled_sets_for
    from aukit.methods.rtatl.data import unlabelled_for
    assert unlabelled_for("synthau-bp4d", "") is None and sidesets.LACKING == []      # SynthAU: no paper setup
    assert unlabelled_for("bp4d", "") is None
    assert sidesets.LACKING == ["RTATL's unlabelled faces (§4.1: 100,000 EmotioNet images)"]
    sidesets.LACKING.clear()
    assert unlabelled_sets_for("bp4d", "disfa") == ("disfa",)
    assert sidesets.LACKING == ["BP4D's unlabelled frames in DF's x_u (§3.3)"]
    monkeypatch.setattr(splits, "USED", {"bp4d": 1})
    rep = Report("piap_df", folder=tmp_path / "r", dataset="bp4d", preset="full", seeds=[0], device="cpu",
                 weights="b1.pth")
    rep.add_table("t", pd.DataFrame({"Avg": [50.0]}, index=["PIAP"]), R.table("piap_df", "table1"), scale=1.0)
    md = (tmp_path / "r/tables/t.md").read_text()
    assert "difference" not in set(pd.read_csv(tmp_path / "r/tables/t.csv").kind)
    assert "it ran without BP4D's unlabelled frames in DF's x_u (§3.3)" in md
    rep.add_metrics(f1_avg=0.5)
    rep.write()
    m = json.loads((tmp_path / "r/metrics.json").read_text())
    assert m["lacking_side_sets"] == ["BP4D's unlabelled frames in DF's x_u (§3.3)"]
    assert m["trunk_start"] == "ImageNet file b1.pth"


def test_a_value_equal_to_what_the_presets_default_stands_for_is_no_change():
    """`-p T 16` on TAS's full preset is the paper's T (the notebook's default 0 stands for it there) and
    labelled the table 'changed: T=16', which drops its difference rows. On quick 16 is a change."""
    from aukit import nb
    assert nb.changed_parameters("tas", {"preset": "full", "T": 16, "batch_size": 16, "epochs": 20, "steps": 0}) == {}
    assert nb.changed_parameters("tas", {"preset": "full", "T": 8}) == {"T": 8}
    assert nb.changed_parameters("tas", {"T": 16, "steps": 10}) == {"T": 16}          # quick: T 8, 10 steps
    assert nb.changed_parameters("tas", {"smoke": True, "T": 4, "batch_size": 2}) == {}
    assert nb.changed_parameters("cpc", {"preset": "full", "seq_len": 15, "context": 10, "pretrain_batch": 20,
                                         "pretrain_epochs": 300, "image_size": 128, "val_clips": 512}) == {}
    assert nb.changed_parameters("cpc", {"preset": "full", "image_size": 64, "seq_len": 8}) == \
        {"image_size": 64, "seq_len": 8}
    assert nb.changed_parameters("cpc", {"seq_len": 15}) == {"seq_len": 15}            # quick: 8
    assert nb.changed_parameters("piap_df", {"preset": "full", "epochs": 20, "steps": 0}) == {}
    assert nb.changed_parameters("piap_df", {"epochs": 3, "steps": 40}) == {}              # quick's
    assert nb.changed_parameters("piap_df", {"epochs": 20}) == {"epochs": 20}
    for paper in ("tas", "cpc", "rtatl", "piap_df", "scc"):   # checkpoints change where weights are kept, not results
        assert nb.changed_parameters(paper, {"preset": "full", "checkpoints": 0}) == {}


def test_run_yaml_names_each_folds_subjects_and_where_its_parts_came_from(tmp_path):
    """run.yaml recorded `fold: 1` only: which subjects trained and tested (a copy with one more subject
    reshuffles a round-robin split) was in the executed notebook's printout alone."""
    from aukit.data import splits
    train, test = splits.fold_subjects("bp4d", 2, present=sorted(splits.BP4D_PARTS["part1"] + splits.BP4D_PARTS[
        "part2"] + splits.BP4D_PARTS["part3"]))
    _, out, _, _ = build(tmp_path, "bp4d")
    got = yaml.safe_load((tmp_path / "tas" / "run.yaml").read_text())["splits"]["bp4d"]
    assert got["fold"] == 2 and got["test"] == sorted(splits.BP4D_PARTS["part2"]) and got["train"] == sorted(train)
    assert "JAA-Net" in got["source"] and set(got["test"]) == set(test)


def test_a_reported_label_writes_every_dataset_of_a_table_as_the_paper_does():
    """CPC's Table 1 is on DISFA and Aff-Wild2: its rows read "reported (CPC, disfa, affwild2; ...)"."""
    from aukit import reported
    label = Report.reported_label(reported.table("cpc", "table1"), False)
    assert label == "reported (CPC, DISFA, Aff-Wild2; different dataset)"
    assert Report.reported_label(reported.table("tas", "table1_bp4d_icc"), True) == "reported (TAS, BP4D)"
