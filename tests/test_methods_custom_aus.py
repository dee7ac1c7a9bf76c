"""The five methods on a dataset of the user's own (a manifest entry with a `layout:`): they took BP4D's
hard-coded AU list (a lab coding AU01, AU04, AU12, AU25, AU26 got TAS on AU12 alone, RTATL a KeyError, SCC a
refusal), and a name containing 'bp4d' or 'disfa' (bp4d_plus) got those papers' lists and splits."""
from __future__ import annotations

import json

import pytest
import yaml


def _manifest(tmp_path, monkeypatch, **entries):
    """A copy of data_manifest.yaml with ``entries`` added, in use through AUKIT_MANIFEST."""
    from aukit.data import manifest as M
    m = yaml.safe_load(M.MANIFEST_PATH.read_text())
    for name, e in entries.items():   # occurrence derived by a threshold: DISFA's layout (BP4D's reads AU_OCC files)
        like = "disfa" if "occurrence_threshold" in e else "bp4d"
        m[name] = {"layout": like, "patterns": m[like]["patterns"], **e}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(m))
    monkeypatch.setenv("AUKIT_MANIFEST", str(path))
    return path


@pytest.fixture
def mylab(tmp_path, monkeypatch):
    """mylab codes intensity of AU01, AU04, AU12, AU25, AU26 and occurrence of AU01, AU02, AU12; bp4d_plus
    (a name containing 'bp4d') codes intensity of AU04 and AU12 only, with occurrence derived; nolab none."""
    return _manifest(tmp_path, monkeypatch,
                     mylab={"intensity_aus": [1, 4, 12, 25, 26], "occurrence_aus": [1, 2, 12]},
                     bp4d_plus={"intensity_aus": [4, 12], "occurrence_threshold": 2},
                     nolab={})


def test_family_is_exact():
    from aukit.methods.aus import family, family_or_bp4d
    assert [family(d) for d in ("bp4d", "synthau-bp4d", "disfa", "synthau-disfa")] == ["bp4d", "bp4d", "disfa",
                                                                                       "disfa"]
    assert family("bp4d_plus") is None and family("mydisfa") is None and family_or_bp4d("mydisfa") == "bp4d"


def test_tas_takes_the_entrys_intensity_aus(mylab):
    from aukit.methods.tas import config as C
    from aukit.methods.tas.data import wanted_aus
    assert wanted_aus("mylab") == (1, 4, 12, 25, 26)
    assert wanted_aus("bp4d_plus") == (4, 12)
    assert wanted_aus("synthau-bp4d") == C.BP4D_AUS and wanted_aus("disfa") == C.DISFA_AUS
    # a dataset named like DISFA but not DISFA takes BP4D's (the main benchmark's) hyper-parameters
    assert C.default_lambda_sub("bp4d_plus") == C.TASLossConfig().lambda_sub
    assert C.default_label_fraction("synthau-disfa") == C.DISFA_LABEL_FRACTION
    with pytest.raises(ValueError, match=r"TAS trains on intensity AUs.*'nolab'.*intensity_aus"):
        wanted_aus("nolab")


def _own_copy_of_synthau(tmp_path, monkeypatch, root, **aus):
    """mylab: SynthAU's tiny BP4D tree under a name of the user's own (layout bp4d), coding ``aus``."""
    _manifest(tmp_path, monkeypatch, mylab={"root": str(root / "bp4d"), **aus})


