"""A sweep's finished cells averaged into ``aggregate.csv``/``.md``/``.png`` and ``tables/``.

Split out of :mod:`aukit.sweep` (which re-exports these names). What aggregate.md states beside the
numbers, because each was once silently wrong: the grid's axis values label the rows (a metric of the
same name, SCC's ``k``, overwrote them); a cell that ran other seeds than its params.json asked is no
replicate and is left out, named; each metric has its own count; the commits the cells ran at; which
mean the overall rows are (pooled cells) and which ``tables/`` are (mean of fold means).
"""
from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .sweep_grid import Cell, _slug

SEED_KEYS = ("seed", "seeds")
TABLES = "tables"       # the averaged tables beside the paper (report.folds)


class MetricError(KeyError):
    """A grid ``metrics`` key that the cells' metrics.json lack (KeyError, shown as its message, not its repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _numeric(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def headline(runs: list[dict], have: list[str]) -> list[str]:
    """The notebooks' headline metrics (metrics.json ``headline``, in order) that are among ``have``."""
    keys = [k for r in runs for k in (r.get("headline") or []) if isinstance(k, str)]
    return [k for k in dict.fromkeys(keys) if k in have]


def missing_metrics(keep: list | None, have: list[str], where: str, lead: list[str] | None = None) -> str | None:
    """The message for grid ``metrics`` keys that are not in ``have`` (None when all are): the closest
    keys for each, and the run's headline keys (``lead``; else the first 20 numeric keys)."""
    missing = [k for k in keep or [] if k not in have]
    if not missing:
        return None
    named = []
    for k in missing:
        close = difflib.get_close_matches(str(k), have, 3)
        named.append(f"{k!r} (did you mean {' or '.join(map(repr, close))}?)" if close else repr(k))
    listed = (f"its headline metrics: {', '.join(lead)}" if lead else
              f"its numeric keys: {', '.join(have[:20])}{', ...' if len(have) > 20 else ''}")
    return f"the grid's metrics: {', '.join(named)} not in {where} ({listed})"


def check_metrics(keep: list | None, folder: Path, grid_file=None) -> None:
    """Raise MetricError (a KeyError) when a finished cell's metrics.json lacks a key the grid aggregates."""
    metrics = json.loads((Path(folder) / "metrics.json").read_text())
    have = list(_numeric(metrics))
    have += [k for k, v in metrics.items() if v is None]      # null: undefined there (an AU's ICC), no missing key
    msg = missing_metrics(keep, have, str(Path(folder) / "metrics.json"), headline([metrics], have))
    if msg:
        raise MetricError((f"grid file {grid_file}: " if grid_file else "") + msg +
                          "; fix the grid file and rerun: finished cells are kept")


def _seed_list(value):
    try:
        return [int(s) for s in (value if isinstance(value, (list, tuple)) else [value])]
    except (TypeError, ValueError):
        return value


def seeds_ran(params: dict, metrics: dict) -> str | None:
    """Why a cell is no replicate of what it asked: metrics.json's ``seeds`` differ from params.json's
    (SCC's smoke preset ran seed 0 whatever -p seeds said, so three 'seeds' were one run three times)."""
    if "seeds" in params and "seeds" in metrics and _seed_list(params["seeds"]) != _seed_list(metrics["seeds"]):
        return f"asked seeds {json.dumps(params['seeds'])}, ran {json.dumps(metrics['seeds'])}"
    return None


