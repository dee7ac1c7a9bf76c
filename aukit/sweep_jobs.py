"""A sweep's cells as submitit jobs: a SLURM job array (``--executor slurm``) or local processes
through the same submission path (``submitit-local``, used by the tests), followed until they end.

Each submitted cell gets ``job.json`` (:mod:`aukit.slurm`); a job that ends without finishing its
cell leaves it failed, with error.txt naming the job and its log; an interrupted sweep cancels the
jobs it started and leaves their cells pending. The cells themselves (folders, locks, states)
are :mod:`aukit.sweep`'s.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import slurm as scheduler
from .sweep import Cell, _bar, _first_check, _read_lock, cell_state, mark_failed, postfix, run_cell


class SchedulerError(ValueError):
    """SLURM is not there (no sbatch/srun on PATH) or refused the sweep's jobs."""


# what a cell's job asks of SLURM unless told otherwise (`aukit sweep --help` names them)
SLURM_DEFAULTS = {"time_min": 240, "gpus": 1, "cpus_per_task": 8, "array_parallelism": 32}


def slurm_parameters(slurm: dict, job_name: str) -> dict:
    """submitit's SlurmExecutor parameters from the sweep's ``slurm`` options (SLURM_DEFAULTS where
    unset): ``gpus`` 0 requests no GPU (a CPU partition may refuse ``--gpus-per-node``); ``mem``,
    ``account``, ``qos``, ``constraint`` and ``partition`` go to sbatch only when given."""
    o = {**SLURM_DEFAULTS, **{k: v for k, v in slurm.items() if v is not None}}
    if int(o["time_min"]) < 1 or int(o["gpus"]) < 0 or int(o["cpus_per_task"]) < 1:
        raise ValueError(f"SLURM time_min and cpus_per_task must be at least 1 and gpus 0 or more, got {o}")
    params = {"job_name": o.get("job_name") or job_name, "time": int(o["time_min"]),
              "cpus_per_task": int(o["cpus_per_task"]), "array_parallelism": int(o["array_parallelism"])}
    if int(o["gpus"]) > 0:
        params["gpus_per_node"] = int(o["gpus"])
    params.update({k: str(o[k]) for k in ("partition", "mem", "account", "qos", "constraint") if o.get(k)})
    return params


def run_jobs(notebook: str, todo: list[Cell], sweep_dir: Path, executor: str, slurm: dict,
                  progress: bool, first=None, job_name: str = "aukit") -> dict:
    """Submit `todo` as a job array; ``first`` as in :func:`aukit.sweep._run_local` (the jobs left are cancelled)."""
    import submitit

    if not todo:
        return {}
    folder = sweep_dir / "_submitit" / "%j"
    if executor == "slurm":
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise SchedulerError(f"--executor slurm needs SLURM's {' and '.join(missing)} on PATH, not found here: "
                                 "run the sweep on a SLURM login node, or use --executor local or submitit-local")
        ex = submitit.SlurmExecutor(folder=folder)
        ex.update_parameters(**slurm_parameters(slurm, job_name))
    else:  # runs the same submission path as local subprocesses (used by the tests)
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=int(slurm.get("time_min") or 60))
    jobs = _submit(ex, folder.parent, notebook, todo)
    for c, job in zip(todo, jobs):
        scheduler.record(c.folder, executor, job)
    first_id = jobs[0].job_id.split("_")[0]
    print(f"[sweep] submitted {len(jobs)} cell(s) as {'SLURM array job' if executor == 'slurm' else 'local jobs from'} "
          f"{first_id}: logs in {folder.parent}/<job id>/, each cell's {scheduler.RECORD} names its job")
    results, bar = {}, _bar(len(todo), progress)
    remaining = dict(zip((c.key for c in todo), jobs))
    cell_of = {c.key: c for c in todo}
    try:
        _follow(remaining, cell_of, results, bar, first)
    except BaseException:        # Ctrl-C, SIGTERM (as KeyboardInterrupt), a misspelt metric: stop the jobs left
        bar.close()
        _cancel(executor, remaining, cell_of)
        raise
    bar.close()
    return results


