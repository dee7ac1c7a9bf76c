"""Sweeps of a notebook over a parameter grid, on a local pool or SLURM (submitit).

A grid file::

    name: ablation            # folder: reports/<notebook>/sweeps/ablation/
    parameters: {preset: quick}          # fixed for every cell
    grid: {fold: [1, 2, 3], seeds: [[0], [1], [2]], variant: [A1, A6]}
    metrics: [icc_avg, mae_avg]          # optional: the metrics.json keys to aggregate (default: all numeric)

expands into one papermill run per cell, each in its own folder with ``params.json``.
A cell whose ``metrics.json`` exists and whose parameters are unchanged is not rerun;
a failed one keeps ``error.txt`` (and loses any ``metrics.json`` its notebook wrote before
failing) and is rerun only with ``retry_failed``; a lock file keeps two sweeps out of one
cell. :func:`aggregate` averages the grid's finished cells, with their current parameters,
over seeds (per fold and overall) into ``aggregate.csv``/``.md`` and a figure; folders of
cells no longer in the grid, or run with other fixed parameters, are left out and counted.
The grid's ``metrics`` are checked against the first finished cell's ``metrics.json``: a misspelt
key stops the sweep after one cell, not after all of them.
"""
from __future__ import annotations

import difflib
import itertools
import json
import os
import re
import shutil
import socket
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from . import slurm as scheduler

SEED_KEYS = ("seed", "seeds")
TABLES = "tables"       # the averaged tables beside the paper (report.folds)


@dataclass
class Cell:
    key: str
    params: dict
    folder: Path


def load_grid(path: str | Path) -> tuple[str, dict, dict]:
    name, fixed, grid, _ = load_spec(path)
    return name, fixed, grid


def load_spec(path: str | Path) -> tuple[str, dict, dict, list | None]:
    """(name, fixed parameters, grid, metrics to aggregate or None) from a grid file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"grid file not found: {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - {"name", "parameters", "grid", "metrics"}
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {sorted(unknown)}; expected name, parameters, grid, metrics")
    grid = spec.get("grid") or {}
    if not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"{path}: 'grid' must map parameter names to non-empty lists")
    metrics = spec.get("metrics")
    if metrics is not None and not (isinstance(metrics, list) and metrics):
        raise ValueError(f"{path}: 'metrics' must be a non-empty list of metrics.json keys")
    name = str(spec.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name):
        raise ValueError(f"{path}: name {name!r} must be a folder name (letters, digits, '.', '_', '-'), "
                         "not a path: the sweep's folder is reports/<notebook>/sweeps/<name>")
    return name, dict(spec.get("parameters") or {}), dict(grid), metrics


def _slug(value) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9.,_-]+", "-", text)


def expand(fixed: dict, grid: dict, sweep_dir: Path) -> list[Cell]:
    """One cell per point of the grid, its folder named by the point; two values whose names would
    share a folder (``"a b"`` and ``"a-b"``) are a ValueError (one cell would overwrite the other)."""
    keys = list(grid)
    cells, seen = [], {}
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        key = "__".join(f"{k}={_slug(v)}" for k, v in point.items())
        if key in seen and seen[key] != point:
            raise ValueError(f"grid points {seen[key]} and {point} would share the cell folder {key!r}: "
                             "make the values differ in letters, digits or '.,_-'")
        seen[key] = point
        cells.append(Cell(key, {**fixed, **point}, sweep_dir / key))
    return cells


def _params(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "params.json").read_text())
    except (OSError, ValueError):
        return None


def cell_state(cell: Cell) -> str:
    """``done`` (metrics + same params, no error), ``failed``, ``running`` (locked) or ``pending``.
    A lock from another host is trusted here: :func:`settle` asks SLURM about the job it names."""
    same = _params(cell.folder) == cell.params
    if (cell.folder / ".lock").exists() and not _stale_lock(cell.folder / ".lock"):
        return "running"
    if same and (cell.folder / "error.txt").exists():
        return "failed"
    if same and (cell.folder / "metrics.json").exists():
        return "done"
    return "pending"


def _read_lock(lock: Path) -> tuple[str, int, str | None] | None:
    """(host, pid, SLURM job id or None) of a cell's lock file; None when there is none, or it is unreadable."""
    try:
        host, pid, *job = lock.read_text().split()
        return host, int(pid), (job[0] if job else None)
    except (OSError, ValueError):
        return None


def _lock_text() -> str:
    job = scheduler.job_id_here()
    return f"{socket.gethostname()} {os.getpid()}" + (f" {job}" if job else "")


