"""A real copy that lacks part of a subject: a whole task (BP4D), or every label of a subject (DISFA's SN002
with its video but no ActionUnit_Labels folder). Both ran a fold as if complete: the first inside the frame
tolerance of `aukit data check`, the second with no test frame from the subject and no PARTIAL COPY."""
import numpy as np
import pandas as pd
import pytest

from aukit.data import splits
from aukit.data.completeness import labelled_subjects, missing_sequences, tasks_per_subject


def _bp4d_index(drop=(), bare=()):
    rows = []
    for s in ("F001", "F002", "M001"):
        for t in (f"T{k}" for k in range(1, 9)):
            if f"{s}/{t}" in drop:
                continue
            for f in (1, 2):
                au = np.nan if s in bare else float(f % 2)
                rows.append({"subject": s, "sequence": t, "frame": f, "AU06": au, "occ_AU01": au})
    return pd.DataFrame(rows)


def test_a_task_a_subject_lacks_is_named_and_the_manifest_gives_eight_per_subject():
    assert tasks_per_subject("bp4d") == 8                    # 328 sequences / 41 subjects
    assert tasks_per_subject("disfa") is None                 # one video per subject: names differ
    assert tasks_per_subject("synthau-bp4d") is None          # generated at any size
    assert missing_sequences("bp4d", _bp4d_index()) == ([], None)
    gone, short = missing_sequences("bp4d", _bp4d_index(drop=("F001/T2", "M001/T8")))
    assert gone == ["F001/T2", "M001/T8"] and short is None
    every_t8 = [f"{s}/T8" for s in ("F001", "F002", "M001")]
    gone, short = missing_sequences("bp4d", _bp4d_index(drop=every_t8))
    assert gone == [] and short == ("1 of the 8 sequences of every subject (manifest expected: sequences / subjects; "
                                    "it has only T1, T2, T3, T4, T5, T6, T7)")


def test_a_subject_whose_frames_carry_no_label_is_not_labelled():
    idx = _bp4d_index(bare=("F002",))
    assert labelled_subjects(idx) == {"F001", "M001"}
    assert splits.copy_gaps("bp4d", idx)["unlabelled"] == ["F002"]
    assert splits.copy_gaps("affwild2", idx.drop(columns=["AU06", "occ_AU01"]))["unlabelled"] == []


def test_the_fold_is_refused_for_a_missing_task_or_an_unlabelled_subject(monkeypatch):
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    monkeypatch.setattr(splits, "PARTIAL", [])
    every = [s for k in ("part1", "part2", "part3") for s in splits.BP4D_PARTS[k]]
    full = pd.DataFrame({"subject": every})
    splits.check_present("bp4d", 1, *splits.fold_subjects("bp4d", 1), every, {"sequences": [], "unlabelled": []})
    with pytest.raises(splits.IncompleteCopy, match=r"bp4d fold 1: this copy lacks 1 sequence of the fold's "
                                                     r"subjects \(F001/T2\): its scores"):
        splits.fold_subjects("bp4d", 1, present=full["subject"], gaps={"sequences": ["F001/T2", "X999/T1"]})
    with pytest.raises(splits.IncompleteCopy, match=r"lacks 0 of 27 training and 1 of 14 test subjects \(F002\); "
                                                     r"F002: frames without any label file"):
        splits.fold_subjects("bp4d", 1, present=full["subject"], gaps={"unlabelled": ["F002"]})
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    splits.fold_subjects("bp4d", 1, present=full["subject"], gaps={"short": "1 of the 8 sequences of every subject"})
    assert splits.PARTIAL == ["bp4d fold 1: this copy lacks 1 of the 8 sequences of every subject"]


def test_check_copy_reads_the_gaps_from_the_index(monkeypatch):
    """`aukit run` calls check_copy before the kernel: it must see a missing task in the copy's index."""
    import aukit.data.catalog as catalog
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    every = [s for k in ("part1", "part2", "part3") for s in splits.BP4D_PARTS[k]]
    rows = [{"subject": s, "sequence": f"T{t}", "frame": 1, "AU06": 1.0} for s in every for t in range(1, 9)
            if (s, t) != ("M007", 3)]
    monkeypatch.setattr(catalog, "index", lambda dataset, root=None: pd.DataFrame(rows))
    with pytest.raises(splits.IncompleteCopy, match=r"M007/T3"):
        splits.check_copy("bp4d", 1)
    rows.append({"subject": "M007", "sequence": "T3", "frame": 1, "AU06": 1.0})
    assert len(splits.check_copy("bp4d", 1)[1]) == 14


