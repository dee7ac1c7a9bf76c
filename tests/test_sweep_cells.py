"""The second sweep audit: a finished cell's result survives a rerun that fails, a held lock is named
and a stale one taken over; every bad grid point is named before any cell runs; a value standing for
another (SCC's k 0 on DISFA is its 7) is one cell; cells named the older way (lr=1e-5) are kept."""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from aukit import nb as aukit_nb
from aukit import sweep
from test_sweep_audit import _finish, _in_process, _notebook

ROOT = Path(__file__).resolve().parents[1]
SCC = ROOT / "notebooks" / "scc.ipynb"


def _writes(monkeypatch, score, calls):
    """aukit.nb.execute replaced by a run that writes metrics.json with ``score`` (raises when None)."""
    def execute(notebook, out, params, **kw):
        calls.append(Path(out))
        if score is None:
            raise ValueError("the rerun broke")
        (Path(out) / "metrics.json").write_text(json.dumps({"score": score}))
        (Path(out) / "run.yaml").write_text(f"notebook: {{executed: {Path(out) / 'toy.ipynb'}}}\n")
    monkeypatch.setattr("aukit.nb.execute", execute)


# 1. a finished result survives until a new run has finished; the lock names its holder

def test_a_failing_rerun_leaves_the_finished_result_in_place(tmp_path, monkeypatch, capsys):
    """run_cell deleted metrics.json before running: a rerun that failed (or a second sweep) lost it."""
    cell, calls = tmp_path / "sw" / "fold=1", []
    _finish(cell, {"fold": 1, "a": 1.0}, {"score": 1.0})
    _writes(monkeypatch, None, calls)
    assert sweep.run_cell("toy.ipynb", str(cell), {"fold": 1, "a": 2.0}) == "failed"
    assert json.loads((cell / "metrics.json").read_text()) == {"score": 1.0}
    assert json.loads((cell / "params.json").read_text()) == {"fold": 1, "a": 1.0}
    assert not (cell / "error.txt").exists() and not (cell / ".lock").exists()
    assert "the rerun broke" in (tmp_path / "sw" / ".fold=1.rerun" / "error.txt").read_text()
    assert "the finished result in" in capsys.readouterr().out

    _writes(monkeypatch, 2.0, calls)                    # a rerun that finishes takes the cell's place
    assert sweep.run_cell("toy.ipynb", str(cell), {"fold": 1, "a": 2.0}) == "done"
    assert json.loads((cell / "metrics.json").read_text()) == {"score": 2.0}
    assert json.loads((cell / "params.json").read_text()) == {"fold": 1, "a": 2.0}
    assert json.loads((cell / "previous" / "metrics.json").read_text()) == {"score": 1.0}
    assert json.loads((cell / "previous" / "params.json").read_text()) == {"fold": 1, "a": 1.0}
    run = (cell / "run.yaml").read_text()                 # its paths name the cell, not the folder it ran in
    assert str(cell / "toy.ipynb") in run and ".rerun" not in run
    assert not (tmp_path / "sw" / ".fold=1.rerun").exists()
    assert sweep.run_cell("toy.ipynb", str(cell), {"fold": 1, "a": 2.0}) == "done"   # finished meanwhile: not rerun
    assert len(calls) == 2


def test_a_failed_rerun_beside_another_grids_result_is_reported_failed(tmp_path, monkeypatch, capsys):
    """Two grids of one name: the other one (a 1.0) finished the cell while this sweep (a 2.0) came to it, and
    this sweep's run of it, in the rerun folder, failed: the sweep said NOT FINISHED ('not run (its job was
    cancelled before it started)') and sweep.yaml listed no failure. Now it is FAILED, naming the rerun's
    error.txt; a rerun stopped by Ctrl-C stays pending (no failure of the cell's)."""
    import yaml
    nb, grid, calls = _notebook(tmp_path / "toy.ipynb"), tmp_path / "g.yaml", []
    grid.write_text("name: g\nparameters: {a: 2.0}\ngrid:\n  fold: [1]\n")

    def beaten(notebook, todo, parallel, progress, first=None):
        for c in todo:
            _finish(c.folder, {**c.params, "a": 1.0}, {"score": 1.0})
        return {c.key: sweep.run_cell(notebook, str(c.folder), c.params) for c in todo}
    monkeypatch.setattr(sweep, "_run_local", beaten)
    _writes(monkeypatch, None, calls)
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    said, stage = capsys.readouterr().out, out / ".fold=1.rerun"
    assert f"FAILED fold=1: see {stage / 'error.txt'}" in said and "NOT FINISHED" not in said
    assert yaml.safe_load((out / "sweep.yaml").read_text())["failed"] == ["fold=1"]
    cell = sweep.Cell("fold=1", json.loads((stage / "params.json").read_text()), out / "fold=1")
    other = sweep.Cell("fold=1", {**cell.params, "a": 1.0}, cell.folder)
    assert cell.params["a"] == 2.0 and sweep.cell_state(cell) == "failed" and sweep.cell_state(other) == "done"

    monkeypatch.setattr("aukit.nb.execute", lambda notebook, out, params, **kw: (
        (Path(out) / "error.txt").write_text("KeyboardInterrupt"), _interrupt()))
    with pytest.raises(KeyboardInterrupt):
        sweep.run_cell("toy.ipynb", str(cell.folder), cell.params)
    assert sweep.cell_state(cell) == "pending" and sweep.cell_state(other) == "done"


