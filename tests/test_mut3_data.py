"""Mutation audit round 3, aukit.data.completeness and splits.copy_gaps / check_present: what makes a real
copy incomplete, and what does not."""
import numpy as np
import pandas as pd
import pytest

from aukit.data import completeness, splits

EVERY_BP4D = [s for k in ("part1", "part2", "part3") for s in splits.BP4D_PARTS[k]]


def test_an_index_without_au_columns_has_every_subject_labelled():
    """A side set read without labels: nothing to look at, so no subject is 'unlabelled'."""
    idx = pd.DataFrame({"subject": ["A", "B", "A"], "frame": [1, 1, 2]})
    assert completeness.labelled_subjects(idx) == {"A", "B"}
    assert splits.copy_gaps("bp4d", idx)["unlabelled"] == []


def test_a_side_set_with_empty_au_columns_has_no_unlabelled_subject():
    """Aff-Wild2 carries no intensity labels: its NaN AU columns do not make its subjects 'unlabelled'
    (only an AU-coded dataset, one with intensity_aus in the manifest, is checked)."""
    idx = pd.DataFrame({"subject": ["v1", "v2"], "sequence": ["a", "b"], "AU06": [np.nan, np.nan]})
    assert completeness.labelled_subjects(idx) == set()
    assert splits.copy_gaps("affwild2", idx)["unlabelled"] == []
    assert splits.copy_gaps("disfa", idx)["unlabelled"] == ["v1", "v2"]     # the same frames in DISFA: none count


def test_tasks_per_subject_only_for_a_whole_ratio_and_never_for_synthau(monkeypatch):
    expected = {"x": {"expected": {"sequences": 50, "subjects": 12}},        # 4.17 per subject: no shared count
                "y": {"expected": {"sequences": 48, "subjects": 12}},        # 4
                "synthau-y": {"expected": {"sequences": 48, "subjects": 12}}}
    monkeypatch.setattr(completeness, "entry", lambda d: expected[d])
    assert completeness.tasks_per_subject("x") is None
    assert completeness.tasks_per_subject("y") == 4
    assert completeness.tasks_per_subject("synthau-y") is None          # generated at any size


def test_a_task_of_a_subject_outside_the_split_is_not_the_folds(monkeypatch):
    """X999 is in the copy but in no part of BP4D's split: its missing task does not touch fold 1."""
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    train, test = splits.fold_subjects("bp4d", 1)
    splits.check_present("bp4d", 1, train, test, [*EVERY_BP4D, "X999"], {"sequences": ["X999/T1"]})
    with pytest.raises(splits.IncompleteCopy, match=r"lacks 1 sequence of the fold's subjects \(F001/T1\)"):
        splits.check_present("bp4d", 1, train, test, [*EVERY_BP4D, "X999"], {"sequences": ["X999/T1", "F001/T1"]})


def test_an_unlabelled_subjects_tasks_are_not_counted_twice(monkeypatch):
    """F002 has frames but no label: it is a missing subject; its task gaps are not listed as sequences too."""
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    monkeypatch.setattr(splits, "PARTIAL", [])
    train, test = splits.fold_subjects("bp4d", 1)
    splits.check_present("bp4d", 1, train, test, EVERY_BP4D, {"unlabelled": ["F002"], "sequences": ["F002/T3"]})
    assert splits.PARTIAL == ["bp4d fold 1: this copy lacks 0 of 27 training and 1 of 14 test subjects (F002); "
                              "F002: frames without any label file"]


def test_bp4d_unlabelled_is_not_refused_for_having_no_labels(monkeypatch):
    """bp4d_unlabelled (part_of bp4d) is unlabelled by definition: its index's NaN AUs are no gap."""
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    idx = pd.DataFrame({"subject": EVERY_BP4D, "sequence": ["T1"] * len(EVERY_BP4D), "AU06": np.nan})
    train, test = splits.fold_subjects("bp4d_unlabelled", 2, present=idx)
    assert test == splits.BP4D_PARTS["part2"] and len(train) == 27
    assert splits.USED == {"bp4d_unlabelled": 2}


@pytest.mark.parametrize("value", ["true", "yes", "TRUE"])
def test_allow_partial_takes_true_and_yes_too(monkeypatch, value):
    monkeypatch.setenv(splits.ALLOW_PARTIAL, value)
    monkeypatch.setattr(splits, "PARTIAL", [])
    train, test = splits.fold_subjects("bp4d", "fera")
    splits.check_present("bp4d", "fera", train, test, [s for s in EVERY_BP4D if s != "M002"])
    assert splits.PARTIAL == ["bp4d the FERA2015 split: this copy lacks 0 of 21 training and 1 of 20 test subjects "
                              "(M002)"]


def test_the_same_partial_copy_is_noted_once(monkeypatch):
    """Each loader of a run checks its fold: the report must name the partial copy once, not per loader."""
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    monkeypatch.setattr(splits, "PARTIAL", [])
    train, test = splits.fold_subjects("bp4d", 3)
    for _ in range(3):
        splits.check_present("bp4d", 3, train, test, [s for s in EVERY_BP4D if s != "F001"])
    assert splits.PARTIAL == ["bp4d fold 3: this copy lacks 1 of 28 training and 0 of 13 test subjects (F001)"]
