"""Measured vs reported tables: one long table per paper table, three kinds of rows
per method (measured, reported, difference), written as CSV and Markdown.

Measured and reported numbers are never mixed in one row: every row carries its
kind and a label saying where it comes from ("measured (synthau-bp4d, smoke, seeds
0,1)" or "reported (TAS, BP4D)"). When the measured dataset is not the paper's
(SynthAU), the difference rows are left out and the table says why.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

__all__ = ["frame_from_results", "compare", "to_markdown", "order_groups", "DIFF_NA"]

DIFF_NA = "n/a: different dataset"


def frame_from_results(results: Mapping[str, Mapping], aus) -> pd.DataFrame:
    """``{method: per_au dict}`` (see :func:`aukit.metrics.per_au`) -> rows = methods,
    columns = AUs + "Avg". Entries may be floats or (mean, std) pairs (means are kept)."""
    rows = {}
    for method, res in results.items():
        vals = [res[str(a)] for a in aus] + [res["avg"]]
        rows[method] = [v[0] if isinstance(v, tuple) else float(v) for v in vals]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[str(a) for a in aus] + ["Avg"])


def _norm_cols(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={c: "Avg" for c in df.columns if str(c).lower() in ("avg", "avg.", "average")})


def compare(measured: pd.DataFrame, reported: pd.DataFrame | None, *, measured_label: str,
            reported_label: str = "reported", same_dataset: bool = False, row_map: Mapping[str, str] | None = None,
            measured_std: pd.DataFrame | None = None, scale: float = 1.0) -> pd.DataFrame:
    """Long table with columns ``method, kind, label, <value columns>``.

    measured/reported: rows = methods, columns = AUs + Avg (or any shared columns).
    row_map maps a measured method name to the reported row it reproduces
    (default: same name). ``scale`` multiplies measured values (and std) before the
    comparison, e.g. 100 for F1 tables printed in %. kind is one of ``measured``,
    ``measured_std``, ``reported``, ``difference`` (measured - reported, only when
    ``same_dataset``). Reported rows without a measured counterpart follow at the end.
    """
    measured = _norm_cols(measured) * scale
    std = None if measured_std is None else _norm_cols(measured_std) * scale
    reported = None if reported is None else _norm_cols(reported)
    cols = list(measured.columns)
    if reported is not None:
        cols += [c for c in reported.columns if c not in cols]
    if "Avg" in cols:             # the reported table's extra AUs (BP4D's beside a DISFA run) go before Avg
        cols = [c for c in cols if c != "Avg"] + ["Avg"]
    row_map = dict(row_map or {})
    records = []

    def add(method, kind, label, series):
        rec = {"method": method, "kind": kind, "label": label}
        rec.update({c: float(series[c]) if c in series.index and pd.notna(series[c]) else np.nan for c in cols})
        records.append(rec)

    used = set()
    for method in measured.index:
        add(method, "measured", measured_label, measured.loc[method])
        if std is not None and method in std.index:
            add(method, "measured_std", measured_label + " std", std.loc[method])
        ref = row_map.get(method, method)
        if reported is not None and ref in reported.index:
            used.add(ref)
            add(ref, "reported", reported_label, reported.loc[ref])
            if same_dataset:
                diff = measured.loc[method].reindex(cols) - reported.loc[ref].reindex(cols)
                add(method, "difference", "measured - reported", diff)
    if reported is not None:
        for ref in reported.index:
            if ref not in used:
                add(ref, "reported", reported_label, reported.loc[ref])
    return pd.DataFrame.from_records(records, columns=["method", "kind", "label"] + cols)


def order_groups(values: Mapping[str, float], decimals: int = 3) -> list[list[str]]:
    """Rows from low to high value, rows equal at ``decimals`` places (as printed) in one group: a tie has no
    order. Rows inside a group keep ``values``' order; rows without a finite value (None, NaN) are left out."""
    groups: dict[float, list[str]] = {}
    for name, v in values.items():
        if v is not None and np.isfinite(v):
            groups.setdefault(round(float(v), decimals), []).append(name)
    return [groups[k] for k in sorted(groups)]


def _cell(v, std, decimals, mark=""):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return f"n/a{mark}" if mark else "-"
    s = f"{v:.{decimals}f}"
    if float(s) == 0:                 # -2e-09 is no negative ICC: "0.00", not "-0.00"
        s = f"{0.0:.{decimals}f}"
    if std is not None and not np.isnan(std):
        s += f" ± {std:.{decimals}f}"
    return s + mark


def to_markdown(long: pd.DataFrame, *, title: str = "", notes: list[str] | None = None, decimals: int = 2,
                marks: Mapping[tuple[str, str], str] | None = None) -> str:
    """Markdown of :func:`compare`'s table; std rows fold into their measured row as "m ± s". ``marks``
    ``{(method, column): mark}`` follow a measured cell's text (an empty one reads "n/a" and its mark:
    :func:`aukit.report.flags.flagged_cells`)."""
    marks = marks or {}
    cols = [c for c in long.columns if c not in ("method", "kind", "label")]
    stds = {r.method: r for r in long.itertuples(index=False) if r.kind == "measured_std"}
    lines = [f"### {title}", ""] if title else []
    lines += ["| method | source | " + " | ".join(map(str, cols)) + " |",
              "|---|---|" + "---:|" * len(cols)]
    for r in long.itertuples(index=False):
        if r.kind == "measured_std":
            continue
        row = dict(zip(long.columns, r))
        srow = dict(zip(long.columns, stds[r.method])) if r.kind == "measured" and r.method in stds else {}
        mark = (lambda c: marks.get((r.method, c), "")) if r.kind == "measured" else (lambda c: "")
        cells = [_cell(row[c], srow.get(c), decimals, mark(c)) for c in cols]
        lines.append(f"| {r.method} | {r.label} | " + " | ".join(cells) + " |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
