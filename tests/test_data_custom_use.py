"""Running the notebooks on a dataset of the user's own: which notebooks an entry may be run by (its
``notebooks:`` key) and what the refusal says, the occurrence AUs a DISFA-layout entry gives the detection
methods, and the side sets a run on it needs."""
from __future__ import annotations

import pytest

from aukit import nb
from test_data_custom import lab, use


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def test_a_notebook_the_entry_does_not_list_names_the_manifest_the_key_and_the_own_entries(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, notebooks=["rtatl"])
    lab(root)
    with pytest.raises(ValueError) as err:
        nb.check_parameters("tas", {"dataset": "mylab", "smoke": True})
    msg = str(err.value)
    assert f"entry 'mylab' in {tmp_path / 'manifest_0.yaml'}" in msg and "data_manifest.yaml" not in msg
    assert "`notebooks:`" in msg and "add tas to" in msg         # it has intensity_aus: TAS could train on it
    use(tmp_path, monkeypatch, name="labtas", notebooks=["tas"])
    with pytest.raises(ValueError) as err:
        nb.check_parameters("tas", {"dataset": "mylab", "smoke": True})
    assert "labtas" in str(err.value).rpartition("this notebook takes")[2]


def test_an_entry_without_the_aus_a_notebook_trains_on_is_told_so(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6, 12],
               notebooks=["rtatl"])
    lab(root)
    with pytest.raises(ValueError) as err:
        nb.check_parameters("tas", {"dataset": "mylab", "smoke": True})
    msg = str(err.value)
    assert "TAS trains on intensity AUs and entry 'mylab' lists none (intensity_aus)" in msg
    assert "add tas to" not in msg


def test_an_entry_without_notebooks_says_the_key_decides(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    lab(root)
    with pytest.raises(ValueError, match=r"entry 'mylab' in .* has no `notebooks:`"):
        nb.check_parameters("scc", {"dataset": "mylab", "smoke": True})


DISFA_LAYOUT = {"layout": "disfa", "label_kind": None, "invalid_code": None, "intensity_aus": [1, 12],
                "patterns": {"video": "Videos/{subject}.avi", "labels": "Labels/{subject}/{subject}_au{au}.txt"}}


def test_a_disfa_layout_entry_gives_the_detection_methods_the_occurrence_its_index_has(tmp_path, monkeypatch):
    from aukit.data import manifest
    from aukit.methods.aus import own_aus
    use(tmp_path, monkeypatch, **DISFA_LAYOUT)                # no occurrence_threshold: the layout's 2
    assert manifest.dataset_aus("mylab") == {"intensity": (1, 12), "occurrence": (1, 12)}
    assert own_aus("mylab", "occurrence", "RTATL") == (1, 12)
    assert manifest.occurrence_threshold("mylab") == 2
    assert "AUxx >= 2 (layout disfa's default" in manifest.occurrence_rule("mylab")
    use(tmp_path, monkeypatch, **DISFA_LAYOUT, occurrence_threshold=3)
    assert manifest.occurrence_threshold("mylab") == 3 and "entry's occurrence_threshold" in \
        manifest.occurrence_rule("mylab")


def test_the_disfa_reader_derives_occurrence_at_the_threshold_the_methods_are_told(tmp_path, monkeypatch):
    import numpy as np
    from test_data_fixtures import write_video
    from aukit.data import catalog, manifest
    root = use(tmp_path, monkeypatch, **DISFA_LAYOUT)
    write_video(root / "Videos" / "P1.avi", [np.full((16, 16, 3), 20 * k, np.uint8) for k in range(12)])
    for au in (1, 12):
        (root / "Labels" / "P1").mkdir(parents=True, exist_ok=True)
        (root / "Labels" / "P1" / f"P1_au{au}.txt").write_text("".join(f"{k + 1},{k % 6}\n" for k in range(12)))
    df = catalog.index("mylab")
    thr = manifest.occurrence_threshold("mylab")
    assert (df["occ_AU01"] == (df["AU01"] >= thr)).all() and df["occ_AU01"].sum() == 8   # AU01 = k % 6: 2..5


def test_the_advice_for_missing_aus_is_one_the_layout_accepts(tmp_path, monkeypatch):
    from aukit.data import manifest
    from aukit.methods.aus import own_aus
    use(tmp_path, monkeypatch, **{**DISFA_LAYOUT, "intensity_aus": None})
    with pytest.raises(ValueError) as err:
        own_aus("mylab", "occurrence", "RTATL")
    assert "occurrence_aus" not in str(err.value) and "intensity_aus" in str(err.value)
    use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6])
    with pytest.raises(ValueError) as err:
        own_aus("mylab", "intensity", "TAS")
    assert "label_kind: intensity" in str(err.value)
    bad = {"label_kind": "occurrence", "intensity_aus": [6]}   # what the old advice led to: refused by the schema
    use(tmp_path, monkeypatch, **bad)
    with pytest.raises(manifest.ManifestError):
        manifest.entry("mylab")


