"""Sweeps of a notebook over a parameter grid, on a local pool or SLURM (submitit).

A grid file::

    name: ablation            # folder: reports/<notebook>/sweeps/ablation/
    parameters: {preset: quick}          # fixed for every cell
    grid: {fold: [1, 2, 3], seeds: [[0], [1], [2]], variant: [A1, A6]}
    metrics: [icc_avg, mae_avg]          # optional: the keys to show (default: metrics.json's headline)

expands into one papermill run per cell, each in its own folder with ``params.json``
(:mod:`aukit.sweep_grid` reads and checks the grid file).
A cell whose ``metrics.json`` exists and whose parameters are unchanged is not rerun; a finished
cell whose parameters the grid now changes (other fixed ``parameters`` under the same ``name``) stops
the sweep before anything runs: rerunning it would delete its result. A failed one keeps ``error.txt``
(and loses any ``metrics.json`` its notebook wrote before failing; a run beside another grid's finished
result keeps it in its rerun folder, :func:`error_file`) and is rerun only with ``retry_failed``; a lock
file keeps two sweeps out of one cell, and a finished result is replaced only once a new run has finished
(:func:`run_cell`; the result moves to the cell's ``previous/``). :func:`aggregate` (:mod:`aukit.sweep_aggregate`)
averages the grid's finished cells over seeds (per fold and overall)
into ``aggregate.csv``/``.md`` and a figure; folders of cells no longer in the grid are left out and
counted. The grid's ``metrics`` are checked against the first finished cell's ``metrics.json``: a
misspelt key stops the sweep after one cell, not after all of them.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from . import slurm as scheduler
from .sweep_aggregate import MetricError, aggregate, check_metrics, collect, measured_on, missing_metrics
from .sweep_grid import (Cell, adopt_old_names, changed_finished, check_cells, expand, load_grid, load_spec,
                         normalise, read_params, refuse_aliases, refuse_changed)

# the sweep API, the grid's and the aggregate's names included (split out into sweep_grid / sweep_aggregate)
__all__ = ["Cell", "MetricError", "aggregate", "cell_state", "changed_finished", "check_metrics", "collect",
           "error_file", "expand", "load_grid", "load_spec", "mark_failed", "measured_on", "missing_metrics",
           "normalise", "read_params", "refuse_changed", "rerun_folder", "run_cell", "run_sweep", "settle"]


def cell_state(cell: Cell) -> str:
    """``done`` (metrics + same params, no error), ``failed`` (an error.txt of its own: in its folder, or in its
    rerun folder where the folder holds another grid's result, :func:`error_file`), ``running`` (locked) or
    ``pending``. A lock from another host is trusted here: :func:`settle` asks SLURM about the job it names."""
    same = read_params(cell.folder) == cell.params
    if (cell.folder / ".lock").exists() and not _stale_lock(cell.folder / ".lock"):
        return "running"
    if same and (cell.folder / "error.txt").exists():
        return "failed"
    if same and (cell.folder / "metrics.json").exists():
        return "done"
    stage = rerun_folder(cell.folder)
    if not same and read_params(stage) == cell.params and (stage / "error.txt").exists():
        return "failed"
    return "pending"


def rerun_folder(folder: Path) -> Path:
    """Where a cell whose folder holds a finished result of other parameters runs (:func:`_rerun`)."""
    return folder.parent / f".{folder.name}.rerun"


def _holds_other(folder: Path, params: dict) -> bool:
    """The folder holds a finished result of other parameters than ``params`` (another grid under the same
    name got there first): a run of ``params`` goes into :func:`rerun_folder` (:func:`run_cell`)."""
    return (folder / "metrics.json").is_file() and not (folder / "error.txt").exists() and \
        read_params(folder) != params


def error_file(cell: Cell) -> Path:
    """The error.txt of the cell's run: in its folder, or in its rerun folder where the folder holds a
    finished result of other parameters (that result's cell is another grid's, and stays finished)."""
    return (rerun_folder(cell.folder) if _holds_other(cell.folder, cell.params) else cell.folder) / "error.txt"


def mark_failed(cell: Cell, text: str) -> Path:
    """The cell failed (its job ended while it ran it): ``text`` written into :func:`error_file`, with the
    cell's params.json beside it in a rerun folder (:func:`cell_state` reads whose run failed there)."""
    path = error_file(cell)
    if path.parent != cell.folder:
        path.parent.mkdir(exist_ok=True)
        (path.parent / "params.json").write_text(json.dumps(cell.params, indent=1))
    path.write_text(text)
    return path


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
    if held is None:                     # unreadable: stale unless just created (its text comes next)
        try:
            return time.time() - lock.stat().st_mtime > 60
        except OSError:
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
            mark_failed(c, f"SLURM job {job} ended {state} while it ran this cell, without finishing it: cancelled, "
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
    """Execute one cell (in a worker process or a SLURM job) under its lock (:func:`_take_lock`); returns its
    final state. A cell another sweep finished while this one came to it is not run again; a finished
    result of other parameters is kept until the new run has finished (:func:`_rerun`). ``gpu`` and
    ``threads`` reach the notebook's kernel through its environment (CUDA_VISIBLE_DEVICES,
    OMP_NUM_THREADS and MKL_NUM_THREADS)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    mine = _take_lock(out)
    if mine is None:
        return "running"
    try:
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # inherited by the papermill kernel
        if threads is not None:
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        finished = (out / "metrics.json").is_file() and not (out / "error.txt").exists()
        if finished and read_params(out) == params:
            return "done"
        return _rerun(notebook, out, params) if finished else _run_into(notebook, out, params)
    finally:
        lock = out / LOCK
        if _read_lock(lock) is not None and lock.read_text() == mine:  # a sweep that declared it dead may
            lock.unlink()                                              # have let another run take it over


LOCK = ".lock"          # in a cell's folder while a run holds it: "host pid [SLURM job]"


def _holder(held: tuple | None) -> str:
    if held is None:
        return "another run (its lock is being written)"
    host, pid, job = held
    return f"host {host} pid {pid}" + (f", SLURM job {job}" if job else "")


def _take_lock(out: Path) -> str | None:
    """Create the cell's lock file (O_CREAT | O_EXCL: one run of two gets it) naming this host, pid and
    SLURM job; returns its text, or None when another live run holds it (said, naming it). The lock of
    a process no longer running on this host is taken over (said)."""
    lock = out / LOCK
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if not _stale_lock(lock):
                print(f"[sweep] {out.name}: not run by this sweep: {_holder(_read_lock(lock))} runs it "
                      f"(its lock: {lock})")
                return None
            _break_stale(lock)
            continue
        mine = _lock_text()
        with os.fdopen(fd, "w") as f:
            f.write(mine)
        return mine
    print(f"[sweep] {out.name}: not run by this sweep: its lock {lock} changed hands three times while it tried")
    return None


def _break_stale(lock: Path) -> None:
    """Remove a stale lock, holding flock on it meanwhile: of two sweeps taking it over at once, the second
    finds the path is another file by then (the first one's new lock) and leaves it alone."""
    try:
        f = open(lock)
    except FileNotFoundError:
        return
    with f:
        with contextlib.suppress(OSError):          # a filesystem without flock: the inode check alone
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            same = os.stat(lock).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            return
        if same and _stale_lock(lock):
            held = _read_lock(lock)
            lock.unlink()
            who = _holder(held) if held else "an unreadable lock"
            print(f"[sweep] {lock.parent.name}: took over its lock from {who}, which is no longer running")


def _run_into(notebook: str, out: Path, params: dict) -> str:
    """Run a cell with no finished result in its own folder (its checkpoints, if any, resume)."""
    from .nb import execute

    for stale in ("metrics.json", "error.txt"):          # a failed run's
        (out / stale).unlink(missing_ok=True)
    (out / "params.json").write_text(json.dumps(params, indent=1))
    try:
        execute(notebook, out, params, progress=False)
        if not (out / "metrics.json").exists():
            raise RuntimeError(f"{notebook} finished without writing {out / 'metrics.json'}")
        _record_code(out)
        return "done"
    except KeyboardInterrupt:           # the user's Ctrl-C is no failed cell: a rerun runs it again
        (out / "error.txt").unlink(missing_ok=True)
        raise
    except Exception:
        (out / "error.txt").write_text(traceback.format_exc() + _advice(traceback.format_exc(), out))
        return "failed"                                          # execute() has dropped a metrics.json


def _rerun(notebook: str, out: Path, params: dict) -> str:
    """Run a cell that holds a finished result of other parameters (another grid under the same name got
    there first) into a sibling folder, ``.<cell>.rerun``: the result stays in place until the new run has
    finished (:func:`_publish`). A failed or interrupted rerun leaves the cell as it was; a failed one leaves its
    error.txt in the sibling, beside the params.json that says whose run failed there (:func:`cell_state`)."""
    from .nb import execute

    stage = rerun_folder(out)
    if stage.exists():                                  # an earlier rerun that failed or was killed
        shutil.rmtree(stage)
    stage.mkdir()
    (stage / "params.json").write_text(json.dumps(params, indent=1))     # whose rerun it is (cell_state)
    try:
        execute(notebook, stage, params, progress=False)
        if not (stage / "metrics.json").exists():
            raise RuntimeError(f"{notebook} finished without writing {stage / 'metrics.json'}")
    except KeyboardInterrupt:           # the user's Ctrl-C is no failed cell (execute wrote an error.txt)
        (stage / "error.txt").unlink(missing_ok=True)
        raise
    except Exception:
        (stage / "error.txt").write_text(traceback.format_exc() + _advice(traceback.format_exc(), out))
        print(f"[sweep] {out.name}: its rerun failed (see {stage / 'error.txt'}); the finished result in {out} "
              "is kept")
        return "failed"
    _publish(stage, out, params, Path(notebook).stem)
    _record_code(out)
    return "done"


def _publish(stage: Path, out: Path, params: dict, stem: str) -> None:
    """Put the finished run in ``stage`` in the cell's place. The cell's result moves into its
    ``previous/`` (:func:`aukit.nb.clear_outputs`, as a report's does), with its params.json and model/;
    then each of the run's files replaces its namesake, metrics.json last: until it lands the cell is not
    finished, and both results are on disk at every moment."""
    from .nb import clear_outputs

    kept = clear_outputs(out, stem)
    for name in ("params.json", "model"):
        if kept is not None and (out / name).exists():
            os.replace(out / name, kept / name)
    (stage / "params.json").write_text(json.dumps(params, indent=1))
    run = stage / "run.yaml"                  # the paths it recorded (executed notebook, out_dir) name the cell
    if run.is_file():
        run.write_text(run.read_text().replace(str(stage), str(out)))
    for entry in sorted(stage.iterdir(), key=lambda p: p.name == "metrics.json"):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
    stage.rmdir()


def _advice(trace: str, out: Path) -> str:
    """A sweep's own advice for a cell whose checkpoints another configuration wrote: the notebook's
    ("give another --out") does not apply to a cell, whose folder the grid names."""
    if "ConfigMismatchError" not in trace:
        return ""
    return (f"\nIn a sweep: this cell's checkpoints were written by other parameters or code. Delete {out} "
            "(or its checkpoints) and rerun with --retry-failed, or give the grid another 'name'.\n")


def _record_code(out: Path) -> None:
    """Add the checkpoint code key (:func:`aukit.ckptdir.code_key`: the commit, plus a source hash when
    the tree was dirty) to the cell's run.yaml: aggregate.md names the code its cells ran at."""
    try:
        from .ckptdir import code_key
        run = yaml.safe_load((out / "run.yaml").read_text()) or {}
        run["code_key"] = code_key()
        (out / "run.yaml").write_text(yaml.safe_dump(run, sort_keys=False, default_flow_style=None))
    except Exception as e:       # provenance never fails a finished cell; aggregate.md falls back to the commit
        print(f"[sweep] {out.name}: code key not recorded in run.yaml ({e})")


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
    name, fixed, written, keep = load_spec(grid_file)
    nb_name = Path(notebook).stem
    sweep_dir = Path(reports).resolve() / nb_name / "sweeps" / name
    fixed, grid = normalise(notebook, grid_file, fixed, written)   # 1e-3 and 0.001: one value, one folder name
    cells = expand(fixed, grid, sweep_dir)
    check_cells(notebook, grid_file, grid, cells)        # a misspelt name, a wrong kind, a bad fold: all, not in a cell
    refuse_aliases(notebook, grid_file, cells)           # k 0 and 7 on DISFA: one run
    adopt_old_names(cells, written)                      # lr=1e-5 (the older name) is lr=1e-05's finished cell
    refuse_changed(grid_file, sweep_dir, cells)          # a finished cell's result is never deleted
    sweep_dir.mkdir(parents=True, exist_ok=True)
    queued = settle(cells, executor)
    states = {c.key: "queued" if c.key in queued else cell_state(c) for c in cells}
    todo = [c for c in cells if states[c.key] == "pending" or (retry_failed and states[c.key] == "failed")]
    skipped = {s: sum(1 for c in cells if states[c.key] == s and c not in todo)
               for s in ("done", "failed", "running", "queued")}
    print(f"[sweep] {name}: {len(cells)} cells, {len(todo)} to run, already {skipped}")
    done = [c for c in cells if states[c.key] == "done"]
    if keep and done:                                    # a misspelt metric fails before any cell runs
        check_metrics(keep, done[0].folder, grid_file)
    first = None if done or not keep else (lambda folder: check_metrics(keep, folder, grid_file))  # else after one cell
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
        print(f"[sweep] FAILED{when} {c.key}: see {error_file(c)} (rerun alone with --retry-failed)")
    unfinished = {c.key: states[c.key] for c in cells if states[c.key] not in ("done", "failed")}
    for c in cells:
        if c.key in unfinished:
            print(f"[sweep] NOT FINISHED {c.key}: {_unfinished(c, states[c.key])}")
    table = aggregate(sweep_dir, grid, keep=keep, cells=cells)
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(
        {"notebook": str(notebook), "name": name, "parameters": fixed, "grid": grid,
         "failed": [c.key for c in failed], "unfinished": unfinished,
         "code": table.attrs.get("code", {})}, sort_keys=False))   # {commit (or code key): cells aggregated}
    return sweep_dir


def _unfinished(cell: Cell, state: str) -> str:
    """Why a cell is neither done nor failed at the end of a sweep, and what to do."""
    if state == "running":
        return f"running ({_holder(_read_lock(cell.folder / LOCK))}): rerun the sweep once it ends to aggregate it"
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
        try:
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
                bar.set_postfix(**postfix(results, len(pending)))
        except KeyboardInterrupt:
            bar.close()
            print(stopped_message([futures[f].key for f in pending], [c.key for _, c in queue]))
            raise
    bar.close()
    if stop is not None:
        raise stop
    return results


def postfix(results: dict, running: int) -> dict:
    """The progress bar's counts: a cell that another sweep holds ("running" when this one came to it)
    is no cell done here (the bar counted it done)."""
    count = {s: sum(v == s for v in results.values()) for s in ("done", "failed", "running")}
    return {"done": count["done"], "running": running, "failed": count["failed"],
            **({"held_elsewhere": count["running"]} if count["running"] else {})}


def stopped_message(stopped: list[str], not_started: list[str]) -> str:
    """What an interrupted sweep left, naming the cells: "the cells it stopped are pending" named none."""
    def listed(keys):
        return ", ".join(keys[:10]) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "") or "none"
    return (f"[sweep] interrupted: stopped {len(stopped)} running cell(s): {listed(stopped)}; "
            f"{len(not_started)} not started: {listed(not_started)}. They are pending: a rerun runs them")


def _first_check(first, folder: Path) -> Exception | None:
    try:
        first(folder)
    except Exception as e:
        return e
    return None
