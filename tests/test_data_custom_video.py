"""A lab's own dataset recorded as videos: ``layout: table`` with ``patterns.video``, one video and one label
CSV a sequence, read through DISFA's video path (a row's source is '<video>#<k>')."""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from aukit.data import catalog, manifest, splits
from aukit.data.schema import ManifestError
from aukit.data.synthau import render_face
from test_data_custom import csv, use
from test_data_fixtures import write_video

VIDEO = {"video": "videos/{subject}_{sequence}.avi", "labels": "labels/{subject}_{sequence}.csv"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No root or manifest of the machine's environment reaches the test's entry."""
    for key in [k for k in os.environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


@functools.lru_cache(maxsize=1)
def _faces() -> tuple[np.ndarray, ...]:
    """Six SynthAU faces, AU12 at 0..5: the frames every test video cycles through."""
    return tuple(render_face(None, {12: k}) for k in range(6))


def video(root, subject, sequence, n):
    """videos/<subject>_<sequence>.avi (MJPG) of ``n`` SynthAU frames; returns its path."""
    path = root / "videos" / f"{subject}_{sequence}.avi"
    write_video(path, [_faces()[k % 6] for k in range(n)])
    return path


def labels(root, subject, sequence, frames):
    """A label CSV with a row for each of ``frames``: AU06 = frame % 6, AU12 = 2."""
    csv(root, subject, sequence, ["frame", "AU06", "AU12"], [[f, f % 6, 2] for f in frames])


def notes(df, kind):
    return [n.partition(": ")[2] for n in df.attrs["qa"]["notes"] if n.startswith(kind + ": ")]


def test_video_rows_are_the_labelled_frames_with_their_decode_positions(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    paths = {s: video(root, s, "S1", 6) for s in ("P1", "P2", "P3")}
    for s in paths:
        labels(root, s, "S1", range(1, 7))
    df = catalog.index("mylab")
    p1 = df[df.subject == "P1"]
    assert p1["frame"].tolist() == [1, 2, 3, 4, 5, 6]                       # the CSV's numbers (first_frame 1)
    assert p1["source"].tolist() == [f"{paths['P1']}#{k}" for k in range(6)]   # frame 1 = decode position 0
    assert p1["AU06"].tolist() == [1, 2, 3, 4, 5, 0] and p1["occ_AU06"].tolist() == [1, 1, 1, 1, 1, 0]
    qa = df.attrs["qa"]
    assert len(df) == 18 and qa["label_without_frame"] == qa["frame_without_label"] == qa["unreadable_video"] == 0
    assert splits.describe_fold("mylab", 1)["test"] == ["P1"]


def test_a_csv_counting_from_0_is_read_with_first_frame_0_and_diagnosed_without(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    path = video(root, "P1", "S1", 12)
    labels(root, "P1", "S1", range(0, 12))
    df = catalog.index("mylab")                 # default first_frame 1: every label one frame late, and said so
    assert len(df) == 11 and df.attrs["qa"]["label_without_frame"] == 1
    assert any("labels look shifted by 1 frames; set first_frame: 0 (the CSVs call the video's first frame 0) in "
               "entry 'mylab'" in n for n in notes(df, "shifted_labels"))
    use(tmp_path, monkeypatch, patterns=VIDEO, first_frame=0)
    df = catalog.index("mylab")
    assert df["frame"].tolist() == list(range(12)) and df["source"].tolist() == [f"{path}#{k}" for k in range(12)]
    assert df["AU06"].tolist() == [f % 6 for f in range(12)] and not notes(df, "shifted_labels")


def test_a_constant_shift_is_diagnosed_and_frame_offset_fixes_it(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    path = video(root, "P1", "S1", 20)
    labels(root, "P1", "S1", range(4, 24))      # the coders' clip started 3 frames before the video
    df = catalog.index("mylab")
    assert any("labels look shifted by -3 frames; set frame_offset: -3 in entry 'mylab'" in n
               for n in notes(df, "shifted_labels"))
    use(tmp_path, monkeypatch, patterns=VIDEO, frame_offset=-3)
    df = catalog.index("mylab")
    assert df["source"].tolist() == [f"{path}#{k}" for k in range(20)] and not notes(df, "shifted_labels")
    assert df["AU06"].tolist() == [f % 6 for f in range(4, 24)]          # label row 4 on the video's first frame


def test_label_rows_past_a_short_video_and_frames_past_the_labels_are_counted_and_named(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    video(root, "P1", "S1", 6)
    labels(root, "P1", "S1", range(1, 10))      # 3 rows beyond the video's 6 frames
    video(root, "P2", "S1", 8)
    labels(root, "P2", "S1", range(1, 7))       # 2 frames without a row
    df = catalog.index("mylab")
    qa = df.attrs["qa"]
    assert df.groupby("subject").size().to_dict() == {"P1": 6, "P2": 6}     # never zero-filled
    assert qa["per_subject"]["P1"]["label_without_frame"] == 3 and qa["per_subject"]["P2"]["frame_without_label"] == 2
    assert notes(df, "label_without_frame") == [
        "P1/S1 (videos/P1_S1.avi): 3 labelled frame(s) without a video frame (first: frame 7; video frames 1..6)"]
    assert notes(df, "frame_without_label") == [
        "P2/S1 (videos/P2_S1.avi): 2 frame(s) without any label row, left out (first: frame 7; labelled 1..6)"]
    assert not notes(df, "shifted_labels")


def test_an_unreadable_or_missing_video_is_counted_with_its_file(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    video(root, "P1", "S1", 6)
    labels(root, "P1", "S1", range(1, 7))
    (root / "videos" / "P2_S1.avi").write_bytes(b"not a video" * 40)
    labels(root, "P2", "S1", range(1, 5))
    labels(root, "P3", "S1", range(1, 4))       # no video at all
    video(root, "P4", "S1", 5)                  # no label CSV: its frames are kept, AUs NaN
    df = catalog.index("mylab")
    qa = df.attrs["qa"]
    assert set(df.subject) == {"P1", "P4"} and qa["unreadable_video"] == 1 and df["AU06"].isna().sum() == 5
    assert notes(df, "missing_label_file") == ["P4/S1: labels/P4_S1.csv is missing (5 video frames, AUs NaN)"]
    assert qa["per_subject"]["P2"]["label_without_frame"] == 4 and qa["per_subject"]["P3"]["label_without_frame"] == 3
    assert notes(df, "unreadable_video") == [f"{root / 'videos' / 'P2_S1.avi'}: OpenCV cannot open it or finds no "
                                             "frame in it"]
    assert "P3/S1: 3 label rows but no video (videos/P3_S1.avi)" in notes(df, "label_without_frame")


def test_data_check_reports_a_video_entry(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    for s in ("P1", "P2", "P3"):
        video(root, s, "S1", 6)
    labels(root, "P1", "S1", range(1, 7))
    labels(root, "P2", "S1", range(1, 7))
    labels(root, "P3", "S1", range(0, 6))
    (root / "videos" / "P4_S1.avi").write_bytes(b"\0" * 64)
    assert main(["data", "check", "mylab"]) == 1                        # runs refuse the shifted P3/S1
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["mylab"])
    assert row[1:6] == ["True", "unusable", "3", "<NA>", "17"]          # frames: 6 + 6 + 5 (P3's row 0 has none)
    assert "problem: unreadable_video=1" in out and f"{root / 'videos' / 'P4_S1.avi'}: OpenCV cannot open" in out
    # P1 and P2 count from 1 as first_frame says: P3's file is to be renumbered, not the entry's first_frame set
    assert "1 of the 3 sequences (P3/S1 (videos/P3_S1.avi)): labels look shifted by 1 frames, the other 2 do " \
           "not: renumber the label files of these" in out and "set first_frame" not in out


def test_prepare_decodes_the_videos_into_the_store(tmp_path, monkeypatch):
    from aukit import data as D
    monkeypatch.chdir(tmp_path)
    root = use(tmp_path, monkeypatch, patterns=VIDEO)
    video(root, "P1", "S1", 4)
    labels(root, "P1", "S1", range(1, 4))       # the video's last frame has no label row: not in the store
    video(root, "P2", "S1", 3)
    labels(root, "P2", "S1", range(1, 4))
    s = D.prepare("mylab", "tas", root=root, workers=1, out=tmp_path / "cache", progress=False)
    assert s.meta["frames"] == len(s.index) == 6 and s.qa["aligned"] == 6
    assert s.index["source"].tolist() == [f"{root / 'videos' / p}_S1.avi#{k}" for p in ("P1", "P2") for k in range(3)]
    assert s.qa["frame_without_label"] == 1


def test_the_entry_names_frames_or_a_video(tmp_path, monkeypatch):
    use(tmp_path, monkeypatch, patterns={**VIDEO, "frames": "frames/{subject}/{sequence}/{frame}.jpg"})
    with pytest.raises(ManifestError, match=r"entry 'mylab': patterns has both frames and video; keep one"):
        manifest.entry("mylab")
    root = use(tmp_path, monkeypatch, patterns={"labels": VIDEO["labels"]})
    labels(root, "P1", "S1", range(1, 4))
    with pytest.raises(ManifestError, match=r"entry 'mylab': layout table needs patterns.frames or patterns.video"):
        catalog.index("mylab")
    use(tmp_path, monkeypatch, patterns={**VIDEO, "video": "videos/{subject}.avi"})
    with pytest.raises(ManifestError, match=r"patterns.video 'videos/\{subject\}.avi' has no \{sequence\} field"):
        manifest.entry("mylab")
    use(tmp_path, monkeypatch, patterns=VIDEO, first_frame=2)
    with pytest.raises(ManifestError, match=r"entry 'mylab': first_frame is 2; 1 .* or 0"):
        manifest.entry("mylab")
    use(tmp_path, monkeypatch, first_frame=0)          # BASE: extracted images
    with pytest.raises(ManifestError, match=r"first_frame numbers a video's frames; with patterns.frames"):
        manifest.entry("mylab")
