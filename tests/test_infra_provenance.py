"""run.yaml names, for each dataset a run opened, the data_manifest.yaml entry it was read with and
the root it was read from (STYLE "Provenance": dataset manifest entry and cache hash)."""
from __future__ import annotations

import json

import yaml

from aukit.data import manifest as M
from aukit.data import store
from aukit.report import Report


def _fake_store(cache, name, root):
    """The meta.json of a store folder (all that the report reads of it)."""
    (cache / name).mkdir(parents=True)
    (cache / name / "meta.json").write_text(json.dumps({"key": {"root": str(root.resolve())}}))


def test_run_yaml_records_the_manifest_entry_and_root_of_each_dataset_opened(tmp_path, monkeypatch):
    cache, synth, disfa = tmp_path / "cache", tmp_path / "synthau", tmp_path / "DISFA"
    (synth / "bp4d").mkdir(parents=True)
    disfa.mkdir()
    monkeypatch.setenv("AUKIT_CACHE", str(cache))
    monkeypatch.setenv("AUKIT_SYNTHAU", str(synth))
    monkeypatch.setenv("AUKIT_DATA_DISFA", str(disfa))
    _fake_store(cache, "synthau-bp4d__tas256__0123", synth / "bp4d")
    _fake_store(cache, "disfa__cpc128__4567", disfa)
    monkeypatch.setattr(store, "OPENED", {"synthau-bp4d__tas256__0123": {"frames": 9, "fingerprint": "ab"},
                                          "disfa__cpc128__4567": {"frames": 5, "fingerprint": "cd"},
                                          # not in the cache:
                                          "disfa__cpc128__89ab": {"frames": 5, "fingerprint": "ef"}})
    rep = Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    rep.add_metrics(icc_avg=0.5)
    rep.write()
    run = yaml.safe_load((tmp_path / "r" / "run.yaml").read_text())
    ds = run["datasets"]
    assert sorted(ds) == ["disfa", "synthau-bp4d"]
    assert ds["disfa"]["root"] == str(disfa.resolve()) and ds["disfa"]["root_from"] == "env AUKIT_DATA_DISFA"
    assert ds["disfa"]["entry"]["patterns"] == M.entry("disfa")["patterns"]
    assert ds["disfa"]["manifest"] == str(M.manifest_path()) and len(ds["disfa"]["manifest_sha256"]) == 16
    # a SynthAU dataset: its tree's root, read with the real dataset's patterns
    assert ds["synthau-bp4d"]["root"] == str((synth / "bp4d").resolve())
    assert ds["synthau-bp4d"]["root_from"].startswith("SynthAU tree")
    assert ds["synthau-bp4d"]["entry"]["patterns"] == M.entry("bp4d")["patterns"]
    assert run["stores"]["disfa__cpc128__4567"] == {"frames": 5, "fingerprint": "cd"}   # unchanged


def test_a_dataset_found_nowhere_still_gets_its_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("AUKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AUKIT_DATA_DISFA", str(tmp_path / "absent"))
    monkeypatch.setattr(store, "OPENED", {"disfa__cpc128__ab": {}})
    rep = Report("cpc", folder=tmp_path / "r", dataset="disfa", preset="smoke", seeds=[0], device="cpu")
    rep.add_metrics(icc_avg=0.5)
    rep.write()
    d = yaml.safe_load((tmp_path / "r" / "run.yaml").read_text())["datasets"]["disfa"]
    assert d["root"] is None and d["entry"]["patterns"] == M.entry("disfa")["patterns"]