def _stale_lock(lock: Path) -> bool:
    held = _read_lock(lock)
    if held is None:
        return True
    host, pid, _ = held
    if host != socket.gethostname():
        return False  # another machine's lock: trust it (settle() asks SLURM about the job it names)
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def settle(cells: list[Cell], executor: str | None = None) -> set[str]:
    """Ask SLURM (one sacct call) about the jobs the cells name. A cell whose lock names a job that
    has ended (cancelled, killed at its time limit, out of memory, preempted, its node failed) will
    never finish: it gets ``error.txt`` saying so and loses its lock, so it counts as failed and
    ``--retry-failed`` reruns it (the lock, from another host, was trusted for good). Returns the keys
    of the cells not started whose submitted job (``job.json``) is still queued: a rerun must not
    submit them twice. ``executor``: the sweep's now (a submitit-local job is no SLURM job)."""
    here = socket.gethostname()
    locked = {c.key: held[2] for c in cells
              if (held := _read_lock(c.folder / ".lock")) and held[2] and held[0] != here}
    queued = {c.key: r["job_id"] for c in cells
              if c.key not in locked and (r := scheduler.recorded(c.folder)).get("executor") == "slurm"
              and cell_state(c) == "pending"}
    if not locked and not (queued and executor == "slurm"):
        return set()
    known = scheduler.states([*locked.values(), *(queued.values() if executor == "slurm" else [])])
    for c in cells:
        job = locked.get(c.key)
        if job is None:
            continue
        state = known.get(job)
        if state is None:
            print(f"[sweep] {c.key}: locked by SLURM job {job}, whose state sacct does not tell: counted as running "
                  f"(if that job is gone, delete {c.folder / '.lock'})")
        elif state not in scheduler.ALIVE:
            log = scheduler.recorded(c.folder).get("stderr") or c.folder.parent / "_submitit" / job / f"{job}_0_log.err"
            (c.folder / "error.txt").write_text(
                f"SLURM job {job} ended {state} while it ran this cell, without finishing it: cancelled, "
                f"killed at its time limit or out of memory, preempted, or its node failed.\n"
                f"Its log: {log} (and .out); rerun the cell with --retry-failed.\n")
            (c.folder / ".lock").unlink(missing_ok=True)
            print(f"[sweep] {c.key}: its SLURM job {job} ended {state} without finishing it: failed")
    return {k for k, job in queued.items() if known.get(job) in scheduler.ALIVE}


