"""A sweep's tables beside the paper: each table its runs wrote, averaged over them.

The papers report DISFA (all five) and BP4D for RTATL and PIAP-DF as the mean over three
subject-exclusive folds. One run measures one fold, so its table has no difference rows; a sweep
over ``fold: [1, 2, 3]`` has all three. For every table the runs of a group wrote
(``tables/<name>.csv`` with its ``.json`` record, see :meth:`aukit.report.Report.add_table`),
this averages the measured rows over each fold's runs (seeds), then over the folds, and compares
the mean with the paper's table. Difference rows appear only when the runs are the paper's
protocol: its dataset, its split (all three folds, the FERA2015 split, or one fold, as the table
was measured), the full preset with no changed parameter, complete copies. Otherwise the table
says which of these is missing.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import UNDEFINED
from .flags import parse, words
from .tables import compare, to_markdown
from .writer import _PAPER_NAMES, Report, dataset_name

__all__ = ["fold_tables", "FoldRun"]


class FoldRun:
    """One run's copy of one table: its measured rows (methods x columns) and its record."""

    def __init__(self, csv: Path):
        self.csv = csv
        self.record = json.loads(csv.with_suffix(".json").read_text(encoding="utf-8"))
        long = pd.read_csv(csv)
        rows = long[long["kind"] == "measured"].set_index("method")
        self.measured = rows.drop(columns=["kind", "label"])

    @property
    def fold(self):
        f = self.record.get("fold")
        return int(f) if isinstance(f, (int, float)) or (isinstance(f, str) and f.isdigit()) else f


def _split_text(folds: list) -> str:
    if folds == ["fera"]:
        return "FERA2015 split"
    if folds == [None]:
        return "split not recorded"
    return ("fold " if len(folds) == 1 else "mean of folds ") + ", ".join(map(str, folds))


def _covered(folds: list) -> str:
    """'folds 1, 2' / 'fold 2' / 'the FERA2015 split': what the runs measured, in a sentence."""
    if folds == ["fera"] or folds == [None]:
        return _split_text(folds).replace("FERA2015", "the FERA2015")
    return ("fold " if len(folds) == 1 else "folds ") + ", ".join(map(str, folds))


def _why_no_difference(runs: list[FoldRun], reported: pd.DataFrame | None, folds: list) -> list[str]:
    """What keeps these runs from being the paper's protocol for ``reported`` ([] when nothing)."""
    from ..reported import protocol

    if reported is None:
        return []
    attrs, why = reported.attrs, []
    datasets = sorted({r.record["dataset"] for r in runs})
    if datasets != [attrs["dataset"]]:
        why.append(f"measured on {', '.join(datasets)}, reported on {attrs['dataset']}")
        return why
    want = protocol(attrs)
    if want == "3-fold" and folds != [1, 2, 3]:
        why.append(f"the paper reports the mean over folds 1, 2 and 3; these runs measured {_covered(folds)}")
    elif want == "fera" and folds != ["fera"]:
        why.append(f"the paper used the FERA2015 split; these runs measured {_covered(folds)}")
    elif want == "one fold" and (len(folds) != 1 or folds == ["fera"]):
        why.append(f"the paper used one DISFA fold; these runs measured {_covered(folds)}")
    gaps = sorted({r.record["setup_gap"] for r in runs if r.record.get("setup_gap")})
    why += [f"not the paper's setup: {g}" for g in gaps]
    partial = sorted({p for r in runs for p in r.record.get("partial_copy") or []})
    if partial:                      # one line: each fold's message names the same missing subjects
        why.append(f"PARTIAL COPY: {partial[0]}" + (f" (and {len(partial) - 1} more folds' copies, in the "
                                                     "cells' tables)" if len(partial) > 1 else ""))
    return why


def _average(runs: list[FoldRun]):
    """(folds, mean, std or None, spread words): each fold's runs (seeds) averaged first, then the folds,
    so every fold weighs the same; the std is over the folds' means (one fold: over its runs). Runs are
    aligned by method and column (a method missing from a run is a gap there, kept as NaN)."""
    index = list(dict.fromkeys(m for r in runs for m in r.measured.index))
    columns = list(dict.fromkeys(c for r in runs for c in r.measured.columns))
    by_fold: dict = {}
    for r in runs:
        by_fold.setdefault(r.fold, []).append(r.measured.reindex(index=index, columns=columns).to_numpy(float))
    folds = sorted(by_fold, key=lambda f: (not isinstance(f, int), str(f)))
    fold_means = np.stack([np.mean(by_fold[f], axis=0) for f in folds])
    if len(folds) > 1:
        std, spread = fold_means.std(axis=0, ddof=1), "± std over the folds' means"
    elif len(runs) > 1:
        std, spread = np.std(by_fold[folds[0]], axis=0, ddof=1), "± std over the runs"
    else:
        std, spread = None, ""

    def frame(a):
        return None if a is None else pd.DataFrame(a, index=index, columns=columns)
    return folds, frame(fold_means.mean(axis=0)), frame(std), spread


