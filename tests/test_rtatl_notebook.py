"""RTATL notebook in smoke mode on the tiny SynthAU tree (papermill), asserting on its metrics."""
import math

import pytest
from _deploycheck import check_deploy


@pytest.mark.notebooks
def test_rtatl_notebook_smoke(synthau_tiny, tmp_path):
    from aukit.nb import execute
    # sweep_subjects alone turns the Fig. 4 sweep on where the preset has none (smoke, quick)
    m = execute("rtatl", tmp_path / "rtatl", {"smoke": True, "seeds": [0], "sweep_subjects": [1]}, html=False,
                progress=False)
    assert m["slug"] == "rtatl" and m["preset"] == "smoke"
    for key in ("f1_avg_rtatl", "f1_avg_backbone_t", "f1_constant", "auc_avg_rtatl", "auc_avg_backbone_t"):
        assert math.isfinite(m[key]) and 0.0 <= m[key] <= 1.0, key
    assert math.isfinite(m["loss_last_rtatl"]) and m["test_frames"] > 0
    assert m["auc_std_rtatl"] is None and m["f1_std_rtatl"] is None          # one seed: no spread (null)
    f1s = [round(m[f"f1_avg_{v.lower().replace('^', '_')}"], 3) for v in m["paper_order"]]
    assert len(m["measured_order"]) == len(set(f1s))                         # tied rows share one entry
    assert ("tied" in m["order_f1"]) == (len(set(f1s)) == 1) and m["order_auc"].startswith("AUC")
    # inference runs the backbone only: fewer parameters and FLOPs than training
    assert m["params_infer_m"] < m["params_train_m"] and m["gflops_infer"] < m["gflops_train"]
    assert (tmp_path / "rtatl" / "tables" / "table1.md").is_file()
    assert (tmp_path / "rtatl" / "figures" / "fig6_inpainting.png").is_file()
    assert sorted(k for k in m if k.startswith("sweep_")) == [
        f"sweep_{method}_{n}" for method in ("exemplar", "rotation", "rtatl") for n in (1, 2)]  # 2 = all present
    assert (tmp_path / "rtatl" / "figures" / "fig4_labelled_subjects.png").is_file()
    check_deploy(tmp_path / "rtatl", "rtatl")


@pytest.mark.notebooks
def test_rtatl_all_table1_rows_and_label_sweep_smoke(synthau_tiny, tmp_path):
    """The full preset's extras at smoke scale: every Table 1 row trains and is scored, and the
    Fig. 4 labelled-subject sweep runs for each count (plus all subjects) and draws its figure."""
    from aukit.methods.rtatl import experiment as E
    cfg = E.preset_config("smoke", out_dir=str(tmp_path / "rtatl"), variants=tuple(E.VARIANTS),
                          sweep_subjects=(1,), sweep_methods=("RTATL", "Rotation"))
    m = E.run(cfg)
    for v in E.VARIANTS:
        key = f"f1_avg_{v.lower().replace('^', '_')}"
        assert math.isfinite(m[key]) and 0.0 <= m[key] <= 1.0, v
    sweep = {k: v for k, v in m.items() if k.startswith("sweep_")}
    assert {k.rsplit("_", 1)[0] for k in sweep} == {"sweep_rtatl", "sweep_rotation"}
    assert len(sweep) == 4 and all(0.0 <= v <= 1.0 for v in sweep.values())     # counts 1 and all
    assert (tmp_path / "rtatl" / "figures" / "fig4_labelled_subjects.png").is_file()