def test_data_check_names_a_missing_task_and_an_unlabelled_subject(tmp_path):
    """The fake BP4D tree: F001 has T1 and T2, M001 only T1. A DISFA subject with frames but no label file
    is a problem line of its own (the counts alone said missing_label_file=12)."""
    from aukit import data as D
    from test_data_fixtures import write_bp4d
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    row = D.check(["bp4d"], roots={"bp4d": root}).set_index("dataset").loc["bp4d"]
    assert "1 sequence missing from subjects that have others: M001/T2" in row["problems"]
    assert "the copy lacks 6 of the 8 sequences of every subject" in row["problems"]
    (root / "AUCoding/AU_OCC/M001_T1.csv").unlink()
    for p in root.glob("AUCoding/*/AU*/M001_T1_*.csv"):
        p.unlink()
    row = D.check(["bp4d"], roots={"bp4d": root}).set_index("dataset").loc["bp4d"]
    assert "1 subject has frames but no label: M001 (a run's fold counts it as missing)" in row["problems"]


def test_a_loader_passing_its_index_gets_the_gaps_checked(monkeypatch):
    """Loaders split by fold_subjects(present=<the store's index>): a notebook run by hand (no `aukit run`)
    must see the unlabelled subject too."""
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    every = [s for k in ("part1", "part2", "part3") for s in splits.DISFA_PARTS[k]]
    idx = pd.DataFrame({"subject": every, "sequence": [f"LeftVideo{s}_comp" for s in every],
                        "AU01": [np.nan if s == "SN002" else 1.0 for s in every]})
    with pytest.raises(splits.IncompleteCopy, match=r"SN002: frames without any label file"):
        splits.fold_subjects("disfa", 1, present=idx)
    train, test = splits.fold_subjects("disfa", 1, present=idx.assign(AU01=1.0))
    assert len(train) == 18 and test[0] == "SN002"


def test_no_frames_names_the_pattern_what_the_root_holds_and_the_manifest_line(tmp_path):
    """A BP4D copy with '2D+3D/' where the manifest says '2D/' got one bare line, 'no frames found under ...'."""
    from aukit import data as D
    from test_data_fixtures import write_bp4d
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    (root / "2D").rename(root / "2D+3D")
    with pytest.raises(FileNotFoundError) as err:
        D.index("bp4d", root)
    text = str(err.value)
    assert text.startswith(f"bp4d: no frames found under {root}\n  the frames' pattern is 2D/{{subject}}/{{task}}")
    assert f"{root} holds: 2D+3D/, AUCoding/" in text
    assert "label files but no images (2D/F001/T1/*.jpg)" in text
    from aukit.data.manifest import manifest_path
    assert text.endswith(f"edit bp4d.patterns.frames in {manifest_path()}")


def test_every_table_and_metrics_json_name_the_frames_without_an_aligned_face(monkeypatch, tmp_path):
    """A run's report never mentioned the labelled frames where no face was found: only the cache's qa.json did."""
    import json
    from aukit.data import store
    from aukit.report import Report
    monkeypatch.setattr(store, "OPENED", {
        "bp4d__tas256__abc": {"frames": 284, "indexed": 288, "no_face": 3, "unreadable": 1},
        "bp4d__faces__def": {"frames": 288, "indexed": 288, "no_face": 0, "unreadable": 0},
        "synthau-affwild2__cpc128__x": {"frames": 10, "indexed": 12, "no_face": 2, "unreadable": 0}})
    rep = Report("tas", folder=tmp_path / "r", dataset="bp4d", preset="quick", seeds=[0], device="cpu")
    want = ("bp4d (tas256 faces): 4 of 288 indexed frames have no aligned face (no face found 3, unreadable 1), "
            "left out of training and scoring")
    assert rep.frames_lost == [want]
    rep.add_metrics(icc_avg=0.5)
    rep.add_table("t", pd.DataFrame({"AU06": [0.5], "Avg": [0.5]}, index=["m"]))
    assert f"- Frames lost: {want} (`aukit data check`" in (tmp_path / "r/tables/t.md").read_text()
    rep.write()
    assert json.loads((tmp_path / "r/metrics.json").read_text())["frames_lost"] == [want]