def cell_threads(parallel: int) -> int | None:
    """CPU threads for each of ``parallel`` cells run at once on this machine: its cores shared out.
    Left to the user's ``OMP_NUM_THREADS`` when set. Otherwise torch starts a thread per core in
    every cell: two TAS smoke cells on the 2-core development CPU took 121 s each, 11 s with one thread."""
    from .workers import usable_cores

    if parallel <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return max(1, usable_cores() // parallel)


def run_cell(notebook: str, folder: str, params: dict, gpu: str | None = None, threads: int | None = None) -> str:
    """Execute one cell (in a worker process or a SLURM job); returns its final state. ``gpu`` and
    ``threads`` reach the notebook's kernel through its environment (CUDA_VISIBLE_DEVICES,
    OMP_NUM_THREADS and MKL_NUM_THREADS)."""
    from .nb import execute

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".lock"
    if lock.exists() and _stale_lock(lock):
        lock.unlink()
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "running"
    mine = _lock_text()
    with os.fdopen(fd, "w") as f:
        f.write(mine)
    try:
        for stale in ("metrics.json", "error.txt"):
            (out / stale).unlink(missing_ok=True)
        (out / "params.json").write_text(json.dumps(params, indent=1))
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # inherited by the papermill kernel
        if threads is not None:
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        execute(notebook, out, params, progress=False)
        if not (out / "metrics.json").exists():
            raise RuntimeError(f"{notebook} finished without writing {out / 'metrics.json'}")
        return "done"
    except KeyboardInterrupt:           # the user's Ctrl-C is no failed cell: a rerun runs it again
        (out / "error.txt").unlink(missing_ok=True)
        raise
    except Exception:
        (out / "error.txt").write_text(traceback.format_exc())   # execute() has dropped a metrics.json
        return "failed"
    finally:
        if _read_lock(lock) is not None and lock.read_text() == mine:  # a sweep that declared it dead may
            lock.unlink()                                              # have let another run take it over


def _gpus() -> list[str | None]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [g.strip() for g in visible.split(",") if g.strip()]
    try:
        import torch
        n = torch.cuda.device_count()
    except Exception:
        n = 0
    return [str(i) for i in range(n)] or [None]


def run_sweep(notebook: str | Path, grid_file: str | Path, *, executor: str = "local", parallel: int = 1,
              retry_failed: bool = False, reports: str | Path = "reports", slurm: dict | None = None,
              progress: bool = True) -> Path:
    """Run every pending cell; return the sweep folder (aggregated at the end)."""
    from .nb import check_parameters, float_values

    name, fixed, grid, keep = load_spec(grid_file)
    nb_name = Path(notebook).stem
    sweep_dir = Path(reports).resolve() / nb_name / "sweeps" / name
    cells = expand(fixed, grid, sweep_dir)
    for c in cells:                                      # a misspelt name or a wrong kind fails here, not in a cell
        c.params = float_values(notebook, c.params)
        try:
            check_parameters(notebook, c.params)
        except ValueError as e:                          # name the grid file and where the name sits in it
            bad = [k for k in c.params if repr(k) in str(e)]
            where = " (under grid)" if any(k in grid for k in bad) else " (under parameters)" if bad else ""
            raise ValueError(f"grid file {grid_file}{where}: {e}") from None
    sweep_dir.mkdir(parents=True, exist_ok=True)
    queued = settle(cells, executor)
    states = {c.key: "queued" if c.key in queued else cell_state(c) for c in cells}
    todo = [c for c in cells if states[c.key] == "pending" or (retry_failed and states[c.key] == "failed")]
    skipped = {s: sum(1 for c in cells if states[c.key] == s and c not in todo)
               for s in ("done", "failed", "running", "queued")}
    print(f"[sweep] {name}: {len(cells)} cells, {len(todo)} to run, already {skipped}")
    done = [c for c in cells if states[c.key] == "done"]
    if keep and done:                                    # a misspelt metric fails before any cell runs
        check_metrics(keep, done[0].folder)
    first = None if done or not keep else (lambda folder: check_metrics(keep, folder))  # else after one cell
    if executor == "local":
        results = _run_local(str(notebook), todo, parallel, progress, first)
    elif executor in ("slurm", "submitit-local"):
        from .sweep_jobs import run_jobs
        results = run_jobs(str(notebook), todo, sweep_dir, executor, slurm or {}, progress, first,
                                job_name=f"aukit-{nb_name}-{name}")
    else:
        raise ValueError(f"executor must be local, slurm or submitit-local, got {executor!r}")
    queued = settle(cells, executor)
    states = {c.key: "queued" if c.key in queued else cell_state(c) for c in cells}
    failed = [c for c in cells if states[c.key] == "failed"]   # this run's and those left from an earlier one
    for c in failed:
        when = "" if c.key in results else " (in an earlier run)"
        print(f"[sweep] FAILED{when} {c.key}: see {c.folder / 'error.txt'} (rerun alone with --retry-failed)")
    unfinished = {c.key: states[c.key] for c in cells if states[c.key] not in ("done", "failed")}
    for c in cells:
        if c.key in unfinished:
            print(f"[sweep] NOT FINISHED {c.key}: {_unfinished(c, states[c.key])}")
    aggregate(sweep_dir, grid, keep=keep, cells=cells)
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"notebook": str(notebook), "name": name, "parameters": fixed, "grid": grid,
         "failed": [c.key for c in failed], "unfinished": unfinished}, sort_keys=False))
    return sweep_dir


def _unfinished(cell: Cell, state: str) -> str:
    """Why a cell is neither done nor failed at the end of a sweep, and what to do."""
    if state == "running":
        held = _read_lock(cell.folder / ".lock")
        who = ((f"host {held[0]} pid {held[1]}" + (f", SLURM job {held[2]}" if held[2] else "")) if held
               else "another run")
        return f"running ({who}): rerun the sweep once it ends to aggregate it"
    if state == "queued":
        return (f"its SLURM job {scheduler.recorded(cell.folder).get('job_id')} is queued: rerun the sweep once it "
                "ends to aggregate it")
    return "not run (its job was cancelled before it started): rerun the sweep to run it"


def _bar(total: int, progress: bool):
    return tqdm(total=total, desc="sweep", disable=not progress, dynamic_ncols=True)


