"""What the five papers' tables say on a dataset of your own (a manifest entry with a `layout:`), which no paper
reports: TAS titled them "A6 vs semi-supervised methods" and "vs fully supervised methods" over its measured rows
alone, PIAP-DF wrote a "table1_comparison" that repeated Table 3's two rows, CPC's Table 1 hid the paper's
Aff-Wild2 row from the pool row (pre-training on the pool never reads the target), and CPC's Tables 2 and 3
did not say why no paper row stood there. On the papers' datasets the committed tables rebuild byte for byte."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPORTS = Path(__file__).resolve().parent.parent / "reports"


@pytest.fixture
def mylab(tmp_path, monkeypatch):
    """A manifest copy in use (AUKIT_MANIFEST) with 'mylab', a dataset of the user's own in the table layout."""
    from aukit.data import manifest as M
    entries = yaml.safe_load(M.MANIFEST_PATH.read_text())
    entries["mylab"] = {"layout": "table", "root": str(tmp_path / "mylab"), "intensity_aus": [6, 10, 12],
                        "patterns": {"frames": "frames/{subject}/{sequence}/{frame}.jpg",
                                     "labels": "labels/{subject}_{sequence}.csv"}}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(entries))
    monkeypatch.setenv("AUKIT_MANIFEST", str(path))
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)
    return "mylab"


def _report(slug, tmp_path, dataset, preset="smoke", seeds=(0,)):
    from aukit.report import Report
    return Report(slug, folder=tmp_path / slug, dataset=dataset, preset=preset, seeds=list(seeds), device="cpu")


def _md(report, name) -> str:
    return (report.dir / "tables" / f"{name}.md").read_text(encoding="utf-8")


def _title(md: str) -> str:
    return md.splitlines()[0].removeprefix("### ")


# -- aukit.report: the note on every table of a dataset of your own ------------------------------------------


def test_every_table_of_your_own_dataset_says_no_paper_reports_it(mylab, tmp_path):
    """A table given no reported rows (CPC's Tables 2 and 3 beside a target that is not DISFA) had no note."""
    rep = _report("cpc", tmp_path, mylab)
    rep.add_table("table2_icc", pd.DataFrame({"AU06": [0.1], "Avg": [0.1]}, index=["R18 2%"]), None)
    assert "No paper reports mylab (a dataset of your own): the papers' rows are not shown." in _md(rep, "table2_icc")


def test_reported_rows_about_another_dataset_stay_on_your_own(mylab, tmp_path):
    """compared_on: rows measured on another dataset (CPC's pool) keep the paper's row of that dataset; the notes
    name it, never the user's dataset as measured beside it. Without it a dataset of your own drops them."""
    from aukit import reported
    ref = reported.table("tas", "table2_bp4d")
    row = pd.DataFrame({"ICC": [0.5], "MAE": [0.6]}, index=["TAS (ours)"])
    rep = _report("tas", tmp_path, mylab)
    rep.add_table("kept", row, ref, row_map={"TAS (ours)": "Ours"}, compared_on="synthau-bp4d")
    rep.add_table("dropped", row, ref, row_map={"TAS (ours)": "Ours"})
    kept, dropped = _md(rep, "kept"), _md(rep, "dropped")
    assert "| Ours | reported (TAS, BP4D; different dataset) |" in kept
    assert "the reported rows are the paper's on BP4D, beside the rows measured on synthau-bp4d" in kept
    assert "measured on synthau-bp4d, reported on bp4d" in kept and "measured on mylab" not in kept
    assert "reported" not in pd.read_csv(rep.dir / "tables" / "dropped.csv")["kind"].tolist()
    assert "the papers' rows are not shown" in dropped
    # a sweep over runs on a dataset of your own averages them alone (report.folds reloads the whole table)
    assert json.loads((rep.dir / "tables" / "kept.json").read_text())["reported"] is None


# -- TAS ---------------------------------------------------------------------------------------------------


def _tas_data(dataset, aus):
    from aukit.methods.tas.data import TASData
    empty = np.zeros(0, np.int64)
    return TASData(dataset, None, list(aus), np.zeros((0, len(aus)), np.float32), empty, empty, empty,
                   np.zeros((0, 4), np.int64), empty, [], [])


