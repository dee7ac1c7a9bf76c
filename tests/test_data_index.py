"""index(), folds, manifest roots and `data check` on tiny trees in the datasets' formats."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aukit import data as D
from aukit.data.splits import BP4D_PARTS, DISFA_PARTS
from aukit.data.labelio import LabelFormatError
from test_data_fixtures import write_aux, write_bp4d, write_disfa


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    d = tmp_path_factory.mktemp("trees")
    return {"bp4d": write_bp4d(d / "bp4d", faces=False), "disfa": write_disfa(d / "disfa", faces=False),
            "aux": write_aux(d / "aux")}


def _row(df, subject, sequence, frame):
    r = df[(df.subject == subject) & (df.sequence == sequence) & (df.frame == frame)]
    assert len(r) == 1, (subject, sequence, frame)
    return r.iloc[0]


def test_bp4d_index_values_and_codes(trees):
    df = D.index("bp4d", trees["bp4d"])
    assert list(df.columns[:4]) == ["subject", "sequence", "frame", "source"]
    # 6 + 4 + 4 frames with images and labels; frame 736 has labels only
    assert len(df) == 14 and 736 not in set(df.frame)
    assert df.frame.dtype == np.int64
    # both frame namings parse to the dataset's number
    assert _row(df, "F001", "T1", 732)["source"].endswith("2D/F001/T1/732.jpg")
    assert _row(df, "F001", "T2", 11)["source"].endswith("2D/F001/T2/0011.jpg")
    # intensity (no header CSV), 9 -> NaN
    assert _row(df, "F001", "T1", 733)["AU06"] == 3.0
    assert np.isnan(_row(df, "F001", "T1", 731)["AU06"])
    assert _row(df, "F001", "T1", 731)["AU12"] == 2.0
    # the other intensity folder naming ('AU Intensity Codes3.0')
    assert _row(df, "M001", "T1", 1)["AU12"] == 5.0
    assert np.isnan(_row(df, "M001", "T1", 3)["AU12"])
    # occurrence (header CSV), 9 -> NaN
    assert _row(df, "F001", "T1", 731)["occ_AU01"] == 1.0
    assert np.isnan(_row(df, "F001", "T1", 733)["occ_AU01"])
    assert _row(df, "F001", "T1", 734)["occ_AU12"] == 0.0
    # all FERA intensity AUs exist as columns, NaN where no file
    assert {"AU06", "AU10", "AU12", "AU14", "AU17"} <= set(df.columns)
    assert df["AU17"].isna().all()
    qa = df.attrs["qa"]
    # 9s: AU01 at 733, AU12-occ at 736 (no image, still read), AU06 at 731, M001 AU12 at 3
    assert qa["invalid_codes"] == 4
    assert qa["per_subject"]["M001"]["invalid_codes"] == 1
    assert qa["label_without_frame"] == 1


def test_bp4d_malformed_line_names_file_and_line(tmp_path):
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    p = root / "AUCoding/AU_INT/AU06/F001_T1_AU06.csv"
    lines = p.read_text().splitlines()
    lines[2] = "732,x"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelFormatError, match=r"F001_T1_AU06\.csv:3:"):
        D.index("bp4d", root)
    lines[2] = "732"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelFormatError, match=r"F001_T1_AU06\.csv:3: expected 2 fields"):
        D.index("bp4d", root)


def test_bp4d_second_intensity_folder_is_named_not_merged(tmp_path):
    """A copy holding F001/T1's AU06 under both intensity folder names reads the first pattern's
    file (its value) and names the other as ignored, counted under F001."""
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    first = root / "AUCoding/AU_INT/AU06/F001_T1_AU06.csv"
    second = root / "AUCoding/AU Intensity Codes3.0/AU06/F001_T1_AU06.csv"
    second.parent.mkdir(parents=True, exist_ok=True)
    second.write_text(first.read_text().replace("733,3", "733,1"))
    df = D.index("bp4d", root)
    assert _row(df, "F001", "T1", 733)["AU06"] == 3.0
    qa = df.attrs["qa"]
    assert qa["per_subject"]["F001"]["ignored_file"] == 1
    note = [n for n in qa["notes"] if "second label file" in n]
    assert len(note) == 1 and str(second) in note[0] and "F001/T1 AU6" in note[0] and str(first) in note[0]


def test_bp4d_unreadable_folders_are_named(tmp_path, monkeypatch):
    """glob passes a folder it cannot list by without a word: a frame folder or a label folder
    with mode 000 is named as unreadable, not as missing. (Tests run as root, which reads any
    folder: the folders are emptied and os.access denies them, what another user would see.)"""
    import os
    from aukit.data import scan
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    frames, labels = root / "2D/F001/T1", root / "AUCoding/AU_INT/AU06"
    for f in [*frames.iterdir(), *labels.iterdir()]:
        f.unlink()
    real = os.access
    monkeypatch.setattr(scan.os, "access", lambda p, mode: Path(p) not in (frames, labels) and real(p, mode))
    notes = D.index("bp4d", root).attrs["qa"]["notes"]
    assert any(n.startswith("label_without_frame: F001/T1: label files but no images")
               and f"folder {frames} cannot be read: permission denied" in n for n in notes), notes
    assert any(n.startswith("missing_label_file: F001/T2: AUCoding/AU_INT/AU06/F001_T2_AU06.csv cannot be read")
               and f"permission denied on folder {labels}" in n for n in notes), notes
    assert any(n.endswith("AU_INT/AU12/F001_T2_AU12.csv is missing") for n in notes), notes


def test_disfa_index_video_and_label_mismatch(trees):
    df = D.index("disfa", trees["disfa"])
    # SN001 6/6, SN002 6 of 7 labels, SN010 5 labels for 6 video frames
    assert df.groupby("subject").size().to_dict() == {"SN001": 6, "SN002": 6, "SN010": 5}
    r = _row(df, "SN001", "LeftVideoSN001_comp", 4)
    assert r["AU01"] == 3.0 and r["occ_AU01"] == 1.0  # occurrence = intensity >= 2
    assert _row(df, "SN001", "LeftVideoSN001_comp", 2)["occ_AU01"] == 0.0
    path, k = D.parse_source(r["source"])
    assert path.name == "LeftVideoSN001_comp.avi" and k == 3
    qa = df.attrs["qa"]["per_subject"]
    assert qa["SN002"]["label_without_frame"] == 1
    assert qa["SN010"]["frame_without_label"] == 1
    assert sorted(D.au_columns(df)) == [f"AU{a:02d}" for a in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)]


def test_aux_sets(trees):
    aux = trees["aux"]
    aw = D.index("affwild2", aux / "affwild2")
    assert len(aw) == 6 and aw.attrs["qa"]["invalid_codes"] == 1
    assert np.isnan(_row(aw, "vid1", "vid1", 1)["occ_AU04"]) and _row(aw, "vid1", "vid1", 3)["occ_AU04"] == 1
    assert aw[aw.subject == "vid2"]["occ_AU01"].isna().all()
    en = D.index("emotionet", aux / "emotionet")
    assert np.isnan(_row(en, "a", "a", 0)["occ_AU02"]) and _row(en, "b", "b", 0)["occ_AU02"] == 1
    cw = D.index("casia_webface", aux / "casia_webface")
    assert sorted(cw.subject.unique()) == ["0000045", "0000099"] and len(cw) == 4
    av = D.index("afew_va", aux / "afew_va")
    assert _row(av, "002", "002", 2)["valence"] == -2
    lm = D.auxsets.afew_va_landmarks(av)
    assert lm.shape == (6, 68, 2) and lm[2, 5].tolist() == [5.0, 2.0]


def test_missing_root_error_names_manifest_and_synthau(monkeypatch, tmp_path):
    monkeypatch.delenv("AUKIT_DATA", raising=False)
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(tmp_path / "nowhere"))
    with pytest.raises(D.DatasetNotFound) as e:
        D.index("bp4d")
    msg = str(e.value)
    assert "data_manifest.yaml" in msg and "AUKIT_DATA_BP4D" in msg and str(tmp_path / "nowhere") in msg
    assert "aukit synth" in msg and "synthau-bp4d" in msg
    assert "set env AUKIT_DATA_BP4D=PATH" in msg and "--root PATH)" in msg  # --root only where a command has it


def test_roots_from_env(monkeypatch, trees):
    monkeypatch.delenv("AUKIT_DATA_DISFA", raising=False)
    monkeypatch.setenv("AUKIT_DATA", str(trees["disfa"].parent))
    assert len(D.index("disfa")) == 17


def test_folds_match_reference_and_are_subject_exclusive():
    f = D.folds("bp4d")
    assert f["part1"][:3] == ["F001", "M007", "F018"] and f["part3"][-1] == "F014"
    parts = [set(f[k]) for k in ("part1", "part2", "part3")]
    assert sum(map(len, parts)) == 41 and len(set.union(*parts)) == 41
    assert len(f["fera_train"]) == 21 and len(f["fera_test"]) == 20
    assert not set(f["fera_train"]) & set(f["fera_test"])
    assert "F023" in f["fera_train"] and "M018" in f["fera_test"]
    d = D.folds("disfa")
    assert sum(len(v) for v in d.values()) == 27 == len(set().union(*map(set, d.values())))
    assert d == {k: list(v) for k, v in DISFA_PARTS.items()}
    for k in (1, 2, 3):
        train, test = D.fold_subjects("bp4d", k)
        assert set(test) == set(BP4D_PARTS[f"part{k}"]) and not set(train) & set(test)
        assert len(train) + len(test) == 41
    assert D.fold_subjects("bp4d", "fera")[1] == f["fera_test"]
    with pytest.raises(ValueError, match="fold must be"):
        D.fold_subjects("disfa", 0)


def test_synthau_reads_same_formats_and_folds_from_meta(monkeypatch, tmp_path):
    tree = tmp_path / "synthau"
    write_bp4d(tree / "bp4d", faces=False)
    monkeypatch.setenv("AUKIT_SYNTHAU", str(tree))
    monkeypatch.delenv("AUKIT_DATA_SYNTHAU_BP4D", raising=False)
    df = D.index("synthau-bp4d")
    assert len(df) == 14 and df.attrs["dataset"] == "synthau-bp4d"
    # no meta.json: the tree is being generated (written last) or was interrupted; a split of the
    # subjects present so far trained a run on 9 of 12 subjects
    with pytest.raises(ValueError, match="has no meta.json: the SynthAU tree is being generated"):
        D.folds("synthau-bp4d")
    folds = {"bp4d": {"part1": ["F001"], "part2": [], "part3": ["M001"], "fera_train": ["F001"],
                      "fera_test": ["M001"]}}
    (tree / "meta.json").write_text(json.dumps({"folds": folds}))
    assert D.folds("synthau-bp4d") == folds["bp4d"]
    assert D.fold_subjects("synthau-bp4d", 3) == (["F001"], ["M001"])


def test_check_table(monkeypatch, trees, capsys):
    monkeypatch.setenv("AUKIT_DATA", str(trees["bp4d"].parent / "none"))
    t = D.print_check(["bp4d", "disfa"], roots={"disfa": trees["disfa"]})
    out = capsys.readouterr().out
    assert t.set_index("dataset").loc["bp4d", "status"] == "missing"
    row = t.set_index("dataset").loc["disfa"]
    assert row["found"] and row["subjects"] == 3 and row["frames"] == 17
    assert "3 subjects, expected 27" in row["problems"] and "label_without_frame=1" in row["problems"]
    # asked for by name: where it was looked for, not one word
    assert "dataset 'bp4d' not found" in out and f"tried env AUKIT_DATA: {trees['bp4d'].parent / 'none' / 'bp4d'}" in out


@pytest.mark.parametrize("text, header, ncols, clean", [
    ("0,1,2,4\n730,1,0,9\n731,0,1,1\n", True, None, True),                 # BP4D occurrence
    ("730 , 3\r\n\r\n731,4\r\n  732,\t5  \r\n", False, 2, True),             # spaces, CRLF, a blank line
    ("1 2\n2\t-3\n+3 4.0\n", False, 2, True),                                 # whitespace-separated, signs, 4.0
    ("730,1\n731,1.5\n", False, 2, True),                                     # not an integer: the same error
    ("730,1\n731 1,2\n", False, 2, False),                                    # a field too many: the line reader's error
])
def test_clean_table_fast_path_reads_what_the_line_reader_reads(tmp_path, monkeypatch, text, header, ncols, clean):
    """read_table's one-pass reading of a clean file gives the line-by-line reader's table, line
    numbers and errors (it hands every file it cannot read cleanly to that reader)."""
    from aukit.data import labelio
    p = tmp_path / "t.csv"
    p.write_bytes(text.encode())

    def read():
        try:
            names, t, lines = labelio.read_table(p, header=header, ncols=ncols)
            return names, t.tolist(), lines.tolist()
        except LabelFormatError as e:
            return str(e)

    real, taken = labelio._clean_rows, []
    monkeypatch.setattr(labelio, "_clean_rows", lambda lines, width: taken.append(real(lines, width)) or taken[-1])
    fast = read()
    assert (taken[0] is not None) == clean
    monkeypatch.setattr(labelio, "_clean_rows", lambda lines, width: None)
    assert read() == fast


def test_clean_table_fast_path_is_taken(tmp_path):
    from aukit.data import labelio
    rows = labelio._clean_rows(["730 , 3", "731,4\r", "732\t5"], 2)
    assert rows.tolist() == [[730, 3], [731, 4], [732, 5]]
    assert labelio._clean_rows(["730,,3"], 2) is None and labelio._clean_rows(["730,3,1"], 2) is None
    assert labelio._clean_rows(["730,1e3"], 2) is None                 # exponents: the line reader decides


def test_a_notebook_fold_of_minus_one_is_the_papers_split_for_the_dataset():
    """TAS and CPC report BP4D on the FERA2015 split: the default fold 1 trained a real BP4D run on a
    split whose table could not be compared with the paper's."""
    from aukit.data.splits import notebook_fold
    assert notebook_fold("tas", "bp4d", -1) == notebook_fold("cpc", "synthau-bp4d", -1) == "fera"
    assert notebook_fold("tas", "disfa", -1) == notebook_fold("cpc", "synthau-disfa", -1) == 1
    assert notebook_fold("tas", "bp4d", 0) == "fera" and notebook_fold("tas", "bp4d", 2) == 2


