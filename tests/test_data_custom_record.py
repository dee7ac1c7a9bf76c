"""What a run records about a dataset of the user's own: run.yaml's ``datasets`` holds its manifest entry,
the manifest (outside the repository: the commit does not pin it) and the root its store was built from."""
from __future__ import annotations

import json

import pytest

from aukit.report.provenance import datasets_read
from test_data_custom import use


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def test_run_yaml_records_the_own_dataset_with_its_entry_and_root(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1"], "part2": ["P2"], "part3": ["P3"]})
    root.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUKIT_CACHE", str(cache))
    (cache / "mylab__tas256__ab").mkdir(parents=True)
    (cache / "mylab__tas256__ab" / "meta.json").write_text(json.dumps({"key": {"root": str(root.resolve())}}))
    rec = datasets_read({"mylab__tas256__ab": {}})["mylab"]
    assert rec["manifest"] == str(tmp_path / "manifest_0.yaml") and rec["manifest_sha256"]
    assert rec["root"] == str(root.resolve()) and rec["root_from"] == "manifest_0.yaml mylab.root"
    assert rec["entry"]["intensity_aus"] == [6, 12] and rec["entry"]["folds"]["part2"] == ["P2"]


@pytest.mark.parametrize("name, theirs", [("DISFA", "disfa"), ("Bp4d", "bp4d"), ("casia-webface", "casia_webface"),
                                          ("SynthAU-BP4D", "synthau-bp4d")])
def test_an_own_entry_named_like_aukits_dataset_is_refused(tmp_path, monkeypatch, name, theirs):
    from aukit.data import manifest
    from aukit.data.schema import ManifestError
    use(tmp_path, monkeypatch, name=name)
    with pytest.raises(ManifestError) as err:
        manifest.entry(name)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'manifest_0.yaml'}: entry {name!r}: ") and repr(theirs) in msg


def test_the_methods_take_the_papers_choices_for_the_exact_names_only():
    from aukit.methods.aus import family
    assert family("disfa") == "disfa" and family("synthau-bp4d") == "bp4d"
    assert family("DISFA") is None and family("SynthAU-BP4D") is None
