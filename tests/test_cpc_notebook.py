"""The CPC notebook runs top to bottom in smoke mode on tiny SynthAU and records sane metrics."""
import math

import pytest
from _deploycheck import check_deploy

VARIANTS_2PCT = ("r18_2pct", "r18_gru_scratch_2pct", "ours_target_2pct", "ours_pool_2pct")


@pytest.mark.notebooks
def test_cpc_notebook_smoke(synthau_tiny, tmp_path):
    from aukit.nb import execute

    out = tmp_path / "cpc"
    m = execute("cpc", out, {"smoke": True, "dataset": "synthau-disfa"}, progress=False)
    assert m["slug"] == "cpc" and m["preset"] == "smoke" and m["seeds"] == [0]
    for v in VARIANTS_2PCT + ("r18_sup", "r18_gru_scratch_sup", "r18_gru_pseudo_gt", "ours_pool_sup"):
        assert math.isfinite(m[f"icc_avg_{v}"]) and -1.0 <= m[f"icc_avg_{v}"] <= 1.0, v
        assert math.isfinite(m[f"mae_avg_{v}"]) and 0.0 <= m[f"mae_avg_{v}"] <= 5.0, v
    for src in ("target", "pool"):
        t1, t3, t5 = (m[f"{src}_val_top{n}"] for n in (1, 3, 5))
        assert 0.0 <= t1 <= t3 <= t5 <= 1.0
    assert m["const_icc_avg"] == 0.0 and m["const_mae_avg"] > 0.0
    assert 0.0 < m["const_median_mae_avg"] <= 5.0 and "const_median_mae_avg" in m["headline"]
    # two steps per stage cannot learn much; the best 2% model must still beat the labelled-mean constant
    assert min(m[f"mae_avg_{v}"] for v in VARIANTS_2PCT) < m["const_mae_avg"]
    for f in ("metrics.json", "run.yaml", "cpc.ipynb", "cpc.html", "tables/table1_pretext_topn.md",
              "tables/table2_icc.md", "tables/table2_mae.csv", "tables/table3_icc.md", "tables/table5_icc.md",
              "figures/pretext_curves.png", "figures/intensity_curves.pdf", "figures/au_distribution.png"):
        assert (out / f).is_file(), f
    table = (out / "tables/table2_icc.md").read_text()
    assert "Ours(*pool)-2%" in table and "Ours(*Affwild2)-2%" in table and "different dataset" in table
    check_deploy(out, "cpc")
