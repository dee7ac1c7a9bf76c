"""Mutation round 2, aukit.predict.output and aukit.predict.frames: the CSV's rows and rounding, the
partial CSV, the binned curves, faceless spans, runs of unreadable frames, letterboxing, and a video's
clock, on hand-made inputs with expected values worked out by hand."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from aukit.predict import output as O
from aukit.predict.frames import Frame


def _face(success, confidence=0.98765, box=(10.0, 20.0, 30.0, 40.0)):
    return SimpleNamespace(face=0, confidence=confidence, success=success, box=box if success else None,
                           landmarks=np.full((68, 2), 1.234) if success else None)


def test_rows_frame_counts_frames_from_1_rounds_and_thresholds_at_one_half():
    frames = [Frame(0, 0.0, None), Frame(1, 1 / 30, None)]
    faces = [_face(True), _face(False, confidence=0.7)]
    preds = {"intensity": np.array([[1.23456, 0.0], [np.nan, np.nan]]),
             "occurrence": np.array([[0.5, 0.4996], [np.nan, np.nan]])}
    df = O.rows_frame(frames, faces, preds, ["AU01", "AU02"])
    assert "file" not in df
    assert df["frame"].tolist() == [1, 2] and df["timestamp"].tolist() == [0.0, 0.0333]
    assert df["success"].tolist() == [1, 0]
    assert df["confidence"].iloc[0] == 0.988 and np.isnan(df["confidence"].iloc[1])
    assert df.loc[0, ["face_x", "face_y", "face_w", "face_h"]].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert df.loc[1, ["face_x", "face_w"]].isna().all()
    assert df.loc[0, "x_0"] == 1.23 and df.loc[0, "y_67"] == 1.23 and np.isnan(df.loc[1, "x_0"])
    assert df.loc[0, "AU01_r"] == 1.235 and np.isnan(df.loc[1, "AU01_r"])
    assert df.loc[0, "AU01_c"] == 1.0 and df.loc[0, "AU02_c"] == 0.0         # 0.5 is present, 0.4996 is not
    assert df.loc[0, "AU02_p"] == 0.5                                           # printed rounded, decided unrounded
    assert df.loc[1, ["AU01_c", "AU02_c", "AU01_p"]].isna().all()               # no face: no 0 for absent


def test_write_csv_keeps_every_header_line_a_comment(tmp_path):
    df = pd.DataFrame({"frame": [1], "AU01_r": [0.5]})
    p = O.write_csv(df, tmp_path / "x.csv", ["input=/data/odd\nname.mp4", "line two\r"])
    assert p.read_text().splitlines() == ["# input=/data/odd\\nname.mp4", "# line two\\r", "frame,AU01_r", "1,0.5"]
    assert not (tmp_path / "x.csv.part").exists()


def test_partial_rows_keep_the_first_columns_and_only_a_file_with_rows(tmp_path):
    rows = O.PartialRows(tmp_path / "a.partial.csv", "in.mp4")
    rows.add(pd.DataFrame({"frame": [1], "AU01_r": [0.1]}))
    rows.add(pd.DataFrame({"AU01_r": [0.2], "frame": [2]}))                   # columns in another order
    assert rows.close(keep=True) == tmp_path / "a.partial.csv"
    lines = (tmp_path / "a.partial.csv").read_text().splitlines()
    assert lines[1:] == ["frame,AU01_r", "1,0.1", "2,0.2"]
    empty = O.PartialRows(tmp_path / "b.partial.csv", "in.mp4")
    assert empty.close(keep=True) is None and not (tmp_path / "b.partial.csv").exists()


def test_binned_assigns_edges_to_the_bin_they_open_and_empty_bins_are_nan():
    centre, mean, low, high = O._binned(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 5.0]),
                                        np.array([0.0, 2.0, 4.0, 6.0]))
    assert centre.tolist() == [1.0, 3.0, 5.0]
    assert mean[:2].tolist() == [1.5, 4.0] and low[:2].tolist() == [1.0, 3.0] and high[:2].tolist() == [2.0, 5.0]
    assert np.isnan(mean[2]) and np.isnan(low[2]) and np.isnan(high[2])


def test_faceless_spans_reach_half_a_step_past_their_frames():
    df = pd.DataFrame({"frame": [1, 2, 3, 4, 5, 6], "success": [1, 1, 0, 0, 1, 1]})
    t = pd.Series([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], index=pd.Index([1, 2, 3, 4, 5, 6], name="frame"))
    (a, b), = O._faceless_spans(df, t)
    assert (a, b) == (pytest.approx(0.15), pytest.approx(0.35))
    assert O._faceless_spans(df.assign(success=0), t) == []


def test_problems_are_runs_of_one_reason():
    p = O.Problems(limit=10)
    p.feed([Frame(0, 0, None), Frame(1, 0, None, "A"), Frame(2, 0, None, "A"), Frame(3, 0, None, "B"),
            Frame(4, 0, None), Frame(5, 0, None, "A")])
    assert p.texts(ends_video=True) == ["frames 2-3: A", "frame 4: B", "frame 6: A"]   # one frame: not 'to the end'
    p.feed([Frame(6, 0, None, "A"), Frame(7, 0, None, "A")])
    assert p.texts(ends_video=True)[-1] == "frames 6-8: A (to the end: the file may be cut short)"
    assert p.texts()[-1] == "frames 6-8: A"
    assert O.Problems(limit=2).texts() == [] and len(_fed(O.Problems(limit=2)).texts()) == 2


def _fed(p):
    p.feed([Frame(i, 0, None, "A" if i % 2 else "") for i in range(8)])
    return p


def test_fit_centres_the_scaled_image():
    img = np.full((100, 200, 3), 200, np.uint8)
    out, s, (x, y) = O.fit(img, 300, 400)
    assert (s, x, y) == (2.0, 0, 50)
    assert out[:50].max() == 0 and out[250:].max() == 0 and out[50:250].min() == 200


# -- frames -------------------------------------------------------------------------------------------------

def test_a_folder_read_every_second_image_keeps_their_own_frame_numbers(tmp_path):
    import cv2
    from aukit.predict.frames import read_frames
    for i in range(1, 6):                                   # 1.png .. 5.png, each its number as grey level
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), 10 * i, np.uint8))
    frames, info = read_frames(tmp_path, threads=1, every=2)
    got = [(f.index, f.name, int(f.image[0, 0, 0])) for f in frames]
    assert got == [(0, "1.png", 10), (2, "3.png", 30), (4, "5.png", 50)]
    assert info["n_frames"] == 3 and info["kind"] == "folder"


def test_a_videos_expected_frames_round_up_with_every(tmp_path):
    from aukit.predict.frames import read_frames
    from test_data_fixtures import write_video
    write_video(tmp_path / "v.avi", [np.full((16, 16, 3), 50 * k, np.uint8) for k in range(5)], fps=10.0)
    frames, info = read_frames(tmp_path / "v.avi", every=2)
    assert info["n_frames"] == 3                            # frames 0, 2, 4 of 5
    assert [f.index for f in frames] == [0, 2, 4]


def test_declared_frames_take_only_a_plausible_count():
    from aukit.predict.frames import declared_frames

    def cap(n):
        return SimpleNamespace(get=lambda prop: n)
    assert [declared_frames(cap(n)) for n in (120.0, 0.0, -1.0, -1.4e17, 1.4e17)] == [120, 0, 0, 0, 0]
