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
