"""The sweep audit's findings, on hand-made cell folders (params.json, metrics.json, run.yaml written
here) and a toy notebook whose cells run in this process: finished cells deleted by a changed grid,
aggregates silently wrong, cryptic errors for bad grid files, defaults, provenance."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from aukit import sweep, sweep_aggregate


@pytest.fixture(autouse=True)
def _no_figure_files(monkeypatch):
    from aukit.viz import style
    monkeypatch.setattr(style, "save_figure", lambda fig, d, name, **kw: None)


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("a: float = 1.0\nlr: float = 0.1\nseeds: list = [0]\nfold: int = 1\n"
                                       "smoke: bool = False\nout_dir: str = '.'\nk: int = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("pass")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _in_process(monkeypatch, ran):
    """Cells run here, their notebook replaced by one that writes metrics.json and run.yaml."""
    def execute(notebook, out, params, **kw):
        ran.append(Path(out).name)
        (Path(out) / "metrics.json").write_text(json.dumps({"score": params.get("a", 1.0), "headline": ["score"]}))
        (Path(out) / "run.yaml").write_text(yaml.safe_dump({"commit": "abc", "dirty": False}))
    monkeypatch.setattr("aukit.nb.execute", execute)
    monkeypatch.setattr(sweep, "_run_local", lambda nb, todo, parallel, progress, first=None:
                        {c.key: sweep.run_cell(nb, str(c.folder), c.params) for c in todo})


def _write(path, spec):
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _finish(folder, params, metrics, run=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(params))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if run is not None:
        (folder / "run.yaml").write_text(yaml.safe_dump(run))


# 1. B1: a changed grid never deletes a finished cell

def test_changed_fixed_parameters_refuse_the_sweep_and_keep_finished_cells(tmp_path, monkeypatch):
    """Changing `parameters:` under the same name reran (and overwrote) every finished cell."""
    nb, ran = _notebook(tmp_path / "toy.ipynb"), []
    _in_process(monkeypatch, ran)
    grid = _write(tmp_path / "g.yaml", {"name": "g", "parameters": {"a": 1.0}, "grid": {"fold": [1, 2]}})
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert sorted(ran) == ["fold=1", "fold=2"]
    before = {p: p.read_bytes() for p in out.glob("*/metrics.json")}
    _write(grid, {"name": "g", "parameters": {"a": 2.0}, "grid": {"fold": [1, 2]}})
    with pytest.raises(ValueError) as e:
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    msg = str(e.value)
    assert str(grid) in msg and "a 1.0 -> 2.0" in msg and "another 'name'" in msg and "fold=1" in msg
    assert {p: p.read_bytes() for p in out.glob("*/metrics.json")} == before and len(ran) == 2
    _write(grid, {"name": "g2", "parameters": {"a": 2.0}, "grid": {"fold": [1, 2]}})   # what the message advises
    sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert len(ran) == 4 and {p: p.read_bytes() for p in out.glob("*/metrics.json")} == before


def test_changed_finished_names_each_change(tmp_path):
    cell, = sweep.expand({"a": 2.0, "preset": "full"}, {"fold": [1]}, tmp_path)
    _finish(cell.folder, {"a": 1.0, "fold": 1, "smoke": True}, {"score": 1})
    assert sweep.changed_finished([cell]) == {"fold=1": ["a 1.0 -> 2.0", "smoke true -> (not set)",
                                                         'preset (not set) -> "full"']}


# 2. silent wrong aggregates

def test_a_grid_axis_named_like_a_metric_keeps_its_labels(tmp_path):
    """SCC's k: 0 (the paper's value) and 7 were both labelled 7 by metrics.json's k, one group."""
    grid = {"k": [0, 7], "fold": [1, 2]}
    for c in sweep.expand({}, grid, tmp_path):
        _finish(c.folder, c.params, {"k": 7, "icc": c.params["k"] / 10 + c.params["fold"]})
    table = sweep.aggregate(tmp_path, grid)
    overall = table[table.scope == "overall"].set_index("k")
    assert list(overall.index) == ["0", "7"] and overall.loc["0", "icc_mean"] == pytest.approx(1.5)


