"""Sweeps on SLURM and submitit: dead jobs, interrupts, scheduler options and errors, table text."""
from __future__ import annotations

import json
import os

import pytest

from aukit import sweep


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
    ex.update_parameters(**sweep.slurm_parameters(slurm, "aukit-toy-g"))
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
        assert f"(default: {sweep.SLURM_DEFAULTS[key]}" in helped.split(option, 2)[2][:120]
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
