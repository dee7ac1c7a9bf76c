"""Mutation round 2, aukit.sweep: a cell's parameters and state, which finished cells are aggregated,
what aggregate.md says the cells were measured on, and its table, on hand-made cell folders."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aukit import sweep as S
from aukit import sweep_aggregate as A


def _finish(cell, metrics, error=False):
    cell.folder.mkdir(parents=True, exist_ok=True)
    (cell.folder / "params.json").write_text(json.dumps(cell.params))
    (cell.folder / "metrics.json").write_text(json.dumps(metrics))
    if error:
        (cell.folder / "error.txt").write_text("Traceback ...")


def test_a_grid_value_wins_over_the_same_fixed_parameter(tmp_path):
    cells = S.expand({"preset": "quick", "lr": 1.0}, {"lr": [2.0, 3.0]}, tmp_path)
    assert [c.key for c in cells] == ["lr=2.0", "lr=3.0"]
    assert [c.params for c in cells] == [{"preset": "quick", "lr": 2.0}, {"preset": "quick", "lr": 3.0}]
    assert cells[0].folder == tmp_path / "lr=2.0"


def test_a_cell_with_an_error_is_failed_even_beside_a_metrics_json(tmp_path):
    cell, = S.expand({}, {"variant": ["A"]}, tmp_path)
    assert S.cell_state(cell) == "pending"
    _finish(cell, {"icc_avg": 0.5})
    assert S.cell_state(cell) == "done"
    (cell.folder / "error.txt").write_text("boom")
    assert S.cell_state(cell) == "failed"
    assert S.collect(tmp_path, {"variant": ["A"]}).empty                 # a failed cell is no result


def test_another_hosts_lock_is_trusted_as_running(tmp_path):
    cell, = S.expand({}, {"variant": ["A"]}, tmp_path)
    _finish(cell, {"icc_avg": 0.5})
    (cell.folder / ".lock").write_text("some-other-host-that-is-not-this-one 4242 991")
    assert S.cell_state(cell) == "running"


def test_measured_on_says_when_the_cells_are_not_the_papers_setup():
    paper = {"dataset": "bp4d", "preset": "full", "paper_setup": True}
    assert S.measured_on([paper, dict(paper)]) == "dataset bp4d; preset full"
    assert S.measured_on([paper, {"dataset": "bp4d", "preset": "full"}]) == \
        "dataset bp4d; preset full (not the paper's setup)"                # a cell without the record
    part = {**paper, "partial_copy": ["bp4d: 2 of 41 subjects"]}
    assert S.measured_on([part]) == "dataset bp4d; preset full; PARTIAL COPY: bp4d: 2 of 41 subjects " \
                                    "(not the paper's setup)"
    rnd = {**paper, "trunk_start": "random (no ImageNet weights)"}
    assert S.measured_on([rnd, paper]) == ("dataset bp4d; preset full; trunk from random weights in 1 of 2 cells "
                                           "(the paper: ImageNet)")
    assert S.measured_on([{"icc": 1.0}]) == ""


def test_markdown_shows_no_spread_for_one_cell_and_an_empty_value_quoted():
    table = pd.DataFrame({"scope": ["overall", "overall"], "variant": ["", "A6"], "icc_mean": [0.5, 0.25],
                          "icc_std": [np.nan, 0.125], "icc_count": [1, 2]})
    lines = A._markdown(table, ["icc"]).splitlines()
    assert lines[2:] == ["| scope | variant | icc | n |", "|---|---|---|---|",
                         '| overall | "" | 0.5000 ± - | 1 |', "| overall | A6 | 0.2500 ± 0.1250 | 2 |"]
    assert A._shown(np.nan) == "all"


def test_aggregate_averages_per_fold_and_over_folds(tmp_path, monkeypatch):
    from aukit.viz import style
    drawn = []
    monkeypatch.setattr(style, "save_figure", lambda fig, d, name, **kw: drawn.append((d, name)))  # no PNG/PDF here
    grid = {"fold": [1, 2], "seed": [0, 1]}
    values = {(1, 0): 0.2, (1, 1): 0.4, (2, 0): 0.6, (2, 1): 0.8}
    cells = S.expand({"preset": "smoke"}, grid, tmp_path)
    for c in cells:
        _finish(c, {"icc_avg": values[c.params["fold"], c.params["seed"]], "dataset": "synthau-bp4d"})
    t = S.aggregate(tmp_path, grid, cells=cells)
    assert t["scope"].tolist() == ["per fold", "per fold", "overall"]
    assert t["icc_avg_mean"].tolist() == pytest.approx([0.3, 0.7, 0.5])
    assert t["icc_avg_count"].tolist() == [2, 2, 4]
    assert t["icc_avg_std"].iloc[2] == pytest.approx(np.std([0.2, 0.4, 0.6, 0.8], ddof=1))
    md = (tmp_path / "aggregate.md").read_text()
    assert md.startswith("Cells measured on dataset synthau-bp4d (not the paper's setup).")
    assert "cells finished" not in md and drawn == [(tmp_path, "aggregate")]
    more = S.expand({"preset": "smoke"}, {"fold": [1, 2, 3], "seed": [0, 1]}, tmp_path)
    S.aggregate(tmp_path, {"fold": [1, 2, 3], "seed": [0, 1]}, cells=more)
    assert "4 of 6 cells finished; not in this table: fold=3__seed=0 (pending), fold=3__seed=1 (pending)." in \
        (tmp_path / "aggregate.md").read_text()
