"""Mutation round 6, aukit.sweep: a cell's lock (unreadable, live, taken over meanwhile) and a rerun of a
finished cell (its model/ kept in previous/, its code key recorded, a failed cell rerun in place), with
aukit.nb.execute replaced by a run that writes metrics.json (no notebook runs)."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import yaml

from aukit import sweep


def _execute(monkeypatch, calls, lock_text=None):
    """aukit.nb.execute replaced: writes metrics.json, run.yaml, model/w.txt and checkpoints/a=<a>.pt;
    ``lock_text`` rewrites the cell's lock meanwhile (another sweep that declared this run dead took the cell over)."""
    def execute(notebook, out, params, **kw):
        out = Path(out)
        calls.append(out)
        (out / "metrics.json").write_text(json.dumps({"score": params["a"]}))
        (out / "run.yaml").write_text(yaml.safe_dump({"commit": "abc"}))
        (out / "model").mkdir(exist_ok=True)
        (out / "model" / "w.txt").write_text(f"weights of a={params['a']}")
        (out / "checkpoints").mkdir(exist_ok=True)
        (out / "checkpoints" / f"a={params['a']}.pt").write_text("")
        if lock_text is not None:
            (out / sweep.LOCK).write_text(lock_text)
    monkeypatch.setattr("aukit.nb.execute", execute)


def test_an_unreadable_lock_is_stale_only_once_a_minute_old(tmp_path, monkeypatch, capsys):
    """S1 (unreadable: always stale), S2 (never stale), S3 (a lock gone meanwhile: not stale), S26 (its
    holder unnamed), S24 (a live process of another user, which signals refuse, taken for dead)."""
    cell = tmp_path / "c"
    lock = cell / sweep.LOCK
    cell.mkdir()
    lock.write_text("")                                  # just created: its text comes next
    assert not sweep._stale_lock(lock)
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "running"
    assert "c: not run by this sweep: another run (its lock is being written) runs it" in capsys.readouterr().out
    old = time.time() - 120
    os.utime(lock, (old, old))
    assert sweep._stale_lock(lock)
    assert sweep._stale_lock(tmp_path / "gone")          # removed by its holder meanwhile: nothing holds it
    lock.write_text(f"{socket.gethostname()} 1")

    def refused(pid, sig):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(sweep.os, "kill", refused)
    assert not sweep._stale_lock(lock)


def test_breaking_a_lock_leaves_a_live_one_alone(tmp_path, capsys):
    """S8: _break_stale checks the lock again under flock (another sweep may have taken the cell over with a
    live lock of its own at that path); without that check a live run's lock was removed."""
    lock = tmp_path / ".lock"
    live = f"{socket.gethostname()} {os.getpid()}"
    lock.write_text(live)
    sweep._break_stale(lock)
    assert lock.read_text() == live and "took over" not in capsys.readouterr().out
    lock.write_text(f"{socket.gethostname()} 999999999")
    sweep._break_stale(lock)
    assert not lock.exists()


def test_a_lock_taken_over_meanwhile_is_left_to_its_new_holder(tmp_path, monkeypatch):
    """S13: run_cell removes the lock at the end only if it is still its own."""
    cell, calls = tmp_path / "c", []
    other = "some-other-host 4242 991"
    _execute(monkeypatch, calls, lock_text=other)
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "done"
    assert (cell / sweep.LOCK).read_text() == other


def test_a_failed_cell_with_a_metrics_json_is_run_again_in_place(tmp_path, monkeypatch):
    """S12: a cell with error.txt is not finished, whatever metrics.json says: run again (not 'done')."""
    cell, calls = tmp_path / "c", []
    cell.mkdir()
    (cell / "params.json").write_text(json.dumps({"a": 1.0}))
    (cell / "metrics.json").write_text(json.dumps({"score": -1.0}))
    (cell / "error.txt").write_text("Traceback ...")
    _execute(monkeypatch, calls)
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "done"
    assert calls == [cell] and not (cell / "error.txt").exists()          # in place, not a .rerun folder
    assert json.loads((cell / "metrics.json").read_text()) == {"score": 1.0}
    assert not (cell / "previous").exists()                               # a failed run is no result to keep


def test_a_rerun_keeps_the_old_model_in_previous_and_records_its_code(tmp_path, monkeypatch):
    """S15 (the rerun's run.yaml without its code key), S16/S17 (the old result's model/ folder not moved
    into previous/ but replaced by the new one's), S18 (metrics.json put in place first: a rerun killed
    meanwhile left a finished-looking cell of mixed files), S19 (a folder of the old run's left beside the new
    one's)."""
    cell, calls, moved = tmp_path / "c", [], []
    _execute(monkeypatch, calls)
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 1.0}) == "done"
    replace = os.replace
    monkeypatch.setattr(sweep.os, "replace", lambda a, b: (moved.append(Path(b)), replace(a, b)))
    assert sweep.run_cell("toy.ipynb", str(cell), {"a": 2.0}) == "done"
    assert moved[-1] == cell / "metrics.json" and cell / "model" in moved
    assert sorted(p.name for p in cell.iterdir()) == ["checkpoints", "metrics.json", "model", "params.json",
                                                      "previous", "run.yaml"]
    assert [p.name for p in (cell / "checkpoints").iterdir()] == ["a=2.0.pt"]
    assert calls == [cell, tmp_path / ".c.rerun"]
    assert (cell / "model" / "w.txt").read_text() == "weights of a=2.0"
    assert (cell / "previous" / "model" / "w.txt").read_text() == "weights of a=1.0"
    assert json.loads((cell / "previous" / "params.json").read_text()) == {"a": 1.0}
    assert "code_key" in yaml.safe_load((cell / "run.yaml").read_text())


