"""notebooks/tas.ipynb in smoke mode on the tiny SynthAU tree: runs end to end, records sane metrics."""
from __future__ import annotations

import math
import os

import pytest
from _deploycheck import check_deploy


@pytest.mark.notebooks
def test_tas_notebook_smoke(synthau_tiny, tmp_path, monkeypatch):
    from aukit import nb
    from aukit.methods.tas import experiment as E
    from aukit.methods.tas import reporting as R

    monkeypatch.setenv("AUKIT_STATIC", "1")
    out = tmp_path / "tas"
    m = nb.execute("tas", out, {"smoke": True, "device": "cpu", "seeds": [0]}, progress=False, html=False)
    assert m["slug"] == "tas" and m["preset"] == "smoke"
    aus = ["AU06", "AU10", "AU12", "AU14", "AU17"]                        # synthau-bp4d = the BP4D intensity AUs
    undefined = {au for fl in m.get("undefined_scores", {}).get("table1_icc", {}).values() for au in fl}
    for au in aus:                                    # an ICC undefined on the tiny test split (constant label): null
        assert m[f"icc_{au}"] is None if au in undefined else -1.0 <= m[f"icc_{au}"] <= 1.0
        assert 0.0 <= m[f"mae_{au}"] <= 5.0
    assert math.isfinite(m["icc_avg"]) and 0.0 <= m["mae_avg"] <= 5.0
    assert m["mae_avg"] < m["const_mae_avg"]                               # better than a constant predictor
    assert 0.0 < m["const_median_mae_avg"] <= 5.0
    # the floor: the best constant, named; the keyframe median (once shown as the floor) is one of four
    consts = {k: m[f"const_{k}mae_avg"] for k in ("zero_", "train_median_", "median_", "")}
    assert m["floor_mae_avg"] == min(consts.values()) and m["floor_constant"] in E.CONSTANTS
    assert m["headline"] == ["icc_avg", "mae_avg", "floor_mae_avg", "floor_constant"]
    assert f"{R.floor_row(m)} | measured" in (out / "tables" / "table1_mae.md").read_text()
    assert R.floor_line(m) in (out / "tas.ipynb").read_text()
    assert m["n_segments"] > 0 and 0 < m["keyframe_fraction"] <= 1
    for name in ("A1", "A4", "A6"):                                        # the smoke ablation rows
        assert math.isfinite(m[f"t3_{name}_icc_avg"])
    for f in ("table1_icc.md", "table1_mae.md", "table2.md", "table3.md"):
        assert (out / "tables" / f).is_file()
    for f in ("fig3_curves.png", "fig4_tsne_au12.pdf", "fig6_tsne_subject.png"):
        assert (out / "figures" / f).is_file()
    assert (out / "run.yaml").is_file() and os.path.getsize(out / "metrics.json") > 0
    # the default fold (-1) is the paper's split: FERA2015 on SynthAU's BP4D tree, named in every table
    assert "FERA2015 split" in (out / "tables" / "table1_icc.md").read_text()
    # figures left as a cell's value show as pictures (pyplot's inline display is not set up by aukit)
    import json
    outputs = [o.get("data", {}) for c in json.loads((out / "tas.ipynb").read_text())["cells"]
               for o in c.get("outputs", [])]
    figures = [d for d in outputs if "".join(d.get("text/plain", "")).startswith("<Figure size")]
    assert len(figures) >= 3 and all("image/png" in d for d in figures)
    check_deploy(out, "tas")


@pytest.mark.notebooks
def test_tas_notebook_variants_subset(synthau_tiny, tmp_path, monkeypatch):
    """-p variants "[A6]" trains the full model A6 only; an unknown name stops the run.
    -p weights names a local ImageNet file for the trunk (smoke: ResNet-18)."""
    import torch
    import torchvision
    import yaml

    from aukit import nb

    monkeypatch.setenv("AUKIT_STATIC", "1")
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    m = nb.execute("tas", tmp_path / "sub", {"smoke": True, "device": "cpu", "seeds": [0], "variants": ["A6"],
                                             "model_dir": "", "weights": str(weights)}, progress=False, html=False)
    run = yaml.safe_load((tmp_path / "sub" / "run.yaml").read_text())
    assert run["config"]["model"]["weights"] == str(weights) and list(run["weights_files"]) == [str(weights)]
    assert math.isfinite(m["t3_A6_icc_avg"])
    assert not any(k.startswith(("t3_A1", "t3_A4")) for k in m)
    # Fig. 4 compares A1 with A4: without both it is left out, said so (it crashed the run)
    assert not (tmp_path / "sub/figures/fig4_tsne_au12.png").exists()
    assert "Fig. 4 compares A1 and A4; this run trained ['A6']: left out" in (tmp_path / "sub/tas.ipynb").read_text()
    with pytest.raises(ValueError, match=r"tas.ipynb: variants 'A9': takes A0, A1"):    # before the kernel starts
        nb.execute("tas", tmp_path / "bad", {"smoke": True, "device": "cpu", "variants": ["A9"], "model_dir": ""},
                   progress=False, html=False)


def test_the_table3_order_joins_rows_tied_as_printed():
    """Seven ICC within 0.006 of 0 printed 'A0 (0.006) > A5 (-0.000) > A6 (-0.000) > ...': an order among rows
    that are equal as printed. Tied rows are joined by '=' (and -0.000 prints as 0.000)."""
    import pandas as pd

    from aukit.methods.tas import reporting as R
    t3 = pd.DataFrame({"ICC": [0.006, -0.0001, -0.0004, 0.2], "MAE": [0.41, 0.45, 0.4502, 0.3]},
                      index=["A0", "A5", "A6", "A1"])
    assert R.ordering(t3, ["A0", "A5", "A6", "A1"]) == "A1 (0.200) > A0 (0.006) > A5 (0.000) = A6 (0.000)"
    assert R.ordering(t3, ["A0", "A5", "A6", "A1"], "MAE") == "A1 (0.300) < A0 (0.410) < A5 (0.450) = A6 (0.450)"
