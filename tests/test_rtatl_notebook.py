"""RTATL notebook in smoke mode on the tiny SynthAU tree (papermill), asserting on its metrics."""
import math

import pytest
from _deploycheck import check_deploy


@pytest.mark.notebooks
def test_rtatl_notebook_smoke(synthau_tiny, tmp_path):
    from aukit.nb import execute
    m = execute("rtatl", tmp_path / "rtatl", {"smoke": True, "seeds": [0]}, html=False, progress=False)
    assert m["slug"] == "rtatl" and m["preset"] == "smoke"
    for key in ("f1_avg_rtatl", "f1_avg_backbone_t", "f1_constant"):
        assert math.isfinite(m[key]) and 0.0 <= m[key] <= 1.0, key
    assert math.isfinite(m["loss_last_rtatl"]) and m["test_frames"] > 0
    # inference runs the backbone only: fewer parameters and FLOPs than training
    assert m["params_infer_m"] < m["params_train_m"] and m["gflops_infer"] < m["gflops_train"]
    assert (tmp_path / "rtatl" / "tables" / "table1.md").is_file()
    assert (tmp_path / "rtatl" / "figures" / "fig6_inpainting.png").is_file()
    check_deploy(tmp_path / "rtatl", "rtatl")
