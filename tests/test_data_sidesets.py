"""The side datasets' "auto" choice (aukit.data.sidesets): SynthAU's stand-in for a SynthAU run, the
real set for a real run when it is found, else the stand-in with a note; never silently synthetic."""
from __future__ import annotations

import pytest

from aukit.data.manifest import RootNotFound
from aukit.data.sidesets import side_or_standin

KW = dict(what="CPC's pre-training pool", ref="§4", param="pool")


@pytest.fixture
def no_real_copies(monkeypatch, tmp_path):
    """No root for any real set: no AUKIT_DATA* and the repository's manifest (its roots are null)."""
    import os
    for key in [k for k in os.environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)
    return tmp_path


def test_a_synthau_run_takes_the_stand_in(no_real_copies, monkeypatch, capsys):
    monkeypatch.setenv("AUKIT_DATA_AFFWILD2", str(no_real_copies))     # even with the real one present
    assert side_or_standin("affwild2", "synthau-disfa", "auto", **KW) == "synthau-affwild2"
    assert side_or_standin("emotionet", "synthau-bp4d", **KW) == "synthau-emotionet"     # "auto" is the default
    assert capsys.readouterr().out == ""


def test_a_real_run_takes_the_real_set_when_it_is_found(no_real_copies, monkeypatch, capsys):
    (no_real_copies / "Aff-Wild2").mkdir()
    monkeypatch.setenv("AUKIT_DATA_AFFWILD2", str(no_real_copies / "Aff-Wild2"))
    assert side_or_standin("affwild2", "disfa", "auto", **KW) == "affwild2"
    monkeypatch.delenv("AUKIT_DATA_AFFWILD2")
    monkeypatch.setenv("AUKIT_DATA", str(no_real_copies))             # AUKIT_DATA/<folder named like it>
    assert side_or_standin("affwild2", "bp4d", "auto", **KW) == "affwild2"
    assert capsys.readouterr().out == ""


def test_a_real_run_without_the_real_set_takes_the_stand_in_and_says_so(no_real_copies, capsys):
    assert side_or_standin("affwild2", "disfa", "auto", **KW) == "synthau-affwild2"
    out = capsys.readouterr().out
    assert out.count("note:") == 1
    assert ("note: CPC's pre-training pool is affwild2 (§4), which was not found: SynthAU's stand-in "
            "synthau-affwild2 is used (set AUKIT_DATA_AFFWILD2 or -p pool to choose)") in out
    assert side_or_standin("emotionet", "bp4d", what="RTATL's unlabelled faces", param="unlabelled") \
        == "synthau-emotionet"
    assert "set AUKIT_DATA_EMOTIONET or -p unlabelled to choose" in capsys.readouterr().out


def test_a_root_given_but_wrong_is_an_error_not_a_stand_in(no_real_copies, monkeypatch):
    monkeypatch.setenv("AUKIT_DATA_AFFWILD2", str(no_real_copies / "affwild"))
    with pytest.raises(RootNotFound, match="AUKIT_DATA_AFFWILD2"):
        side_or_standin("affwild2", "disfa", "auto", **KW)


def test_named_sets_are_checked_and_empty_means_none_where_allowed(no_real_copies, capsys):
    assert side_or_standin("affwild2", "disfa", "synthau-affwild2", **KW) == "synthau-affwild2"
    assert side_or_standin("affwild2", "synthau-disfa", "affwild2", **KW) == "affwild2"   # named: not looked up
    assert side_or_standin("affwild2", "disfa", "", **KW) == ""
    assert side_or_standin("affwild2", "disfa", None, **KW) is None
    with pytest.raises(ValueError, match="unknown dataset 'affwild'"):
        side_or_standin("affwild2", "disfa", "affwild", **KW)
    with pytest.raises(ValueError, match="unknown dataset ''"):
        side_or_standin("afew_va", "bp4d", "", what="PIAP-DF's landmark_set", param="landmark_set", none_ok=False)
    with pytest.raises(ValueError, match="not a real dataset"):
        side_or_standin("synthau-affwild2", "disfa", **KW)
    assert capsys.readouterr().out == ""
