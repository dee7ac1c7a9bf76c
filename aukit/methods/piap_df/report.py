"""PIAP-DF tables: the ablation (Table 3) and PIAP / PIAP-DF beside the methods the paper compares with
(Table 1 on BP4D, Table 2 on DISFA), measured beside reported through ``aukit.report``."""
from __future__ import annotations

import pandas as pd

from aukit import reported
from aukit.methods.aus import family
from aukit.report import Report
from aukit.report.flags import UNDEFINED_MARK, undefined_aus

COMPARED = ("PIAP", "PIAP-DF")     # the variants the paper's Tables 1 and 2 list as its own


def in_percent(mean: pd.DataFrame, flags: dict) -> pd.DataFrame:
    """``mean`` (variants x AUs, 0-1) in % to one decimal, as the tables show it: an F1 undefined in every seed (no
    positive test label) reads ``n/a†``, not the 0.0 the metric returns for it."""
    shown = (mean * 100).round(1).astype(object)
    for variant, fl in (flags or {}).items():
        for au in undefined_aus(fl) & set(shown.columns):
            if variant in shown.index:
                shown.loc[variant, au] = f"n/a{UNDEFINED_MARK}"
    return shown


def add_ablation_table(report: Report, mean: pd.DataFrame, std: pd.DataFrame, flags: dict) -> pd.DataFrame:
    """Table 3: every variant's F1 per AU (``mean`` / ``std`` over seeds, 0-1; the table in %) beside the paper's
    BP4D ablation; ``flags`` (:func:`.experiment.f1_flags`) name the undefined and never-predicted AUs. Returns
    the measured rows for the notebook (:func:`in_percent`)."""
    report.add_table("table3_ablation", mean, reported.table("piap_df", "table3"), measured_std=std,
                     flags=flags or None)
    return in_percent(mean, flags)


def add_comparison_table(report: Report, mean: pd.DataFrame, std: pd.DataFrame,
                         flags: dict) -> pd.DataFrame | None:
    """Table 1 (BP4D) or Table 2 (DISFA): PIAP and PIAP-DF beside the
    methods the paper compares with; returns their rows in % for the notebook, as the table shows them. A dataset
    of your own gets none (printed): no paper reports it, so the table would only repeat Table 3's two rows under
    the paper's name."""
    if report.own_dataset:
        print(f"no comparison table: no paper reports {report.dataset} (a dataset of your own); PIAP and PIAP-DF "
              "are in Table 3")
        return None
    key = "table2" if family(report.dataset) == "disfa" else "table1"
    rows = [v for v in COMPARED if v in mean.index]
    report.add_table(f"{key}_comparison", mean.loc[rows], reported.table("piap_df", key), measured_std=std.loc[rows],
                     flags={v: f for v, f in flags.items() if v in rows} or None)
    return in_percent(mean.loc[rows], flags)
