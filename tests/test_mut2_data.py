"""Mutation round 2, aukit.data.labelio and aukit.data.sampling: messages that name a field, frame
runs, the known short tail, a copy unzipped one level down, and selections on hand-made
trajectories whose expected rows are worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aukit.data import labelio as L
from aukit.data import sampling as S


# -- labelio ----------------------------------------------------------------------------------------------

def test_named_rows_name_the_field_counting_the_name(tmp_path):
    """'URL v1 v2 v3': the name is field 1, so a 2.5 as the second number is field 3."""
    p = tmp_path / "labels.txt"
    p.write_text("a.jpg\t1 0 1\n\nb.jpg\t0 2.5 1\n")
    with pytest.raises(L.LabelFormatError, match=r"labels\.txt:3: field 3 is 2\.5, expected an integer"):
        L.read_named_rows(p, 3)
    p.write_text("a.jpg 1 0 1\nb.jpg 0 1 999\n")
    names, t, lines = L.read_named_rows(p, 3)
    assert names == ["a.jpg", "b.jpg"] and t.tolist() == [[1, 0, 1], [0, 1, 999]] and lines.tolist() == [1, 2]


def test_ranges_runs_and_limit():
    assert L.ranges([7, 1, 2, 3, 5, 8, 2]) == "1-3, 5, 7-8"
    assert L.ranges([1, 3, 5], limit=3) == "1, 3, 5"                    # exactly the limit: nothing more
    assert L.ranges(range(0, 20, 2), limit=8) == "0, 2, 4, 6, 8, 10, 12, 14, and 2 more runs"
    assert L.ranges(range(0, 20, 2), limit=None) == "0, 2, 4, 6, 8, 10, 12, 14, 16, 18"
    assert L.ranges([]) == ""


def _join(n_images, n_labelled, known_tail):
    qa = L.QA()
    frames = pd.DataFrame({"frame": np.arange(1, n_images + 1)})
    labels = pd.DataFrame({"frame": np.arange(1, n_labelled + 1), "AU01": np.arange(n_labelled, dtype=float)})
    df = L.join_labels(frames, [("au01.csv", labels)], qa, "SN010", known_tail=known_tail)
    return df, qa


def test_a_known_short_tail_is_silent_only_when_it_is_exactly_that_tail():
    df, qa = _join(6, 4, known_tail=2)          # frames 5, 6 unlabelled: the known 2-frame tail
    assert df["frame"].tolist() == [1, 2, 3, 4] and df["AU01"].tolist() == [0, 1, 2, 3]
    assert qa.per_subject["SN010"]["frame_without_label"] == 2
    assert not [n for n in qa.notes if n.startswith("frame_without_label")]
    _, qa = _join(6, 4, known_tail=3)           # 2 frames where 3 are known: something else, noted
    assert qa.per_subject["SN010"]["frame_without_label"] == 2
    assert [n for n in qa.notes if n.startswith("frame_without_label")] == [
        "frame_without_label: SN010: 2 frame(s) without any label row, left out (first: frame 5; labelled 1..4)"]


def test_deeper_hint_points_at_one_folder_or_asks_to_move_several_up(tmp_path):
    root = tmp_path / "copy"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.txt").write_text("")
    hint = L.deeper_hint(root, "x.txt")
    assert "matches 1 folder level(s) further down, in a/" in hint
    assert f"point the root at {root / 'a'}" in hint and "move their contents up" not in hint
    (root / "b").mkdir()
    (root / "b" / "x.txt").write_text("")
    hint = L.deeper_hint(root, "x.txt")
    assert "in a/, b/" in hint and hint.endswith(f"move their contents up into {root}")
    assert "point the root at" not in hint
    assert L.deeper_hint(tmp_path / "empty_dir_none", "x.txt") == ""


# -- sampling ---------------------------------------------------------------------------------------------

def _seq(values, frames=None, subject="s", sequence="q"):
    n = len(values)
    return pd.DataFrame({"subject": [subject] * n, "sequence": [sequence] * n,
                         "frame": np.arange(n) if frames is None else frames, "AU12": np.asarray(values, float)})


def test_frames_per_segment_may_take_every_frame():
    segs = np.array([[10, 11, 12, 13], [20, 21, 22, 23]])
    assert S.frames_per_segment(segs, 4, seed=3).tolist() == segs.tolist()
    with pytest.raises(ValueError, match="k=5 exceeds segment length 4"):
        S.frames_per_segment(segs, 5, seed=3)


def test_sparse_labels_fraction_zero_labels_nothing():
    assert S.sparse_labels(10, 0.0, seed=0).tolist() == [False] * 10
    assert S.sparse_labels(10, 1.0, seed=0).all()
    with pytest.raises(ValueError, match="fraction"):
        S.sparse_labels(10, -0.1, seed=0)


def test_segments_round_the_linear_positions():
    """Keyframes 0 and 5, T=4: linspace 0, 1.67, 3.33, 5 -> rows 0, 2, 3, 5 (rounded, not floored);
    falling, the same rows valley first."""
    segs, info = S.segments(_seq([0, 1, 2, 3, 4, 5]), 12, T=4, return_info=True)
    assert segs.tolist() == [[0, 2, 3, 5]]
    assert info[["v_first", "v_last"]].to_numpy().tolist() == [[0.0, 5.0]]
    assert S.segments(_seq([5, 4, 3, 2, 1, 0]), "AU12", T=4).tolist() == [[5, 3, 2, 0]]


def test_runs_split_only_at_steps_above_the_sequences_usual_one():
    """Frames every 2 with one step of 1 (median step 2): one run; a step of 4 there splits it."""
    _, run_id, run_len = S.runs(_seq(np.zeros(6), frames=[0, 2, 4, 5, 7, 9]))
    assert run_id.tolist() == [0] * 6 and run_len.tolist() == [6] * 6
    _, run_id, run_len = S.runs(_seq(np.zeros(5), frames=[0, 2, 4, 8, 10]))
    assert run_id.tolist() == [0, 0, 0, 1, 1] and run_len.tolist() == [3, 3, 3, 2, 2]


# -- store ------------------------------------------------------------------------------------------------

def _index_df():
    df = pd.DataFrame({"subject": ["A", "A", "B", "C"], "sequence": ["T1", "T1", "T1", "T1"], "frame": [1, 2, 1, 1],
                       "source": ["/x/A/1.jpg", "/x/A/2.jpg", "/x/B/1.jpg", "/x/C/1.jpg"],
                       "AU12": np.array([0, 1, np.nan, 3], np.float32)})
    df.attrs["qa"] = {"invalid_codes": 6, "per_subject": {s: {"invalid_codes": n} for s, n in zip("ABC", (1, 2, 3))},
                      "notes": ["a note"]}
    return df


def test_index_fingerprint_ignores_source_paths_and_dtype_but_not_labels_or_frames():
    from aukit.data.store import index_fingerprint
    df = _index_df()
    fp = index_fingerprint(df)
    assert len(fp) == 16
    moved = df.assign(source=df["source"].str.replace("/x/", "/elsewhere/"))          # the same copy, moved
    assert index_fingerprint(moved) == fp
    assert index_fingerprint(df.assign(AU12=df["AU12"].astype(np.float64))) == fp
    assert index_fingerprint(df.assign(AU12=np.array([0, 1, 2, 3], np.float32))) != fp   # a NaN became a label
    assert index_fingerprint(df.assign(frame=[1, 3, 1, 1])) != fp


def test_select_index_restricts_the_per_subject_qa_like_the_rows(monkeypatch):
    from aukit.data import catalog
    from aukit.data.store import select_index
    monkeypatch.setattr(catalog, "index", lambda dataset, root=None: _index_df())
    whole = select_index("bp4d")
    assert len(whole) == 4 and sorted(whole.attrs["qa"]["per_subject"]) == ["A", "B", "C"]
    two = select_index("bp4d", subjects=["B", "A"])
    assert two["subject"].tolist() == ["A", "A", "B"]
    assert two.attrs["qa"]["per_subject"] == {"A": {"invalid_codes": 1}, "B": {"invalid_codes": 2}}
    assert two.attrs["qa"]["notes"] == ["a note"] and two.attrs["qa"]["invalid_codes"] == 6
    # subjects, then the first 2 frames: only A's frames are left, so only A's counts
    head = select_index("bp4d", subjects=["A", "B"], max_frames=2)
    assert head["frame"].tolist() == [1, 2] and head.attrs["qa"]["per_subject"] == {"A": {"invalid_codes": 1}}
    head = select_index("bp4d", max_frames=3)
    assert sorted(head.attrs["qa"]["per_subject"]) == ["A", "B"]


def test_the_order_subjects_are_given_in_makes_no_other_store(tmp_path):
    from aukit.data.align import get_policy
    from aukit.data.store import cache_hash, cache_key
    pol = get_policy("tas")
    a = cache_key("bp4d", pol, tmp_path, subjects=["F002", "F001"], max_frames=10)
    b = cache_key("bp4d", pol, tmp_path, subjects=("F001", "F002"), max_frames=10)
    assert a["subjects"] == ["F001", "F002"] and cache_hash(a) == cache_hash(b)
    assert cache_hash(a) != cache_hash(cache_key("bp4d", pol, tmp_path, subjects=["F001"], max_frames=10))


def test_find_store_keys_a_store_moved_without_its_dataset_by_the_root_given(tmp_path, monkeypatch):
    from aukit.data.manifest import DatasetNotFound
    from aukit.data.store import find_store
    monkeypatch.delenv("AUKIT_DATA_BP4D", raising=False)
    monkeypatch.setenv("AUKIT_DATA", str(tmp_path / "no_data_here"))
    path, key, h = find_store("bp4d", "tas", tmp_path / "moved", out=tmp_path / "cache")
    assert key["root"] == str((tmp_path / "moved").resolve()) and key["dataset"] == "bp4d"
    assert path.parent == tmp_path / "cache" and path.name.startswith("bp4d__tas") and path.name.endswith(h)
    with pytest.raises(DatasetNotFound, match="'bp4d' not found"):
        find_store("bp4d", "tas", out=tmp_path / "cache")


def test_a_store_whose_landmarks_do_not_match_its_index_is_refused(tmp_path):
    import json
    from dataclasses import asdict
    from aukit.data.align import get_policy
    from aukit.data.store import FrameStore
    pol = get_policy("tas")
    d = tmp_path / "bp4d__store"
    d.mkdir()
    s = int(pol.size)
    np.save(d / "images.npy", np.zeros((2, s, s, 3), np.uint8))
    np.save(d / "affine.npy", np.zeros((2, 2, 3), np.float32))
    _index_df().head(2).assign(row=[0, 1]).to_csv(d / "index.csv", index=False)
    (d / "qa.json").write_text("{}")
    (d / "meta.json").write_text(json.dumps({"hash": "h", "key": {"dataset": "bp4d", "policy": asdict(pol)}}))
    np.save(d / "landmarks.npy", np.zeros((2, 68, 2), np.float32))
    assert len(FrameStore(d)) == 2
    np.save(d / "landmarks.npy", np.zeros((1, 68, 2), np.float32))
    with pytest.raises(ValueError, match="images/index/landmarks lengths differ"):
        FrameStore(d)


# -- preprocess -------------------------------------------------------------------------------------------

def test_plan_units_never_cross_a_subject_with_the_same_sequence_name():
    from aukit.data.preprocess import plan_units
    df = pd.DataFrame({"subject": ["A", "A", "B", "B", "B", "B", "B"], "sequence": ["T1"] * 7})
    assert [u.tolist() for u in plan_units(df, 256)] == [[0, 1], [2, 3, 4, 5, 6]]
    assert [u.tolist() for u in plan_units(df, 2)] == [[0, 1], [2, 3], [4, 5], [6]]


def test_start_partial_empties_only_a_folder_left_for_another_key(tmp_path):
    from aukit.data.preprocess import _start_partial
    partial = tmp_path / "store.partial"
    chunks = _start_partial(partial, {"dataset": "bp4d", "fingerprint": "a"})
    (chunks / "000000.npz").write_bytes(b"unit 0")
    assert (_start_partial(partial, {"dataset": "bp4d", "fingerprint": "a"}) / "000000.npz").is_file()   # resumed
    chunks = _start_partial(partial, {"dataset": "bp4d", "fingerprint": "b"})                          # index changed
    assert chunks.is_dir() and not list(chunks.iterdir())


def test_assemble_keeps_the_aligned_frames_in_order_with_their_index_row(tmp_path):
    """Four frames, the second without a face: the store holds frames 1, 3, 4 as rows 0-2, each with its
    row in the index it came from (0, 2, 3) and its own image."""
    from dataclasses import asdict
    from aukit.data.align import get_policy
    from aukit.data.preprocess import NO_FACE, OK, _assemble, _save_npz
    pol = get_policy("cpc")
    s = pol.size
    df = pd.DataFrame({"subject": ["A"] * 4, "sequence": ["T1"] * 4, "frame": [1, 2, 3, 4],
                       "source": [str(tmp_path / f"{i}.jpg") for i in range(1, 5)], "AU12": [0.0, 1.0, 2.0, 3.0]})
    partial = tmp_path / "st.partial"
    (partial / "chunks").mkdir(parents=True)
    images = np.stack([np.full((s, s, 3), v, np.uint8) for v in (10, 30, 40)])
    _save_npz(str(partial / "chunks" / "000000.npz"), status=np.array([OK, NO_FACE, OK, OK], np.int8), images=images,
              landmarks=np.arange(3, dtype=np.float32)[:, None, None] * np.ones((3, 68, 2), np.float32),
              affine=np.zeros((3, 2, 3), np.float32))
    key = {"dataset": "x", "policy": asdict(pol)}
    store = _assemble(df, [np.arange(4)], partial, tmp_path / "st", pol, key, "h", "fp", fps=1.0, wall=1.0)
    assert store.index["row"].tolist() == [0, 1, 2] and store.index["frame"].tolist() == [1, 3, 4]
    assert store.index["index_row"].tolist() == [0, 2, 3]
    assert store.index["AU12"].tolist() == [0.0, 2.0, 3.0]
    assert [int(store.images[i, 0, 0, 0]) for i in range(3)] == [10, 30, 40]
    assert store.landmarks[:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert (store.qa["frames"], store.qa["aligned"], store.qa["no_face"], store.qa["unreadable"]) == (4, 3, 1, 0)
    assert store.qa["no_face_frames"] == {"A/T1": "2"}
    assert not partial.exists()


def _summary_store(n_bad):
    from types import SimpleNamespace
    qa = {"frames": 10, "aligned": 10 - n_bad, "unreadable": n_bad, "per_subject": {"A": {"aligned": 10 - n_bad}},
          "unreadable_files": [f"/d/{i}.jpg" for i in range(n_bad)], "unreadable_why": {"/d/0.jpg": "missing"}}
    return SimpleNamespace(qa=qa, dataset="bp4d", policy=SimpleNamespace(name="tas"), path="/cache/st")


def test_print_summary_shows_five_of_each_then_how_many_more(capsys):
    from aukit.data.preprocess import print_summary
    print_summary(_summary_store(5))
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "bp4d/tas: 5/10 frames aligned; unreadable 5"
    assert "    /d/0.jpg: missing\n    /d/1.jpg\n" in out and "/d/4.jpg" in out and "more in qa.json" not in out
    print_summary(_summary_store(6), fps=2.5)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "bp4d/tas: 4/10 frames aligned; unreadable 6; 2.5 frames/s"
    assert "/d/5.jpg" not in out and "    ... 1 more in qa.json" in out


# -- datacheck --------------------------------------------------------------------------------------------

def _check_disfa(tmp_path, monkeypatch, expected_frames):
    from aukit.data import datacheck
    from test_data_fixtures import write_disfa
    root = write_disfa(tmp_path / "disfa", faces=False, n=6)        # 17 frames with labels (test_data_index)
    real = datacheck.entry
    monkeypatch.setattr(datacheck, "entry",
                        lambda d: {**real(d), "expected": {"subjects": 3, "frames": expected_frames}})
    return datacheck.check(["disfa"], roots={"disfa": root}).set_index("dataset").loc["disfa"]


def test_data_check_frames_within_ten_percent_are_no_problem(tmp_path, monkeypatch):
    row = _check_disfa(tmp_path, monkeypatch, 20)                  # 17 vs 20: 3 frames off, more than 2 (10 %)
    assert row["frames"] == 17 and "17 frames, expected ~20" in row["problems"]
    row = _check_disfa(tmp_path / "b", monkeypatch, 18)            # 1 frame off, within 1.8
    assert row["frames"] == 17 and "expected ~" not in row["problems"]
    assert "subjects, expected" not in row["problems"]


def test_data_check_details_show_three_notes_per_kind_then_a_count():
    from aukit.data.datacheck import _details
    row = {"dataset": "disfa", "found": True, "root": "/d", "root_from": "env AUKIT_DATA", "status": "problems",
           "problems": "p1\np2", "info": "i1",
           "notes": [f"label_without_frame: n{i}" for i in range(3)] + [f"ignored_file: f{i}" for i in range(5)]}
    assert _details(row) == [
        "disfa: root /d (from env AUKIT_DATA)", "  problem: p1", "  problem: p2", "  info: i1",
        "  label_without_frame (3):", "    n0", "    n1", "    n2",
        "  ignored_file (5):", "    f0", "    f1", "    f2", "    ... and 2 more"]


def test_data_check_names_subjects_outside_the_folds_and_fold_subjects_missing(tmp_path, monkeypatch):
    from aukit.data import datacheck
    monkeypatch.setattr(datacheck, "folds", lambda d, subjects=None: {1: {"SN001", "SN003"}, 2: {"SN010"}})
    row = _check_disfa(tmp_path, monkeypatch, 17)
    assert row["subjects"] == 3
    assert "1 subject of the committed folds not found: SN003" in row["problems"]
    assert "subjects outside the committed folds (fold-based notebooks skip them): SN002" in row["info"]


def test_data_check_an_unreadable_copy_names_the_error_kind_unless_it_is_a_file_error(tmp_path, monkeypatch):
    from aukit.data import datacheck
    from aukit.data.labelio import LabelFormatError
    from test_data_fixtures import write_disfa
    root = write_disfa(tmp_path / "disfa", faces=False, n=2)
    for err, shown in ((KeyError("AU99"), "unreadable: KeyError: 'AU99'"),
                       (LabelFormatError("x.csv:3: empty field 2"), "unreadable: x.csv:3: empty field 2"),
                       (PermissionError("no access to x.avi"), "unreadable: no access to x.avi")):
        def boom(dataset, root=None, err=err):
            raise err
        monkeypatch.setattr(datacheck, "index", boom)
        row = datacheck.check(["disfa"], roots={"disfa": root}).set_index("dataset").loc["disfa"]
        assert (row["status"], row["problems"]) == ("unreadable", shown)


def test_an_empty_index_has_no_runs_tiles_windows_or_fits():
    """sampling.runs built a length-1 step array for no frame and pandas stopped with 'Grouper and axis must be
    same length', where CPC's clip sampler has its own message for 'no run of N consecutive frames'."""
    from aukit.data import sampling as S
    empty = pd.DataFrame({"subject": pd.Series([], dtype=str), "sequence": pd.Series([], dtype=str),
                          "frame": pd.Series([], dtype=np.int64)})
    order, run_id, run_len = S.runs(empty)
    assert len(order) == len(run_id) == len(run_len) == 0
    assert len(S.tiles(empty, 4)) == 0