def _one_table(name: str, runs: list[FoldRun]) -> tuple[pd.DataFrame, list[str], int]:
    """The long table (see :func:`aukit.report.tables.compare`), its notes and decimals."""
    from .. import reported as R

    first = runs[0].record
    ref = first.get("reported")
    reported = R.table(ref["paper"], ref["key"]) if ref else None
    folds, mean, std, spread = _average(runs)
    why = _why_no_difference(runs, reported, folds)
    changed = sorted({", ".join(f"{k}={v}" for k, v in r.record.get("changed", {}).items()) for r in runs} - {""})
    presets = sorted({r.record["preset"] for r in runs})
    partial = ", PARTIAL COPY" if any(r.record.get("partial_copy") for r in runs) else ""
    label = (f"measured ({', '.join(sorted({r.record['dataset'] for r in runs}))}, {_split_text(folds)}{partial}, "
             f"{', '.join(presets)}{', changed: ' + '; '.join(changed) if changed else ''}, {len(runs)} runs)")
    r_label = ""
    if reported is not None:
        r_label = Report.reported_label(reported, same_dataset=not why)
        if why:
            r_label = r_label.replace("; different dataset)", ")")
    long = compare(mean, reported, measured_label=label, reported_label=r_label, same_dataset=not why,
                   row_map=first.get("row_map"), measured_std=std, scale=1.0)
    count = Counter(r.fold for r in runs)
    notes = [f"Measured: the mean over {len(runs)} runs of this sweep (" +
             ", ".join(f"{_split_text([f])}: {count[f]}" for f in folds) +
             f"); each fold's runs are averaged first, then the folds{' (' + spread + ')' if spread else ''}."]
    flagged = Counter((m, au, flag) for r in runs for m, fl in r.record.get("flags", {}).items()
                      for au, flag in fl.items())
    shown = {True: "n/a in {n} of {runs} runs (left out of their Avg)", False: "0 in {n} of {runs} runs"}
    notes += [f"{m} {au}: {shown[parse(flag)[0] in UNDEFINED].format(n=n, runs=len(runs))}: {words(flag)}."
              for (m, au, flag), n in sorted(flagged.items())]
    side = sorted({s for r in runs for s in r.record.get("synthetic_side_sets") or []})
    if side:
        notes.append(f"The runs also read synthetic SynthAU data: {', '.join(side)}.")
    if reported is not None:
        a = reported.attrs
        paper, ds = _PAPER_NAMES.get(a["paper"], a["paper"]), dataset_name(a["dataset"])
        notes.append(f"Reported: {paper} Table {a['table']} ({ds}), {a['caption']} "
                     "Reported numbers are the paper's, not measured here.")
        notes += [f"Difference: n/a: {w}; the reported rows are for orientation only." for w in why]
    if mean.isna().any().any():
        notes.append("-: no value in at least one run (the mean keeps the gap rather than average fewer runs).")
    return long, notes, int(first.get("decimals", 2))


def fold_tables(folders: list[Path], out: Path) -> list[Path]:
    """Average every table that all of ``folders`` (finished runs of one sweep group) wrote, beside
    the paper's numbers; write ``out/<name>.csv`` and ``.md``. Tables without a ``.json`` record
    (written before aukit recorded them) are skipped."""
    names = None
    for folder in folders:
        have = {p.stem for p in (Path(folder) / "tables").glob("*.csv") if p.with_suffix(".json").exists()}
        names = have if names is None else names & have
    written = []
    for name in sorted(names or ()):
        runs = [FoldRun(Path(folder) / "tables" / f"{name}.csv") for folder in folders]
        long, notes, decimals = _one_table(name, runs)
        out.mkdir(parents=True, exist_ok=True)
        long.to_csv(out / f"{name}.csv", index=False)
        title = f"{runs[0].record.get('title') or name}: mean over the sweep's runs"
        (out / f"{name}.md").write_text(to_markdown(long, title=title, notes=notes, decimals=decimals),
                                        encoding="utf-8")
        written += [out / f"{name}.csv", out / f"{name}.md"]
    return written