def test_data_check_and_run_yaml_say_the_threshold_a_disfa_layout_entry_is_detected_at(tmp_path, monkeypatch,
                                                                                        capsys):
    import json
    import numpy as np
    from test_data_fixtures import write_video
    from aukit.cli import main
    from aukit.report.provenance import datasets_read
    root = use(tmp_path, monkeypatch, **DISFA_LAYOUT)
    write_video(root / "Videos" / "P1.avi", [np.full((16, 16, 3), 20 * k, np.uint8) for k in range(4)])
    for au in (1, 12):
        (root / "Labels" / "P1").mkdir(parents=True, exist_ok=True)
        (root / "Labels" / "P1" / f"P1_au{au}.txt").write_text("".join(f"{k + 1},{k}\n" for k in range(4)))
    main(["data", "check", "mylab"])
    assert "info: occurrence labels (RTATL, PIAP-DF): occ_AUxx = AUxx >= 2 (layout disfa's default" in \
        capsys.readouterr().out
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUKIT_CACHE", str(cache))
    (cache / "mylab__rtatl__ab").mkdir(parents=True)
    (cache / "mylab__rtatl__ab" / "meta.json").write_text(json.dumps({"key": {"root": str(root.resolve())}}))
    assert datasets_read({"mylab__rtatl__ab": {}})["mylab"]["occurrence"].startswith("occ_AUxx = AUxx >= 2 ")


@pytest.mark.parametrize("real, param, none_ok", [("affwild2", "pool", True), ("emotionet", "unlabelled", True),
                                                  ("afew_va", "landmark_set", False)])
def test_a_side_sets_missing_stand_in_says_how_to_run_without_it(tmp_path, monkeypatch, real, param, none_ok):
    """A run on a dataset of your own without `aukit synth`: CPC's pool fell back to synthau-affwild2, whose
    error said only to generate SynthAU."""
    from aukit.data.manifest import DatasetNotFound, resolve_root
    monkeypatch.setenv("AUKIT_SYNTHAU", str(tmp_path / "no_synthau"))
    with pytest.raises(DatasetNotFound) as err:
        resolve_root(f"synthau-{real}")
    msg = str(err.value)
    assert "aukit synth" in msg and f"AUKIT_DATA_{real.upper()}" in msg and f"-p {param}" in msg
    assert (f'-p {param} ""' in msg) == none_ok


def test_two_own_entries_differing_only_in_case_are_refused(tmp_path, monkeypatch):
    """'mylab' and 'MyLab' both read env AUKIT_DATA_MYLAB: one folder would pass for both datasets."""
    import yaml

    from aukit.data import catalog, manifest
    root = use(tmp_path, monkeypatch)
    lab(root)
    entries = yaml.safe_load(open(__import__("os").environ["AUKIT_MANIFEST"]))
    entries["MyLab"] = dict(entries["mylab"])
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))
    monkeypatch.setenv("AUKIT_MANIFEST", str(tmp_path / "two.yaml"))
    with pytest.raises(manifest.ManifestError, match=r"entries 'mylab' and 'MyLab' differ only in case.*"
                                                     "AUKIT_DATA_MYLAB; rename one"):
        catalog.index("mylab")
