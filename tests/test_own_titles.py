"""What the five papers' tables say on a dataset of your own (a manifest entry with a `layout:`), which no paper
reports: TAS titled them "A6 vs semi-supervised methods" and "vs fully supervised methods" over its measured rows
alone, PIAP-DF wrote a "table1_comparison" that repeated Table 3's two rows, CPC's Table 1 hid the paper's
Aff-Wild2 row from the pool row (pre-training on the pool never reads the target), and CPC's Tables 2 and 3
did not say why no paper row stood there. On the papers' datasets the committed tables rebuild byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

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
