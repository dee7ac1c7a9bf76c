"""Sweeps on SLURM and submitit: dead jobs, interrupts, scheduler options and errors, table text."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from aukit import sweep, sweep_jobs


def test_an_empty_string_value_shows_as_quotes_in_aggregate_md(tmp_path):
    """`weights: ["", w.pth]` showed the "" row as a blank column, read as a missing value."""
    grid = {"weights": ["", "w.pth"], "seeds": [[0], [1]]}
    for c in sweep.expand({}, grid, tmp_path):
        c.folder.mkdir()
        (c.folder / "params.json").write_text(json.dumps(c.params))
        (c.folder / "metrics.json").write_text(json.dumps({"icc": 0.5}))
    sweep.aggregate(tmp_path, grid)
    rows = (tmp_path / "aggregate.md").read_text().splitlines()
    assert '| overall | "" | 0.5000 ± 0.0000 | 2 |' in rows
    assert "| overall | w.pth | 0.5000 ± 0.0000 | 2 |" in rows


def _fake_srun(tmp_path, monkeypatch):
    """submitit's SlurmExecutor wants srun on PATH before it writes an sbatch script."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    for tool in ("srun", "sbatch"):
        (bin_ / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_ / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")


def _sbatch_text(slurm, tmp_path):
    import submitit
    ex = submitit.SlurmExecutor(folder=tmp_path / "_submitit" / "%j")
    ex.update_parameters(**sweep_jobs.slurm_parameters(slurm, "aukit-toy-g"))
    return ex._make_submission_file_text("true", "uid")


def test_slurm_options_reach_sbatch(tmp_path, monkeypatch):
    """cpus were fixed at 8, the job name at 'submitit', a GPU was always requested, and there was
    no --mem, --account, --qos or --constraint."""
    _fake_srun(tmp_path, monkeypatch)
    text = _sbatch_text({}, tmp_path)
    assert "#SBATCH --job-name=aukit-toy-g" in text and "#SBATCH --time=240" in text
    assert "#SBATCH --gpus-per-node=1" in text and "#SBATCH --cpus-per-task=8" in text
    assert "--mem" not in text and "--account" not in text and "--partition" not in text
    text = _sbatch_text({"gpus": 0, "cpus_per_task": 2, "mem": "32G", "account": "lab", "qos": "short",
                         "constraint": "a100", "partition": "cpu", "job_name": "mine", "time_min": 30}, tmp_path)
    for line in ("--cpus-per-task=2", "--mem=32G", "--account=lab", "--qos=short", "--constraint=a100",
                 "--partition=cpu", "--job-name=mine", "--time=30"):
        assert f"#SBATCH {line}\n" in text
    assert "gpus" not in text                                      # 0: no GPU request at all


def test_slurm_options_are_checked_by_the_parser(capsys):
    from aukit.cli import build_parser, main
    parser = build_parser()
    base = ["sweep", "nb.ipynb", "--grid", "g.yaml", "--executor", "slurm"]
    for bad, said in ((["--time-min", "0"], "must be at least 1"), (["--time-min", "-5"], "must be at least 1"),
                      (["--gpus", "-1"], "must be 0 or more"), (["--cpus-per-task", "0"], "must be at least 1"),
                      (["--mem", "lots"], "as sbatch --mem takes it")):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(base + bad)
        assert e.value.code == 2 and said in capsys.readouterr().err
    a = parser.parse_args(base + ["--gpus", "0", "--mem", "64000M"])
    assert a.gpus == 0 and a.mem == "64000M"
    helped = " ".join(parser._subparsers._group_actions[0].choices["sweep"].format_help().split())
    for option, key in (("--time-min", "time_min"), ("--gpus", "gpus"), ("--cpus-per-task", "cpus_per_task")):
        assert f"(default: {sweep_jobs.SLURM_DEFAULTS[key]}" in helped.split(option, 2)[2][:120]
    assert main(["sweep", "nb.ipynb", "--grid", "g.yaml", "--mem", "8G"]) == 2   # a local sweep asks no SLURM
    assert "--mem: SLURM options, for --executor slurm" in capsys.readouterr().err


def _toy(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("a: float = 1.0\nsleep: float = 0.0\nsmoke: bool = False\nout_dir: str = '.'")
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell("import json, pathlib, time\ntime.sleep(sleep)\n"
                                     "json.dump({'score': a * 10}, open(pathlib.Path(out_dir, 'metrics.json'), 'w'))")
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "toy.ipynb")
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ngrid:\n  a: [1.0, 2.0]\n")
    return tmp_path / "toy.ipynb", grid


def test_no_slurm_or_a_refused_job_is_one_error_line(tmp_path, monkeypatch, capsys):
    """Both printed a 40-line submitit traceback, exited 1 and left an empty _submitit/."""
    from aukit.cli import main
    nb, grid = _toy(tmp_path)
    args = ["sweep", str(nb), "--grid", str(grid), "--executor", "slurm", "--reports", str(tmp_path / "r")]
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aukit sweep: error: --executor slurm needs SLURM's sbatch and srun")
    sweep_dir = tmp_path / "r/toy/sweeps/g"
    assert not (sweep_dir / "_submitit").exists()

    _fake_srun(tmp_path, monkeypatch)                    # sbatch says no
    (tmp_path / "bin/sbatch").write_text("#!/bin/sh\necho 'sbatch: error: Batch job submission failed: "
                                         "Invalid partition name specified' >&2\nexit 1\n")
    assert main(args + ["--partition", "gpux"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["aukit sweep: error: SLURM refused the sweep's 2 job(s): sbatch: error: Batch job submission "
                   "failed: Invalid partition name specified"]
    assert not (sweep_dir / "_submitit").exists()
    (sweep_dir / "_submitit").mkdir()                    # an earlier sweep's logs stay
    (sweep_dir / "_submitit/1000_0").mkdir()
    assert main(args) == 2
    assert [p.name for p in (sweep_dir / "_submitit").iterdir()] == ["1000_0"]


def _sacct(tmp_path, monkeypatch, states: dict):
    """A fake sacct on PATH answering ``states`` ({job id: state}) as ``sacct --parsable2`` does."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    rows = "".join(f"{j}|{s}\\n" for j, s in states.items())
    (bin_ / "sacct").write_text(f"#!/bin/sh\nprintf 'JobID|State\\n{rows}'\n")
    (bin_ / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")


def _held_by_job(cell, job, *, started=True):
    """A cell as a SLURM job on another node leaves it: job.json from the submission, and (once the
    job started) params.json and a lock naming that node, pid and job."""
    cell.folder.mkdir(parents=True, exist_ok=True)
    (cell.folder / "job.json").write_text(json.dumps({"executor": "slurm", "job_id": job}))
    if started:
        (cell.folder / "params.json").write_text(json.dumps(cell.params))
        (cell.folder / ".lock").write_text(f"node-elsewhere 4242 {job}")


@pytest.mark.slow
def test_a_cell_whose_slurm_job_ended_is_failed_not_running_for_good(tmp_path, monkeypatch, capsys):
    """A cell whose job was cancelled, killed or timed out kept its lock from another host, which the
    sweep trusted: it stayed 'running' on every rerun, --retry-failed skipped it, and the exit code was 0."""
    from aukit.cli import main
    nb, grid = _toy(tmp_path)
    cells = sweep.expand({}, {"a": [1.0, 2.0]}, tmp_path / "r/toy/sweeps/g")
    _held_by_job(cells[0], "1001_0")
    _held_by_job(cells[1], "1001_1")
    args = ["sweep", str(nb), "--grid", str(grid), "--reports", str(tmp_path / "r")]
    _sacct(tmp_path, monkeypatch, {"1001_0": "CANCELLED by 0", "1001_1": "RUNNING"})
    capsys.readouterr()
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "a=1.0: its SLURM job 1001_0 ended CANCELLED without finishing it: failed" in out
    assert "NOT FINISHED a=2.0: running (host node-elsewhere pid 4242, SLURM job 1001_1)" in out
    assert "SLURM job 1001_0 ended CANCELLED" in (cells[0].folder / "error.txt").read_text()
    assert not (cells[0].folder / ".lock").exists() and (cells[1].folder / ".lock").exists()

    assert main(args + ["--retry-failed"]) == 3          # a=1.0 reran here; a=2.0 still runs: not 0
    assert sweep.cell_state(cells[0]) == "done"
    assert "NOT FINISHED a=2.0: running" in capsys.readouterr().out
    record = yaml.safe_load((cells[0].folder.parent / "sweep.yaml").read_text())
    assert record["failed"] == [] and record["unfinished"] == {"a=2.0": "running"}

    _sacct(tmp_path, monkeypatch, {"1001_1": "TIMEOUT"})
    assert main(args) == 1
    assert "its SLURM job 1001_1 ended TIMEOUT" in capsys.readouterr().out
    assert main(args + ["--retry-failed"]) == 0


def test_a_job_killed_in_a_rerun_leaves_its_error_in_the_rerun_folder(tmp_path, monkeypatch):
    """Two grids of one name (b 1 and b 2): a job killed while it reran a cell beside the other grid's finished
    result wrote error.txt into the cell's folder, so the other grid's cell read failed (its --retry-failed would
    have run it again in place, deleting its result) and this one's pending. Now the error lands in the rerun
    folder: this grid's cell is failed, the other's done; whether sacct tells (settle) or submitit (_job_ended)."""
    import shutil
    from types import SimpleNamespace
    [mine] = sweep.expand({"b": 2}, {"a": [1.0]}, tmp_path / "g")
    [other] = sweep.expand({"b": 1}, {"a": [1.0]}, tmp_path / "g")
    other.folder.mkdir(parents=True)
    (other.folder / "params.json").write_text(json.dumps(other.params))
    (other.folder / "metrics.json").write_text(json.dumps({"score": 1.0}))
    stage = mine.folder.parent / f".{mine.folder.name}.rerun"
    for job in ("1001_0", "1001_1"):
        (mine.folder / ".lock").write_text(f"node-elsewhere 4242 {job}")
        if job == "1001_0":
            _sacct(tmp_path, monkeypatch, {job: "CANCELLED by 0"})
            sweep.settle([mine], "slurm")
        else:
            ended = SimpleNamespace(job_id=job, state="TIMEOUT", paths=SimpleNamespace(stderr=tmp_path / "x.err"))
            assert sweep_jobs._job_ended(mine, ended, RuntimeError("killed")) == "failed"
        assert not (other.folder / "error.txt").exists() and not (mine.folder / ".lock").exists()
        assert f"job {job} ended" in (stage / "error.txt").read_text()
        assert sweep.cell_state(other) == "done" and sweep.cell_state(mine) == "failed"
        assert sweep.error_file(mine) == stage / "error.txt"
        shutil.rmtree(stage)


def test_a_queued_cell_is_not_submitted_twice_and_an_unknown_job_is_trusted(tmp_path, monkeypatch, capsys):
    nb, grid = _toy(tmp_path)
    grid.write_text("name: g\ngrid:\n  a: [1.0]\n")
    cell = sweep.expand({}, {"a": [1.0]}, tmp_path / "r/toy/sweeps/g")[0]
    _held_by_job(cell, "1001_2", started=False)
    _sacct(tmp_path, monkeypatch, {"1001_2": "PENDING"})
    monkeypatch.setattr(sweep_jobs, "_submit", lambda *a: pytest.fail("a queued cell was submitted again"))
    from aukit.cli import main
    assert main(["sweep", str(nb), "--grid", str(grid), "--reports", str(tmp_path / "r"), "--executor", "slurm"]) == 3
    out = capsys.readouterr().out
    assert "0 to run, already {'done': 0, 'failed': 0, 'running': 0, 'queued': 1}" in out
    assert "NOT FINISHED a=1.0: its SLURM job 1001_2 is queued" in out
    _held_by_job(cell, "1001_2")                          # started; sacct has no record of it
    _sacct(tmp_path, monkeypatch, {})
    assert sweep.settle([cell], "slurm") == set() and sweep.cell_state(cell) == "running"
    assert "whose state sacct does not tell: counted as running" in capsys.readouterr().out


@pytest.mark.slow
def test_killing_a_submitit_local_sweep_cancels_its_jobs(tmp_path):
    """SIGTERM to the sweep left its jobs and their kernels running under init, and said 'what it
    left is named above' when nothing was; a rerun meanwhile counted them running, exit 0."""
    import signal
    import subprocess
    import sys
    import time
    psutil = pytest.importorskip("psutil")
    nb, grid = _toy(tmp_path)
    grid.write_text("name: g\nparameters: {sleep: 120}\ngrid:\n  a: [1.0, 2.0]\n")
    cells = sweep.expand({}, {"a": [1.0, 2.0]}, tmp_path / "r/toy/sweeps/g")
    proc = subprocess.Popen([sys.executable, "-m", "aukit.cli", "sweep", str(nb), "--grid", str(grid),
                             "--executor", "submitit-local", "--reports", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not all((c.folder / ".lock").exists() for c in cells):      # both cells running
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.5)
    jobs = psutil.Process(proc.pid).children(recursive=True)          # the jobs and their kernels
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130
    assert "[sweep] stopped: cancelled 2 local job(s)" in out
    assert "interrupted; the cells it stopped are pending" in err and "named above" not in err
    gone, alive = psutil.wait_procs(jobs, timeout=15)
    assert not alive, [p.cmdline() for p in alive]
    assert [sweep.cell_state(c) for c in cells] == ["pending", "pending"]