def test_one_float_written_two_ways_or_a_value_twice_is_refused(tmp_path, monkeypatch):
    """`lr: [1e-3, 0.001]` made two folders with one params.json, counted as two replicates;
    `fold: [1, 1, 2]` ran a cell twice and aggregate.md said 'not in this table: .'."""
    nb, ran = _notebook(tmp_path / "toy.ipynb"), []
    _in_process(monkeypatch, ran)
    grid = tmp_path / "g.yaml"
    grid.write_text("name: g\ngrid:\n  lr: [1e-3, 0.001]\n")
    with pytest.raises(ValueError, match=r"g.yaml: axis 'lr' gives the value '1e-3' and 0.001"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    grid.write_text("name: g\ngrid:\n  fold: [1, 1, 2]\n")
    with pytest.raises(ValueError, match=r"g.yaml: axis 'fold' gives the value 1 twice"):
        sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert ran == [] and not (tmp_path / "r").exists()
    grid.write_text("name: g\ngrid:\n  lr: [1e-3, 0.01]\n")                     # named by the number
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert sorted(ran) == ["lr=0.001", "lr=0.01"] and json.loads((out / "lr=0.001/params.json").read_text()) == \
        {"lr": 0.001}


def test_a_cell_that_ran_other_seeds_than_it_asked_is_no_replicate(tmp_path, capsys):
    """SCC's smoke preset ran seed 0 whatever -p seeds said: three 'seeds' averaged one run three times."""
    grid = {"seeds": [[0], [1]]}
    cells = sweep.expand({}, grid, tmp_path)
    for c in cells:
        _finish(c.folder, c.params, {"icc": 0.5, "seeds": [0]})
    table = sweep.aggregate(tmp_path, grid, cells=cells)
    assert table["icc_count"].tolist() == [1]
    md = (tmp_path / "aggregate.md").read_text()
    assert "NOT AGGREGATED, no replicate: seeds=1 (asked seeds [1], ran [0])" in md
    assert "seeds=1 ran other seeds" in capsys.readouterr().out


def test_each_metric_has_its_own_count_and_unequal_folds_are_said(tmp_path):
    grid = {"fold": [1, 2], "seeds": [[0], [1]]}
    cells = sweep.expand({}, grid, tmp_path)
    for c in cells[:3]:                                      # fold 2 has one seed
        m = {"icc": c.params["fold"] + c.params["seeds"][0], "mae": c.params["fold"] + c.params["seeds"][0]}
        if c.key == "fold=1__seeds=1":
            m.pop("icc")
        _finish(c.folder, c.params, m)
    table = sweep.aggregate(tmp_path, grid)
    assert table["cells"].tolist() == [2, 1, 3] and table["icc_count"].tolist() == [1, 1, 2]
    md = (tmp_path / "aggregate.md").read_text()
    assert "| overall | all | 1.5000 ± 0.7071 (n 2) | 1.6667 ± 0.5774 | 3 |" in md
    assert "cells per fold {'1': 2, '2': 1}; mean of fold means: icc 1.5000, mae 1.7500" in md
    assert "tables/ average the fold means" in md


# 3. bad grid files: one clear line, naming the file (exit 2)

@pytest.mark.parametrize("text, match", [
    ("name: b\nparameters: {smoke: true\ngrid:\n  fold: [1]\n", r"b.yaml, line \d+, column \d+: not a valid grid"),
    ("grid: [1, 2]\n", r"'grid' must map parameter names"),
    ("- fold: [1, 2]\n", r"b.yaml: must be a mapping .* not a list"),
    ("parameters: [smoke]\ngrid: {fold: [1]}\n", r"'parameters' must map parameter names to values"),
    ("grid:\n  fold: [1, 2]\n  fold: [3]\n", r"b.yaml, line 3, column 3: .*key 'fold' given twice"),
    ("parameters: {fold: 1}\ngrid: {fold: [1, 2]}\n", r"'fold' under both 'parameters' and 'grid'"),
    ("grid: {fold: [1], out_dir: [/tmp/x]}\n", r"'out_dir' is set by the sweep"),
])
def test_a_bad_grid_file_is_one_clear_error(tmp_path, text, match):
    bad = tmp_path / "b.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=match):
        sweep.load_spec(bad)


def test_the_cli_names_the_grid_file_and_exits_2(tmp_path, capsys):
    from aukit.cli import main
    bad = tmp_path / "b.yaml"
    bad.write_text("name: b\nparameters: {smoke: true\ngrid:\n  fold: [1]\n")
    assert main(["sweep", str(_notebook(tmp_path / "toy.ipynb")), "--grid", str(bad),
                 "--reports", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"grid file {bad}, line" in err and "Traceback" not in err and "<unicode string>" not in err


def test_a_misspelt_metric_suggests_keys_and_lists_the_headline(tmp_path):
    _finish(tmp_path / "c", {}, {"icc_avg_scc": 0.1, "icc_avg_deconv": 0.2, "data_prep_s": 3.0,
                                 "headline": ["icc_avg_scc", "icc_avg_deconv"]})
    with pytest.raises(KeyError) as e:
        sweep.check_metrics(["icc_avgg"], tmp_path / "c", "g.yaml")
    msg = str(e.value)
    assert msg.startswith("grid file g.yaml: the grid's metrics: 'icc_avgg' (did you mean 'icc_avg_scc' or ")
    assert "its headline metrics: icc_avg_scc, icc_avg_deconv" in msg and "data_prep_s" not in msg


# 4. defaults about the model

def test_without_metrics_the_headline_is_shown_and_the_csv_keeps_all(tmp_path):
    grid = {"fold": [1]}
    for c in sweep.expand({}, grid, tmp_path):
        _finish(c.folder, c.params, {"data_prep_s": 1.0, "train_frames": 64, "icc_avg": 0.5,
                                     "headline": ["icc_avg"]})
    table = sweep.aggregate(tmp_path, grid)
    assert "data_prep_s_mean" in table.columns
    md = (tmp_path / "aggregate.md").read_text()
    assert "| scope | fold | icc_avg | n |" in md and "data_prep_s |" not in md
    assert "the notebook's headline metrics" in md


def test_the_figure_says_what_the_bars_are_and_draws_no_error_bar_for_one_cell():
    table = pd.DataFrame({"fold": ["1", "2", np.nan], "scope": ["per fold", "per fold", "overall"],
                          "f1_mean": [0.5, 0.6, 0.55], "f1_std": [np.nan, 0.1, 0.05]})
    fig = sweep_aggregate._figure(table, [], ["f1"], "demo")
    title = fig._suptitle.get_text()
    assert "seeds and folds pooled" in title and "no error bar: one cell" in title
    ax = fig.axes[0]
    bars = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(bars) == 1 and len(bars[0].lines[2][0].get_segments()) == 2       # two bars with a spread


# 5. provenance

def test_aggregate_names_the_code_its_cells_ran_at_and_warns_when_it_differs(tmp_path):
    grid = {"fold": [1, 2, 3]}
    runs = [{"commit": "a" * 40, "dirty": False}, {"commit": "a" * 40, "dirty": False},
            {"commit": "b" * 40, "dirty": True, "code_key": "bbbbbbbbbbbb-src1234"}]
    for c, run in zip(sweep.expand({}, grid, tmp_path), runs):
        _finish(c.folder, c.params, {"icc": 1.0}, run)
    table = sweep.aggregate(tmp_path, grid)
    assert table.attrs["code"] == {"aaaaaaaaaaaa": 2, "bbbbbbbbbbbb-src1234": 1}
    md = (tmp_path / "aggregate.md").read_text()
    assert "WARNING: the cells ran at 2 different code versions" in md and "aaaaaaaaaaaa (2 cells)" in md


def test_a_cell_records_its_code_key_and_sweep_yaml_the_commits(tmp_path, monkeypatch):
    from aukit.ckptdir import code_key
    nb, ran = _notebook(tmp_path / "toy.ipynb"), []
    _in_process(monkeypatch, ran)
    grid = _write(tmp_path / "g.yaml", {"name": "g", "grid": {"fold": [1]}})
    out = sweep.run_sweep(nb, grid, reports=tmp_path / "r", progress=False)
    assert yaml.safe_load((out / "fold=1/run.yaml").read_text())["code_key"] == code_key()
    assert yaml.safe_load((out / "sweep.yaml").read_text())["code"] == {code_key(): 1}


# 6. smaller

def test_progress_counts_cells_held_elsewhere_apart_and_an_interrupt_names_cells():
    assert sweep.postfix({"a": "done", "b": "running", "c": "failed"}, 2) == \
        {"done": 1, "running": 2, "failed": 1, "held_elsewhere": 1}
    msg = sweep.stopped_message(["fold=1"], ["fold=2", "fold=3"])
    assert "stopped 1 running cell(s): fold=1; 2 not started: fold=2, fold=3" in msg


def test_folders_left_out_are_named_in_aggregate_md(tmp_path):
    grid = {"fold": [1, 2]}
    for c in sweep.expand({}, grid, tmp_path):
        _finish(c.folder, c.params, {"icc": 1.0})
    sweep.aggregate(tmp_path, {"fold": [1]}, cells=sweep.expand({}, {"fold": [1]}, tmp_path))
    assert "Not aggregated: 1 finished folder(s) that are no cell of this grid (fold=2)" in \
        (tmp_path / "aggregate.md").read_text()


# 7. ablation differences

def test_an_ablation_axis_gets_paired_difference_rows(tmp_path):
    grid = {"lambda_rank": [0, 0.1], "fold": [1, 2], "seeds": [[0], [1]]}
    for c in sweep.expand({}, grid, tmp_path):
        p = c.params
        icc = p["fold"] + p["seeds"][0] / 10 + (0.05 + 0.01 * p["fold"] if p["lambda_rank"] else 0)
        _finish(c.folder, p, {"icc": icc})
    sweep.aggregate(tmp_path, grid)
    md = (tmp_path / "aggregate.md").read_text()
    assert "Measured differences, value minus the axis's first value, paired cell by cell on fold, seeds" in md
    assert "| lambda_rank | 0.1 - 0 | - | +0.0650 ± 0.0058 | 4 |" in md


def test_an_interrupted_local_sweep_names_the_cells_it_stopped(tmp_path, monkeypatch, capsys):
    """"the cells it stopped are pending" named none of them."""
    cells = sweep.expand({}, {"fold": [1, 2]}, tmp_path)

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(sweep, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep._run_local(str(tmp_path / "missing.ipynb"), cells, 1, False)
    assert "stopped 1 running cell(s): fold=1; 1 not started: fold=2" in capsys.readouterr().out