def _tas_run(values: dict, flags: dict | None = None) -> dict:
    """One seed's metrics as experiment.train_eval records them: icc_<AU>/mae_<AU>, icc_avg/mae_avg, flags."""
    return {"seed": 0, **values, "flags": dict(flags or {})}


def test_tas_titles_on_your_own_dataset_name_what_the_tables_hold(mylab, tmp_path):
    from aukit.methods.tas import reporting as R
    aus = ["AU06", "AU10", "AU12"]
    vals = {f"{m}_{a}": 0.1 for m in ("icc", "mae") for a in aus} | {"icc_avg": 0.1, "mae_avg": 0.1}
    results = {"A1": {"runs": [_tas_run(vals)]}, "A6": {"runs": [_tas_run(vals)]}}
    data = _tas_data(mylab, aus)
    rep = _report("tas", tmp_path, mylab)
    R.add_table1(rep, data, results)
    R.add_overall_table(rep, "table2", data, {R.PAPER_NAME: results["A6"]}, row_map={R.PAPER_NAME: "Ours"})
    R.add_overall_table(rep, "table3", data, results)
    titles = {n: _title(_md(rep, n)) for n in ("table1_icc", "table1_mae", "table2", "table3")}
    assert titles == {"table1_icc": "Table 1 (ICC): A6 per AU on mylab",
                      "table1_mae": "Table 1 (MAE): A6 per AU on mylab",
                      "table2": "Table 2: TAS on mylab, ICC and MAE averaged over AUs",
                      "table3": "Table 3: ablation (ICC up, MAE down)"}
    assert R.table_title("table2", "synthau-bp4d") == "Table 2: vs fully supervised methods"
    # Fig. 4's AU, named in its file: AU12 where the data codes it, else the data's first AU
    assert R.fig4_au(data) == "AU12" and R.fig4_au(_tas_data(mylab, ["AU06", "AU10"])) == "AU06"


def _measured(csv: Path) -> pd.DataFrame:
    long = pd.read_csv(csv)
    return long[long["kind"] == "measured"].set_index("method").drop(columns=["kind", "label"])


def _committed(paper: str, name: str, folder: Path | None = None) -> tuple[str, dict, pd.DataFrame]:
    folder = folder or REPORTS / paper / "tables"
    return ((folder / f"{name}.md").read_text(encoding="utf-8"),
            json.loads((folder / f"{name}.json").read_text(encoding="utf-8")), _measured(folder / f"{name}.csv"))


def _as_recorded(monkeypatch, record: dict) -> None:
    """The run state a committed table's record names: the fold its loaders split by, no parameter changed."""
    from aukit.data import splits
    monkeypatch.setitem(splits.USED, record["dataset"], record["fold"])
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)


def _tas_floor(measured: pd.DataFrame, column: str) -> tuple[pd.DataFrame, dict | None]:
    """A TAS table's measured rows without the floor's row, and the floor that row records (None where the table
    has none: written before the floor was shown)."""
    from aukit.methods.tas import experiment as E
    from aukit.methods.tas import reporting as R
    names = {R.floor_row({"floor_constant": k}): k for k in E.CONSTANTS}
    found = [n for n in measured.index if n in names]
    if not found:
        return measured, None
    row = measured.loc[found[0]]
    floor = {"floor_constant": names[found[0]], "floor_mae_avg": row[column]}
    floor |= {f"floor_mae_{c}": row[c] for c in measured.columns if c not in ("Avg", "ICC", "MAE")}
    return measured.drop(index=found), floor


