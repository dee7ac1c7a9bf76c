"""PIAP-DF notebook, smoke mode under papermill on the tiny SynthAU tree."""
import math

import pytest
from _deploycheck import check_deploy


@pytest.mark.notebooks
def test_piap_df_notebook_smoke(synthau_tiny, tmp_path):
    from aukit.nb import execute

    m = execute("piap_df", tmp_path / "piap_df", {"smoke": True, "preset": "quick"}, progress=False)
    variants = ["baseline", "pi_2", "pi_3", "ap", "df", "piap", "piap_df"]
    for v in variants:
        assert math.isfinite(m[f"f1_{v}"]) and 0.0 <= m[f"f1_{v}"] <= 1.0
        assert math.isfinite(m[f"auc_{v}"]) and 0.0 <= m[f"auc_{v}"] <= 1.0
    assert 0.0 < m["f1_constant"] <= 1.0
    assert 0 < m["x_u_extra_frames"] < m["x_u_frames"]   # §3.3: DISFA frames joined the BP4D ones in DF's x_u
    assert m["export_params"] > 0 and m["export_images_per_s"] > 0
    assert 0.0 <= m["toy_acc_face"] <= 1.0 and 0.0 < m["toy_acc_chance"] <= 1.0
    # two training steps cannot beat the 'always present' floor reliably; require a non-degenerate model
    assert max(m[f"f1_{v}"] for v in variants) > 0.0
    assert (tmp_path / "piap_df" / "tables" / "table3_ablation.md").is_file()
    assert (tmp_path / "piap_df" / "figures" / "fig1_pi_maps.png").is_file()
    check_deploy(tmp_path / "piap_df", "piap_df")


@pytest.mark.notebooks
def test_piap_df_notebook_without_extras_leaves_out_the_toy_case(synthau_tiny, tmp_path):
    """-p extras 0: a time-boxed run had no way to leave out the §3.2 toy case and the noise study."""
    from aukit.nb import execute

    m = execute("piap_df", tmp_path / "p", {"smoke": True, "preset": "quick", "extras": 0, "model_dir": ""},
                progress=False)
    assert math.isfinite(m["f1_piap_df"]) and not any(k.startswith(("toy_acc_", "noise_")) for k in m)
    assert not (tmp_path / "p" / "figures" / "toy_identification.png").exists()
    assert (tmp_path / "p" / "figures" / "fig1_pi_maps.png").is_file()
