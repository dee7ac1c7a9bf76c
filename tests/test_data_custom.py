"""A researcher's own AU dataset declared in the manifest: the table reader, entry validation, folds,
the QA diagnoses and `aukit data check`."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from aukit.data import catalog, labelio, manifest, splits
from aukit.data.labelio import LabelFormatError
from aukit.data.schema import ManifestError

IMG = np.full((8, 8, 3), 128, np.uint8)
BASE = {"layout": "table", "description": "a lab's own set",
        "patterns": {"frames": "frames/{subject}/{sequence}/{frame}.jpg",
                     "labels": "labels/{subject}_{sequence}.csv"},
        "label_kind": "intensity", "intensity_aus": [6, 12], "invalid_code": 9}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def use(tmp_path, monkeypatch, name="mylab", **changes):
    """A copy of the repository's manifest with entry ``name`` (BASE updated by ``changes``, None drops a
    key) rooted at tmp_path/lab; returns the lab root."""
    e = {**BASE, "root": str(tmp_path / "lab"), **changes}
    e = {k: v for k, v in e.items() if v is not None}
    m = yaml.safe_load(manifest.MANIFEST_PATH.read_text())
    m[name] = e
    path = tmp_path / f"manifest_{len(list(tmp_path.glob('manifest_*')))}.yaml"
    path.write_text(yaml.safe_dump(m, sort_keys=False))
    monkeypatch.setenv("AUKIT_MANIFEST", str(path))
    return tmp_path / "lab"


def images(root, subject, sequence, frames, pad=0):
    d = root / "frames" / subject / sequence
    d.mkdir(parents=True, exist_ok=True)
    for n in frames:
        cv2.imwrite(str(d / f"{n:0{pad}d}.jpg"), IMG)


def csv(root, subject, sequence, header, rows):
    d = root / "labels"
    d.mkdir(parents=True, exist_ok=True)
    text = ",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    (d / f"{subject}_{sequence}.csv").write_text(text)


def lab(root, subjects=("P1", "P2", "P3"), n=6, header=("frame", "AU06", "AU12"), value=lambda f: [f % 6, 2]):
    for s in subjects:
        images(root, s, "S1", range(1, n + 1))
        csv(root, s, "S1", header, [[f, *value(f)] for f in range(1, n + 1)])


def test_table_intensity_reads_aus_and_derives_occurrence(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    lab(root)
    df = catalog.index("mylab")
    assert list(df.columns[:4]) == labelio.INDEX_COLUMNS
    assert {"AU06", "AU12", "occ_AU06", "occ_AU12"} <= set(df.columns)
    p1 = df[df.subject == "P1"]
    assert p1["frame"].tolist() == [1, 2, 3, 4, 5, 6]
    assert p1["AU06"].tolist() == [1, 2, 3, 4, 5, 0]          # 2-5 kept as intensities, not NaN
    assert p1["occ_AU06"].tolist() == [1, 1, 1, 1, 1, 0]      # occurrence: value >= 1
    assert df.attrs["qa"]["out_of_range"] == 0
    assert manifest.dataset_aus("mylab") == {"intensity": (6, 12), "occurrence": (6, 12)}


def test_table_occurrence_kind_padding_and_au_name_forms(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[1, 6, 12])
    images(root, "P1", "S1", range(1, 4), pad=4)              # 0001.jpg ...
    csv(root, "P1", "S1", ["Frame", "AU1", "AU_06", "au12"], [[1, 1, 0, 1], [2, 0, 1, 9], [3, 1, 1, 0]])
    df = catalog.index("mylab")
    assert df["frame"].tolist() == [1, 2, 3]
    assert df["occ_AU01"].tolist() == [1, 0, 1]
    assert np.isnan(df["occ_AU12"].iloc[1])                   # 9: the invalid code
    assert not [c for c in df.columns if c.startswith("AU")]  # no intensity columns for 0/1 labels


def test_invalid_code_list_and_frame_offset(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, invalid_code=[9, 99], frame_offset=1)
    images(root, "P1", "S1", range(1, 4))
    csv(root, "P1", "S1", ["frame", "AU06", "AU12"], [[0, 99, 1], [1, 9, 2], [2, 3, 0]])  # label 0 = image 1
    df = catalog.index("mylab")
    assert df["frame"].tolist() == [1, 2, 3]
    assert np.isnan(df["AU06"].iloc[0]) and np.isnan(df["AU06"].iloc[1]) and df["AU06"].iloc[2] == 3
    assert df.attrs["qa"]["invalid_codes"] == 2 and df.attrs["qa"]["label_without_frame"] == 0


def test_empty_cell_is_refused_with_file_line_and_the_invalid_code(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    images(root, "P1", "S1", range(1, 3))
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "P1_S1.csv").write_text("frame,AU06,AU12\n1,0,1\n2,,1\n")
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:3: empty field.*write the invalid code \(9\)"):
        catalog.index("mylab")
    (root / "labels" / "P1_S1.csv").write_text("frame,AU06,AU12\n1,0,1\n2,NA,1\n")
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:3: .*'NA'.*write the invalid code"):
        catalog.index("mylab")


def test_csv_without_frame_column_is_refused_naming_file_and_header(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    lab(root, subjects=("P1",), header=("AU01", "AU06", "AU12"), value=lambda f: [1, 2])
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:1: no frame column 'frame' in the header AU01,AU06,AU12"):
        catalog.index("mylab")


def test_frame_column_named_in_the_entry(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, frame_column="img")
    lab(root, subjects=("P1",), header=("img", "AU06", "AU12"))
    assert len(catalog.index("mylab")) == 6


def test_au_columns_must_match_the_entry_or_are_taken_and_noted(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, intensity_aus=[6, 12, 25])
    lab(root, subjects=("P1",))
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:1: .*no column for AU 25"):
        catalog.index("mylab")
    use(tmp_path, monkeypatch, intensity_aus=None)
    df = catalog.index("mylab")
    assert {"AU06", "AU12"} <= set(df.columns)
    assert any(n.startswith("aus_from_csv: intensity_aus lists no AU") for n in df.attrs["qa"]["notes"])


def test_bp4d_occurrence_csv_without_frame_column_is_refused(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, layout="bp4d", label_kind=None, intensity_aus=None, occurrence_aus=[1, 2],
               patterns={"frames": "2D/{subject}/{task}/{frame}.jpg",
                         "occurrence": "AU_OCC/{subject}_{task}.csv"})
    d = root / "2D" / "P1" / "T1"
    d.mkdir(parents=True)
    for n in (1, 2):
        cv2.imwrite(str(d / f"{n}.jpg"), IMG)
    (root / "AU_OCC").mkdir()
    (root / "AU_OCC" / "P1_T1.csv").write_text("1,2\n1,0\n0,1\n")
    with pytest.raises(LabelFormatError, match=r"P1_T1.csv:1: column 1 is '1', an AU"):
        catalog.index("mylab")
    (root / "AU_OCC" / "P1_T1.csv").write_text("frame,1,2\n1,1,0\n")      # frame 2 has no label row
    df = catalog.index("mylab")
    assert df["occ_AU01"].tolist() == [1]
    assert any(n.startswith("frame_without_label: ") for n in df.attrs["qa"]["notes"])
    assert not any(n.startswith("info: ") for n in df.attrs["qa"]["notes"])   # not BP4D's coding-convention text


def test_unknown_key_in_entry_is_an_error_with_a_suggestion(tmp_path, monkeypatch):
    use(tmp_path, monkeypatch, intesity_aus=[6])
    with pytest.raises(ManifestError, match=r"manifest_0.yaml: entry 'mylab': unknown key 'intesity_aus' "
                                            r"\(did you mean 'intensity_aus'\?\)"):
        manifest.entry("mylab")
    use(tmp_path, monkeypatch, patterns={**BASE["patterns"], "lables": "x.csv"})
    with pytest.raises(ManifestError, match=r"unknown key of 'patterns' 'lables' \(did you mean 'labels'\?\)"):
        manifest.entry("mylab")


def test_intensity_aus_with_occurrence_labels_is_an_error(tmp_path, monkeypatch):
    use(tmp_path, monkeypatch, label_kind="occurrence")
    with pytest.raises(ManifestError, match=r"entry 'mylab': intensity_aus \[6, 12\] but label_kind: occurrence"):
        manifest.entry("mylab")
    use(tmp_path, monkeypatch, layout="bp4d", label_kind=None, patterns={"frames": "{subject}/{task}/{frame}.jpg"})
    with pytest.raises(ManifestError, match=r"intensity_aus \[6, 12\] but no patterns.intensity"):
        manifest.entry("mylab")


def test_invalid_code_list_in_bp4d_reader_does_not_crash():
    v = labelio.clean_codes(np.array([0, 9, 99, 3.0]), invalid=[9, 99], lo=0, hi=5, qa=labelio.QA(), subject="s")
    assert np.isnan(v[1]) and np.isnan(v[2]) and v[3] == 3


def test_folds_given_in_the_entry(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1"], "part2": ["P2"], "part3": ["P3"]})
    lab(root)
    assert splits.folds("mylab") == {"part1": ["P1"], "part2": ["P2"], "part3": ["P3"]}
    d = splits.describe_fold("mylab", 2)
    assert d["train"] == ["P1", "P3"] and d["test"] == ["P2"] and "entry 'mylab'" in d["source"]


def test_bad_folds_name_the_offenders(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1", "P2"], "part2": ["P2"], "part3": ["P3"]})
    with pytest.raises(ManifestError, match=r"in two: P2 \(part1 and part2\)"):
        manifest.entry("mylab")
    use(tmp_path, monkeypatch, folds={"part1": ["P1"], "part2": ["P2"], "part3": ["P3"]})
    lab(root, subjects=("P1", "P2", "P3", "P4"))
    with pytest.raises(ManifestError, match=r"in none: P4"):
        splits.folds("mylab", subjects=["P1", "P2", "P3", "P4"])


def test_round_robin_fold_is_described(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    lab(root)
    d = splits.describe_fold("mylab", 1)
    assert d["test"] == ["P1"] and d["train"] == ["P2", "P3"] and d["source"].startswith("round robin")


def test_shifted_labels_are_diagnosed(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    images(root, "P1", "S1", range(1, 21))
    csv(root, "P1", "S1", ["frame", "AU06", "AU12"], [[f, 1, 0] for f in range(0, 20)])   # numbered from 0
    notes = catalog.index("mylab").attrs["qa"]["notes"]
    assert any("labels look shifted by 1 frames; set frame_offset: 1 in entry 'mylab'" in n for n in notes)
    assert catalog.index  # the offset, once set, reads every frame
    use(tmp_path, monkeypatch, frame_offset=1)
    df = catalog.index("mylab")
    assert len(df) == 20 and not any(n.startswith("shifted_labels") for n in df.attrs["qa"]["notes"])


def test_occurrence_column_of_intensities_says_so(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6, 12])
    lab(root, subjects=("P1",), value=lambda f: [f % 6, 3])
    notes = catalog.index("mylab").attrs["qa"]["notes"]
    assert any(n.startswith("label_kind: ") and "these look like intensities: label_kind: intensity" in n
               for n in notes)


def test_data_check_lists_and_checks_the_own_dataset(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch)
    lab(root)
    images(root, "P1", "S2", range(0, 6))
    csv(root, "P1", "S2", ["frame", "AU06", "AU12"], [[f, 0, 1] for f in range(1, 7)])  # frames 0-5, labels 1-6
    assert main(["data", "check", "mylab"]) == 1                        # runs refuse the shifted P1/S2
    out = capsys.readouterr().out
    assert "mylab" in out and "unusable" in out
    # P1/S2 alone is shifted (P1..P3/S1 match): its file is named, no entry-wide frame_offset advised
    assert "1 of the 4 sequences (P1/S2): labels look shifted by -1 frames, the other 3 do not" in out
    assert "set frame_offset" not in out
    assert "a dataset of your own (layout table); folds: round robin" in out
    assert "mylab" in manifest.custom_datasets()
    from aukit.data.datacheck import check
    assert "mylab" in check()["dataset"].tolist()


def test_data_check_names_a_typo_and_exits_1(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    use(tmp_path, monkeypatch, frame_ofset=1)
    assert main(["data", "check", "mylab"]) == 1
    assert "unknown key 'frame_ofset' (did you mean 'frame_offset'?)" in capsys.readouterr().out


def test_an_entry_without_the_layouts_patterns_is_refused_when_read(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns={"frames": BASE["patterns"]["frames"]})
    lab(root, subjects=("P1",))
    assert manifest.dataset_aus("mylab")["intensity"] == (6, 12)      # the AUs alone: the methods' interface
    with pytest.raises(ManifestError, match=r"entry 'mylab': layout table needs patterns.labels"):
        catalog.index("mylab")


def _bp4d_lab(tmp_path, monkeypatch, **changes):
    root = use(tmp_path, monkeypatch, layout="bp4d", label_kind=None, intensity_aus=None, occurrence_aus=[1, 2],
               patterns={"frames": "2D/{subject}/{task}/{frame}.jpg", "occurrence": "AU_OCC/{subject}_{task}.csv"},
               **changes)
    d = root / "2D" / "P1" / "T1"
    d.mkdir(parents=True, exist_ok=True)
    for n in range(1, 11):
        cv2.imwrite(str(d / f"{n}.jpg"), IMG)
    (root / "AU_OCC").mkdir(exist_ok=True)
    (root / "AU_OCC" / "P1_T1.csv").write_text("frame,1,2\n" + "".join(f"{f},1,0\n" for f in range(0, 10)))
    return root


def test_bp4d_layout_copy_shifted_by_one_is_diagnosed_and_frame_offset_fixes_it(tmp_path, monkeypatch):
    _bp4d_lab(tmp_path, monkeypatch)
    notes = catalog.index("mylab").attrs["qa"]["notes"]
    assert any("labels look shifted by 1 frames; set frame_offset: 1 in entry 'mylab'" in n for n in notes)
    _bp4d_lab(tmp_path, monkeypatch, frame_offset=1)
    df = catalog.index("mylab")
    assert df["frame"].tolist() == list(range(1, 11)) and df.attrs["qa"]["label_without_frame"] == 0


def test_bp4d_layout_occurrence_csv_of_intensities_says_so(tmp_path, monkeypatch):
    root = _bp4d_lab(tmp_path, monkeypatch)
    (root / "AU_OCC" / "P1_T1.csv").write_text("frame,1,2\n" + "".join(f"{f},{f % 6},9\n" for f in range(1, 11)))
    df = catalog.index("mylab")
    hint = [n for n in df.attrs["qa"]["notes"] if n.startswith("label_kind: ")]
    assert len(hint) == 1 and "P1_T1.csv: 7 of 9 nonzero values (1) are 2-5: these look like intensities: this " \
                              "layout reads intensities from patterns.intensity" in hint[0] and "'mylab'" in hint[0]
    assert df.attrs["qa"]["out_of_range"] == 7                                # each 2-5 lost as 0/1


def test_unknown_keys_are_named_together(tmp_path, monkeypatch):
    use(tmp_path, monkeypatch, invalid_codes=[9], fold={"part1": ["P1"]})
    with pytest.raises(ManifestError, match=r"unknown key 'invalid_codes' \(did you mean 'invalid_code'\?\), "
                                            r"unknown key 'fold' \(did you mean 'folds'\?\)"):
        manifest.entry("mylab")


def _disfa_lab(tmp_path, monkeypatch, first: int, n: int = 12, **changes):
    """mylab in DISFA's layout: one video of ``n`` frames, AU1 and AU12 label files numbering them from ``first``
    (AU1's value is the row's position mod 6, so a label read on the wrong frame shows)."""
    from test_data_fixtures import write_video
    root = use(tmp_path, monkeypatch, layout="disfa", label_kind=None, invalid_code=None, intensity_aus=[1, 12],
               occurrence_threshold=2, patterns={"video": "Videos/{subject}.avi",
                                                 "labels": "Labels/{subject}/{subject}_au{au}.txt"}, **changes)
    write_video(root / "Videos" / "P1.avi", [np.full((16, 16, 3), 20 * k, np.uint8) for k in range(n)])
    for au in (1, 12):
        p = root / "Labels" / "P1" / f"P1_au{au}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"{first + k},{k % 6 if au == 1 else 2}\n" for k in range(n)))
    return root


def test_disfa_layout_copy_shifted_by_one_is_diagnosed_and_frame_offset_fixes_it(tmp_path, monkeypatch):
    _disfa_lab(tmp_path, monkeypatch, first=2)            # the coders' row 2 is the video's first frame
    df = catalog.index("mylab")
    assert any("labels look shifted by -1 frames; set frame_offset: -1 in entry 'mylab'" in n
               for n in df.attrs["qa"]["notes"])
    _disfa_lab(tmp_path, monkeypatch, first=2, frame_offset=-1)
    df = catalog.index("mylab")
    assert df["AU01"].tolist() == [k % 6 for k in range(12)] and df["source"].str.endswith("#0").iloc[0]
    assert df.attrs["qa"]["label_without_frame"] == df.attrs["qa"]["frame_without_label"] == 0
    assert not any(n.startswith("shifted_labels") for n in df.attrs["qa"]["notes"])


def test_disfa_layout_copy_numbered_from_0_is_refused_with_the_offset_that_reads_it(tmp_path, monkeypatch):
    _disfa_lab(tmp_path, monkeypatch, first=0)
    with pytest.raises(LabelFormatError, match=r"P1_au1.txt:1: frame 0: .*renumber it, or set frame_offset: 1 in "
                                               r"entry 'mylab'"):
        catalog.index("mylab")
    _disfa_lab(tmp_path, monkeypatch, first=0, frame_offset=1)
    df = catalog.index("mylab")
    assert df["frame"].tolist() == list(range(1, 13)) and df["AU01"].tolist() == [k % 6 for k in range(12)]


def test_an_incomplete_own_copy_is_not_said_to_miss_a_paper_protocol(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, folds={"part1": ["P1", "P4"], "part2": ["P2"], "part3": ["P3"]})
    lab(root)                                                      # P4 is in the folds, not in the copy
    with pytest.raises(splits.IncompleteCopy) as err:
        splits.check_copy("mylab", 2)
    msg = str(err.value)
    assert "paper" not in msg and msg.startswith("mylab fold 2: this copy lacks 1 of 3 training and 0 of 1 test")
    assert "it would train and test on part of the fold its parts define (entry 'mylab''s folds in " in msg
    assert "or take the missing subjects out of the entry's folds in " in msg