def test_the_printed_order_says_tied_for_a_tie_and_never_the_papers_order():
    """Four F1 of 0.0 printed 'measured order: Backbone^T, OFE, RoII, RTATL', the paper's order: a four-way tie
    sorted stably reads as agreeing with the paper. A tie (at the printed 3 decimals) is no order."""
    from aukit.methods.rtatl import experiment as E
    paper = ["Backbone^T", "OFE", "RoII", "RTATL"]
    tie = dict.fromkeys(paper, 0.0)
    assert E.order_groups(tie) == [paper]
    text = E.order_text(tie, paper)
    assert text.startswith("F1: tied, all 4 rows = 0.000") and "the paper's F1 order" not in text
    near = {"Backbone^T": 0.1, "OFE": 0.20001, "RoII": 0.2, "RTATL": 0.3}          # equal as printed
    assert E.order_groups(near) == [["Backbone^T"], ["OFE", "RoII"], ["RTATL"]]
    text = E.order_text(near, paper)
    assert "OFE 0.200 = RoII 0.200" in text and "tied rows have no order" in text
    assert E.order_text({"Backbone^T": 0.1, "OFE": 0.2, "RoII": 0.3, "RTATL": 0.4}, paper).endswith(
        "; the paper's F1 order")
    flipped = E.order_text({"Backbone^T": 0.4, "OFE": 0.2, "RoII": 0.3, "RTATL": 0.1}, paper, "AUC")
    assert flipped == ("AUC (low -> high): RTATL 0.100 < OFE 0.200 < RoII 0.300 < Backbone^T 0.400; "
                       "not the paper's F1 order")
    assert "no value for OFE" in E.order_text({"Backbone^T": 0.1, "OFE": float("nan")}, paper)


def test_the_fig4_sweep_can_be_left_out_or_asked_for():
    """A time-boxed full run could not leave out Fig. 4's 15 models (an empty list means the preset's)."""
    from aukit.methods.rtatl import experiment as E
    full = E.preset_config("full")
    assert full.sweep_subjects and full.sweep_methods
    assert E.with_sweep(full, []) == full
    off = E.with_sweep(full, [0])
    assert off.sweep_subjects == () and off.sweep_methods == ()
    quick = E.with_sweep(E.preset_config("quick"), [3, 9])
    assert quick.sweep_subjects == (3, 9) and quick.sweep_methods == ("RTATL", "Rotation", "Exemplar")
    with pytest.raises(ValueError, match=r"or \[0\] for no sweep"):
        E.with_sweep(full, [0, 3])


def test_the_unlabelled_faces_default_to_auto_which_takes_emotionet_on_a_real_run(monkeypatch, tmp_path, capsys):
    """The unlabelled faces defaulted to synthau-emotionet, on a real BP4D run too with EmotioNet on disk."""
    import os

    from aukit.methods.rtatl import data as RD
    from aukit.methods.rtatl import experiment as E
    from aukit.nb import declared_parameters
    assert declared_parameters("rtatl")["unlabelled"]["default"] == '"auto"'
    assert E.ExperimentConfig().unlabelled == E.preset_config("full").unlabelled == "auto"
    for key in [k for k in os.environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)
    assert RD.unlabelled_for("synthau-bp4d") == "synthau-emotionet" and RD.unlabelled_for("bp4d", "") is None
    assert RD.unlabelled_for("disfa") == "synthau-emotionet"
    assert "set AUKIT_DATA_EMOTIONET or -p unlabelled to choose" in capsys.readouterr().out
    (tmp_path / "EmotioNet").mkdir()
    monkeypatch.setenv("AUKIT_DATA_EMOTIONET", str(tmp_path / "EmotioNet"))
    assert RD.unlabelled_for("bp4d") == "emotionet" and RD.unlabelled_for("bp4d", None) is None

    class Opened(Exception):
        pass

    def load_data(dataset, fold, aus, *, unlabelled=None, **kw):
        raise Opened(unlabelled)
    monkeypatch.setattr(E, "load_data", load_data)
    for given, opened in (("auto", "emotionet"), (None, "None"), ("synthau-emotionet", "synthau-emotionet")):
        with pytest.raises(Opened, match=f"^{opened}$"):
            E.run(E.preset_config("smoke", dataset="bp4d", unlabelled=given, device="cpu", out_dir=str(tmp_path)))


def test_load_data_opens_the_stand_in_for_auto_on_synthau(synthau_tiny):
    from aukit.methods.rtatl import experiment as E
    from aukit.methods.rtatl.data import load_data
    aus = E.ExperimentConfig().aus
    data = load_data("synthau-bp4d", 1, aus, unlabelled="auto", flow=False, max_train=8, max_test=8, max_unlabelled=8)
    assert data.unlabelled.dataset == data.info["unlabelled"] == "synthau-emotionet"
    assert load_data("synthau-bp4d", 1, aus, unlabelled="", flow=False, max_train=8, max_test=8).unlabelled is None


