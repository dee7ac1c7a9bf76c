"""Sweeps on SLURM and submitit: dead jobs, interrupts, scheduler options and errors, table text."""
from __future__ import annotations

import json

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
