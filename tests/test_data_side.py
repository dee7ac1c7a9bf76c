"""The side datasets (EmotioNet, Aff-Wild2, CASIA-WebFace, AFEW-VA) as published and damaged:
every image read or named, every count named (file, line, frame), a wrong layout explained.
Trees come from test_data_fixtures.write_aux."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aukit import data as D
from aukit.data import manifest
from aukit.data.labelio import LabelFormatError
from test_data_fixtures import _jpg, write_aux


@pytest.fixture
def aux(tmp_path):
    return write_aux(tmp_path / "aux")


def _qa(df):
    return df.attrs["qa"]


def _notes(df, kind):
    return [n.partition(": ")[2] for n in _qa(df)["notes"] if n.startswith(kind + ": ")]


def _unreadable(dataset, root):
    """The one `unreadable_label_file` note of `dataset` at `root` (the frames read, unlabelled)."""
    df = D.index(dataset, root)
    assert _qa(df)["unreadable_label_file"] == 1
    (note,) = _notes(df, "unreadable_label_file")
    return note


def _with(monkeypatch, module, dataset, **fields):
    """`module`'s manifest entry of `dataset` with `fields` changed."""
    real = manifest.entry(dataset)
    monkeypatch.setattr(f"aukit.data.{module}.entry", lambda name: {**real, **fields})


# EmotioNet
def test_emotionet_reads_png_and_jpeg_and_names_what_it_does_not_read(aux):
    root = aux / "emotionet"
    img = np.full((24, 24, 3), 90, np.uint8)
    _jpg(root / "images/c.jpeg", img)
    import cv2
    cv2.imwrite(str(root / "images/d.png"), img)
    cv2.imwrite(str(root / "images/a.png"), img)         # a.jpg is there too
    (root / "images/e.gif").write_bytes(b"GIF89a")
    df = D.index("emotionet", root)
    assert sorted(df["subject"]) == ["a", "b", "c", "d"]
    assert df.set_index("subject").loc["a", "source"].endswith("a.jpg")
    ignored = _notes(df, "ignored_file")
    assert f"{root / 'images/a.png'}: second image named 'a' (a.jpg is read)" in ignored
    assert any(n.startswith(f"{root / 'images/e.gif'}: not an image") for n in ignored)
    assert _qa(df)["ignored_file"] == 2
    assert _notes(df, "frame_without_label") == [
        "2 image(s) without a label row, kept unlabelled (first: c.jpeg, d.png)"]


def test_emotionet_label_problems_name_file_line_and_column(aux):
    lab = aux / "emotionet/labels.csv"
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,0,2\nx.jpg,0,0\n")
    df = D.index("emotionet", aux / "emotionet")
    assert _notes(df, "out_of_range") == [f"{lab} AU2: 1 value(s) outside 0..1, read as not labelled "
                                          "(first: line 3: 2)"]
    assert _notes(df, "label_without_frame") == [f"1 label row(s) name an image not among the images "
                                                 f"(first: {lab}:4 'x.jpg')"]
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,,1\n")
    assert _unreadable("emotionet", aux / "emotionet") == (f"{lab}:3: column 'AU1': empty field "
                                                           "(the images are read unlabelled)")
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,yes,1\n")
    assert _unreadable("emotionet", aux / "emotionet").startswith(f"{lab}:3: column 'AU1': 'yes', expected an integer")


URLS = ("http://farm1.example.com/1/a.jpg\t1\t999\n"
        "http://farm2.example.com/2/b.jpg?zz=1\t0\t1\n"
        "http://farm2.example.com/3/gone.jpg\t0\t0\n")


def test_emotionet_url_list_as_published(aux, monkeypatch):
    root = aux / "emotionet"
    (root / "labels.csv").unlink()
    (root / "emotioNet_1.txt").write_text(URLS)
    df = D.index("emotionet", root)               # the AU order is not set: named, images kept
    assert len(df) == 2 and "occ_AU01" not in df
    assert "emotioNet_1.txt" in _notes(df, "no_labels")[0] and "url_list_aus" in _notes(df, "no_labels")[0]
    row = D.check(["emotionet"], {"emotionet": root}).iloc[0]
    assert row["status"] == "problems" and "emotioNet_1.txt" in row["problems"]
    _with(monkeypatch, "emotionet", "emotionet", url_list_aus=[1, 2])
    df = D.index("emotionet", root).set_index("subject")
    assert df.loc["a", "occ_AU01"] == 1 and np.isnan(df.loc["a", "occ_AU02"]) and df.loc["b", "occ_AU02"] == 1
    assert _notes(df, "label_without_frame") == [f"1 label row(s) name an image not among the images "
                                                 f"(first: {root / 'emotioNet_1.txt'}:3 'gone.jpg')"]
    (root / "emotioNet_1.txt").write_text(URLS.replace("\t999", ""))
    assert _unreadable("emotionet", root).startswith(f"{root / 'emotioNet_1.txt'}:1: expected 2 fields, got 1")