def test_a_copied_manifest_reads_relative_roots_from_its_folder_and_is_named(tmp_path, monkeypatch):
    """AUKIT_MANIFEST=copy.yaml with `root: BP4Dm` looked in <repo>/BP4Dm, and every message named
    the repository's data_manifest.yaml, a file not in use."""
    import yaml

    from aukit.data import manifest as M
    mine = yaml.safe_load(M.MANIFEST_PATH.read_text())
    mine["bp4d"]["root"] = "BP4Dm"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "copy.yaml").write_text(yaml.safe_dump(mine))
    monkeypatch.setenv("AUKIT_MANIFEST", str(tmp_path / "m" / "copy.yaml"))
    for k in [k for k in os.environ if k.startswith("AUKIT_DATA")]:
        monkeypatch.delenv(k)
    tried = dict(M.candidate_roots("bp4d"))
    assert tried["copy.yaml bp4d.root"] == tmp_path / "m" / "BP4Dm"
    with pytest.raises(Exception, match=f"manifest entry 'bp4d' in {tmp_path / 'm' / 'copy.yaml'}"):
        D.index("bp4d")


BP4D_REF = {
    "part1": "F001 M007 F018 F008 F002 M004 F010 F009 M012 M001 F016 M014 F023 M008".split(),
    "part2": "M011 F003 M010 M002 F005 F022 M018 M017 F013 M016 F020 F011 M013 M005".split(),
    "part3": "F007 F015 F006 F019 M006 M009 F012 M003 F004 F021 F017 M015 F014".split(),
}
DISFA_REF = {
    "part1": "SN002 SN010 SN001 SN026 SN027 SN032 SN030 SN009 SN016".split(),
    "part2": "SN013 SN018 SN011 SN028 SN012 SN006 SN031 SN021 SN024".split(),
    "part3": "SN003 SN029 SN023 SN025 SN008 SN005 SN007 SN017 SN004".split(),
}