def _follow(remaining: dict, cell_of: dict, results: dict, bar, first) -> None:
    """Wait for the jobs ``remaining`` ({cell key: job}), moving each into ``results`` as it ends;
    ``first`` as in :func:`aukit.sweep._run_local` (its error is raised)."""
    while remaining:
        for key, job in list(remaining.items()):
            if job.done():
                try:
                    results[key] = job.result()
                except Exception as e:
                    results[key] = _job_ended(cell_of[key], job, e)
                del remaining[key]
                bar.update(1)
                if results[key] == "done" and first is not None:
                    stop, first = _first_check(first, cell_of[key].folder), None
                    if stop is not None:
                        raise stop
        bar.set_postfix(**postfix(results, len(remaining)))
        if remaining:
            time.sleep(2)


def _cancel(executor: str, remaining: dict, cell_of: dict, wait_s: float = 30) -> None:
    """Cancel the sweep's jobs not yet ended ({cell key: job}): SLURM's with one scancel (queued ones
    never start, running ones are killed), local ones with SIGINT (their cell stops as at Ctrl-C),
    then SIGKILL for any still alive after ``wait_s``. Their cells are left pending, not failed: their
    locks are removed (a SLURM job is killed before it can remove its own). Cells already ended are
    kept. Says what it cancelled: killing the sweep orphaned its local jobs, which ran on unseen."""
    if not remaining:
        return
    ids = [str(j.job_id) for j in remaining.values()]
    if executor == "slurm":
        try:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"[sweep] could not cancel SLURM jobs {' '.join(ids)} ({e}): cancel them with scancel")
            return
    else:
        for job in remaining.values():
            job.cancel(check=False)
        end = time.monotonic() + wait_s
        while time.monotonic() < end and any(j._process is not None and j._process.poll() is None
                                             for j in remaining.values()):
            time.sleep(0.2)
        for job in remaining.values():
            if job._process is not None and job._process.poll() is None:
                _kill_tree(job._process.pid)       # the job runs its cell in a child process
                job._process.wait()
    for key, job in remaining.items():
        lock = cell_of[key].folder / ".lock"
        held = _read_lock(lock)
        if held and held[2] == str(job.job_id):    # a local cell stopped by SIGINT removed its own
            lock.unlink(missing_ok=True)
    what = "SLURM job(s)" if executor == "slurm" else "local job(s)"
    print(f"[sweep] stopped: cancelled {len(ids)} {what} ({', '.join(ids[:8])}{', ...' if len(ids) > 8 else ''}); "
          f"their cells are pending, a rerun runs them: {', '.join(list(remaining)[:10])}"
          f"{', ...' if len(remaining) > 10 else ''}")


def _job_ended(cell: Cell, job, error: Exception) -> str:
    """The state of a cell whose job ended without returning one: a SLURM job killed while it ran the
    cell (its lock, naming that job, is left) is failed, with error.txt saying so; else the cell's own
    state (a job cancelled before it started leaves it pending, a killed local job a stale lock)."""
    held = _read_lock(cell.folder / ".lock")
    if held and held[2] == str(job.job_id):
        mark_failed(cell, f"job {job.job_id} ended ({job.state}) while it ran this cell, without finishing it: "
                          f"cancelled, killed at its time limit or out of memory, preempted, or its node failed.\n"
                          f"Its log: {job.paths.stderr} (and .out); rerun the cell with --retry-failed.\n\n{error}\n")
        (cell.folder / ".lock").unlink(missing_ok=True)
        return "failed"
    return cell_state(cell)


def _submit(ex, logs: Path, notebook: str, todo: list[Cell]) -> list:
    """``ex.map_array`` of run_cell over ``todo``. When sbatch refuses (an unknown partition or
    account, a limit), a SchedulerError with sbatch's message, and what the submission wrote into
    ``logs`` (pickles, the sbatch script) is removed again: no empty ``_submitit/`` is left."""
    from submitit.core.utils import FailedJobError

    before = set(logs.iterdir()) if logs.exists() else None
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):     # submitit prints sbatch's stderr, then raises it
            return ex.map_array(run_cell, [notebook] * len(todo), [str(c.folder) for c in todo],
                                [c.params for c in todo], [None] * len(todo))
    except (FailedJobError, OSError, subprocess.SubprocessError) as e:
        for p in set(logs.iterdir()) - (before or set()) if logs.exists() else ():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        if before is None and logs.exists() and not any(logs.iterdir()):
            logs.rmdir()
        text = " ".join(str(e).split()) or " ".join(said.getvalue().split()) or type(e).__name__
        raise SchedulerError(f"SLURM refused the sweep's {len(todo)} job(s): {text}") from None


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (Linux /proc; elsewhere ``pid`` alone)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        _kill_tree(int(child))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