@pytest.mark.parametrize("dataset", ["synthau-disfa", "synthau-bp4d"])
def test_table1_on_disfa_stands_alone(tmp_path, dataset):
    """RTATL's Table 1 is BP4D's: a DISFA run showed BP4D's 12 AU columns beside its own 8."""
    import numpy as np
    import pandas as pd

    from aukit.methods.rtatl.experiment import add_table1
    from aukit.report import Report
    aus = (["AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26"] if "disfa" in dataset else
           ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"])
    mean = pd.DataFrame([np.full(len(aus) + 1, 0.5)], index=["RTATL"], columns=aus + ["Avg"])
    r = Report("rtatl", dataset=dataset, preset="smoke", seeds=[0], device="cpu", folder=tmp_path)
    add_table1(r, mean, mean * 0, {})
    t1 = pd.read_csv(tmp_path / "tables" / "table1.csv")
    assert [c for c in t1.columns if c.startswith("AU")] == aus
    assert (t1["kind"] == "reported").any() == ("bp4d" in dataset)


def test_figure_rows_come_from_every_subject_spread_over_their_frames():
    """Fig. 5 and 6 showed six consecutive frames of one subject when the test set had 3 subjects."""
    import types

    import numpy as np
    import pandas as pd

    from aukit.methods.rtatl.figures import _pick
    index = pd.DataFrame({"subject": ["A"] * 10 + ["B"] * 10 + ["C"] * 10})
    data = types.SimpleNamespace(test_rows=np.arange(30), flow_valid=None, store=types.SimpleNamespace(index=index))
    rows = _pick(data, 6, need_flow=False)
    assert list(index["subject"][rows]) == ["A", "B", "C", "A", "B", "C"]
    assert list(rows) == [0, 10, 20, 9, 19, 29]                       # each subject's first and last frame
    assert sorted(_pick(data, 40, need_flow=False)) == list(range(30))


def test_flow_figure_gives_true_and_predicted_flow_their_own_scale():
    """On one grey scale set by an untrained prediction (tens of px) the true flow showed flat grey."""
    import numpy as np

    from aukit import viz
    true = np.zeros((2, 2, 8, 8), np.float32)
    true[:, :, 2:4, 2:4] = 0.5
    fig = viz.flow_compare(true, 20 * np.ones_like(true), np.zeros((2, 16, 16, 3), np.uint8))
    ax_true, ax_pred = fig.axes[1], fig.axes[3]
    assert ax_true.images[0].get_clim() == (-0.5, 0.5) and ax_pred.images[0].get_clim() == (-20, 20)
    assert "±0.5 px" in ax_true.get_title() and "±20 px" in ax_pred.get_title()


@pytest.mark.notebooks
def test_a_run_whose_last_row_is_backbone_t_writes_its_headline(synthau_tiny, tmp_path):
    """`-p variants '["Backbone^T"]'` (RTATL left out) ended in "headline keys without a measured value:
    f1_avg_backbone^t": the headline spelled the row's key without the '^' -> '_' of its metrics."""
    from aukit.methods.rtatl import experiment as E
    from aukit.report.writer import load_metrics
    cfg = E.preset_config("smoke", out_dir=str(tmp_path / "rtatl"), variants=("Backbone^T",))
    m = E.run(cfg)
    assert E.metric_slug("Backbone^G") == "backbone_g"
    written = load_metrics(tmp_path / "rtatl")
    assert written["headline"] == ["f1_avg_backbone_t", "auc_avg_backbone_t", "f1_constant"]
    assert written["f1_avg_backbone_t"] == m["f1_avg_backbone_t"]
    # run.yaml records the method dataclasses the row trained with, not only the experiment's knobs
    import yaml
    conf = yaml.safe_load((tmp_path / "rtatl" / "run.yaml").read_text())["config"]
    assert {"mask_prob", "pseudo_threshold", "lambda1", "flow_step"} <= set(conf["train"])
    assert {"roi_channels", "d_model", "roi_box"} <= set(conf["model"]) and conf["model"]["input_size"] == 64
    assert conf["experiment"]["variants"] == ["Backbone^T"]
    assert conf["variants"] == {"Backbone^T": {"model": {}, "train": {"roii": False, "ofe": False}}}