def _run_local(notebook: str, todo: list[Cell], parallel: int, progress: bool, first=None) -> dict:
    """Run `todo` on a process pool, ``parallel`` cells at a time (a cell is handed to the pool when
    a slot frees up). ``first(folder)`` is called on the first cell that finishes; if it raises, no
    further cell starts, those running finish, and the error is raised."""
    gpus, results, stop = _gpus(), {}, None
    threads = cell_threads(min(parallel, len(todo)))
    bar = _bar(len(todo), progress)
    queue = list(enumerate(todo))
    from .workers import watch_parent
    with ProcessPoolExecutor(max_workers=max(1, parallel), mp_context=get_context("spawn"),
                             initializer=watch_parent) as pool:
        def submit(i, c):
            (c.folder / scheduler.RECORD).unlink(missing_ok=True)   # a SLURM run's record would name the wrong log
            return pool.submit(run_cell, notebook, str(c.folder), c.params, gpus[i % len(gpus)], threads)

        futures = {submit(i, c): c for i, c in queue[:max(1, parallel)]}
        queue, pending = queue[max(1, parallel):], set(futures)
        while pending:
            done, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
            for f in done:
                cell = futures[f]
                results[cell.key] = f.result()
                bar.update(1)
                if results[cell.key] == "done" and first is not None:
                    first, stop = None, _first_check(first, cell.folder)
                if queue and stop is None:
                    i, c = queue.pop(0)
                    g = submit(i, c)
                    futures[g] = c
                    pending.add(g)
            n_failed = sum(1 for v in results.values() if v == "failed")
            bar.set_postfix(done=len(results) - n_failed, running=len(pending), failed=n_failed)
    bar.close()
    if stop is not None:
        raise stop
    return results


def _first_check(first, folder: Path) -> Exception | None:
    try:
        first(folder)
    except Exception as e:
        return e
    return None


def _numeric(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def missing_metrics(keep: list | None, have: list[str], where: str) -> str | None:
    """The message for grid ``metrics`` keys that are not in ``have`` (None when all are)."""
    missing = [k for k in keep or [] if k not in have]
    if not missing:
        return None
    named = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(str(k), have, 1)) else repr(k)
             for k in missing]
    return (f"the grid's metrics: {', '.join(named)} not in {where} (its numeric keys: "
            f"{', '.join(have[:20])}{', ...' if len(have) > 20 else ''})")


def check_metrics(keep: list | None, folder: Path) -> None:
    """Raise KeyError when a finished cell's metrics.json lacks a key the grid aggregates."""
    have = list(_numeric(json.loads((Path(folder) / "metrics.json").read_text())))
    msg = missing_metrics(keep, have, str(Path(folder) / "metrics.json"))
    if msg:
        raise KeyError(msg + "; fix the grid file and rerun: finished cells are kept")