def test_emotionet_url_list_saved_as_labels_csv_is_named(aux):
    (aux / "emotionet/labels.csv").write_text(URLS)
    assert "labels.csv:1: expected a column 'image': this is EmotioNet's URL list" in _unreadable(
        "emotionet", aux / "emotionet")


# Aff-Wild2
AW = "affwild2/AU_Detection_Challenge"


def test_affwild2_frames_never_depend_on_the_labels(aux):
    """A short label file dropped the frames past its end from the (unlabelled) CPC pool, and one
    bad line in any label file made the whole dataset unreadable."""
    root = aux / "affwild2"
    short = aux / AW / "Train_Set/vid1.txt"
    short.write_text("AU1,AU2,AU4\n0,1,-1\n1,0,2\n")                    # 2 rows for 3 frames; a 2 on line 3
    bad = aux / AW / "Validation_Set/vid2.txt"
    bad.parent.mkdir()
    bad.write_text("AU1,AU2,AU4\n0,1,0\n1,0\n0,0,0\n")
    df = D.index("affwild2", root)
    assert len(df) == 6 and df[df.subject == "vid1"]["occ_AU01"].tolist()[:2] == [0, 1]
    assert np.isnan(df[df.subject == "vid1"]["occ_AU01"].iloc[2]) and df[df.subject == "vid2"]["occ_AU01"].isna().all()
    assert _notes(df, "frame_without_label") == [
        f"vid1: 1 frame(s) without a row in {short} (2 rows), kept unlabelled (frames 3)"]
    assert _notes(df, "out_of_range") == [
        f"{short} AU4: 1 value(s) outside 0..1, read as not labelled (first: line 3, frame 2: 2)"]
    assert _notes(df, "unreadable_label_file") == [
        f"{bad}:3: expected 3 fields, got 2: '1,0' (video vid2 is read unlabelled)"]
    row = D.check(["affwild2"], {"affwild2": root}).iloc[0]
    assert row["status"] == "problems" and row["frames"] == 6 and "unreadable_label_file=1" in row["problems"]


def test_affwild2_names_what_does_not_match(aux):
    root = aux / "affwild2"
    lab = aux / AW / "Train_Set/vid1.txt"
    lab.write_text("AU1,AU2,AU4\n0,1,-1\n1,0,0\n-1,-1,-1\n1,1,1\n1,1,1\n")  # rows 4-5: labels, no image
    (root / "cropped_aligned/vid1/00003.jpg").unlink()                      # row 3, all -1: no face, fine
    orphan = aux / AW / "Train_Set/gone.txt"
    orphan.write_text("AU1,AU2,AU4\n1,1,1\n")
    (root / "cropped_aligned/empty").mkdir()
    df = D.index("affwild2", root)
    assert _qa(df)["per_subject"]["vid1"]["label_without_frame"] == 2
    assert sorted(_notes(df, "label_without_frame")) == [
        f"{orphan}: 1 labelled row(s), but no frame folder cropped_aligned/gone/",
        f"{lab}: 2 labelled row(s) without a frame image in cropped_aligned/vid1/ (frames 4-5)"]
    assert _notes(df, "empty_folder") == [f"{root / 'cropped_aligned/empty'}: no frame images (a video without "
                                          "any face found, or a failed copy)"]
    row = D.check(["affwild2"], {"affwild2": root}).iloc[0]
    assert "1 video(s) without a label file, read unlabelled as test-set videos are (first: vid2)" in row["info"]


def test_affwild2_without_any_label_file_says_so(aux):
    import shutil
    shutil.rmtree(aux / AW)
    row = D.check(["affwild2"], {"affwild2": aux / "affwild2"}).iloc[0]
    assert row["status"] == "ok" and row["frames"] == 6
    assert "no AU label files found under" in row["info"] and "edit affwild2.patterns.labels" in row["info"]