def test_a_disfa_label_file_numbered_from_zero_is_refused_naming_file_and_line(tmp_path):
    """DISFA counts frames from 1; a copy re-numbered from 0 moved every label onto the next frame, with only
    one 'label_without_frame' (frame 0) counted."""
    from aukit import data as D
    from aukit.data.labelio import LabelFormatError
    from test_data_fixtures import write_disfa
    root = write_disfa(tmp_path / "disfa", faces=False)
    p = root / "ActionUnit_Labels/SN001/SN001_au2.txt"
    rows = p.read_text().splitlines()
    p.write_text("\n".join(f"{int(r.split(',')[0]) - 1},{r.split(',')[1]}" for r in rows) + "\n")
    with pytest.raises(LabelFormatError, match=rf"{p}:1: frame 0: DISFA numbers its frames from 1"):
        D.index("disfa", root)


def test_a_bp4d_label_file_with_an_upper_case_extension_is_read(tmp_path):
    """'F002_T2.CSV' passed the folder scan (not named stray) but was then opened as '.csv': reported missing,
    its labels dropped. Frames '732.JPG' and DISFA's 'SN013_au1.TXT' were read already."""
    from aukit import data as D
    from test_data_fixtures import write_bp4d
    root = write_bp4d(tmp_path / "bp4d", faces=False)
    before = D.index("bp4d", root)
    occ = root / "AUCoding/AU_OCC/F001_T2.csv"
    occ.rename(occ.with_suffix(".CSV"))
    intensity = root / "AUCoding/AU_INT/AU06/F001_T2_AU06.csv"
    intensity.rename(intensity.with_suffix(".Csv"))
    after = D.index("bp4d", root)
    pd.testing.assert_frame_equal(after.drop(columns="source"), before.drop(columns="source"))
    assert after.attrs["qa"]["missing_label_file"] == before.attrs["qa"]["missing_label_file"]


def test_disfa_files_near_the_patterns_are_named(tmp_path):
    """A video without '_comp' and a label file for an AU DISFA does not code were passed over without a word."""
    from aukit import data as D
    from test_data_fixtures import write_disfa
    root = write_disfa(tmp_path / "disfa", faces=False)
    (root / "Videos_LeftCamera/LeftVideoSN009.avi").write_bytes(b"")
    (root / "ActionUnit_Labels/SN001/SN001_au3.txt").write_text("1,0\n")
    notes = D.index("disfa", root).attrs["qa"]["notes"]
    assert (f"ignored_file: {root / 'Videos_LeftCamera/LeftVideoSN009.avi'}: not a video name "
            "(Videos_LeftCamera/LeftVideo{subject}_comp.avi)") in notes
    assert any(n.startswith(f"ignored_file: {root / 'ActionUnit_Labels/SN001/SN001_au3.txt'}: an AU the manifest's "
                            "intensity_aus does not list (1, 2, 4, 5,") for n in notes)


def test_a_subject_with_frames_but_no_aligned_face_is_not_sent_to_complete_the_copy(monkeypatch):
    """A blank DISFA video: the copy has SN002's frames, its aligned-face store none. The refusal said
    "this copy lacks SN002 ... Complete the copy", which `aukit data check` then showed whole."""
    from aukit.data import catalog
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    train, test = splits.fold_subjects("disfa", 1)
    raw = pd.DataFrame({"subject": np.repeat(train + test, 3)})
    monkeypatch.setattr(catalog, "index", lambda dataset, root=None: raw)
    aligned = [s for s in train + test if s != test[0]]
    with pytest.raises(splits.IncompleteCopy) as e:
        splits.check_present("disfa", 1, train, test, aligned)
    assert f"{test[0]}: the copy has its 3 frames but no face was aligned in any" in str(e.value)
    assert "Complete the copy" not in str(e.value) and "aukit prepare disfa" in str(e.value)
    raw = raw[raw.subject != train[0]]
    with pytest.raises(splits.IncompleteCopy) as e:         # one gone from the copy too: complete it
        splits.check_present("disfa", 1, train, test, aligned[1:])
    assert "Complete the copy" in str(e.value) and f"{train[0]}: the copy has" not in str(e.value)


def test_the_notebooks_fold_numbers_given_to_fold_subjects_say_how_to_map_them():
    """The notebooks and `aukit train` take fold 0 (FERA2015) and -1 (the paper's split); fold_subjects
    takes 1..3 or 'fera' and refused 0 without a word on the other numbering."""
    for fold in (0, -1):
        with pytest.raises(ValueError, match=r"notebooks' -p fold 0 is 'fera', -1 the paper's split: "
                                             r"aukit.data.splits.notebook_fold"):
            splits.fold_subjects("bp4d", fold)
    assert splits.fold_subjects("bp4d", splits.notebook_fold("tas", "bp4d", 0)) == splits.fold_subjects("bp4d", "fera")
    with pytest.raises(ValueError) as e:
        splits.fold_subjects("bp4d", 4)
    assert "notebook_fold" not in str(e.value)