def collect(sweep_dir: Path, grid: dict, cells: list[Cell] | None = None) -> pd.DataFrame:
    """One row per finished cell: grid parameters (as text) + numeric metrics. With ``cells`` (the
    grid as it is now), only those cells, finished with their current parameters; the folders left
    out (cells of an earlier grid, or run with other fixed parameters) are counted in a note.
    Without, every finished folder under ``sweep_dir``."""
    folders = sorted(p.parent for p in Path(sweep_dir).glob("*/params.json"))
    if cells is not None:
        wanted = {c.folder.resolve() for c in cells if cell_state(c) == "done"}
        left = [f for f in folders if (f / "metrics.json").exists() and f.resolve() not in wanted]
        if left:
            print(f"[sweep] not aggregated: {len(left)} finished folder(s) that are no cell of this grid, or ran "
                  f"with other parameters ({', '.join(f.name for f in left[:3])}{', ...' if len(left) > 3 else ''})")
        folders = [f for f in folders if f.resolve() in wanted]
    rows, runs, used = [], [], []
    for folder in folders:
        if not (folder / "metrics.json").exists() or (folder / "error.txt").exists():
            continue
        used.append(folder)
        params = json.loads((folder / "params.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        row = {k: _slug(params.get(k)) for k in grid}
        row.update(_numeric(metrics))
        rows.append(row)
        runs.append(metrics)
    df = pd.DataFrame(rows)
    df.attrs["measured"] = measured_on(runs)
    df.attrs["folders"] = used            # row i's cell folder
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


def aggregate(sweep_dir: str | Path, grid: dict, metric: str | None = None, keep: list | None = None,
              cells: list[Cell] | None = None) -> pd.DataFrame:
    """Mean ± std over seeds, per fold (if a ``fold`` axis exists) and overall (std over every
    cell of the group there: seeds and folds). ``cells``: see :func:`collect`."""
    sweep_dir = Path(sweep_dir)
    df = collect(sweep_dir, grid, cells)
    shutil.rmtree(sweep_dir / TABLES, ignore_errors=True)   # ours: a cell's folder name always has a '='
    if df.empty:
        for stale in ("aggregate.csv", "aggregate.md", "aggregate.png", "aggregate.pdf"):
            (sweep_dir / stale).unlink(missing_ok=True)
        return df
    group = [k for k in grid if k not in SEED_KEYS and k != "fold"]
    metrics = [c for c in df.columns if c not in grid]
    if keep:
        msg = missing_metrics(keep, metrics, "the cells' metrics.json")
        if msg:
            raise KeyError(msg)
        metrics = list(keep)
    tables = []
    for by, label in (([*group, "fold"] if "fold" in grid else None, "per fold"), (group, "overall")):
        if by is None:
            continue
        if by:
            t = df.groupby(by, sort=False)[metrics].agg(["mean", "std", "count"])
        else:  # no axis besides seeds and folds: one overall row
            t = df[metrics].agg(["mean", "std", "count"]).T.stack().to_frame().T
        t.columns = [f"{m}_{s}" for m, s in t.columns]
        t = t.copy().reset_index(drop=not by)          # copy: one block (no fragmented-frame warning)
        tables.append(pd.concat([pd.DataFrame({"scope": [label] * len(t)}, index=t.index), t], axis=1))
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(sweep_dir / "aggregate.csv", index=False)
    md = (f"Cells measured on {df.attrs['measured']}.\n\n" if df.attrs.get("measured") else "") + \
        _markdown(table, metrics)
    if cells is not None and len(df) < len(cells):   # an interrupted or failed sweep: say what the rows lack
        states = {c.key: cell_state(c) for c in cells}
        left = [f"{k} ({s})" for k, s in states.items() if s != "done"]
        md += (f"\n{len(df)} of {len(cells)} cells finished; not in this table: {', '.join(left[:10])}"
               f"{', ...' if len(left) > 10 else ''}. Rerun the sweep to run the pending ones "
               "(--retry-failed for the failed).\n")
    md += _paper_tables(df, group, sweep_dir)
    (sweep_dir / "aggregate.md").write_text(md)
    from aukit.viz.style import save_figure
    fig = _figure(table, group, [metric] if metric else metrics, sweep_dir.name)
    save_figure(fig, sweep_dir, "aggregate", dpi=120)
    return table


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
    return ("\nThe cells' tables, averaged over folds and seeds, beside the paper's numbers:\n" +
            "".join(f"- {p.relative_to(sweep_dir)}\n" for p in written))


def _markdown(table: pd.DataFrame, metrics: list[str]) -> str:
    keys = [c for c in table.columns if not any(c.startswith(f"{m}_") for m in metrics)]
    lines = ["| " + " | ".join(keys + metrics + ["n"]) + " |", "|" + "---|" * (len(keys) + len(metrics) + 1)]
    for _, r in table.iterrows():
        # one cell has no spread to show: "-", not a 0 that reads as a perfectly repeatable result
        vals = [f"{r[f'{m}_mean']:.4f} ± " + ("-" if np.isnan(r[f"{m}_std"]) else f"{r[f'{m}_std']:.4f}")
                for m in metrics]
        count = str(int(r[f"{metrics[0]}_count"]))
        lines.append("| " + " | ".join([_shown(r[k]) for k in keys] + vals + [count]) + " |")
    return ("measured (mean ± std over the cells of each row: its seeds, and in the overall rows its folds too; "
            "n cells)\n\n" + "\n".join(lines) + "\n")


def _shown(value) -> str:
    """A grid value as a table or figure shows it: "all" for a row over every value, ``""`` for the
    empty string (a blank column read as a missing value)."""
    if pd.isna(value):
        return "all"
    return '""' if value == "" else str(value)


def _figure(table: pd.DataFrame, group: list[str], metrics: list[str], name: str):
    """One panel per metric (up to 6): bars per fold and overall (per group value), ± std over seeds;
    ``name``: the sweep's, in the title. Returns the Figure (the caller saves it)."""
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
        ax.bar(range(len(table)), table[f"{m}_mean"], yerr=table[f"{m}_std"].fillna(0), capsize=3, color=colors)
        ax.set_xticks(range(len(table)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(m, fontsize=9)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(f"sweep {name}: measured, mean ± std over seeds (orange: overall)", fontsize=10)
    return fig
