"""The papers' reported numbers, as data (one ``<paper>.yaml`` per paper).

These numbers are for comparison only: a report shows them beside the measured
ones, labelled with the paper and the dataset they come from, and never in place
of a measured value.

Schema of ``<paper>.yaml``::

    paper: tas
    title: ...
    tables:
      <key>:                       # e.g. table1_bp4d_icc
        table: 1                   # the paper's table number
        caption: ...
        dataset: bp4d              # aukit dataset name of the paper's data
        metric: "ICC"              # or "ICC, MAE" for small non-per-AU tables
        decimals: 2                # as printed; sets the rounding tolerance
        aus: [AU06, ...]           # per-AU tables (rows carry ``avg``), or
        columns: [ICC, MAE]        # other tables
        rows:
          - method: Ours
            values: [...]          # null where the paper prints "-"
            avg: 0.71              # the paper's own Avg column (per-AU tables)
            avg_note: ...          # only where the paper's Avg disagrees with its values
            setting: {...}         # optional: ablation switches of the row
            source: "TAS Table 1, BP4D ICC, row Ours"
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = ["PAPERS", "PROTOCOLS", "IMAGENET_START", "protocol", "load", "table", "keys", "avg_mismatches"]

PAPERS = ("tas", "cpc", "rtatl", "piap_df", "scc")
# The split each paper's BP4D / DISFA numbers were measured on (their Datasets sections): "fera" is
# FERA2015's 21 train / 20 test subjects, "3-fold" the mean over the three subject-exclusive folds.
PROTOCOLS = {"tas": {"bp4d": "fera", "disfa": "3-fold"}, "cpc": {"bp4d": "fera", "disfa": "3-fold"},
             "scc": {"bp4d": "fera", "disfa": "3-fold"}, "rtatl": {"bp4d": "3-fold", "disfa": "3-fold"},
             "piap_df": {"bp4d": "3-fold", "disfa": "3-fold"}}

# The papers whose trunk starts from ImageNet weights (a run from random weights is not their setup).
# TAS names no initialisation and CPC trains its own from scratch (§3.3).
IMAGENET_START = {"rtatl": "ResNet-18, §4.2", "piap_df": "EfficientNet-B1, §3.1",
                  "scc": "ResNet-50 after Xiao et al. 2018, Implementation Details"}


def protocol(attrs: dict) -> str | None:
    """The split of a reported table (its ``attrs``): "fera", "3-fold", "one fold" (CPC's DISFA
    ablations, on its unnamed "most challenging fold") or None when not known."""
    if "most challenging fold" in str(attrs.get("caption", "")):
        return "one fold"
    return PROTOCOLS.get(attrs.get("paper"), {}).get(attrs.get("dataset"))
_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _load(paper: str) -> dict:
    path = _DIR / f"{paper}.yaml"
    if not path.is_file():
        raise ValueError(f"no reported numbers for paper {paper!r}: {path} missing; known: {PAPERS}")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    for key, block in data["tables"].items():
        names = block.get("aus") or block.get("columns")
        if not names:
            raise ValueError(f"{path}: table {key!r} has neither 'aus' nor 'columns'")
        for i, row in enumerate(block["rows"]):
            if len(row["values"]) != len(names):
                raise ValueError(f"{path}: table {key!r} row {i} ({row.get('method')}) has "
                                 f"{len(row['values'])} values for {len(names)} columns")
    return data


def load(paper: str) -> dict:
    """The parsed ``<paper>.yaml`` (a fresh copy is not made: do not mutate it)."""
    return _load(paper)


def keys(paper: str) -> list[str]:
    """Table keys of one paper, in file order."""
    return list(_load(paper)["tables"])


def table(paper: str, key: str) -> pd.DataFrame:
    """One reported table as a DataFrame: rows = methods, columns = AUs + "Avg" (or the
    table's own columns). Missing entries ("-") are NaN. ``df.attrs`` holds paper, key,
    table, dataset, metric, caption, decimals, unit and the per-row sources."""
    data = _load(paper)
    if key not in data["tables"]:
        raise KeyError(f"{paper}: no table {key!r}; known: {list(data['tables'])}")
    block = data["tables"][key]
    per_au = "aus" in block
    cols = list(block["aus"]) + ["Avg"] if per_au else list(block["columns"])
    rows = []
    for row in block["rows"]:
        vals = [np.nan if v is None else float(v) for v in row["values"]]
        if per_au:
            vals.append(np.nan if row.get("avg") is None else float(row["avg"]))
        rows.append(vals)
    df = pd.DataFrame(rows, index=pd.Index([r["method"] for r in block["rows"]], name="method"), columns=cols)
    df.attrs.update(
        paper=paper, key=key, table=block["table"], dataset=block["dataset"], metric=block["metric"],
        caption=block["caption"], decimals=block["decimals"], unit=block.get("unit", ""),
        sources={r["method"]: r["source"] for r in block["rows"]},
    )
    return df


def avg_mismatches(paper: str, tolerance: float | None = None) -> list[dict]:
    """Rows whose per-AU values do not average to the paper's Avg within rounding.

    The tolerance defaults to 1.1 units of the last printed decimal (both the values
    and the Avg are rounded). Each entry: key, method, mean, avg, diff, avg_note.
    """
    out = []
    for key, block in _load(paper)["tables"].items():
        if "aus" not in block:
            continue
        tol = tolerance if tolerance is not None else 1.1 * 10 ** -block["decimals"]
        for row in block["rows"]:
            if row.get("avg") is None or any(v is None for v in row["values"]):
                continue
            mean = float(np.mean(row["values"]))
            diff = mean - float(row["avg"])
            if abs(diff) > tol:
                out.append(dict(key=key, method=row["method"], mean=mean, avg=float(row["avg"]),
                                diff=diff, avg_note=row.get("avg_note")))
    return out