def _tas_rebuilt(folder: Path, tmp_path, monkeypatch) -> tuple[list[str], list[str]]:
    """TAS's Tables 1-3 in ``folder`` (Markdown) and the same tables written again from their measured rows."""
    from aukit.methods.tas import reporting as R
    md_icc, rec, icc = _committed("tas", "table1_icc", folder)
    md_mae, rec_mae, mae = _committed("tas", "table1_mae", folder)
    md2, _, t2 = _committed("tas", "table2", folder)
    md3, rec3, t3 = _committed("tas", "table3", folder)
    (mae, floor1), (t2, floor2), (t3, floor3) = _tas_floor(mae, "Avg"), _tas_floor(t2, "MAE"), _tas_floor(t3, "MAE")
    _as_recorded(monkeypatch, rec)
    aus = [c for c in icc.columns if c != "Avg"]
    ours = icc.index[0]
    flags = {f"icc_{a}": f for a, f in rec["flags"].get(ours, {}).items()}
    flags |= {f"mae_{a}": f for a, f in rec_mae["flags"].get(ours, {}).items()}
    a6 = {f"icc_{a}": icc.loc[ours, a] for a in aus} | {f"mae_{a}": mae.loc[ours, a] for a in aus}
    a6 |= {"icc_avg": t2.loc[ours, "ICC"], "mae_avg": t2.loc[ours, "MAE"]}
    table1 = {f"icc_{a}": icc.loc[ours, a] for a in aus} | {f"mae_{a}": mae.loc[ours, a] for a in aus}
    table1 |= {"icc_avg": icc.loc[ours, "Avg"], "mae_avg": mae.loc[ours, "Avg"]}
    data = _tas_data(rec["dataset"], aus)
    rep = _report("tas", tmp_path, rec["dataset"], preset=rec["preset"], seeds=rec["seeds"])
    R.add_table1(rep, data, {"A6": {"runs": [_tas_run(table1, flags)]}}, floor=floor1)
    R.add_overall_table(rep, "table2", data, {R.PAPER_NAME: {"runs": [_tas_run(a6, flags)]}},
                        row_map={R.PAPER_NAME: "Ours"}, floor=floor2)
    ablation = {v: {"runs": [_tas_run({f"{m}_{a}": 0.0 for m in ("icc", "mae") for a in aus}
                                      | {"icc_avg": t3.loc[v, "ICC"], "mae_avg": t3.loc[v, "MAE"]},
                                      {f"icc_{a}": f for a, f in rec3.get("flags", {}).get(v, {}).items()})]}
                for v in t3.index}
    R.add_overall_table(rep, "table3", data, ablation, floor=floor3)
    return [md_icc, md_mae, md2, md3], [_md(rep, n) for n in ("table1_icc", "table1_mae", "table2", "table3")]


def test_tas_committed_tables_rebuild_byte_for_byte(tmp_path, monkeypatch):
    """reports/tas/tables/*.md from their measured rows: the titles moved out of the notebook into
    reporting.TITLES, and the papers' datasets keep them."""
    committed, rebuilt = _tas_rebuilt(REPORTS / "tas" / "tables", tmp_path, monkeypatch)
    assert rebuilt == committed


def test_tas_tables_with_the_floor_rebuild_byte_for_byte(tmp_path, monkeypatch):
    """Tables written with the floor's row (as a run now writes them, the committed ones once reproduced)
    rebuild from their measured rows too, the floor row and its note with them."""
    from aukit.data import splits
    from aukit.methods.tas import reporting as R
    monkeypatch.setitem(splits.USED, "synthau-bp4d", "fera")
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)
    aus = ["AU06", "AU12"]
    floor = {"floor_constant": "zero", "floor_mae_avg": 0.278, "floor_mae_AU06": 0.2, "floor_mae_AU12": 0.356}
    run = lambda icc, mae: _tas_run({f"{m}_{a}": v for m, v in (("icc", icc), ("mae", mae)) for a in aus}  # noqa: E731
                                    | {"icc_avg": icc, "mae_avg": mae})
    data = _tas_data("synthau-bp4d", aus)
    rep = _report("tas", tmp_path / "run", "synthau-bp4d", preset="quick")
    R.add_table1(rep, data, {"A6": {"runs": [run(0.01, 0.452)]}}, floor=floor)
    R.add_overall_table(rep, "table2", data, {R.PAPER_NAME: {"runs": [run(0.01, 0.452)]}},
                        row_map={R.PAPER_NAME: "Ours"}, floor=floor)
    R.add_overall_table(rep, "table3", data, {"A1": {"runs": [run(0.1, 0.2)]}, "A6": {"runs": [run(0.01, 0.452)]}},
                        floor=floor)
    committed, rebuilt = _tas_rebuilt(rep.dir / "tables", tmp_path / "again", monkeypatch)
    assert "constant 0 (floor)" in committed[1] and "does not beat it" in committed[3]
    assert rebuilt == committed


