"""The side datasets (EmotioNet, Aff-Wild2, CASIA-WebFace, AFEW-VA) as published and damaged:
every image read or named, every count named (file, line, frame), a wrong layout explained.
Trees come from test_data_fixtures.write_aux."""
from __future__ import annotations

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
    assert _notes(df, "frame_without_label") == ["2 image(s) without a label row, kept unlabelled (first: c.jpeg, d.png)"]


def test_emotionet_label_problems_name_file_line_and_column(aux):
    lab = aux / "emotionet/labels.csv"
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,0,2\nx.jpg,0,0\n")
    df = D.index("emotionet", aux / "emotionet")
    assert _notes(df, "out_of_range") == [f"{lab} AU2: 1 value(s) outside 0..1, read as not labelled "
                                          "(first: line 3: 2)"]
    assert _notes(df, "label_without_frame") == [f"1 label row(s) name an image not among the images "
                                                 f"(first: {lab}:4 'x.jpg')"]
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,,1\n")
    with pytest.raises(LabelFormatError, match=r"labels\.csv:3: column 'AU1': empty field\Z"):
        D.index("emotionet", aux / "emotionet")
    lab.write_text("image,AU1,AU2\na.jpg,1,999\nb.jpg,yes,1\n")
    with pytest.raises(LabelFormatError, match=r"labels\.csv:3: column 'AU1': 'yes', expected an integer"):
        D.index("emotionet", aux / "emotionet")


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
    with pytest.raises(LabelFormatError, match=r"emotioNet_1\.txt:1: expected 2 fields, got 1"):
        D.index("emotionet", root)


def test_emotionet_url_list_saved_as_labels_csv_is_named(aux):
    (aux / "emotionet/labels.csv").write_text(URLS)
    with pytest.raises(LabelFormatError, match=r"labels\.csv:1: expected a column 'image': this is EmotioNet's "
                                               r"URL list"):
        D.index("emotionet", aux / "emotionet")
