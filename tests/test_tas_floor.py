"""TAS's floor: the constant predictors a trained model must beat. The floor was the training keyframes' median
(peaks and valleys, MAE 1.03 on SynthAU's BP4D tree) while predicting 0 scored 0.278 there: A6's 0.452 read as
twice as good as the floor and was worse than predicting no AU."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aukit.methods.tas import experiment as E
from aukit.methods.tas import reporting as R
from aukit.methods.tas.data import TASData

AUS = ["AU06", "AU12"]


def tiny_data(train, test, seg_rows, seg_au) -> TASData:
    """Intensities (0..5) of the training rows then the test rows, one column per AU; segments by store row."""
    labels = np.array(train + test, np.float32) / 5.0
    rows = np.arange(len(labels))
    n = len(train)
    return TASData("synthau-bp4d", None, list(AUS), labels, np.zeros(len(labels), np.int64), rows[:n], rows[n:],
                   np.array(seg_rows, np.int64), np.array(seg_au, np.int64), ["F001"], ["F002"])


def peaks_data(test=((0, 0), (0, 0), (0, 0), (1, 1))) -> TASData:
    """Mostly neutral training frames whose keyframes are a valley and a peak: AU06's segment runs from row 2
    (0) to row 5 (5), AU12's from row 3 (0) to row 5 (3); AU12 is not coded on row 1."""
    train = [(0, 0), (0, np.nan), (0, 0), (1, 0), (4, 2), (5, 3)]
    return tiny_data(train, list(test), [[2, 3, 5], [3, 4, 5]], [0, 1])


def test_constant_values_come_from_training_labels():
    """0; the median over every labelled training frame (NaN left out); the keyframes' median and mean."""
    c = E.constant_values(peaks_data())
    assert c["zero"].tolist() == [0.0, 0.0]
    assert (c["train_median"] * 5).tolist() == pytest.approx([0.5, 0.0])
    assert (c["keyframe_median"] * 5).tolist() == pytest.approx([2.5, 1.5])
    assert (c["keyframe_mean"] * 5).tolist() == pytest.approx([2.5, 1.5])
    other = E.constant_values(peaks_data(test=((5, 5), (5, 5), (4, 4), (5, 5))))   # other test labels: the same
    assert all(np.array_equal(c[k], other[k]) for k in E.CONSTANTS)


def test_the_floor_is_the_best_constant_not_the_keyframe_median():
    """The keyframe median (2.5 and 1.5) scores MAE 1.75 on these mostly neutral test frames, predicting 0 scores
    0.25: the floor is 0. The old keys keep the keyframe constants."""
    m = E.constant_predictor(peaks_data(), E.RunOptions())
    assert m["zero_mae_avg"] == pytest.approx(0.25) and m["train_median_mae_avg"] == pytest.approx(0.375)
    assert m["median_mae_avg"] == pytest.approx(1.75) and m["mae_avg"] == pytest.approx(1.75)
    assert m["floor_constant"] == "zero" and m["floor_mae_avg"] == pytest.approx(0.25)
    assert (m["floor_mae_AU06"], m["floor_mae_AU12"]) == (m["zero_mae_AU06"], m["zero_mae_AU12"])


def test_the_floor_is_the_training_median_where_it_does_better():
    """Training frames at intensity 2 and test frames at 2: the training median scores 0, predicting 0 scores 2."""
    data = tiny_data([(2, 2)] * 4 + [(0, 0), (5, 5)], [(2, 2)] * 3, [[4, 0, 5], [4, 1, 5]], [0, 1])
    m = E.constant_predictor(data, E.RunOptions())
    assert m["floor_constant"] == "train_median" and m["floor_mae_avg"] == pytest.approx(0.0)
    assert m["zero_mae_avg"] == pytest.approx(2.0)


def test_a_tie_goes_to_predicting_zero():
    """Every training median 0: the training median and 0 score alike, and the floor says 0."""
    data = tiny_data([(0, 0)] * 4 + [(5, 5)], [(0, 0), (1, 1)], [[0, 1, 4], [2, 3, 4]], [0, 1])
    m = E.constant_predictor(data, E.RunOptions())
    assert m["train_median_mae_avg"] == m["zero_mae_avg"] and m["floor_constant"] == "zero"


