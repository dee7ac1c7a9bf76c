"""Broken label files and trees: each is an error naming file and line, or counted and shown by
`aukit data check` (audit findings 2-7, 10, 12-14). Trees come from test_data_fixtures' writers."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from aukit import cli
from aukit import data as D
from aukit.data.labelio import LabelFormatError
from aukit.data.manifest import DATASETS, RootNotFound
from test_data_fixtures import write_aux, write_bp4d, write_disfa

OCC = "AUCoding/AU_OCC"
INT = "AUCoding/AU_INT"


@pytest.fixture
def bp4d(tmp_path):
    return write_bp4d(tmp_path / "data" / "bp4d", faces=False)


@pytest.fixture
def disfa(tmp_path):
    return write_disfa(tmp_path / "data" / "disfa", faces=False, n=4)


@pytest.fixture
def only_data(monkeypatch, tmp_path):
    """`aukit data check` sees only the trees under tmp_path/data (no other env roots, no SynthAU)."""
    for d in DATASETS:
        monkeypatch.delenv("AUKIT_DATA_" + d.upper().replace("-", "_"), raising=False)
    monkeypatch.setenv("AUKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AUKIT_SYNTHAU", str(tmp_path / "no_synthau"))


def _qa(df):
    return df.attrs["qa"]


def _notes(df, kind):
    return [n for n in _qa(df)["notes"] if n.startswith(kind + ": ")]


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new, 1))


# 2: not UTF-8
def test_not_utf8_names_file_and_line(bp4d):
    occ = bp4d / OCC / "F001_T1.csv"
    occ.write_bytes(occ.read_text().encode("utf-16"))
    with pytest.raises(LabelFormatError, match=r"F001_T1\.csv:1: not UTF-8 text \(it looks like UTF-16\)"):
        D.index("bp4d", bp4d)
    occ.write_text(occ.read_bytes().decode("utf-16"))
    p = bp4d / INT / "AU06/F001_T1_AU06.csv"
    p.write_bytes(p.read_bytes().replace(b"732,2", b"732,\xe9"))  # a Latin-1 byte on line 3
    with pytest.raises(LabelFormatError, match=r"F001_T1_AU06\.csv:3: not UTF-8 text: byte 0xe9"):
        D.index("bp4d", bp4d)


def test_data_check_marks_one_dataset_unreadable_shows_the_others_and_exits_1(bp4d, disfa, only_data, capsys):
    occ = bp4d / OCC / "F001_T1.csv"
    occ.write_bytes(occ.read_text().encode("utf-16"))
    assert cli.main(["data", "check"]) == 1
    out = capsys.readouterr().out
    assert f"unreadable: {occ}:1: not UTF-8" in out
    assert f"disfa: root {disfa} (from env AUKIT_DATA)" in out
    t = D.check(["bp4d", "disfa"]).set_index("dataset")
    assert t.loc["bp4d", "status"] == "unreadable" and t.loc["disfa", "frames"] == 11
    occ.write_text(occ.read_bytes().decode("utf-16"))
    assert cli.main(["data", "check"]) == 0  # problems are counted, not fatal


def test_data_check_one_dataset_at_a_root_given_on_the_command_line(bp4d, disfa, only_data, capsys, tmp_path):
    """`aukit data check bp4d --root PATH` tries a copy before it is named in the manifest; a root that
    does not exist is an error, not a fallback; --root without one dataset is refused."""
    copy = tmp_path / "elsewhere" / "BP4D"
    copy.parent.mkdir()
    bp4d.rename(copy)
    assert cli.main(["data", "check", "bp4d", "--root", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"bp4d: root {copy} (from root= argument)" in out and "disfa" not in out   # that dataset only
    assert cli.main(["data", "check", "bp4d", "--root", str(tmp_path / "nowhere")]) == 1
    assert f"tried root= argument: {tmp_path / 'nowhere'}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--root is one dataset's root: name that dataset"):
        cli.main(["data", "check", "--root", str(copy)])


# 3: empty file
def test_empty_occurrence_file_names_file(bp4d):
    (bp4d / OCC / "F001_T2.csv").write_bytes(b"")
    with pytest.raises(LabelFormatError, match=r"F001_T2\.csv:1: empty file, expected a header"):
        D.index("bp4d", bp4d)


def test_empty_intensity_file_is_an_error_not_a_sequence_without_labels(bp4d, disfa):
    """A 0-byte label file (a failed copy) read as 'no rows' dropped a DISFA subject whose files were
    all empty, counted as frames without labels."""
    (bp4d / INT / "AU06/F001_T1_AU06.csv").write_bytes(b"\n")
    with pytest.raises(LabelFormatError, match=r"F001_T1_AU06\.csv:1: empty file, expected rows of numbers"):
        D.index("bp4d", bp4d)
    (disfa / "ActionUnit_Labels/SN001/SN001_au1.txt").write_bytes(b"")
    with pytest.raises(LabelFormatError, match=r"SN001_au1\.txt:1: empty file"):
        D.index("disfa", disfa)


def test_lost_frames_and_values_are_noted_per_sequence(bp4d, disfa):
    """Frames without labels, labels without frames and out-of-range values name the sequence or file
    and the first frame, not only a count (on 328 BP4D sequences a bare count cannot be traced)."""
    for p in [bp4d / OCC / "F001_T1.csv", *(bp4d / INT).glob("AU*/F001_T1_AU*.csv")]:
        p.write_text("".join(r for r in p.read_text().splitlines(True) if not r.startswith("735,")))  # 735: none
    occ = bp4d / OCC / "M001_T1.csv"
    rows = occ.read_text().splitlines(keepends=True)
    rows[2] = rows[2].split(",", 2)[0] + ",7," + rows[2].split(",", 2)[2]         # AU1 of its 2nd frame: 7
    occ.write_text("".join(rows))
    (bp4d / "2D/M001/T1" / "3.jpg").unlink()                                      # labelled, no image
    df = D.index("bp4d", bp4d)
    assert _notes(df, "frame_without_label") == [
        "frame_without_label: F001/T1: 1 frame(s) without any label row, left out (first: frame 735; labelled 730..736)"]
    assert _notes(df, "out_of_range") == [
        f"out_of_range: {occ} AU1: 1 value(s) outside 0..1, read as not labelled (first: frame 2: 7)"]
    assert [n for n in _notes(df, "label_without_frame") if n.startswith("label_without_frame: M001/T1")] == [
        "label_without_frame: M001/T1: 1 labelled frame(s) without an image (first: frame 3; images 1..4)"]
    for p in (disfa / "ActionUnit_Labels/SN001").glob("*.txt"):                 # labels one frame late
        p.write_text("".join(f"{int(a) + 1},{b}" for a, b in (r.split(",") for r in p.read_text().splitlines(True))))
    last = int(p.read_text().splitlines()[-1].split(",")[0])                    # the video's frames: 1..last-1
    df = D.index("disfa", disfa)
    notes = [n for n in _qa(df)["notes"] if "SN001" in n]
    assert "frame_without_label: SN001 (LeftVideoSN001_comp.avi): 1 frame(s) without any label row, left out " \
           f"(first: frame 1; labelled 2..{last})" in notes
    assert any(n.startswith("label_without_frame: SN001 (LeftVideoSN001_comp.avi): 1 labelled frame(s) without an "
                            f"image (first: frame {last}") for n in notes)
    assert not any("SN010" in n for n in _notes(df, "frame_without_label"))     # its known tail stays information


def test_a_lone_cr_ends_a_line(bp4d):
    before = D.index("bp4d", bp4d)
    p = bp4d / OCC / "F001_T1.csv"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r"))                            # old Mac / Excel line ends
    np.testing.assert_array_equal(D.index("bp4d", bp4d)["occ_AU01"], before["occ_AU01"])


def test_disfa_label_path_that_is_a_folder_is_counted_like_a_missing_file(disfa):
    p = disfa / "ActionUnit_Labels/SN001/SN001_au1.txt"
    p.unlink()
    p.mkdir()
    df = D.index("disfa", disfa)
    assert "missing_label_file: SN001: ActionUnit_Labels/SN001/SN001_au1.txt is not a file" in _qa(df)["notes"]


def test_padded_frame_pattern_names_a_sequence_without_images(bp4d, monkeypatch, tmp_path):
    """`{frame:04d}` in the manifest's frames pattern: a task folder gone is noted with the pattern
    (formatting it with frame='*' raised 'Unknown format code d' for the whole dataset)."""
    from aukit.data import manifest
    real = manifest.entry("bp4d")
    pats = {**real["patterns"], "frames": "2D/{subject}/{task}/{frame:04d}.jpg"}
    monkeypatch.setattr("aukit.data.bp4d.entry", lambda name: {**real, "patterns": pats})
    shutil.rmtree(bp4d / "2D/F001/T2")
    df = D.index("bp4d", bp4d)
    assert "label_without_frame: F001/T2: label files but no images (2D/F001/T2/*.jpg)" in _qa(df)["notes"]


def test_aukit_data_finds_the_distribution_names_in_any_case(bp4d, disfa, only_data, tmp_path, capsys):
    bp4d.rename(bp4d.with_name("BP4D"))
    disfa.rename(disfa.with_name("DISFA"))
    t = D.check(["bp4d", "disfa"]).set_index("dataset")
    assert t.loc["bp4d", "root"] == str((tmp_path / "data" / "BP4D").resolve()) and t.loc["disfa", "found"]
    assert cli.main(["data", "check", "bp4d"]) == 0
    assert cli.main(["data", "check", "emotionet"]) == 1            # named and not found: where it was looked for
    assert f"tried env AUKIT_DATA: {tmp_path / 'data' / 'emotionet'}" in capsys.readouterr().out
    (tmp_path / "data" / "BP4D").rename(tmp_path / "data" / "BP4D-Spontaneous")   # the published name
    assert D.check(["bp4d"]).iloc[0]["root"] == str((tmp_path / "data" / "BP4D-Spontaneous").resolve())


def test_aukit_data_finds_the_published_folder_names(only_data, tmp_path, capsys):
    """CASIA-WebFace, AFEW-VA, Aff-Wild2: '-' and '_' differ, so a case-blind match missed them."""
    aux = write_aux(tmp_path / "aux")
    for name, published in (("casia_webface", "CASIA-WebFace"), ("afew_va", "AFEW-VA"),
                            ("affwild2", "Aff-Wild2"), ("emotionet", "Emotio Net")):
        shutil.move(aux / name, tmp_path / "data" / published)
    t = D.check(["casia_webface", "afew_va", "affwild2", "emotionet"]).set_index("dataset")
    assert t["found"].all()
    assert t.loc["afew_va", "root"] == str((tmp_path / "data" / "AFEW-VA").resolve())
    assert cli.main(["data", "check", "disfa"]) == 1          # not there: the names tried are listed
    assert (f"tried env AUKIT_DATA: {tmp_path / 'data' / 'disfa'} (also any name equal ignoring case, "
            "'-', '_' and spaces, e.g. disfa, DISFA)") in capsys.readouterr().out
    (tmp_path / "data" / "casia-webface").mkdir()              # two matches: neither is guessed
    row = D.check(["casia_webface"]).iloc[0]
    assert not row["found"] and "several folders there match" in row["problems"]
    assert "CASIA-WebFace, casia-webface" in row["problems"]


# 4: missing label files, columns, folders
def test_missing_label_files_and_au_columns_are_counted(bp4d):
    base = _qa(D.index("bp4d", bp4d))["missing_label_file"]  # the fixture lacks some intensity AUs
    (bp4d / OCC / "F001_T2.csv").unlink()
    occ = bp4d / OCC / "M001_T1.csv"
    rows = [r.split(",") for r in occ.read_text().splitlines()]
    occ.write_text("".join(",".join(r[:-1]) + "\n" for r in rows))  # drop the AU24 column
    df = D.index("bp4d", bp4d)
    qa = _qa(df)
    assert qa["missing_label_file"] == base + 1 and qa["per_subject"]["F001"]["missing_label_file"] >= 1
    assert "missing_label_file: F001/T2: AUCoding/AU_OCC/F001_T2.csv is missing" in qa["notes"]
    assert qa["missing_au_column"] == 1
    assert _notes(df, "missing_au_column") == [f"missing_au_column: {occ}:1: no column for AU 24 (left NaN)"]
    assert df[df.subject == "M001"]["occ_AU24"].isna().all()


def test_missing_disfa_label_folder_is_counted(disfa):
    shutil.rmtree(disfa / "ActionUnit_Labels/SN002")
    df = D.index("disfa", disfa)
    assert _qa(df)["per_subject"]["SN002"]["missing_label_file"] == 12
    assert "missing_label_file: SN002: ActionUnit_Labels/SN002/SN002_au9.txt is missing" in _qa(df)["notes"]


def test_no_intensity_labels_at_all_is_one_clear_problem_not_a_failure(bp4d, only_data, capsys):
    shutil.rmtree(bp4d / INT)
    shutil.rmtree(bp4d / "AUCoding/AU Intensity Codes3.0")
    df = D.index("bp4d", bp4d)
    assert _qa(df)["missing_label_file"] == 0 and df["AU06"].isna().all() and df["occ_AU01"].notna().any()
    row = D.check(["bp4d"]).iloc[0]
    assert row["status"] == "problems"
    assert "no intensity labels found under" in row["problems"]
    assert "AUCoding/AU_INT/AU{au:02d}/{subject}_{task}_AU{au:02d}.csv" in row["problems"]
    assert cli.main(["data", "check"]) == 0
    assert "edit bp4d.patterns.intensity in data_manifest.yaml" in capsys.readouterr().out


# 5: a label file shorter than the others
def test_short_label_file_counts_frames_missing_a_label(bp4d, disfa):
    p = bp4d / INT / "AU12/F001_T1_AU12.csv"
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:-1]))  # no row for frame 735
    df = D.index("bp4d", bp4d)
    assert _qa(df)["per_subject"]["F001"]["frame_missing_label"] == 1
    assert _notes(df, "frame_missing_label") == [
        f"frame_missing_label: {p}: no row for 1 frame(s) that have other labels (first: frame 735)"]
    p = disfa / "ActionUnit_Labels/SN001/SN001_au2.txt"
    p.write_text("".join(p.read_text().splitlines(keepends=True)[:-2]))
    df = D.index("disfa", disfa)
    assert _qa(df)["per_subject"]["SN001"]["frame_missing_label"] == 2
    assert str(p) in _notes(df, "frame_missing_label")[0]


# 6: duplicate rows
def test_repeated_label_row_is_counted_and_a_conflict_is_an_error(bp4d):
    p = bp4d / INT / "AU06/F001_T1_AU06.csv"
    _edit(p, "732,2\n", "732,2\n732,2\n")
    df = D.index("bp4d", bp4d)
    assert _qa(df)["duplicate_label_row"] == 1
    assert _notes(df, "duplicate_label_row") == [f"duplicate_label_row: {p}:4: 1 repeated row(s), read once"]
    _edit(p, "732,2\n732,2\n", "732,2\n732,5\n")
    with pytest.raises(LabelFormatError, match=r"F001_T1_AU06\.csv:4: frame 732 again, with values different "
                                               r"from line 3"):
        D.index("bp4d", bp4d)


def test_emotionet_counts_are_the_datasets_not_a_subject_all(tmp_path, capsys):
    """EmotioNet's label counts were kept under a subject 'all', which prepare's summary then
    listed among the 'subjects without any aligned frame'."""
    from types import SimpleNamespace
    from aukit.data import preprocess
    from aukit.data.align import get_policy
    root = write_aux(tmp_path / "aux") / "emotionet"
    (root / "labels.csv").write_text("image,AU1,AU2\na.jpg,1,999\nc.jpg,0,2\n")
    df = D.index("emotionet", root)
    assert "all" not in _qa(df)["per_subject"] and _qa(df)["overall"]["label_without_frame"] == 1
    qa = preprocess._qa(df, np.zeros(len(df), np.int8), get_policy("rtatl"))
    assert set(qa["per_subject"]) == {"a", "b"} and qa["label_without_frame"] == 1
    preprocess.print_summary(SimpleNamespace(qa=qa, dataset="emotionet", policy=get_policy("rtatl"), path=root))
    assert "without any aligned frame" not in capsys.readouterr().out


def test_emotionet_rows_are_matched_to_images_and_counted(tmp_path):
    root = write_aux(tmp_path / "aux") / "emotionet"
    lab = root / "labels.csv"
    lab.write_text("image,AU1,AU2,comment\na.jpg,1,999,ok\na.jpg,1,999,ok\nc.jpg,0,0,x\n")
    df = D.index("emotionet", root)
    qa = _qa(df)
    assert len(df) == 2 and qa["duplicate_label_row"] == 1
    assert qa["label_without_frame"] == 1 and qa["frame_without_label"] == 1  # c has no image, b no row
    assert f"ignored_column: {lab}:1: column 'comment' is not an AU column (not read)" in qa["notes"]
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,0,1\na.jpg,0,999\n")
    df = D.index("emotionet", root)          # optional labels: a problem naming the lines, the images kept
    assert len(df) == 2 and "occ_AU01" not in df and _qa(df)["unreadable_label_file"] == 1
    assert _notes(df, "unreadable_label_file") == [f"unreadable_label_file: {lab}:4: image 'a.jpg' again, with "
                                                   "values different from line 2 (the images are read unlabelled)"]


# 7: stray files in a DISFA label folder
def test_stray_disfa_label_files_are_ignored_and_named(disfa):
    before = D.index("disfa", disfa)
    folder = disfa / "ActionUnit_Labels/SN001"
    for name in ("SN001_au1_old.txt", "SN001_au1 - Copy.txt"):
        (folder / name).write_text("1,5\n2,5\n")
    df = D.index("disfa", disfa)
    np.testing.assert_array_equal(df["AU01"], before["AU01"])
    assert _qa(df)["ignored_file"] == 2
    assert [n.split(": ")[1] for n in _notes(df, "ignored_file")] == [
        str(folder / "SN001_au1 - Copy.txt"), str(folder / "SN001_au1_old.txt")]


# 10: what data check shows
def test_data_check_shows_root_notes_missing_subjects_and_integer_counts(bp4d, disfa, only_data, capsys):
    for k in range(5):
        (bp4d / f"2D/F001/T1/x{k}.jpg").write_bytes(b"")
    (bp4d / "2D/F002/T1").mkdir(parents=True)  # F002's labels but no images
    shutil.copy(bp4d / OCC / "F001_T1.csv", bp4d / OCC / "F002_T1.csv")
    assert cli.main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert f"bp4d: root {bp4d} (from env AUKIT_DATA)" in out
    assert "ignored_file (5):" in out and f"{bp4d}/2D/F001/T1/x0.jpg: not a frame image" in out
    assert "... and 2 more" in out  # notes are bounded per kind
    assert "F002/T1: label files but no images (2D/F002/T1/*.jpg)" in out
    assert "problem: 39 subjects of the committed folds not found: F002, F003," in out
    table = out.split("\n\n")[0]
    assert "SN003, SN004" in out and " 2 " in table and ".0 " not in table
    t = D.check(["bp4d"])
    assert t["subjects"].dtype.name == "Int64" and t["subjects"].iloc[0] == 2


def test_explicit_dataset_root_pointing_nowhere_is_an_error(bp4d, only_data, monkeypatch, tmp_path):
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(tmp_path / "bp4dd"))  # typo; AUKIT_DATA/bp4d exists
    with pytest.raises(RootNotFound, match=r"env AUKIT_DATA_BP4D is .*bp4dd, which is not a folder"):
        D.index("bp4d")
    row = D.check(["bp4d"]).iloc[0]
    assert row["status"] == "unreadable" and "AUKIT_DATA_BP4D" in row["problems"]
    assert cli.main(["data", "check"]) == 1


# 12: image names
def test_upper_case_suffix_is_a_frame_and_other_names_are_counted(bp4d):
    (bp4d / "2D/F001/T1/736.JPG").write_bytes((bp4d / "2D/F001/T1/730.jpg").read_bytes())
    (bp4d / "2D/F001/T1/731 (1).jpg").write_bytes(b"")
    df = D.index("bp4d", bp4d)
    assert 736 in set(df[df.sequence == "T1"].frame) and _qa(df)["label_without_frame"] == 0
    assert _qa(df)["ignored_file"] == 1 == _qa(df)["per_subject"]["F001"]["ignored_file"]
    note = _notes(df, "ignored_file")[0]
    assert note.startswith(f"ignored_file: {bp4d}/2D/F001/T1/731 (1).jpg: not a frame")


# 13: values that are not integers, empty fields; what still parses
@pytest.mark.parametrize("path, old, new, match", [
    (f"{OCC}/F001_T1.csv", "\n731,", "\n731.6,", r"F001_T1\.csv:3: field 1 is '731\.6', expected an integer"),
    (f"{INT}/AU06/F001_T1_AU06.csv", "733,3", "733,2.5", r"F001_T1_AU06\.csv:4: field 2 is '2\.5', expected"),
    (f"{INT}/AU06/F001_T1_AU06.csv", "730,0", "730,,0", r"F001_T1_AU06\.csv:1: empty field 2: '730,,0'"),
    (f"{INT}/AU06/F001_T1_AU06.csv", "730,0", "730,nan", r"F001_T1_AU06\.csv:1: field 2 is 'nan'"),
])
def test_bad_value_names_file_and_line(bp4d, path, old, new, match):
    _edit(bp4d / path, old, new)
    with pytest.raises(LabelFormatError, match=match):
        D.index("bp4d", bp4d)


def test_tabs_crlf_spaces_and_blank_lines_still_parse(bp4d):
    before = D.index("bp4d", bp4d)
    p = bp4d / INT / "AU06/F001_T1_AU06.csv"
    p.write_bytes(p.read_bytes().replace(b"730,", b"730\t").replace(b"731,", b"731 , ")
                  .replace(b"\n", b"\r\n") + b"\r\n\r\n")
    df = D.index("bp4d", bp4d)
    np.testing.assert_array_equal(df["AU06"], before["AU06"])


# 14: properties of real copies are information, not problems
def test_known_dataset_properties_are_information(bp4d, disfa, tmp_path):
    t = D.check(["bp4d", "disfa"], roots={"bp4d": bp4d, "disfa": disfa}).set_index("dataset")
    b, d = t.loc["bp4d"], t.loc["disfa"]
    assert "invalid_codes" not in b["problems"]
    assert "invalid_codes=4 (codes the dataset itself marks" in b["info"]
    # the fixture's SN010, like the real one, has labels for all but its last video frame
    assert "frame_without_label" not in d["problems"] and "label_without_frame=1" in d["problems"]
    assert "SN010: frame_without_label=1 (expected: DISFA SN010 has no labels for its last 1" in d["info"]
    for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):  # SN001 short by one: a problem
        p = disfa / f"ActionUnit_Labels/SN001/SN001_au{au}.txt"
        p.write_text("".join(p.read_text().splitlines(keepends=True)[:-1]))
    d = D.check(["disfa"], roots={"disfa": disfa}).iloc[0]
    assert "frame_without_label=1" in d["problems"]


def test_join_labels_matches_a_pandas_outer_then_inner_merge():
    """The numpy join gives the rows, values and counts of the pandas merges it replaced: frames in
    their order, NaN where a source lacks a frame, label-only and unlabelled frames counted."""
    import pandas as pd
    from pathlib import Path
    from aukit.data.labelio import QA, join_labels

    rng = np.random.default_rng(0)
    frames = pd.DataFrame({"frame": rng.permutation(np.arange(1, 41)), "source": [f"f{i}" for i in range(40)]})
    sources = []
    for j, (lo, hi) in enumerate([(1, 36), (5, 50), (3, 3), (10, 30)]):
        f = rng.permutation(np.arange(lo, hi))[: max(0, (hi - lo) - 3)]           # some frames left out
        sources.append((Path(f"s{j}.csv"), pd.DataFrame({"frame": f.astype(np.int64), f"AU{j:02d}": rng.random(len(f))})))
    qa = QA()
    got = join_labels(frames, sources, qa, "S1")
    lab = None
    for i, (_, d) in enumerate(sources):
        d = d.assign(**{f"_in{i}": True})
        lab = d if lab is None else lab.merge(d, on="frame", how="outer")
    want = frames.merge(lab, on="frame", how="inner")
    miss = np.stack([want.pop(f"_in{i}").isna().to_numpy() for i in range(len(sources))], axis=1)
    pd.testing.assert_frame_equal(got, want)
    counts = qa.per_subject["S1"]
    assert counts["label_without_frame"] == int((~lab["frame"].isin(frames["frame"])).sum()) > 0
    assert counts["frame_without_label"] == int((~frames["frame"].isin(lab["frame"])).sum()) > 0
    assert counts["frame_missing_label"] == int(miss.any(axis=1).sum()) > 0
    assert sum("s2.csv" in n for n in qa.notes) == 1                  # the empty source misses every kept frame


def test_a_disfa_video_that_cannot_be_opened_is_counted(disfa):
    video = disfa / "Videos_LeftCamera/LeftVideoSN002_comp.avi"
    video.write_bytes(b"garbage" * 100)
    qa = _qa(D.index("disfa", disfa))
    assert qa["unreadable_video"] == qa["per_subject"]["SN002"]["unreadable_video"] == 1
    assert f"unreadable_video: SN002: cannot open video {video}" in qa["notes"]
