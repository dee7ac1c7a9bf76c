"""Labels that look shifted in some sequences of a dataset of the user's own: the advice names those
sequences (an entry-wide frame_offset would shift the others), and a run refuses the copy until they are fixed."""
from __future__ import annotations

import pytest

from aukit.data import catalog, splits
from test_data_custom import csv, images, lab, use
from test_data_fixtures import face_image


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ
                if k.startswith("AUKIT_DATA") or k in ("AUKIT_MANIFEST", splits.ALLOW_PARTIAL)]:
        monkeypatch.delenv(key)


def _one_shifted(tmp_path, monkeypatch, **changes):
    """P1, P2, P3 as written (frames 1..20), P2's CSV numbered from 0."""
    root = use(tmp_path, monkeypatch, **changes)
    lab(root, subjects=("P1", "P3"), n=20)
    images(root, "P2", "S1", range(1, 21))
    csv(root, "P2", "S1", ["frame", "AU06", "AU12"], [[f, 1, 0] for f in range(0, 20)])
    return root


def _shift_notes(df) -> list[str]:
    return [n for n in df.attrs["qa"]["notes"] if n.startswith("shifted_labels: ")]


def test_one_shifted_sequence_of_three_is_told_to_fix_its_file_not_the_entry(tmp_path, monkeypatch):
    _one_shifted(tmp_path, monkeypatch)
    notes = _shift_notes(catalog.index("mylab"))
    assert len(notes) == 1
    assert "1 of the 3 sequences" in notes[0] and "(P2/S1)" in notes[0] and "the other 2 do not" in notes[0]
    assert "renumber" in notes[0] and "set frame_offset" not in notes[0]


def test_every_sequence_shifted_alike_keeps_the_entry_wide_offset(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    for s in ("P1", "P2"):
        images(root, s, "S1", range(1, 21))
        csv(root, s, "S1", ["frame", "AU06", "AU12"], [[f, 1, 0] for f in range(0, 20)])
    notes = _shift_notes(catalog.index("mylab"))
    assert len(notes) == 1 and "2 sequence(s) (P1/S1, P2/S1)" in notes[0]
    assert "set frame_offset: 1 in entry 'mylab'" in notes[0]


def test_a_run_refuses_a_copy_whose_labels_look_shifted(tmp_path, monkeypatch):
    _one_shifted(tmp_path, monkeypatch)
    with pytest.raises(ValueError) as err:
        splits.check_copy("mylab", 1)
    msg = str(err.value)
    assert msg.startswith("mylab: ") and "P2/S1" in msg and "shifted by 1 frames" in msg
    assert "aukit data check mylab" in msg and splits.ALLOW_PARTIAL in msg


def test_allow_partial_runs_on_the_shifted_labels_and_says_so(tmp_path, monkeypatch, capsys):
    _one_shifted(tmp_path, monkeypatch)
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    train, test = splits.check_copy("mylab", 1)
    assert test == ["P1"] and train == ["P2", "P3"]
    out = capsys.readouterr().out
    assert "WARNING" in out and "P2/S1" in out and "as written" in out


def test_data_check_calls_a_shifted_own_copy_unusable_as_runs_refuse_it(tmp_path, monkeypatch):
    from aukit.data import datacheck
    _one_shifted(tmp_path, monkeypatch)
    row = datacheck._check_one("mylab")
    assert row["status"] == "unusable" and "P2/S1" in row["problems"]
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")        # runs go on as written: data check says problems
    assert datacheck._check_one("mylab")["status"] == "problems"


def test_a_notebook_loading_its_fold_refuses_the_shifted_copy_too(tmp_path, monkeypatch):
    """A notebook run by hand (JupyterLab, no CLI pre-run check) splits the prepared store's index: the
    store keeps the index's notes, and the loader refuses the copy as `aukit run` does."""
    import cv2
    from aukit.data import prepare
    from aukit.methods.tas.data import load_data
    root = _one_shifted(tmp_path, monkeypatch)
    for jpg in (root / "frames").rglob("*.jpg"):           # faces, so that the store holds every frame
        cv2.imwrite(str(jpg), face_image(int(jpg.stem) % 5))
    store = prepare("mylab", "tas", workers=1, out=tmp_path / "cache", progress=False)
    assert len(store) == 59 and any("P2/S1" in n for n in store.index.attrs["qa"]["notes"])
    with pytest.raises(splits.ShiftedLabels, match="P2/S1"):
        load_data("mylab", 1, store=store)
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    assert sorted(load_data("mylab", 1, store=store).test_subjects) == ["P1"]
