"""Mutation round 2, aukit.report.tables and aukit.report.index: the column names a paper table
spells its average with, the std folded into a measured row only, printed-order ties, and what
reports/index.md says of a run (hand-worked expected values)."""
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from aukit.report.index import write_index
from aukit.report.tables import compare, order_groups, to_markdown


# -- tables.compare: the average column under any of its spellings, on both sides ----------------------

def test_measured_average_spellings_become_avg():
    m = pd.DataFrame({"AU01": [0.5], "Average": [0.4]}, index=["m"])
    long = compare(m, None, measured_label="x")
    assert list(long.columns) == ["method", "kind", "label", "AU01", "Avg"]
    assert long.loc[0, "Avg"] == pytest.approx(0.4)
    m2 = pd.DataFrame({"AU01": [0.5], "avg.": [0.3]}, index=["m"])
    assert compare(m2, None, measured_label="x").loc[0, "Avg"] == pytest.approx(0.3)


def test_reported_avg_dot_lines_up_with_measured_avg():
    """A paper table printing 'Avg.' is the same column as the measured 'Avg': one column, and the
    difference row is measured - reported in it (0.40 - 0.25 = 0.15)."""
    m = pd.DataFrame({"AU01": [0.5], "Avg": [0.4]}, index=["ours"])
    r = pd.DataFrame({"AU01": [0.3], "Avg.": [0.25]}, index=["ours"])
    long = compare(m, r, measured_label="x", same_dataset=True).set_index("kind")
    assert [c for c in long.columns if c not in ("method", "label")] == ["AU01", "Avg"]
    assert long.loc["reported", "Avg"] == pytest.approx(0.25)
    assert long.loc["difference", "Avg"] == pytest.approx(0.15)
    assert long.loc["difference", "AU01"] == pytest.approx(0.2)


# -- tables.to_markdown: "m ± s" only on the measured row, no "± nan" ----------------------------------

def test_std_folds_into_the_measured_row_only_and_a_missing_std_is_left_out():
    m = pd.DataFrame({"AU01": [0.5], "Avg": [0.4]}, index=["M"])
    s = pd.DataFrame({"AU01": [np.nan], "Avg": [0.05]}, index=["M"])
    r = pd.DataFrame({"AU01": [0.3], "Avg": [0.2]}, index=["M"])      # reported under the same name
    md = to_markdown(compare(m, r, measured_label="meas", reported_label="rep", measured_std=s))
    rows = [ln for ln in md.splitlines() if ln.startswith("| M |")]
    assert rows == ["| M | meas | 0.50 | 0.40 ± 0.05 |", "| M | rep | 0.30 | 0.20 |"]
    assert "nan" not in md


# -- tables.order_groups: low to high, ties at the printed decimals, non-finite left out -----------------

def test_order_groups_low_to_high_with_printed_ties():
    values = {"a": 0.1234, "b": 0.1231, "c": 0.2, "d": 0.05}
    assert order_groups(values) == [["d"], ["a", "b"], ["c"]]        # a and b both print 0.123
    assert order_groups(values, decimals=4) == [["d"], ["b"], ["a"], ["c"]]


def test_order_groups_leaves_out_rows_without_a_finite_value():
    values = {"a": np.nan, "b": 1.0, "c": None, "d": np.inf, "e": 0.5}
    assert order_groups(values) == [["e"], ["b"]]


# -- index.write_index -----------------------------------------------------------------------------------

def _folder(root, name, metrics, run=None, refs=None):
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics))
    if run is not None:
        (d / "run.yaml").write_text(yaml.safe_dump(run))
    if refs is not None:
        (d / "reported.json").write_text(json.dumps(refs))
    return d


def _row(text, slug):
    return next(ln for ln in text.splitlines() if ln.startswith(f"| {slug} |"))


def test_index_row_reads_run_yaml_and_metrics(tmp_path):
    """commit cut to 10 characters with ' (dirty)', date from run.yaml's created (19 characters), the
    headline to 3 significant digits with the reference beside it (a table with no unit: no % rescale)."""
    _folder(tmp_path, "tas", {"slug": "tas", "headline": ["icc_avg"], "icc_avg": 0.51234, "dataset": "synthau-bp4d",
                              "preset": "smoke", "device": "cpu", "written": "2020-01-01T00:00:00"},
            run={"commit": "0123456789abcdef", "dirty": True, "created": "2026-11-25T10:11:12.345678"},
            refs={"icc_avg": {"paper": "tas", "table": "no_such_table", "value": 0.6, "source": "TAS Table 1"}})
    row = _row(write_index(tmp_path).read_text(), "tas")
    assert row == ("| tas | icc_avg 0.512 (reported 0.6: TAS Table 1) | synthau-bp4d | smoke | cpu | "
                   "2026-11-25T10:11:12 | 0123456789 (dirty) | [folder](tas/) |")


def test_index_row_without_run_yaml_takes_the_metrics_date_and_a_clean_commit_is_not_dirty(tmp_path):
    _folder(tmp_path, "scc", {"slug": "scc", "headline": [], "dataset": "bp4d", "preset": "full",
                              "device": "cuda", "written": "2026-01-02T03:04:05.999"},
            run={"commit": "abc", "dirty": False})
    _folder(tmp_path, "cpc", {"slug": "cpc", "headline": [], "written": "2026-03-04T05:06:07"})
    text = write_index(tmp_path).read_text()
    assert _row(text, "scc") == "| scc | - | bp4d | full | cuda | 2026-01-02T03:04:05 | abc | [folder](scc/) |"
    assert _row(text, "cpc") == "| cpc | - | ? | ? | ? | 2026-03-04T05:06:07 | unknown | [folder](cpc/) |"


def test_a_folder_whose_run_lock_is_left_is_not_listed_but_named(tmp_path):
    from aukit.nb import RUN_LOCK
    _folder(tmp_path, "done_run", {"slug": "done_run", "headline": []})
    live = _folder(tmp_path, "live_run", {"slug": "live_run", "headline": []})
    (live / RUN_LOCK).write_text("host 123")
    text = write_index(tmp_path).read_text()
    assert "| done_run |" in text and "| live_run |" not in text
    assert text.rstrip().endswith(f"({RUN_LOCK} left in the folder): live_run.")
