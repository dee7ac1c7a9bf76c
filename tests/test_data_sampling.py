"""Keyframes, segments, sparse labels and windows on hand-made trajectories."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aukit.data import sampling as S


def test_keyframes_peaks_valleys_and_ends():
    x = [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert S.keyframes(x).tolist() == [0, 3, 6, 8]


def test_keyframes_plateaus_take_the_middle():
    x = [1, 1, 1, 3, 3, 3, 3, 0, 0, 2]
    # runs: [0-2]=1 (start, valley), [3-6]=3 (peak), [7-8]=0 (valley), [9]=2 (end)
    assert S.keyframes(x).tolist() == [1, 4, 7, 9]
    assert S.keyframes([2, 2, 2]).tolist() == []
    assert S.keyframes([]).tolist() == []
    # a monotonic run has only its ends
    assert S.keyframes([0, 1, 1, 2, 5]).tolist() == [0, 4]
    with pytest.raises(ValueError, match="finite"):
        S.keyframes([0, np.nan, 1])


def _index(values_by_seq):
    rows = []
    for (subj, seq), vals in values_by_seq.items():
        for f, v in enumerate(vals):
            rows.append({"subject": subj, "sequence": seq, "frame": 100 + f, "AU12": v})
    df = pd.DataFrame(rows)
    df["row"] = np.arange(len(df)) + 1000  # store rows differ from positions
    return df


def test_segments_linear_and_oriented_valley_to_peak():
    df = _index({("F001", "T1"): [0, 1, 2, 3, 4, 3, 2, 1, 0]})
    segs, info = S.segments(df, "AU12", T=5, return_info=True)
    assert segs.shape == (2, 5)
    assert segs[0].tolist() == [1000, 1001, 1002, 1003, 1004]
    # the falling trend 4 -> 0 (positions 4..8) is reversed: valley first
    assert segs[1].tolist() == [1008, 1007, 1006, 1005, 1004]
    assert info["v_first"].tolist() == [0, 0] and info["v_last"].tolist() == [4, 4]


def test_segments_respect_sequences_nans_and_sampling():
    df = _index({("F001", "T1"): [0, 0, 5, np.nan, 1, 3],
                 ("F002", "T1"): list(np.linspace(0, 5, 31))})
    segs = S.segments(df, 12, T=16)
    labels = df.set_index("row")["AU12"]
    for s in segs:  # each segment lies in one sequence and rises monotonically
        v = labels.loc[s].to_numpy()
        assert np.all(np.diff(v) >= 0) and v[0] < v[-1]
        assert df.set_index("row").loc[s, "subject"].nunique() == 1
    # F001: 0,0,5 -> keyframes 0 (plateau start -> 0), 2; the NaN splits; 1,3 -> 4,5
    assert len(segs) == 3
    long = segs[-1]
    assert long[0] == df.row.iloc[6] and long[-1] == df.row.iloc[-1]
    assert np.all(np.diff(long) == 2)  # 31 frames -> 16 linearly spaced


def test_sparse_labels_reproducible():
    a = S.sparse_labels(1000, 0.02, seed=3)
    assert a.sum() == 20 and a.dtype == bool
    assert np.array_equal(a, S.sparse_labels(1000, 0.02, seed=3))
    assert not np.array_equal(a, S.sparse_labels(1000, 0.02, seed=4))
    assert S.sparse_labels(10, 0.01, seed=0).sum() == 1


def test_frames_per_segment():
    segs = np.arange(40).reshape(4, 10)
    k = S.frames_per_segment(segs, 2, seed=0)
    assert k.shape == (4, 2)
    assert all(set(r) <= set(s) for r, s in zip(k, segs)) and (k[:, 0] < k[:, 1]).all()
    assert np.array_equal(k, S.frames_per_segment(segs, 2, seed=0))


def test_windows_place_label_randomly_inside_the_sequence():
    df = _index({("A", "T1"): np.zeros(20), ("B", "T1"): np.zeros(6)})
    rows = np.array([1000, 1010, 1021])  # start of A, middle of A, inside B
    w, slot = S.windows(df, rows, length=5, stride=2, seed=0, return_position=True)
    assert w.shape == (3, 5)
    assert (w[np.arange(3), slot] == rows).all()
    assert (np.diff(w[:2], axis=1) == 2).all()
    assert slot[0] == 0  # the first frame of a sequence can only open the window
    assert (w[0] < 1020).all() and (w[2] >= 1020).all()  # never crosses sequences
    slots = {int(S.windows(df, [1010], 5, 1, seed=s, return_position=True)[1][0]) for s in range(40)}
    assert slots == {0, 1, 2, 3, 4}  # the labelled frame's position varies
    assert np.array_equal(w, S.windows(df, rows, 5, 2, seed=0))


def test_windows_never_jump_over_missing_frames():
    """Frames 105-107 are missing (no face, or absent from an Aff-Wild2 copy): a window at stride 2
    stays on one side of the gap; a copy sampled every 2nd frame is one run, not 1-frame runs."""
    df = _index({("A", "T1"): np.zeros(20)})
    df = df[~df.frame.isin([105, 106, 107])].reset_index(drop=True)
    df["row"] = np.arange(len(df)) + 1000
    order, run_id, run_len = S.runs(df.sample(frac=1, random_state=0))      # any row order
    assert run_len[np.searchsorted(order, 1000)] == 5 and run_len[np.searchsorted(order, 1010)] == 12
    before, after = set(range(1000, 1005)), set(range(1005, 1017))
    for seed in range(10):
        w = S.windows(df, [1002, 1004, 1005, 1012], length=3, stride=2, seed=seed)
        frames = df.set_index("row").frame.loc[w.ravel()].to_numpy().reshape(w.shape)
        assert set(w[0]) <= before and set(w[1]) <= before and set(w[2]) <= after and set(w[3]) <= after
        assert (np.diff(frames[[0, 2, 3]], axis=1) == 2).all()               # a true stride where the run allows
    every2 = _index({("A", "T1"): np.zeros(20)}).iloc[::2]
    assert set(S.runs(every2)[2]) == {10}
    named = _index({("A", "T1"): np.zeros(4)}).assign(frame=["a", "b", "c", "d"])
    assert set(S.runs(named)[2]) == {4}


def test_save_and_load_selection(tmp_path):
    m = S.sparse_labels(50, 0.1, seed=7)
    p = S.save_selection(tmp_path / "sel.npz", seed=7, labelled=m)
    got = S.load_selection(p)
    assert got["seed"] == 7 and np.array_equal(got["labelled"], m)


def test_labelled_fold_rows_split_subset_and_errors():
    import pandas as pd
    from aukit.data.splits import labelled_fold_rows, subset_rows
    index = pd.DataFrame({"subject": ["A"] * 4 + ["B"] * 3 + ["C"] * 3})
    labels = np.ones((10, 2), np.float32)
    labels[1] = np.nan          # unlabelled frame of A
    labels[8, 0] = np.nan       # partly labelled frame of C stays
    train, test = labelled_fold_rows(index, labels, ["A", "B"], ["C"])
    assert train.tolist() == [0, 2, 3, 4, 5, 6] and test.tolist() == [7, 8, 9]
    sub, _ = labelled_fold_rows(index, labels, ["A", "B"], ["C"], max_train=3, seed=4)
    assert len(sub) == 3 and set(sub) <= set(train) and np.all(np.diff(sub) > 0)
    np.testing.assert_array_equal(sub, subset_rows(train, 3, 4))
    with pytest.raises(ValueError, match="bp4d fold 2: 6 training and 0 test"):
        labelled_fold_rows(index, labels, ["A", "B"], ["Z"], where="bp4d fold 2")


def test_tiles_are_non_overlapping_and_stay_inside_runs():
    """CPC §4's pre-training sequences: windows that tile each run from its first frame, never
    across missing frames (105-107), a tail shorter than a window left out."""
    df = _index({("A", "T1"): np.zeros(20), ("B", "T2"): np.zeros(7)})
    df = df[~((df.subject == "A") & df.frame.isin([105, 106, 107]))].reset_index(drop=True)
    df["row"] = np.arange(len(df)) + 1000
    t = S.tiles(df.sample(frac=1, random_state=1), length=3, stride=2)       # span 5 frames
    frames = df.set_index("row").loc[t.ravel()]
    subj = frames.subject.to_numpy().reshape(t.shape)
    fr = frames.frame.to_numpy().reshape(t.shape)
    # A: run 100-104 (one tile), run 108-119 (12 frames: tiles at 108, 113; 118-119 left out); B: 100-106 (one)
    assert [(s[0], f[0]) for s, f in zip(subj, fr)] == [("A", 100), ("A", 108), ("A", 113), ("B", 100)]
    assert (np.diff(fr, axis=1) == 2).all() and (subj == subj[:, :1]).all()
    assert len(set(t.ravel())) == t.size                                       # no frame in two tiles
    assert S.tiles(df, length=30, stride=2).shape == (0, 30)


def test_split3_is_round_robin_over_sorted_subjects_in_part_order():
    """Catches split3 naming its parts in another order (part1 must start at the first sorted subject)."""
    from aukit.data.splits import split3
    assert split3(["S7", "S1", "S3", "S2", "S5", "S4", "S6", "S1"]) == {
        "part1": ["S1", "S4", "S7"], "part2": ["S2", "S5"], "part3": ["S3", "S6"]}


def test_labelled_fold_rows_subsets_train_with_seed_and_test_with_seed_plus_one():
    """Catches the test subset drawn with ``seed`` (the training subset's seed) instead of ``seed + 1``."""
    from aukit.data.splits import labelled_fold_rows
    index = pd.DataFrame({"subject": ["A"] * 10 + ["B"] * 10})
    train, test = labelled_fold_rows(index, np.ones((20, 1)), ["A"], ["B"], max_train=4, max_test=4, seed=3)
    assert train.tolist() == [0, 1, 2, 5]          # default_rng(3) over rows 0..9
    assert test.tolist() == [15, 17, 18, 19]       # default_rng(4) over rows 10..19 (seed 3 would give 10 11 12 15)


def test_sparse_labels_rounds_the_count_to_nearest():
    """Catches round(fraction * n) truncated to int: 0.37 of 10 frames is 4 labelled, not 3."""
    assert S.sparse_labels(10, 0.37, 0).sum() == 4
    assert S.sparse_labels(10, 0.34, 0).sum() == 3


def test_windows_in_a_five_frame_run_never_leave_it_or_repeat_a_row():
    """Catches a window slot allowed to end one past its run (clipped: the run's last row repeated)."""
    df = _index({("A", "T1"): np.zeros(5), ("B", "T1"): np.zeros(5)})
    run = set(range(1000, 1005))
    for seed in range(30):
        for length, stride in ((3, 1), (2, 2), (5, 1)):
            w = S.windows(df, np.arange(1000, 1005), length=length, stride=stride, seed=seed)
            assert set(w.ravel()) <= run
            assert (np.diff(w, axis=1) == stride).all(), (seed, length, stride, w)