def test_tas_smoke_on_a_dataset_of_your_own(synthau_tiny, tmp_path, monkeypatch):
    """TAS end to end on mylab (AU06, AU12, AU17 coded; AU25 listed but absent): the tables' AU columns are
    mylab's, AU25 is named as left out, and no paper's row stands beside them."""
    import pandas as pd

    from aukit.data import load_store
    from aukit.methods.tas import experiment as E, presets, reporting as R
    from aukit.methods.tas.data import load_data
    from aukit.report import Report

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUKIT_STATIC", "1")
    store = load_store("synthau-bp4d", "tas")             # the same frames: a store built before the rename
    _own_copy_of_synthau(tmp_path, monkeypatch, synthau_tiny, intensity_aus=[6, 12, 17, 25])
    plan = presets.notebook_plan("quick", True, seeds=[0], epochs=0, steps=-1, variants=["A6"])
    cfg = presets.notebook_config(plan, "mylab", lr=0.005, weight_decay=5e-4, alpha=0.5, lambda_rank=0.1,
                                  lambda_spd=0.05, lambda_sub=-1.0, attention_kernel=9)
    data = load_data("mylab", fold=1, T=cfg.train.T, store=store)
    assert data.aus == ["AU06", "AU12", "AU17"] and list(data.aus_dropped) == ["AU25"]
    cfg = E.built_config(data, cfg)
    out = tmp_path / "rep"
    report = Report("tas", folder=out, dataset="mylab", preset=plan.mode, seeds=plan.seeds, device="cpu", config=cfg)
    results = E.run_variants(data, {"A6": (cfg, "keyframe")}, plan.seeds, presets.run_options(plan, "cpu"),
                             keep=["A6"])
    R.add_table1(report, data, results, "A6")
    R.add_overall_table(report, "table2", data, {R.PAPER_NAME: results["A6"]}, row_map={R.PAPER_NAME: "Ours"})
    report.write()
    table = pd.read_csv(out / "tables" / "table1_icc.csv")
    assert [c for c in table.columns if c.startswith("AU")] == ["AU06", "AU12", "AU17"]
    assert set(table["kind"]) == {"measured"}                          # no paper's row, no difference row
    md = (out / "tables" / "table1_icc.md").read_text()
    assert "No paper reports mylab" in md and "AU25 (in mylab's AU list) not trained or scored" in md
    assert "AU25" in json.loads((out / "metrics.json").read_text())["aus_dropped"]
    # the deployable model and `aukit predict` carry mylab's AUs (predict reads the model's list)
    from aukit.methods.tas.deploy import export_deployable
    from aukit.predict import predict
    path = export_deployable(results["A6"]["model"], data.aus, tmp_path / "deploy.pt", "mylab", size=plan.size)
    seq = next(p for p in sorted((synthau_tiny / "bp4d" / "2D").glob("*/*")) if p.is_dir())
    res = predict(seq, str(path), tmp_path / "pred", workers=0, plot=False)
    df = pd.read_csv(res.csv, comment="#")
    assert [c for c in df.columns if c.startswith("AU")] == ["AU06_r", "AU12_r", "AU17_r"]


def test_scc_takes_the_entrys_intensity_aus_k_and_no_fera_split(mylab):
    import pandas as pd

    from aukit.methods.scc import config as C
    from aukit.methods.aus import kept_aus
    from aukit.methods.scc.data import dataset_aus, resolve_fold
    from aukit.methods.scc.experiment import ExperimentConfig
    assert dataset_aus("mylab") == ("AU01", "AU04", "AU12", "AU25", "AU26")
    assert dataset_aus("bp4d_plus") == ("AU04", "AU12") and dataset_aus("synthau-bp4d") == C.BP4D_AUS
    assert resolve_fold("bp4d_plus", 2) == 2                          # no FERA2015 split for another dataset
    # k: BP4D's 5 up to 8 AUs, DISFA's 7 above, capped below the AU count; the papers' datasets keep theirs
    assert (C.k_for("mylab"), C.k_for("bp4d_plus"), C.k_for("synthau-disfa"), C.k_for("bp4d")) == (4, 1, 7, 5)
    assert C.k_for_own(12) == 7 and C.k_for_own(20) == 7
    e = ExperimentConfig(dataset="mylab")
    assert e.aus == dataset_aus("mylab") and e.k == 4
    idx = pd.DataFrame({"subject": ["a", "a", "b"], "AU01": [1.0, 2.0, 0.0], "AU04": [float("nan")] * 2 + [3.0],
                        "AU12": [0.0, 1.0, 2.0], "AU26": [0.0, 0.0, 1.0]})
    kept, dropped = kept_aus("mylab", idx, e.aus, ["a"], "SCC", located=(1, 12, 26))
    assert kept == ("AU01", "AU12", "AU26") and set(dropped) == {"AU04", "AU25"}
    with pytest.raises(ValueError, match=r"SCC trains on intensity AUs.*'nolab'.*intensity_aus"):
        dataset_aus("nolab")