def test_folds_equal_reference_md_literal_lists():
    """Catches a subject moved between parts (F016<->F013, SN002<->SN013): the lists are JAA-Net's / ME-GraphAU's, not
    the module's."""
    f = D.folds("bp4d")
    assert {k: f[k] for k in ("part1", "part2", "part3")} == BP4D_REF
    assert f["fera_train"] == ["F001", "F003", "F005", "F007", "F009", "F011", "F013", "F015", "F017", "F019",
                               "F021", "F023", "M001", "M003", "M005", "M007", "M009", "M011", "M013", "M015",
                               "M017"]
    assert f["fera_test"] == ["F002", "F004", "F006", "F008", "F010", "F012", "F014", "F016", "F018", "F020",
                              "F022", "M002", "M004", "M006", "M008", "M010", "M012", "M014", "M016", "M018"]
    assert D.folds("disfa") == DISFA_REF
    for ref, name in ((BP4D_REF, "bp4d"), (DISFA_REF, "disfa")):
        for k in (1, 2, 3):
            train, test = D.fold_subjects(name, k)
            assert test == ref[f"part{k}"]
            assert sorted(train) == sorted(s for j in (1, 2, 3) if j != k for s in ref[f"part{j}"])


def test_finish_orders_the_index_by_subject_sequence_and_frame():
    """Catches the final sort dropped: frames read out of order (files listed unsorted) stay out of order."""
    from aukit.data.labelio import QA, finish

    def seq(subject, sequence, frames):
        return pd.DataFrame({"subject": subject, "sequence": sequence, "frame": frames,
                             "source": [f"{subject}/{sequence}/{f}.jpg" for f in frames], "AU01": 0.0})

    df = finish([seq("M001", "T2", [5, 3]), seq("F001", "T2", [2, 1]), seq("M001", "T1", [10, 9, 11]),
                 seq("F001", "T1", [7, 6])], QA(), "bp4d", Path("/nowhere"))
    assert list(zip(df.subject, df.sequence, df.frame)) == [
        ("F001", "T1", 6), ("F001", "T1", 7), ("F001", "T2", 1), ("F001", "T2", 2),
        ("M001", "T1", 9), ("M001", "T1", 10), ("M001", "T1", 11), ("M001", "T2", 3), ("M001", "T2", 5)]
    assert df.index.tolist() == list(range(9)) and df.source[0] == "F001/T1/6.jpg"


