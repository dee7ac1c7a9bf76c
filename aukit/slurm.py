"""What SLURM says about a sweep's jobs: the job a process runs in, and whether a job still lives.

A sweep cell run by SLURM names its job in its lock file (``node01 28276 1001_2``) and, from the
moment it is submitted, in ``job.json`` (job id and log files). A lock from another host cannot be
checked by its pid; its job can, through ``sacct``: a job cancelled, killed at its time limit, out
of memory, preempted or on a failed node has ended, and its cell will never finish.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

RECORD = "job.json"   # in a cell's folder: the job that runs (or ran) it, and its logs

# sacct states of a job that may still run the cell (any other one, COMPLETED included, has ended)
ALIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
         "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "STOPPED"}


def job_id_here() -> str | None:
    """The SLURM job this process runs in (an array task as ``<array job>_<index>``, as sacct and
    submitit name it), or None outside SLURM."""
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and index:
        return f"{array}_{index}"
    return os.environ.get("SLURM_JOB_ID") or None


def states(job_ids) -> dict[str, str]:
    """{job id: its state, e.g. RUNNING, CANCELLED, TIMEOUT, OUT_OF_MEMORY} for the ids sacct knows
    (one sacct call). Empty when sacct is missing or fails: the caller cannot tell, and must not guess."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    ids = sorted(set(job_ids))
    if not ids:
        return {}
    cmd = ["sacct", "-o", "JobID,State", "--parsable2"]
    for main in sorted({j.split("_")[0] for j in ids}):   # an array's id lists all its tasks
        cmd += ["-j", main]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = SlurmInfoWatcher().read_info(out)
    return {j: info[j]["State"].split()[0] for j in ids if info.get(j, {}).get("State")}   # "CANCELLED by 0"


def record(folder: Path, executor: str, job) -> None:
    """Write a submitted cell's ``job.json``: its job id and log files (submitit's job ``job``)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / RECORD).write_text(json.dumps(
        {"executor": executor, "job_id": str(job.job_id), "stdout": str(job.paths.stdout),
         "stderr": str(job.paths.stderr), "submitted": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))


def recorded(folder: Path) -> dict:
    """A cell's ``job.json`` ({} when it has none)."""
    try:
        return json.loads((Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        return {}