# aukit.sweep_grid: check_cells, refuse_aliases, adopt_old_names

def _checked(monkeypatch, tmp_path, grid):
    """check_cells' ValueError over ``grid`` (fixed: dataset d), aukit.nb.check_parameters replaced: fold 7
    lacks its files, a negative lr is refused naming lr, and lr 9 names both lr and dataset."""
    from aukit import sweep_grid

    def check(notebook, params, files=True):
        if params.get("fold") == 7:
            raise FileNotFoundError("no part7 for 'fold' 7")
        if params["lr"] < 0:
            raise ValueError("parameter 'lr' is below 0")
        if params["lr"] == 9:
            raise ValueError("parameter 'lr' 9 is too high for 'dataset' d")
    monkeypatch.setattr("aukit.nb.check_parameters", check)
    cells = sweep.expand({"dataset": "d"}, grid, tmp_path)
    try:
        sweep_grid.check_cells("toy.ipynb", "g.yaml", grid, cells)
    except ValueError as e:
        return str(e)
    return None


def test_check_cells_names_each_problem_and_the_cells_it_stops(tmp_path, monkeypatch):
    """G1 (a missing file, FileNotFoundError, not caught: it stopped the sweep with a traceback, no grid
    file named), G2 (a problem of every cell listed its cells all the same), G3 (four cells shown with
    ', ...'), G4 (a value naming a fixed parameter too said to sit under parameters)."""
    assert _checked(monkeypatch, tmp_path, {"lr": [0.1, 0.2]}) is None
    assert _checked(monkeypatch, tmp_path, {"fold": [1, 7], "lr": [0.1]}) == \
        "grid file g.yaml (under grid): no part7 for 'fold' 7 (the first problem of 1 of 2 cells: fold=7__lr=0.1)"
    assert _checked(monkeypatch, tmp_path, {"lr": [-1, -2]}) == "grid file g.yaml (under grid): parameter 'lr' is " \
                                                                "below 0"
    assert _checked(monkeypatch, tmp_path, {"lr": [-1, -2, -3, -4, 0.5]}).endswith(
        "(the first problem of 4 of 5 cells: lr=-1, lr=-2, lr=-3, lr=-4)")
    assert _checked(monkeypatch, tmp_path, {"lr": [-1, -2, -3, -4, -5, 0.5]}).endswith(
        "(the first problem of 5 of 6 cells: lr=-1, lr=-2, lr=-3, lr=-4, ...)")
    assert _checked(monkeypatch, tmp_path, {"lr": [9, 0.5]}).startswith("grid file g.yaml (under grid): parameter")
    two = _checked(monkeypatch, tmp_path, {"fold": [1, 7], "lr": [-1, 0.1]})
    assert two.splitlines() == ["grid file g.yaml: 2 problems, so no cell ran:",
                                "  - (under grid) parameter 'lr' is below 0 (the first problem of 1 of 4 cells: "
                                "fold=1__lr=-1)",
                                "  - (under grid) no part7 for 'fold' 7 (the first problem of 2 of 4 cells: "
                                "fold=7__lr=-1, fold=7__lr=0.1)"]


def test_one_pair_of_alias_cells_is_named_without_more(tmp_path):
    """G5: '(and 0 more such pair(s))' was said of a single pair."""
    import pytest
    scc = Path(__file__).resolve().parents[1] / "notebooks" / "scc.ipynb"
    with pytest.raises(ValueError) as e:
        sweep.refuse_aliases(scc, "g.yaml", sweep.expand({"dataset": "synthau-bp4d"}, {"k": [5, 0]}, tmp_path))
    assert str(e.value) == ("grid file g.yaml: cells k=5 and k=0 run the same (k 0 stands for 5 on their preset "
                            "and dataset): give one of the values")


def test_only_finished_unlocked_cells_named_the_older_way_are_renamed(tmp_path, capsys):
    """G7 (renamed onto the cell's folder when both exist: OSError), G8 (an unfinished one renamed), G9 (a
    locked one, still being written, renamed under its run)."""
    from aukit.sweep_grid import adopt_old_names
    cells = sweep.expand({}, {"lr": [1e-05, 0.5, 2e-05]}, tmp_path)
    written = {"lr": ["1e-5", "0.5", "2e-5"]}
    for name in ("lr=1e-5", "lr=1e-05", "lr=2e-5"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text("{}")
    (tmp_path / "lr=2e-5" / ".lock").write_text("h 1")
    adopt_old_names(cells, written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr=1e-05", "lr=1e-5", "lr=2e-5"]
    assert "lr=2e-5: named the older way (lr=2e-05 now), but locked: left as it is" in capsys.readouterr().out
    (tmp_path / "lr=2e-5" / ".lock").unlink()
    (tmp_path / "lr=2e-5" / "metrics.json").unlink()                     # unfinished: rerun under the new name
    adopt_old_names(cells, written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr=1e-05", "lr=1e-5", "lr=2e-5"]
    (tmp_path / "lr=2e-5" / "metrics.json").write_text("{}")
    adopt_old_names(cells, written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr=1e-05", "lr=1e-5", "lr=2e-05"]


def test_a_smoke_cell_reads_its_values_on_the_smoke_preset(tmp_path):
    """G10: as_run read a smoke cell's "the preset's" values on its ``preset`` (T 0 is 16 on full, 4 on smoke):
    T [0, 16] under smoke with preset full was refused as one cell, and T [0, 4] let through."""
    from aukit.sweep_grid import as_run
    tas = Path(__file__).resolve().parents[1] / "notebooks" / "tas.ipynb"
    assert as_run(tas, {"smoke": True, "preset": "full", "T": 0}) == {"smoke": True, "preset": "full", "T": 4}
    assert as_run(tas, {"preset": "full", "T": 0})["T"] == 16