def test_rtatl_takes_the_entrys_occurrence_aus(mylab):
    import pandas as pd

    from aukit.methods.aus import kept_aus
    from aukit.methods.rtatl import BP4D_AUS, DISFA_AUS
    from aukit.methods.rtatl.experiment import ExperimentConfig
    assert ExperimentConfig(dataset="mylab").aus == (1, 2, 12)
    assert ExperimentConfig(dataset="bp4d_plus").aus == (4, 12)       # occurrence derived by its threshold
    assert ExperimentConfig(dataset="synthau-disfa").aus == DISFA_AUS and ExperimentConfig().aus == BP4D_AUS
    assert ExperimentConfig(dataset="mylab", aus_dropped={"AU02": "x"}).aus == (1, 12)
    idx = pd.DataFrame({"subject": ["a", "b"], "occ_AU01": [1.0, 0.0], "occ_AU02": [float("nan"), 1.0],
                        "occ_AU12": [0.0, 1.0], "occ_AU43": [1.0, 0.0]})
    kept, dropped = kept_aus("mylab", idx, (1, 2, 12, 43, 45), ["a"], "RTATL", occurrence=True, located=(1, 2, 12))
    assert kept == (1, 12) and list(dropped) == ["AU02", "AU43", "AU45"]
    assert "no place for AU43" in dropped["AU43"] and "occ_AU45" in dropped["AU45"]
    # 'nolab' is in BP4D's layout, which has no occurrence_threshold key: its advice is occurrence_aus alone
    with pytest.raises(ValueError, match=r"RTATL trains on occurrence AUs.*'nolab'.*occurrence_aus") as err:
        ExperimentConfig(dataset="nolab").aus
    assert "occurrence_threshold" not in str(err.value)


def test_piap_df_takes_the_entrys_occurrence_aus_and_no_side_sets(mylab, monkeypatch, tmp_path):
    import pandas as pd

    from aukit.methods.piap_df import config as C, experiment as X, runs
    assert runs.aus_for("mylab") == (1, 2, 12) and runs.aus_for("bp4d_plus") == (4, 12)
    assert runs.aus_for("synthau-bp4d") == C.BP4D_AUS and runs.aus_for("disfa") == C.DISFA_AUS
    assert X.unlabelled_sets_for("bp4d_plus") == ()                   # BP4D's x_u side sets are BP4D's
    with pytest.raises(ValueError, match=r"PIAP-DF trains on occurrence AUs.*'nolab'.*occurrence_aus"):
        runs.aus_for("nolab")
    # the settings' AUs are those the data has; the others are named (the store is the tests' stand-in)
    idx = pd.DataFrame({"subject": ["a", "b"], "occ_AU01": [1.0, 0.0], "occ_AU12": [0.0, 1.0]})
    monkeypatch.setattr(runs, "load_store", lambda *a, **k: type("Store", (), {"index": idx})())
    monkeypatch.setattr(runs, "fold_subjects", lambda *a, **k: (["a"], ["b"]))
    s = X.settings_for("quick", "mylab", 1, 0, True, alpha=1.0, beta=1.0, gamma=1.0, ap_beta=1.0, disable_prob=0.5,
                       fb_negative=0.0, landmark_set="synthau-afew_va", identity_set="synthau-casia_webface")
    assert s.net.aus == (1, 12) and list(s.aus_dropped) == ["AU02"]
    from aukit.report import Report                                   # the notebook's report is built on S
    assert Report("piap_df", folder=tmp_path / "r", dataset="mylab", preset="smoke", seeds=[0], device="cpu",
                  config=s).aus_dropped == s.aus_dropped


def test_cpc_takes_the_entrys_intensity_aus(mylab):
    import pandas as pd

    from aukit.data.splits import notebook_fold
    from aukit.methods.cpc.experiment import target_aus
    idx = pd.DataFrame({"subject": ["a", "b"], "AU01": [1.0, 0.0], "AU04": [2.0, 1.0], "AU06": [1.0, 1.0],
                        "AU12": [float("nan"), 1.0], "AU26": [0.0, 3.0]})
    aus, dropped = target_aus("mylab", idx, ["a"])
    assert aus == ["AU01", "AU04", "AU26"] and list(dropped) == ["AU12", "AU25"]      # never BP4D's AU06
    assert target_aus("bp4d_plus", idx, ["a", "b"]) == (["AU04", "AU12"], {})
    assert target_aus("synthau-disfa", idx, ["a"]) == (None, {})                      # the papers' as before
    assert notebook_fold("cpc", "bp4d_plus", -1) == 1                                 # no FERA2015 split
    with pytest.raises(ValueError, match=r"CPC trains on intensity AUs.*'nolab'.*intensity_aus"):
        target_aus("nolab", idx, ["a"])
