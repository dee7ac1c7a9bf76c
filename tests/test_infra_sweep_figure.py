"""The sweep's aggregate figure is built by a function that returns it (STYLE: figures come from
functions that return a Figure; the caller decides where to save it)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def test_the_aggregate_figure_is_returned_not_saved(tmp_path, monkeypatch):
    from aukit import sweep_aggregate
    monkeypatch.chdir(tmp_path)
    table = pd.DataFrame({"lr": [0.1, 0.1, np.nan], "fold": [1, 2, np.nan],
                          "scope": ["per fold", "per fold", "overall"], "f1_mean": [0.5, 0.6, 0.55],
                          "f1_std": [0.01, np.nan, 0.05]})
    fig = sweep_aggregate._figure(table, ["lr"], ["f1"], "demo")
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_visible()]) == 1
    assert "sweep demo" in fig._suptitle.get_text()
    assert not list(tmp_path.iterdir())
