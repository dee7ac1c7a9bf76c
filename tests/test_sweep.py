"""Sweeps: expansion, idempotence, failure + retry, aggregation, submitit path."""
from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from aukit import sweep
from aukit.workers import usable_cores

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("a: float = 1.0\nseeds: list = [0]\nfold: int = 1\n"
                                       "fail: bool = False\nsmoke: bool = False\nout_dir: str = '.'\n"
                                       "late_fail: bool = False")
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "if fail and not pathlib.Path(out_dir, 'allow').exists():\n    raise ValueError('asked to fail')\n"
        "import os\n"
        "json.dump({'score': a * 10 + seeds[0] + fold / 10, 'label': 'x', 'threads': os.environ.get('OMP_NUM_THREADS')},"
        " open(pathlib.Path(out_dir, 'metrics.json'), 'w'))\n"
        "if late_fail:\n    raise ValueError('failed after writing metrics.json')")
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _grid(tmp_path, grid, name="g"):
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump({"name": name, "parameters": {"smoke": True}, "grid": grid}, sort_keys=False))
    return p


def test_expand_and_keys(tmp_path):
    cells = sweep.expand({"x": 1}, {"a": [1, 2], "seeds": [[0], [1]]}, tmp_path)
    assert [c.key for c in cells] == ["a=1__seeds=0", "a=1__seeds=1", "a=2__seeds=0", "a=2__seeds=1"]
    assert cells[3].params == {"x": 1, "a": 2, "seeds": [1]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {a: 3}\n")
    with pytest.raises(ValueError, match="non-empty lists"):
        sweep.load_grid(bad)


@pytest.mark.slow
def test_local_sweep_idempotent_failures_and_aggregate(tmp_path):
    nb = _notebook(tmp_path / "toy.ipynb")
    grid = _grid(tmp_path, {"a": [1.0, 2.0], "seeds": [[0], [2]], "fail": [False]})
    out = sweep.run_sweep(nb, grid, parallel=2, reports=tmp_path / "r", progress=False)
    table = pd.read_csv(out / "aggregate.csv")
    overall = table[table.scope == "overall"].set_index("a")
    assert overall.loc[1.0, "score_mean"] == pytest.approx(11.1)  # (10.1 + 12.1) / 2
    assert overall.loc[2.0, "score_mean"] == pytest.approx(21.1)
    assert overall.loc[2.0, "score_count"] == 2
    assert (out / "aggregate.png").exists() and "±" in (out / "aggregate.md").read_text()
    # two cells at once share the cores out (torch would start a thread per core in each)
    threads = {json.loads(m.read_text())["threads"] for m in out.glob("*/metrics.json")}
    assert threads == {os.environ.get("OMP_NUM_THREADS") or str(max(1, usable_cores() // 2))}
    stamp = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    sweep.run_sweep(nb, grid, parallel=2, reports=tmp_path / "r", progress=False)  # nothing to rerun
    assert stamp == {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}

    failing = _grid(tmp_path, {"a": [3.0], "seeds": [[0]], "fail": [True]}, name="f")
    out = sweep.run_sweep(nb, failing, reports=tmp_path / "r", progress=False)
    cell = out / "a=3.0__seeds=0__fail=True"
    assert "asked to fail" in (cell / "error.txt").read_text()
    assert yaml.safe_load((out / "sweep.yaml").read_text())["failed"] == [cell.name]
    (cell / "allow").touch()
    sweep.run_sweep(nb, failing, reports=tmp_path / "r", progress=False)  # failed cells stay failed
    assert not (cell / "metrics.json").exists()
    sweep.run_sweep(nb, failing, reports=tmp_path / "r", progress=False, retry_failed=True)
    assert json.loads((cell / "metrics.json").read_text())["score"] == pytest.approx(30.1)


def test_a_float_written_like_1e_5_in_a_grid_is_a_number(tmp_path):
    """YAML 1.1 reads 1e-5 as text; the check refused it ("takes a float, got '1e-5'") while -p took it."""
    from aukit.nb import float_values
    nb = _notebook(tmp_path / "toy.ipynb")
    spec = yaml.safe_load("a: [1e-5, 2.0, fast]")
    assert spec["a"][0] == "1e-5"
    assert [float_values(nb, {"a": v, "fold": 1})["a"] for v in spec["a"]] == [1e-5, 2.0, "fast"]


def test_cells_that_would_share_a_folder_and_path_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"would share the cell folder 'seeds=a-b'"):
        sweep.expand({}, {"seeds": [["a b"], ["a-b"]]}, tmp_path)
    bad = tmp_path / "g.yaml"
    bad.write_text(yaml.safe_dump({"name": "../../escaped", "grid": {"a": [1]}}))
    with pytest.raises(ValueError, match="must be a folder name"):
        sweep.load_spec(bad)


@pytest.mark.slow
def test_what_the_aggregate_holds_and_what_stays_failed(tmp_path, capsys):
    """A cell that failed after writing metrics.json counted as done and was averaged in; the
    aggregate averaged every folder on disk (cells of an earlier grid, cells run with other fixed
    parameters); a rerun without --retry-failed reported no failure; one cell showed ± 0."""
    from aukit.cli import main
    nb = _notebook(tmp_path / "toy.ipynb")
    reports = tmp_path / "r"
    late = _grid(tmp_path, {"a": [1.0], "seeds": [[0], [1]], "late_fail": [False, True]}, name="g")
    out = sweep.run_sweep(nb, late, reports=reports, progress=False, parallel=2)
    bad = out / "a=1.0__seeds=0__late_fail=True"
    assert (bad / "error.txt").exists() and not (bad / "metrics.json").exists()
    table = pd.read_csv(out / "aggregate.csv").set_index("late_fail")
    assert list(table.index) == [False] and table.loc[False, "score_count"] == 2
    assert "2 of 4 cells finished; not in this table: a=1.0__seeds=0__late_fail=True (failed)" in \
        (out / "aggregate.md").read_text()                  # it looked finished, n 2 rows only
    args = ["sweep", str(nb), "--grid", str(late), "--reports", str(reports)]
    capsys.readouterr()
    assert main(args) == 1                           # the earlier failures are still failures
    assert "FAILED (in an earlier run) a=1.0__seeds=0__late_fail=True" in capsys.readouterr().out
    assert len(yaml.safe_load((out / "sweep.yaml").read_text())["failed"]) == 2

    one = _grid(tmp_path, {"a": [1.0], "seeds": [[0]], "late_fail": [False]}, name="g")   # the grid shrinks
    sweep.run_sweep(nb, one, reports=reports, progress=False)
    assert pd.read_csv(out / "aggregate.csv")["score_count"].tolist() == [1]
    assert "not aggregated: 1 finished folder(s)" in capsys.readouterr().out
    assert "10.1000 ± - | 1 |" in (out / "aggregate.md").read_text()
    spec = yaml.safe_load(one.read_text())                                              # other fixed parameters
    one.write_text(yaml.safe_dump({**spec, "grid": {"a": [1.0], "seeds": [[0], [1]], "late_fail": [False]},
                                   "parameters": {"smoke": True, "fold": 5}}))
    sweep.run_sweep(nb, one, reports=reports, progress=False)
    assert pd.read_csv(out / "aggregate.csv")["score_mean"].tolist() == [pytest.approx(10.5 + 0.5)]


@pytest.mark.slow
def test_submitit_executor_path(tmp_path):
    nb = _notebook(tmp_path / "toy.ipynb")
    grid = _grid(tmp_path, {"a": [1.0], "fold": [1, 2], "seeds": [[0]]})
    out = sweep.run_sweep(nb, grid, executor="submitit-local", reports=tmp_path / "r", progress=False)
    table = pd.read_csv(out / "aggregate.csv")
    assert set(table.scope) == {"per fold", "overall"}
    assert table[table.scope == "overall"]["score_mean"].iloc[0] == pytest.approx(10.15)
    job = json.loads((out / "a=1.0__fold=1__seeds=0/job.json").read_text())   # which log is which cell's
    assert job["executor"] == "submitit-local" and job["job_id"] in job["stderr"]
    assert yaml.safe_load((out / "sweep.yaml").read_text())["unfinished"] == {}


def test_a_parameter_the_notebook_lacks_stops_the_sweep_before_any_cell(tmp_path):
    nb = _notebook(tmp_path / "toy.ipynb")
    grid = _grid(tmp_path, {"aa": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"grid.yaml \(under grid\): toy.ipynb has no parameter 'aa' \(did you "
                                         r"mean 'a'\?\)"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    grid = _grid(tmp_path, {"a": [1.0, "high"]})                                   # the second cell is wrong
    with pytest.raises(ValueError, match=r"parameter 'a' takes a float \(default 1.0\), got 'high'"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_a_held_lock_keeps_other_sweeps_out(tmp_path):
    import os
    import socket
    cell = tmp_path / "c"
    cell.mkdir()
    (cell / ".lock").write_text(f"{socket.gethostname()} {os.getpid()}")  # a live process holds it
    assert sweep.run_cell("unused.ipynb", str(cell), {"a": 1}) == "running"
    (cell / ".lock").write_text(f"{socket.gethostname()} 999999999")  # dead pid: stale
    c = sweep.Cell("c", {"a": 1}, cell)
    assert sweep.cell_state(c) == "pending"


def test_aggregate_selected_metrics_per_fold_and_overall(tmp_path):
    grid = {"fold": [1, 2], "seeds": [[0], [1]]}
    for c in sweep.expand({}, grid, tmp_path):
        c.folder.mkdir()
        (c.folder / "params.json").write_text(json.dumps(c.params))
        f, s = c.params["fold"], c.params["seeds"][0]
        (c.folder / "metrics.json").write_text(json.dumps({"icc": f + s, "mae": 1.0, "note": "x"}))
    table = sweep.aggregate(tmp_path, grid, keep=["icc"])
    assert "mae_mean" not in table.columns
    per_fold = table[table.scope == "per fold"].set_index("fold")
    assert per_fold.loc["1", "icc_mean"] == pytest.approx(1.5) and per_fold.loc["2", "icc_mean"] == pytest.approx(2.5)
    overall = table[table.scope == "overall"].iloc[0]
    assert overall["icc_mean"] == pytest.approx(2.0) and overall["icc_count"] == 4
    with pytest.raises(KeyError, match="nope"):
        sweep.aggregate(tmp_path, grid, keep=["nope"])


def test_a_metric_null_in_some_cells_is_aggregated_over_the_others_not_called_missing(tmp_path):
    """metrics.json writes an AU's ICC as null where it is undefined (a constant test label): a grid asking for it
    stopped with "'icc_AU05' (did you mean 'icc_AU06'?) not in metrics.json" at the first such cell."""
    grid = {"fold": [1, 2, 3]}
    for c in sweep.expand({}, grid, tmp_path):
        c.folder.mkdir()
        (c.folder / "params.json").write_text(json.dumps(c.params))
        f = c.params["fold"]
        (c.folder / "metrics.json").write_text(json.dumps({"icc_AU05": None if f == 1 else 0.1 * f, "icc_AU06": 0.4,
                                                           "icc_AU07": None}))
    sweep.check_metrics(["icc_AU05", "icc_AU07"], tmp_path / "fold=1", "g.yaml")
    overall = sweep.aggregate(tmp_path, grid, keep=["icc_AU05", "icc_AU07"])
    overall = overall[overall.scope == "overall"].iloc[0]
    assert overall["icc_AU05_mean"] == pytest.approx(0.25) and overall["icc_AU05_count"] == 2
    assert overall["icc_AU07_count"] == 0


def test_cell_threads_share_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("aukit.workers.usable_cores", lambda: 16)
    assert sweep.cell_threads(1) is None and sweep.cell_threads(4) == 4 and sweep.cell_threads(32) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")                           # the user's choice stands
    assert sweep.cell_threads(4) is None


def test_a_misspelt_metric_stops_the_sweep_after_its_first_cell(tmp_path):
    """`metrics: [scor]` was found only when aggregating, after every cell had run. Now the first
    finished cell's metrics.json is checked: the cells not started are cancelled; the finished one
    is kept, and a rerun with the same typo refuses before running anything."""
    nb = _notebook(tmp_path / "toy.ipynb")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"name": "g", "parameters": {"smoke": True},
                                    "grid": {"a": [1.0, 2.0, 3.0]}, "metrics": ["scor"]}))
    with pytest.raises(KeyError, match=r"'scor' \(did you mean 'score'\?\) not in .*a=1.0/metrics.json"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    cells = tmp_path / "r/toy/sweeps/g"
    assert sorted(p.parent.name for p in cells.glob("*/metrics.json")) == ["a=1.0"]
    assert not (cells / "a=2.0").exists() and not (cells / "a=3.0").exists()
    with pytest.raises(KeyError, match="finished cells are kept"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert not (cells / "a=2.0").exists()
    grid.write_text(grid.read_text().replace("scor\n", "score\n"))
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert len(pd.read_csv(out / "aggregate.csv")) == 3


def test_an_interrupted_cell_is_pending_not_failed(tmp_path, monkeypatch):
    """Ctrl-C during a cell wrote error.txt, and every rerun reported the cell FAILED until --retry-failed."""
    nb = _notebook(tmp_path / "toy.ipynb")
    cell = sweep.expand({}, {"a": [1.0]}, tmp_path / "sw")[0]

    def interrupted(*a, **k):
        (cell.folder / "error.txt").write_text("KeyboardInterrupt")   # as nb.execute leaves it
        raise KeyboardInterrupt
    monkeypatch.setattr("aukit.nb.execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_cell(str(nb), str(cell.folder), cell.params)
    assert sweep.cell_state(cell) == "pending" and not (cell.folder / ".lock").exists()


def test_the_aggregate_says_what_its_cells_were_measured_on():
    """aggregate.md's header named no dataset, preset or partial copy: a smoke sweep on a partial
    BP4D copy read like the paper's three-fold run."""
    cells = [{"dataset": "bp4d", "preset": "smoke", "partial_copy": ["bp4d fold 1: this copy lacks 2 of 27"]},
             {"dataset": "bp4d", "preset": "smoke", "changed_parameters": {"steps": 2}}]
    assert sweep.measured_on(cells) == ("dataset bp4d; preset smoke; changed: steps=2; PARTIAL COPY: bp4d fold 1: "
                                        "this copy lacks 2 of 27 (not the paper's setup)")
    assert sweep.measured_on([{"dataset": "disfa", "preset": "full", "paper_setup": True}] * 3) == \
        "dataset disfa; preset full"
    assert sweep.measured_on([{"dataset": "disfa", "preset": "full"}]).endswith("(not the paper's setup)")  # no record
    assert sweep.measured_on([{"score": 1.0}]) == ""                   # a notebook of one's own: no line
    # a full run from a random trunk (SCC, RTATL, PIAP-DF) or without a side set the paper read is no paper run
    lacking = {"dataset": "bp4d", "preset": "full", "lacking_side_sets": ["RTATL's unlabelled faces"],
               "trunk_start": "random (the paper: ImageNet)"}
    assert sweep.measured_on([lacking]) == ("dataset bp4d; preset full; without: RTATL's unlabelled faces; trunk "
                                            "from random weights in 1 of 1 cells (the paper: ImageNet) (not the "
                                            "paper's setup)")


def test_aggregating_many_metrics_prints_no_pandas_warning(tmp_path):
    """SCC's sweeps (about 150 metrics) printed two PerformanceWarnings about fragmented frames."""
    import warnings
    grid = {"fold": [1, 2]}
    for c in sweep.expand({}, grid, tmp_path):
        c.folder.mkdir()
        (c.folder / "params.json").write_text(json.dumps(c.params))
        (c.folder / "metrics.json").write_text(json.dumps({f"m{i}": i + c.params["fold"] for i in range(150)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = sweep.aggregate(tmp_path, grid)
    assert list(table["scope"]) == ["per fold", "per fold", "overall"] and table["m3_mean"].iloc[-1] == 4.5


@pytest.mark.parametrize("grid_file", sorted(p.name for p in (ROOT / "notebooks" / "grids").glob("*.yaml")))
def test_every_shipped_grid_names_its_notebooks_parameters(grid_file):
    """The grids in notebooks/grids (the papers' 3-fold protocols): a misspelt parameter or a value of the
    wrong kind would stop `aukit sweep` only when a user runs it on a GPU."""
    from aukit.nb import check_parameters
    name, fixed, grid, _ = sweep.load_spec(ROOT / "notebooks" / "grids" / grid_file)
    paper = next(p for p in ("piap_df", "rtatl", "tas", "cpc", "scc") if grid_file.startswith(p + "_"))
    notebook = ROOT / "notebooks" / f"{paper}.ipynb"
    for cell in sweep.expand(fixed, grid, ROOT / "unused"):
        params = dict(cell.params)
        if params.get("dataset") in ("bp4d", "disfa"):     # a licensed copy this machine lacks: its stand-in
            params["dataset"] = "synthau-" + params["dataset"]
        check_parameters(notebook, params, files=False)    # as aukit sweep checks them: piap.pt is a BP4D run's
    if "3fold" in grid_file:
        assert grid == {"fold": [1, 2, 3]} and fixed["preset"] == "full" and name.endswith("_3fold")
        assert f"aukit sweep {paper} --grid notebooks/grids/{grid_file}" in (ROOT / "notebooks" / "grids" /
                                                                            grid_file).read_text()


def test_a_sweep_cell_may_name_a_file_an_earlier_run_writes(tmp_path):
    """piap_df_disfa_3fold.yaml fine-tunes from the BP4D run's piap.pt: aukit run refuses a -p finetune_from naming no
    file, a sweep's check leaves it to the cell (an earlier cell or job writes it)."""
    from aukit import nb
    params = {"dataset": "synthau-disfa", "finetune_from": str(tmp_path / "runs" / "piap.pt")}
    with pytest.raises(ValueError, match="no such file"):
        nb.check_parameters("piap_df", params)
    assert "finetune_from" in nb.check_parameters("piap_df", params, files=False)