# CASIA-WebFace, AFEW-VA
def test_casia_names_second_images_and_other_files(aux):
    ident = aux / "casia_webface/0000045"
    import shutil
    shutil.copy(ident / "001.jpg", ident / "1.jpg")          # frame 1 twice
    shutil.copy(ident / "001.jpg", ident / "face.jpg")       # no number: after the numbered ones
    shutil.copy(ident / "002.jpg", ident / "003.png")
    df = D.index("casia_webface", aux / "casia_webface")
    assert df[df.subject == "0000045"]["frame"].tolist() == [1, 2, 3]
    assert sorted(_notes(df, "ignored_file")) == [f"{ident / '003.png'}: not an image ({{identity}}/{{name}}.jpg)",
                                                  f"{ident / '1.jpg'}: second image of frame 1 (001.jpg is read)"]
    assert _qa(df)["per_subject"]["0000045"]["ignored_file"] == 2


def test_afew_va_counts_name_the_clip(aux):
    root = aux / "afew_va"
    (root / "001/001.json").unlink()
    ann = root / "002/002.json"
    j = json.loads(ann.read_text())
    del j["frames"]["00001"]
    ann.write_text(json.dumps(j))
    _jpg(root / "002/00003.jpg", np.full((24, 24, 3), 90, np.uint8))
    df = D.index("afew_va", root)
    assert _notes(df, "missing_label_file") == ["001: 001/001.json is missing (its 3 frames are read without "
                                                "valence, arousal, landmarks)"]
    assert _notes(df, "frame_without_label") == [f"{ann}: no entry for 1 frame(s) with an image, kept without "
                                                 "valence, arousal, landmarks (frames 1)"]
    assert _notes(df, "ignored_file") == [f"{root / '002/00003.jpg'}: not a frame image ({{clip}}/{{frame}}.png)"]


@pytest.mark.parametrize("dataset, level", [("casia_webface", "CASIA-WebFace"), ("afew_va", "01")])
def test_a_copy_with_an_extra_folder_level_is_named(aux, tmp_path, dataset, level, capsys):
    """CASIA-WebFace read as 0 subjects, 0 frames and exit 0; AFEW-VA said only 'no frames found'."""
    from aukit import cli
    nested = tmp_path / "nested"
    nested.mkdir()
    (aux / dataset).rename(nested / level)
    with pytest.raises(FileNotFoundError, match=rf"matches 1 folder level\(s\) further down, in {level}/ "):
        D.index(dataset, nested)
    assert cli.main(["data", "check", dataset, "--root", str(nested)]) == 1
    assert f"point the root at {nested / level}" in capsys.readouterr().out


def test_afew_va_annotations_are_checked(aux, capsys):
    """Valence 37, a null arousal, 66 landmarks and an entry for a frame without an image passed
    `aukit data check afew_va` silently; afew_va_landmarks failed on the 66 points naming no file."""
    root = aux / "afew_va"
    ann = root / "002/002.json"
    j = json.loads(ann.read_text())
    j["frames"]["00000"]["valence"] = 37
    j["frames"]["00001"]["arousal"] = None
    j["frames"]["00002"]["landmarks"] = j["frames"]["00002"]["landmarks"][:66]
    j["frames"]["00099"] = j["frames"]["00000"]
    ann.write_text(json.dumps(j))
    df = D.index("afew_va", root)
    clip = df[df.subject == "002"]
    assert len(df) == 6 and np.isnan(clip["valence"].iloc[0]) and np.isnan(clip["arousal"].iloc[1])
    assert _notes(df, "out_of_range") == [f"{ann} valence: 1 value(s) outside -10..10, read as not labelled "
                                          "(first: frame 0: 37)"]
    assert _notes(df, "missing_value") == [f"{ann}: arousal null or absent in 1 frame(s) (frames 1)"]
    assert _notes(df, "bad_landmarks") == [f"{ann}: landmarks of 1 frame(s) are not 68 x 2 points, read as absent "
                                           "(frames 2; first: shape 66 x 2)"]
    assert _notes(df, "label_without_frame") == [f"{ann}: 1 annotated frame(s) without an image (frames 99)"]
    row = D.check(["afew_va"], {"afew_va": root}).iloc[0]
    assert row["status"] == "problems"
    for k in ("out_of_range=1", "missing_value=1", "bad_landmarks=1", "label_without_frame=1"):
        assert k in row["problems"]
    lm = D.auxsets.afew_va_landmarks(df)
    assert np.isnan(lm[5]).all() and np.isfinite(lm[:5]).all()          # 002 frame 2: 66 points
    j["frames"]["00000"]["valence"] = "high"
    ann.write_text(json.dumps(j))
    with pytest.raises(LabelFormatError, match=r"002\.json: frame 0: valence is 'high', expected a number"):
        D.index("afew_va", root)
    ann.write_text(json.dumps({"frames": {"x1": {}}}))
    with pytest.raises(LabelFormatError, match=r"002\.json: frame entry 'x1' is not"):
        D.auxsets.afew_va_landmarks(df)
