"""A dataset of the user's own whose ``folds:`` leave out one of the copy's subjects, or name one the copy
does not have (a typo): an error whenever the entry is used (a run's copy check, a loader's split, describe_fold,
`aukit data check`), naming the manifest, the entry and the subjects."""
from __future__ import annotations

import pytest

from aukit.data import splits
from aukit.data.schema import ManifestError
from test_data_custom import lab, use

PARTS = {"part1": ["P1"], "part2": ["P2"], "part3": ["P3"]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def test_a_subject_left_out_of_the_folds_stops_every_fold_of_a_run(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds=PARTS)
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    for fold in (1, 2, 3):
        with pytest.raises(ManifestError) as err:
            splits.check_copy("mylab", fold)
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path / 'manifest_0.yaml'}: entry 'mylab': ")
        assert "P4" in msg and "in none" in msg


def test_allow_partial_does_not_run_without_the_left_out_subject(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds=PARTS)
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    with pytest.raises(ManifestError, match="P4"):
        splits.check_copy("mylab", 1)


def test_a_loader_splitting_its_store_index_checks_the_folds(tmp_path, monkeypatch):
    from aukit.data import catalog
    root = use(tmp_path, monkeypatch, folds=PARTS)
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    idx = catalog.index("mylab")
    idx.attrs.clear()                                  # a store's index.csv: no reader notes
    with pytest.raises(ManifestError, match=r"entry 'mylab': .*P4"):
        splits.fold_subjects("mylab", 2, present=idx)


def test_describe_fold_checks_the_folds_against_the_copy(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds=PARTS)
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    with pytest.raises(ManifestError, match="P4"):
        splits.describe_fold("mylab", 1)


def test_a_typo_in_the_folds_is_named_with_the_subject_it_meant(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1"], "part2": ["P2"], "part3": ["P3", "p4"]})
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    with pytest.raises(ManifestError) as err:
        splits.check_copy("mylab", 3)
    msg = str(err.value)
    assert "entry 'mylab'" in msg and "paper" not in msg
    assert "'p4'" in msg and "did you mean 'P4'?" in msg


def test_a_fold_subject_the_copy_lacks_with_nothing_left_out_stays_an_incomplete_copy(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1", "P9"], "part2": ["P2"], "part3": ["P3"]})
    lab(root)
    with pytest.raises(splits.IncompleteCopy, match=r"\(P9\)"):
        splits.check_copy("mylab", 2)


def test_data_check_calls_the_entry_unusable_and_exits_1(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1"], "part2": ["P2"], "part3": ["P3", "p4"]})
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    assert main(["data", "check", "mylab"]) == 1
    out = capsys.readouterr().out
    assert "unusable" in out and "did you mean 'P4'?" in out