def _interrupt():
    raise KeyboardInterrupt


def test_a_held_lock_names_its_holder_and_a_stale_one_is_taken_over(tmp_path, monkeypatch, capsys):
    cell, calls = tmp_path / "c", []
    cell.mkdir()
    _writes(monkeypatch, 1.0, calls)
    here = socket.gethostname()
    (cell / ".lock").write_text(f"{here} {os.getppid()} 4242")            # a live process holds it
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "running" and calls == []
    said = capsys.readouterr().out
    assert f"c: not run by this sweep: host {here} pid {os.getppid()}, SLURM job 4242 runs it" in said
    assert (cell / ".lock").read_text() == f"{here} {os.getppid()} 4242"
    (cell / ".lock").write_text(f"{here} 999999999")                     # its process is gone
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "done" and len(calls) == 1
    assert f"c: took over its lock from host {here} pid 999999999, which is no longer running" in \
        capsys.readouterr().out
    assert not (cell / ".lock").exists()


# 2. every bad grid point, before any cell runs

def test_every_bad_grid_point_is_named_before_any_cell_runs(tmp_path, capsys):
    """A fold the dataset lacks stopped the sweep only when its cell came to run (and only the first
    problem was said)."""
    from aukit.cli import main
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\nparameters: {dataset: synthau-disfa, smoke: true}\n"
                    "grid: {fold: [1, 7], steps: [2, -5]}\n")
    with pytest.raises(ValueError) as e:
        sweep.run_sweep(SCC, grid, reports=tmp_path / "r", progress=False)
    msg = str(e.value)
    assert msg.startswith(f"grid file {grid}: 2 problems, so no cell ran")
    assert "fold 7 for synthau-disfa: takes 1, 2, 3 (the first problem of 1 of 4 cells: fold=7__steps=2)" in msg
    assert "steps -5 is below -1" in msg and "of 2 of 4 cells: fold=1__steps=-5, fold=7__steps=-5)" in msg
    assert not (tmp_path / "r").exists()
    assert main(["sweep", "scc", "--grid", str(grid), "--reports", str(tmp_path / "r")]) == 2
    assert "fold 7" in capsys.readouterr().err and not (tmp_path / "r").exists()


# 3. a value that stands for another is one cell

def test_scc_k_0_and_its_datasets_k_are_one_cell(tmp_path):
    """SCC's k 0 means the dataset's paper k (7 on DISFA): k [0, 7] gave two rows with the same numbers."""
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\nparameters: {dataset: synthau-disfa, smoke: true}\ngrid: {k: [0, 7], fold: [1, 2]}\n")
    with pytest.raises(ValueError, match=r"g.yaml: cells k=0__fold=1 and k=7__fold=1 run the same \(k 0 stands "
                                         r"for 7 on their preset and dataset\) \(and 1 more such pair\(s\)\)"):
        sweep.run_sweep(SCC, grid, reports=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    on_bp4d = sweep.expand({"dataset": "synthau-bp4d"}, {"k": [0, 7]}, tmp_path)    # there 0 stands for 5
    sweep.refuse_aliases(SCC, grid, on_bp4d)
    with pytest.raises(ValueError, match="k 0 stands for 5"):
        sweep.refuse_aliases(SCC, grid, sweep.expand({"dataset": "synthau-bp4d"}, {"k": [5, 0]}, tmp_path))
    # the paper's k given as a number is no change of the paper's setup either
    assert aukit_nb.changed_parameters("scc", {"dataset": "synthau-disfa", "k": 7}) == {}
    assert aukit_nb.changed_parameters("scc", {"dataset": "synthau-bp4d", "k": 7}) == {"k": 7}


# 4. cells named the older way

def test_finished_cells_named_the_older_way_are_renamed_not_rerun(tmp_path, monkeypatch, capsys):
    """A float written 1e-5 named its cell lr=1e-5 before grids read it as a number (lr=1e-05 now):
    those finished cells were left out of the aggregate and run again."""
    nb, ran = _notebook(tmp_path / "toy.ipynb"), []
    _in_process(monkeypatch, ran)
    sweep_dir = tmp_path / "r" / "toy" / "sweeps" / "g"
    _finish(sweep_dir / "lr=1e-5", {"lr": 1e-05}, {"score": 5.0, "headline": ["score"]})
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ngrid:\n  lr: [1e-5, 0.01]\n")
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert ran == ["lr=0.01"] and not (out / "lr=1e-5").exists()
    assert json.loads((out / "lr=1e-05" / "metrics.json").read_text())["score"] == 5.0
    assert "lr=1e-5: a finished cell named the older way, renamed lr=1e-05" in capsys.readouterr().out
    assert "not aggregated" not in (out / "aggregate.md").read_text()