def code_label(folder: Path) -> str:
    """The code a cell ran: its run.yaml's ``code_key`` (commit, plus a source hash when dirty), else
    its commit and dirty flag; "unknown" without a run.yaml."""
    try:
        run = yaml.safe_load((Path(folder) / "run.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "unknown (no run.yaml)"
    if run.get("code_key"):
        return str(run["code_key"])
    commit = str(run.get("commit") or "unknown")[:12]
    return commit + (" (dirty)" if run.get("dirty") else "")


def collect(sweep_dir: Path, grid: dict, cells: list[Cell] | None = None) -> pd.DataFrame:
    """One row per finished cell: grid parameters (as text) + numeric metrics; the grid's labels win
    over a metric of the same name. With ``cells`` (the grid as it is now), only those cells, finished
    with their current parameters; the folders left out (cells of an earlier grid) are counted in
    ``attrs["left_out"]``. Without, every finished folder under ``sweep_dir``. A cell that ran other
    seeds than it asked is left out, in ``attrs["seed_mismatch"]``."""
    from .sweep import cell_state

    folders = sorted(p.parent for p in Path(sweep_dir).glob("*/params.json"))
    left = []
    if cells is not None:
        wanted = {c.folder.resolve() for c in cells if cell_state(c) == "done"}
        left = [f.name for f in folders if (f / "metrics.json").exists() and f.resolve() not in wanted]
        folders = [f for f in folders if f.resolve() in wanted]
    rows, runs, used, mismatch = [], [], [], []
    for folder in folders:
        if not (folder / "metrics.json").exists() or (folder / "error.txt").exists():
            continue
        params = json.loads((folder / "params.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        why = seeds_ran(params, metrics)
        if why:
            mismatch.append((folder.name, why))
            continue
        used.append(folder)
        rows.append({**_numeric(metrics), **{k: _slug(params.get(k)) for k in grid}})   # the grid's label wins
        runs.append(metrics)
    df = pd.DataFrame(rows)
    df.attrs.update(measured=measured_on(runs), folders=used, runs=runs, left_out=left, seed_mismatch=mismatch,
                    code=pd.Series([code_label(f) for f in used], dtype=object).value_counts(sort=False).to_dict())
    return df


def measured_on(runs: list[dict]) -> str:
    """What the aggregated cells were measured on, from their metrics.json: dataset, preset, changed
    parameters, partial copies, side sets and trunk start, and "(not the paper's setup)" unless every
    cell's report said it was (``paper_setup``) on a complete copy. aggregate.md said none of it, so a smoke sweep
    on a partial copy read like the paper's run."""
    from .nb import changes_text

    def values(key, show=str):
        return sorted({show(r[key]) for r in runs if r.get(key)})
    parts = [f"{key} {', '.join(values(key))}" for key in ("dataset", "preset") if values(key)]
    if not parts:                         # not a paper notebook's report (a notebook of one's own)
        return ""
    for key, label, show, sep in (("changed_parameters", "changed", changes_text, "; "),
                                  ("partial_copy", "PARTIAL COPY", "; ".join, "; "),
                                  ("synthetic_side_sets", "SynthAU side sets", ", ".join, ", "),
                                  ("lacking_side_sets", "without", ", ".join, "; ")):
        if values(key):
            parts.append(f"{label}: {sep.join(values(key, show))}")
    random_trunk = [r for r in runs if str(r.get("trunk_start", "")).startswith("random")]
    if random_trunk:
        parts.append(f"trunk from random weights in {len(random_trunk)} of {len(runs)} cells (the paper: ImageNet)")
    # the paper's setup is the reports' decision (Report.setup_gap, metrics.json paper_setup); a copy's
    # completeness is the loaders' (partial_copy)
    full = all(r.get("paper_setup") is True for r in runs) and not values("partial_copy")
    return "; ".join(parts) + ("" if full else " (not the paper's setup)")


def _chosen(df: pd.DataFrame, grid: dict, keep: list | None) -> tuple[list[str], list[str], str]:
    """(the metrics aggregate.csv holds, those aggregate.md and the figure show, how they were chosen)."""
    numeric = [c for c in df.columns if c not in grid]
    if keep:
        bad = [k for k in keep if k in grid]
        if bad:
            raise ValueError(f"the grid's metrics {bad} are grid axes too: a row's label, not a measurement")
        nulls = sorted({k for r in df.attrs.get("runs", []) for k, v in r.items() if v is None} - set(numeric))
        msg = missing_metrics(keep, numeric + nulls, "the cells' metrics.json",
                              headline(df.attrs.get("runs", []), numeric))
        if msg:
            raise MetricError(msg)
        for k in keep:
            if k not in df.columns:   # null in every cell (undefined there): a column of NaN, not a missing key
                df[k] = np.nan
        return list(keep), list(keep), "the grid's metrics"
    lead = headline(df.attrs.get("runs", []), numeric)
    if lead:
        return numeric, lead, (f"the notebook's headline metrics (metrics.json 'headline'; aggregate.csv has all "
                               f"{len(numeric)} numeric keys; the grid's 'metrics:' chooses others)")
    return numeric, numeric, "every numeric key of metrics.json"


def _table(df: pd.DataFrame, grid: dict, group: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, std and count of each metric per fold (with a fold axis) and overall, with each row's cells."""
    tables = []
    for by, label in (([*group, "fold"] if "fold" in grid else None, "per fold"), (group, "overall")):
        if by is None:
            continue
        frame = df.assign(_cells=1.0)
        if by:
            t = frame.groupby(by, sort=False)[metrics].agg(["mean", "std", "count"])
            n = frame.groupby(by, sort=False)["_cells"].sum().to_numpy()
        else:  # no axis besides seeds and folds: one overall row
            t = frame[metrics].agg(["mean", "std", "count"]).T.stack().to_frame().T
            n = [len(frame)]
        t.columns = [f"{m}_{s}" for m, s in t.columns]
        t = t.copy().reset_index(drop=not by)          # copy: one block (no fragmented-frame warning)
        head = pd.DataFrame({"scope": [label] * len(t)}, index=t.index)
        tables.append(pd.concat([head, t, pd.DataFrame({"cells": np.asarray(n, dtype=int)}, index=t.index)], axis=1))
    return pd.concat(tables, ignore_index=True)


def aggregate(sweep_dir: str | Path, grid: dict, metric: str | None = None, keep: list | None = None,
              cells: list[Cell] | None = None) -> pd.DataFrame:
    """Mean ± std per fold (if a ``fold`` axis exists: over its seeds) and overall (over every cell of
    the group: seeds and folds pooled). ``cells``: see :func:`collect`. The table's ``attrs["code"]``:
    {code label: cells}."""
    sweep_dir = Path(sweep_dir)
    df = collect(sweep_dir, grid, cells)
    shutil.rmtree(sweep_dir / TABLES, ignore_errors=True)   # ours: a cell's folder name always has a '='
    notes = _notes(df, cells)
    for name, why in df.attrs["seed_mismatch"]:
        print(f"[sweep] not aggregated: {name} ran other seeds than it asked ({why}): no replicate")
    if df.attrs["left_out"]:
        print(f"[sweep] {_left_out(df.attrs['left_out'])}")
    if df.empty:
        for stale in ("aggregate.csv", "aggregate.md", "aggregate.png", "aggregate.pdf"):
            (sweep_dir / stale).unlink(missing_ok=True)
        if notes:
            (sweep_dir / "aggregate.md").write_text("No cell to aggregate.\n" + notes)
        df.attrs["code"] = {}
        return df
    group = [k for k in grid if k not in SEED_KEYS and k != "fold"]
    everything, shown, chosen = _chosen(df, grid, keep)
    table = _table(df, grid, group, everything)
    table.attrs["code"] = df.attrs["code"]
    table.to_csv(sweep_dir / "aggregate.csv", index=False)
    md = (f"Cells measured on {df.attrs['measured']}.\n\n" if df.attrs.get("measured") else "") + \
        _code_lines(df.attrs["code"]) + f"Metrics shown: {chosen}.\n\n" + _markdown(table, shown)
    from .sweep_diff import differences
    md += _fold_balance(df, group, shown) + differences(df, grid, shown) + notes + _paper_tables(df, group, sweep_dir)
    (sweep_dir / "aggregate.md").write_text(md)
    from aukit.viz.style import save_figure
    fig = _figure(table, group, [metric] if metric else shown, sweep_dir.name)
    save_figure(fig, sweep_dir, "aggregate", dpi=120)
    return table


def _left_out(names: list[str]) -> str:
    return (f"not aggregated: {len(names)} finished folder(s) that are no cell of this grid "
            f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})")


def _notes(df: pd.DataFrame, cells: list[Cell] | None) -> str:
    """aggregate.md's lines on what the table lacks: cells not finished, cells that ran other seeds than
    they asked, folders that are no cell of the grid (said on the console only before)."""
    from .sweep import cell_state

    md = ""
    mismatch = df.attrs["seed_mismatch"]
    if mismatch:
        md += ("\nNOT AGGREGATED, no replicate: " + "; ".join(f"{n} ({why})" for n, why in mismatch) +
               ". The notebook ran other seeds than the cell asked; fix it and delete these cells to rerun them.\n")
    if cells is not None and len(df) < len(cells):   # an interrupted or failed sweep: say what the rows lack
        left = [f"{c.key} ({s})" for c in cells if (s := cell_state(c)) != "done"]
        if left:
            md += (f"\n{len(df)} of {len(cells)} cells finished; not in this table: {', '.join(left[:10])}"
                   f"{', ...' if len(left) > 10 else ''}. Rerun the sweep to run the pending ones "
                   "(--retry-failed for the failed).\n")
    if df.attrs["left_out"]:
        md += f"\n{_left_out(df.attrs['left_out']).capitalize()}.\n"
    return md


def _code_lines(code: dict) -> str:
    """aggregate.md's line on the code the cells ran at, with a warning when it differs between them."""
    if not code:
        return ""
    listed = ", ".join(f"{k} ({n} cell{'s' if n != 1 else ''})" for k, n in code.items())
    if len(code) == 1:
        return f"Code: {listed}.\n\n"
    return (f"WARNING: the cells ran at {len(code)} different code versions, mixed in these means: {listed}. "
            "Delete the cells of the old code (or give the grid another name) to compare like with like.\n\n")


def _fold_balance(df: pd.DataFrame, group: list[str], metrics: list[str]) -> str:
    """When a group's folds have unequal numbers of cells, its pooled overall mean (which weights folds
    by their cells) differs from the mean of its fold means (what tables/ average, the papers'
    protocol): give both."""
    if "fold" not in df:
        return ""
    lines = []
    for key, sub in (df.groupby(group, sort=False) if group else [((), df)]):
        counts = sub.groupby("fold", sort=False).size()
        if counts.nunique() > 1:
            folds = sub.groupby("fold", sort=False)[metrics].mean().mean()
            label = " / ".join(f"{k} {v}" for k, v in zip(group, key if isinstance(key, tuple) else (key,))) or "all"
            lines.append(f"- {label}: cells per fold {counts.to_dict()}; mean of fold means: "
                         + ", ".join(f"{m} {folds[m]:.4f}" for m in metrics))
    if not lines:
        return ""
    return ("\nFolds with unequal numbers of cells: the overall rows pool the cells (a fold weighs by its cells), "
            "tables/ average the fold means:\n" + "\n".join(lines) + "\n")


def _paper_tables(df: pd.DataFrame, group: list[str], sweep_dir: Path) -> str:
    """Each group's tables averaged over its cells beside the paper (:func:`aukit.report.folds.fold_tables`):
    the papers' 3-fold numbers get difference rows from a sweep over folds 1-3. Returns aggregate.md's lines."""
    from .report.folds import fold_tables

    keys = [tuple(r[k] for k in group) for _, r in df.iterrows()]
    written = []
    for key in dict.fromkeys(keys):
        folders = [f for f, k in zip(df.attrs["folders"], keys) if k == key]
        sub = "__".join(f"{k}={v}" for k, v in zip(group, key))
        written += [p for p in fold_tables(folders, sweep_dir / TABLES / sub) if p.suffix == ".md"]
    if not written:
        return ""
    return ("\nThe cells' tables, averaged over folds and seeds (the mean of the fold means), beside the paper's "
            "numbers where it reports the dataset:\n" + "".join(f"- {p.relative_to(sweep_dir)}\n" for p in written))


def _markdown(table: pd.DataFrame, metrics: list[str]) -> str:
    """The table, ``mean ± std`` per metric; ``n``: the row's cells (a metric measured in fewer of them,
    NaN or absent in some, shows its own ``(n k)``: the column counted the first metric alone)."""
    stems = [c[:-len("_mean")] for c in table.columns if c.endswith("_mean")]   # every metric aggregate.csv has
    counted = {f"{m}_{s}" for m in stems for s in ("mean", "std", "count")}
    keys = [c for c in table.columns if c not in counted and c != "cells"]
    lines = ["| " + " | ".join(keys + metrics + ["n"]) + " |", "|" + "---|" * (len(keys) + len(metrics) + 1)]
    for _, r in table.iterrows():
        n = int(r["cells"]) if "cells" in table else max(int(r[f"{m}_count"]) for m in metrics)
        vals = [_value(r, m, n) for m in metrics]
        lines.append("| " + " | ".join([_shown(r[k]) for k in keys] + vals + [str(n)]) + " |")
    return ("measured: mean ± std over the cells of each row (per fold: its seeds; overall: its seeds and folds "
            "pooled); n: the row's cells, (n k) a metric that k of them measured; ± -: one cell, no spread\n\n"
            + "\n".join(lines) + "\n")


def _value(r, m: str, n: int) -> str:
    # one cell has no spread to show: "-", not a 0 that reads as a perfectly repeatable result
    std = r[f"{m}_std"]
    text = f"{r[f'{m}_mean']:.4f} ± " + ("-" if np.isnan(std) else f"{std:.4f}")
    count = int(r[f"{m}_count"])
    return text + (f" (n {count})" if count != n else "")


def _shown(value) -> str:
    """A grid value as a table or figure shows it: "all" for a row over every value, ``""`` for the
    empty string (a blank column read as a missing value)."""
    if pd.isna(value):
        return "all"
    return '""' if value == "" else str(value)


def _figure(table: pd.DataFrame, group: list[str], metrics: list[str], name: str):
    """One panel per metric (up to 6): bars per fold and overall (per group value), ± std over each bar's
    cells (no error bar on a bar of one cell, as aggregate.md's ``± -``); ``name``: the sweep's, in the
    title. Returns the Figure (the caller saves it)."""
    from aukit.viz.style import new_figure

    shown = metrics[:6]
    keys = [*group, "fold"] if "fold" in table else list(group)
    labels = [" / ".join("all" if pd.isna(r[k]) else f"{k} {_shown(r[k])}" for k in keys) or "all"
              for _, r in table.iterrows()]
    colors = ["#4c72b0" if sc == "per fold" else "#dd8452" for sc in table["scope"]]
    ncol = min(3, len(shown))
    nrow = -(-len(shown) // ncol)
    fig, axes = new_figure(nrow, ncol, size=(4.2, 3.2))
    for ax, m in zip(axes.flat, shown):
        x = np.arange(len(table))
        ax.bar(x, table[f"{m}_mean"], color=colors)
        std = table[f"{m}_std"].to_numpy(dtype=float)
        spread = ~np.isnan(std)
        if spread.any():
            ax.errorbar(x[spread], table[f"{m}_mean"].to_numpy(dtype=float)[spread], yerr=std[spread],
                        fmt="none", ecolor="black", capsize=3)
        ax.set_xticks(range(len(table)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(m, fontsize=9)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(f"sweep {name}: measured, mean ± std over each bar's cells (blue: a fold's seeds; orange: "
                 "overall, seeds and folds pooled; no error bar: one cell)", fontsize=10)
    return fig
