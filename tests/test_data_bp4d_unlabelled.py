"""Dataset bp4d_unlabelled: the BP4D images without any AU code, which the bp4d index leaves out
(PIAP-DF §4.1.1: "140,000 labeled frames and 240,000 unlabeled frames"; §3.3 puts them in DF's x_u).
Trees come from test_data_fixtures.write_bp4d, with images added that no label file covers."""
from __future__ import annotations

import os

import numpy as np
import pytest

from aukit import cli
from aukit import data as D
from aukit.data import manifest
from aukit.data.bp4d import NoUnlabelledFrames
from aukit.data.labelio import LabelFormatError
from test_data_fixtures import _jpg, write_bp4d

SMALL = np.full((32, 32, 3), 90, np.uint8)
# images that no label file of their sequence lists: (subject, task, file name, frame)
UNCODED = [("F001", "T1", "740.jpg", 740), ("F001", "T1", "741.jpg", 741), ("F001", "T2", "0020.jpg", 20),
           ("M001", "T1", "9.jpg", 9)]


def _key(df):
    return set(zip(df["subject"], df["sequence"], df["frame"].astype(int)))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No dataset root from the environment but what a test sets (no SynthAU either)."""
    for k in [k for k in os.environ if k.startswith("AUKIT_DATA")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("AUKIT_SYNTHAU", str(tmp_path / "no_synthau"))


@pytest.fixture
def tree(tmp_path):
    """write_bp4d's copy plus: four images outside every label file (UNCODED); F001/T1 frame 742 whose
    only label row is in the AU06 intensity file (labelled: it is bp4d's); a sequence M001/T2 with
    images and no label file at all (bp4d keeps it, AUs NaN)."""
    root = write_bp4d(tmp_path / "data" / "BP4D", faces=False)
    for subject, task, name, _ in UNCODED:
        _jpg(root / f"2D/{subject}/{task}/{name}", SMALL)
    _jpg(root / "2D/F001/T1/742.jpg", SMALL)
    p = root / "AUCoding/AU_INT/AU06/F001_T1_AU06.csv"
    p.write_text(p.read_text() + "742,1\n")
    for f in (1, 2):
        _jpg(root / f"2D/M001/T2/{f}.jpg", SMALL)
    return root


def test_it_holds_exactly_the_images_bp4d_leaves_out_with_nan_aus(tree):
    bp4d, unl = D.index("bp4d", tree), D.index("bp4d_unlabelled", tree)
    assert _key(unl) == {(s, t, f) for s, t, _, f in UNCODED}
    assert not _key(unl) & _key(bp4d)                                    # never both
    # the images bp4d counts as "without any label row" are these, and every image is in one of the two
    assert bp4d.attrs["qa"]["frame_without_label"] == len(unl)
    on_disk = {(p.parts[-3], p.parts[-2], int(p.stem)) for p in (tree / "2D").rglob("*.jpg")}
    assert _key(unl) | _key(bp4d) == on_disk
    assert ("F001", "T1", 742) in _key(bp4d) and ("M001", "T2", 1) in _key(bp4d)   # one intensity row; no file
    # bp4d's columns, every AU NaN; subject/sequence/frame/source as bp4d's
    assert list(unl.columns) == list(bp4d.columns)
    au = D.au_columns(unl) + D.au_columns(unl, occurrence=True)
    assert len(au) == 5 + 12 and unl[au].isna().all().all() and (unl[au].dtypes == np.float32).all()
    assert unl["frame"].dtype == np.int64
    row = unl[(unl.sequence == "T2")].iloc[0]
    assert row["subject"] == "F001" and row["frame"] == 20 and row["source"].endswith("2D/F001/T2/0020.jpg")
    assert unl.attrs["dataset"] == "bp4d_unlabelled"


def test_label_problems_are_bp4ds_to_count_and_a_bad_file_stops_both(tree):
    """The labels are parsed to know which images are coded: their counts stay in the bp4d index (no
    problem shown twice by `aukit data check`); a file that does not parse is the same error."""
    unl = D.index("bp4d_unlabelled", tree)
    qa = unl.attrs["qa"]
    assert qa["invalid_codes"] == qa["missing_label_file"] == qa["frame_without_label"] == 0
    assert qa["label_without_frame"] == 0
    assert any(n.startswith("info: ") and "in dataset bp4d's index" in n for n in qa["notes"])
    p = tree / "AUCoding/AU_OCC/F001_T1.csv"
    p.write_text(p.read_text().replace("\n731,", "\n731,x", 1))
    for name in ("bp4d", "bp4d_unlabelled"):
        with pytest.raises(LabelFormatError, match=r"F001_T1\.csv:3:"):
            D.index(name, tree)


def test_it_is_found_where_bp4d_is_and_shares_its_folds(tree, clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AUKIT_DATA", str(tree.parent))             # .../data/BP4D, found as bp4d is
    assert manifest.resolve_root("bp4d_unlabelled") == manifest.resolve_root("bp4d") == tree.resolve()
    assert manifest.entry("bp4d_unlabelled")["patterns"] == manifest.entry("bp4d")["patterns"]
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(tree))
    assert dict(manifest.candidate_roots("bp4d_unlabelled"))["env AUKIT_DATA_BP4D (bp4d's root)"] == tree
    other = write_bp4d(tmp_path / "other", faces=False)
    monkeypatch.setenv("AUKIT_DATA_BP4D_UNLABELLED", str(other))   # its own root, when given, first
    assert manifest.resolve_root("bp4d_unlabelled") == other.resolve()
    monkeypatch.delenv("AUKIT_DATA_BP4D_UNLABELLED")
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(tmp_path / "typo"))  # bp4d's root set on purpose: no fallback
    with pytest.raises(manifest.RootNotFound, match="AUKIT_DATA_BP4D"):
        manifest.resolve_root("bp4d_unlabelled")
    monkeypatch.delenv("AUKIT_DATA_BP4D")
    monkeypatch.setenv("AUKIT_DATA", str(tmp_path / "nothing"))
    with pytest.raises(manifest.DatasetNotFound, match="set env AUKIT_DATA_BP4D=PATH") as e:
        manifest.resolve_root("bp4d_unlabelled")
    assert "SynthAU has no stand-in" in str(e.value)
    assert D.folds("bp4d_unlabelled") == D.folds("bp4d")
    assert D.fold_subjects("bp4d_unlabelled", 2) == D.fold_subjects("bp4d", 2)
    assert "bp4d_unlabelled" in manifest.DATASETS and "synthau-bp4d_unlabelled" not in manifest.DATASETS


def test_data_check_shows_it_and_says_when_the_copy_has_none(tree, clean_env, monkeypatch, capsys):
    monkeypatch.setenv("AUKIT_DATA", str(tree.parent))
    row = D.check(["bp4d_unlabelled"]).iloc[0]
    assert row["status"] == "ok" and row["frames"] == len(UNCODED) and row["subjects"] == 2
    assert "have no frame here" in row["info"] and not row["problems"]     # bp4d's check names missing subjects
    assert cli.main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert f"bp4d_unlabelled: root {tree.resolve()} (from env AUKIT_DATA (bp4d's root))" in out
    for _, _, name, _ in UNCODED:                                  # a copy of the coded frames only
        next((tree / "2D").rglob(name)).unlink()
    with pytest.raises(NoUnlabelledFrames, match="every image under .* has a label row"):
        D.index("bp4d_unlabelled", tree)
    row = D.check(["bp4d_unlabelled"]).iloc[0]
    assert row["status"] == "empty" and row["frames"] == 0 and "no unlabelled BP4D frames" in row["info"]
    assert cli.main(["data", "check"]) == 0                         # not an error unless asked for by name
    assert cli.main(["data", "check", "bp4d_unlabelled"]) == 1
    assert "holds no unlabelled BP4D frames" in capsys.readouterr().out


def test_prepare_builds_its_store(tmp_path):
    """`aukit prepare bp4d_unlabelled` goes through the store machinery as any dataset: its own store,
    the unlabelled frames aligned, AUs NaN."""
    from test_data_fixtures import face_image
    root = write_bp4d(tmp_path / "bp4d", faces=True)
    for k, f in enumerate((740, 741)):
        _jpg(root / f"2D/F001/T1/{f}.jpg", face_image(2 * k))
    store = D.prepare("bp4d_unlabelled", "piap", root=root, workers=1, out=tmp_path / "cache", progress=False)
    assert store.dataset == "bp4d_unlabelled" and store.path.name.startswith("bp4d_unlabelled__piap256__")
    assert sorted(store.index["frame"]) == [740, 741]
    assert store.index[D.au_columns(store.index, occurrence=True)].isna().all().all()


def test_bp4ds_check_counts_its_uncoded_images_as_information_not_problems(tree, clean_env, monkeypatch):
    """BP4D codes a part of each task: `aukit data check bp4d` said 'problems: frame_without_label=240000'
    on every real copy, for the frames that are dataset bp4d_unlabelled."""
    monkeypatch.setenv("AUKIT_DATA", str(tree.parent))
    row = D.check(["bp4d"]).iloc[0]
    assert "frame_without_label" not in row["problems"]
    assert f"{len(UNCODED)} images without any label row are left out of this index" in row["info"]
    assert "bp4d_unlabelled" in row["info"]