# -- CPC ---------------------------------------------------------------------------------------------------


def _cpc_results(dataset, pool, aus=("AU06", "AU10", "AU12")):
    from aukit.methods.cpc.experiment import VARIANTS_2PCT, Results
    scores = {"icc": {**{a: 0.1 for a in aus}, "avg": 0.1}, "mae": {**{a: 0.5 for a in aus}, "avg": 0.5}}
    val = {"history": [], "val": {"top1": 0.2, "top3": 0.5, "top5": 0.7}}
    pretext = {"target": val, "pool": val} if pool else {"target": val}
    variants = [v for v in VARIANTS_2PCT if pool or "pool" not in v]
    return Results(dataset, pool, list(aus), [0], "cpu", per_seed=[{v: scores for v in variants}],
                   pretext=[pretext], const=[{"icc": {"avg": 0.0}, "mae": {"avg": 0.6}}],
                   const_median=[{"mae": {"avg": 0.55}}], configs={"sparse": {"label_fraction": 0.02}})


@pytest.mark.parametrize("pool, differenced", [("synthau-affwild2", False), ("affwild2", True)])
def test_cpc_table1_on_your_own_dataset_keeps_the_pool_beside_aff_wild2(mylab, tmp_path, pool, differenced):
    """The pool row sat alone on a dataset of your own, as if the paper had no number for pre-training on
    Aff-Wild2; the target row has none (the paper's DISFA row is another dataset's pre-training)."""
    from aukit.methods.cpc.report import write_report
    write_report(_cpc_results(mylab, pool), tmp_path / "r", preset="full")
    t1 = pd.read_csv(tmp_path / "r" / "tables" / "table1_pretext_topn.csv")
    rows = list(zip(t1["method"], t1["kind"]))
    assert rows[:3] == [("target (mylab)", "measured"), (f"pool ({pool})", "measured"), ("Aff-Wild2", "reported")]
    assert "DISFA" not in set(t1["method"]) and (t1["kind"] == "difference").any() == differenced
    md = (tmp_path / "r" / "tables" / "table1_pretext_topn.md").read_text()
    assert f"the reported rows are the paper's on Aff-Wild2, beside the rows measured on {pool}" in md
    assert "measured on mylab" not in md
    t2 = (tmp_path / "r" / "tables" / "table2_icc.md").read_text()
    assert "No paper reports mylab" in t2 and "reported (" not in t2


def test_cpc_table1_without_a_pool_on_your_own_dataset_stands_alone(mylab, tmp_path):
    from aukit.methods.cpc.report import write_report
    write_report(_cpc_results(mylab, ""), tmp_path / "r", preset="full")
    t1 = pd.read_csv(tmp_path / "r" / "tables" / "table1_pretext_topn.csv")
    assert list(t1["kind"]) == ["measured"] and list(t1["method"]) == ["target (mylab)"]


def test_cpc_committed_table1_rebuilds_byte_for_byte(tmp_path, monkeypatch):
    """reports/cpc/tables/table1_pretext_topn.md (synthau-disfa beside the paper's DISFA and Aff-Wild2 rows)
    from its measured rows: a paper dataset's Table 1 is the one it was."""
    import dataclasses

    from aukit.data import store
    from aukit.methods.cpc.report import write_report
    md, rec, t1 = _committed("cpc", "table1_pretext_topn")
    _as_recorded(monkeypatch, rec)
    # the committed run's store lost frames (no face found): the note under each table says how many
    lost = re.search(r"(\d+) of (\d+) indexed frames have no aligned face \(no face found (\d+), unreadable (\d+)", md)
    no_face, indexed, unreadable = int(lost[3]), int(lost[2]), int(lost[4])
    monkeypatch.setitem(store.OPENED, f"{rec['dataset']}__cpc128__0", {
        "indexed": indexed, "no_face": no_face, "unreadable": unreadable, "frames": indexed - no_face - unreadable})
    sources = {n.split(" ")[0]: n.split("(")[1].rstrip(")") for n in t1.index}
    pretext = {s: {"history": [], "val": {k.lower().replace("-", ""): t1.loc[n, k] for k in t1.columns}}
               for s, n in zip(sources, t1.index)}
    res = dataclasses.replace(_cpc_results(sources["target"], sources["pool"]), pretext=[pretext])
    write_report(res, tmp_path / "r", preset=rec["preset"])
    assert (tmp_path / "r" / "tables" / "table1_pretext_topn.md").read_text(encoding="utf-8") == md