def test_a_manifest_entry_with_a_layout_is_a_dataset_of_the_users_own(monkeypatch, tmp_path):
    """Only aukit's own dataset names were accepted ("unknown dataset 'mylab'", naming neither the manifest nor
    what a new entry needs); the AU lists of an entry are the interface the methods read."""
    import yaml
    from aukit.data import manifest as M
    m = yaml.safe_load(M.MANIFEST_PATH.read_text())
    m["mylab"] = {"layout": "table", "intensity_aus": [1, 4, 12], "occurrence_threshold": 1}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(m))
    with pytest.raises(ValueError, match=r"unknown dataset 'mylab'.*needs an entry with a `layout:`.*data_manifest"):
        M.check_name("mylab")
    monkeypatch.setenv("AUKIT_MANIFEST", str(path))
    assert M.custom_datasets() == ("mylab",) and M.is_custom("mylab") and not M.is_custom("bp4d")
    assert M.base_name("mylab") == "mylab"
    assert M.dataset_aus("mylab") == {"intensity": (1, 4, 12), "occurrence": (1, 4, 12)}
    assert M.dataset_aus("synthau-bp4d")["intensity"] == (6, 10, 12, 14, 17)
    assert M.dataset_aus("disfa")["occurrence"] == M.dataset_aus("disfa")["intensity"]