@pytest.mark.parametrize("mae, says", [(0.452, "A6's MAE 0.452 is above the floor 0.278, predicting 0 for every AU "
                                               "(no AU active): A6 does not beat it."),
                                       (0.2781, "is equal to the floor 0.278, predicting 0 for every AU (no AU "
                                                "active): A6 does not beat it."),
                                       (0.2, "is below the floor 0.278, predicting 0 for every AU (no AU active): "
                                             "A6 beats every constant predictor.")])
def test_floor_line_says_whether_the_model_beats_it(mae, says):
    assert says in R.floor_line({"mae_avg": mae, "floor_mae_avg": 0.2777, "floor_constant": "zero"})


FLOOR = {"floor_constant": "zero", "floor_mae_avg": 0.278, "floor_mae_AU06": 0.2, "floor_mae_AU12": 0.356}


def _run(icc: float, mae: float) -> dict:
    return {"seed": 0, **{f"icc_{a}": icc for a in AUS}, **{f"mae_{a}": mae for a in AUS}, "icc_avg": icc,
            "mae_avg": mae, "flags": {}}


@pytest.fixture
def report(tmp_path, monkeypatch):
    from aukit.data import splits
    from aukit.report import Report
    monkeypatch.setitem(splits.USED, "synthau-bp4d", "fera")
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)
    return Report("tas", folder=tmp_path / "tas", dataset="synthau-bp4d", preset="quick", seeds=[0], device="cpu")


def _table(report, name) -> tuple[str, pd.DataFrame]:
    folder = report.dir / "tables"
    return (folder / f"{name}.md").read_text(encoding="utf-8"), pd.read_csv(folder / f"{name}.csv")


def test_table1_mae_shows_the_floor_and_says_the_model_does_not_beat_it(report):
    """Table 1 MAE showed 'TAS (ours) 0.45' above every published row with no constant beside it."""
    data = peaks_data()
    R.add_table1(report, data, {"A6": {"runs": [_run(0.0, 0.452)]}}, floor=FLOOR)
    md, csv = _table(report, "table1_mae")
    row = csv[csv["method"] == "constant 0 (floor)"].iloc[0]
    assert row["kind"] == "measured" and (row["AU06"], row["AU12"], row["Avg"]) == (0.2, 0.356, 0.278)
    assert ("Floor: predicting 0 for every AU (no AU active), MAE 0.28, the lowest test MAE of 4 constant "
            "predictors, none fitted to the test labels") in md
    assert "TAS (ours) (0.45) does not beat it. Its MAE is no result to set beside the published methods'" in md
    icc_md, icc_csv = _table(report, "table1_icc")
    assert "constant" not in icc_md and "constant 0 (floor)" not in icc_csv["method"].tolist()


def test_table1_mae_without_the_comparison_sentence_when_the_model_beats_the_floor(report):
    R.add_table1(report, peaks_data(), {"A6": {"runs": [_run(0.0, 0.2)]}}, floor=FLOOR)
    md, _ = _table(report, "table1_mae")
    assert "TAS (ours) (0.20) beats it." in md and "no result to set beside" not in md


def test_table3_floor_row_and_which_variants_beat_it(report):
    """The floor row has MAE and no ICC; the frame returned (the Table 3 order) holds the variants alone."""
    res = {"A1": {"runs": [_run(0.1, 0.2)]}, "A6": {"runs": [_run(0.0, 0.452)]}}
    mean = R.add_overall_table(report, "table3", peaks_data(), res, floor=FLOOR)
    assert list(mean.index) == ["A1", "A6"]
    md, csv = _table(report, "table3")
    row = csv[csv["method"] == "constant 0 (floor)"].iloc[0]
    assert np.isnan(row["ICC"]) and row["MAE"] == 0.278
    assert "| constant 0 (floor) | measured (" in md and "| - | 0.28 |" in md
    assert "A6 (0.45) does not beat it; A1 (0.20) beats it." in md


def test_tables_without_a_floor_are_as_before(report):
    """No constants given (a committed table rebuilt from records without the floor row): no row, no note."""
    R.add_overall_table(report, "table3", peaks_data(), {"A6": {"runs": [_run(0.0, 0.452)]}})
    md, csv = _table(report, "table3")
    assert "Floor" not in md and list(csv[csv["kind"] == "measured"]["method"]) == ["A6"]