# -- PIAP-DF -----------------------------------------------------------------------------------------------


def _f1(rows, aus, value=0.4):
    return pd.DataFrame(value, index=list(rows), columns=list(aus) + ["Avg"])


def test_piap_df_writes_no_comparison_table_on_your_own_dataset(mylab, tmp_path, capsys):
    """The notebook wrote tables/table1_comparison.md on mylab: Table 3's PIAP rows again, named after the
    paper's BP4D comparison, with nothing to compare them with."""
    from aukit.methods.piap_df import report as R
    mean = _f1(("Baseline", "PIAP", "PIAP-DF"), ("AU06", "AU12"))
    rep = _report("piap_df", tmp_path, mylab)
    R.add_ablation_table(rep, mean, mean * 0, {})
    assert R.add_comparison_table(rep, mean, mean * 0, {}) is None
    assert "no comparison table: no paper reports mylab" in capsys.readouterr().out
    assert sorted(p.name for p in (rep.dir / "tables").glob("*.md")) == ["table3_ablation.md"]
    assert "No paper reports mylab" in _md(rep, "table3_ablation")


@pytest.mark.parametrize("dataset, key", [("synthau-bp4d", "table1"), ("synthau-disfa", "table2")])
def test_piap_df_comparison_on_the_papers_datasets(tmp_path, dataset, key):
    from aukit.methods.piap_df import report as R
    mean = _f1(("Baseline", "PIAP", "PIAP-DF"), ("AU01", "AU02"))
    shown = R.add_comparison_table(_report("piap_df", tmp_path, dataset), mean, mean * 0, {})
    assert list(shown.index) == ["PIAP", "PIAP-DF"] and shown.loc["PIAP", "Avg"] == 40.0
    long = pd.read_csv(tmp_path / "piap_df" / "tables" / f"{key}_comparison.csv")
    assert (long["kind"] == "reported").any()


def test_piap_df_committed_tables_rebuild_byte_for_byte(tmp_path, monkeypatch):
    """reports/piap_df/tables/*.md from their measured rows, through the functions the notebook now calls."""
    from aukit.methods.piap_df import report as R
    md3, rec, t3 = _committed("piap_df", "table3_ablation")
    md1, _, _ = _committed("piap_df", "table1_comparison")
    _as_recorded(monkeypatch, rec)
    t3 = t3 / 100                                                    # the tables print F1 in %, the runs 0-1
    rep = _report("piap_df", tmp_path, rec["dataset"], preset=rec["preset"], seeds=rec["seeds"])
    R.add_ablation_table(rep, t3, t3 * 0, rec["flags"])
    R.add_comparison_table(rep, t3, t3 * 0, rec["flags"])
    assert [_md(rep, "table3_ablation"), _md(rep, "table1_comparison")] == [md3, md1]


# -- RTATL and SCC: their tables already stood alone on a dataset of your own --------------------------------


def test_rtatl_table1_on_your_own_dataset_stands_alone(mylab, tmp_path):
    from aukit.methods.rtatl.experiment import add_table1
    rep = _report("rtatl", tmp_path, mylab)
    mean = _f1(("Backbone^T", "RTATL"), ("AU06", "AU12"))
    add_table1(rep, mean, mean * 0, {})
    long = pd.read_csv(rep.dir / "tables" / "table1.csv")
    assert set(long["kind"]) == {"measured"} and "No paper reports mylab" in _md(rep, "table1")
