"""aukit.metrics against pingouin / scikit-learn and on hand-made cases."""
import numpy as np
import pandas as pd
import pytest

from aukit import metrics as M


def _pingouin_icc3(pred, label):
    import pingouin as pg  # pinned dependency: a missing package must fail, not skip
    n = len(label)
    df = pd.DataFrame({"target": np.r_[np.arange(n), np.arange(n)],
                       "rater": ["label"] * n + ["pred"] * n,
                       "score": np.r_[label, pred]})
    icc = pg.intraclass_corr(df, targets="target", raters="rater", ratings="score").set_index("Type")
    row = "ICC(C,1)" if "ICC(C,1)" in icc.index else "ICC3"  # pingouin >= 0.7 vs older names
    return float(icc.loc[row, "ICC"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_icc_matches_pingouin(seed):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 6, 50).astype(float)
    pred = 0.7 * label + rng.normal(0.3, 1.0, 50)
    assert M.icc31(pred, label) == pytest.approx(_pingouin_icc3(pred, label), abs=1e-9)


def test_icc_ignores_nan_labels():
    rng = np.random.default_rng(3)
    label = rng.integers(0, 6, 40).astype(float)
    pred = label + rng.normal(0, 1, 40)
    label_nan = label.copy()
    label_nan[::4] = np.nan
    keep = ~np.isnan(label_nan)
    assert M.icc31(pred, label_nan) == pytest.approx(_pingouin_icc3(pred[keep], label[keep]), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_f1_matches_sklearn(seed):
    from sklearn.metrics import f1_score
    rng = np.random.default_rng(seed)
    label = (rng.random(200) < 0.3).astype(float)
    prob = np.clip(0.4 * label + rng.random(200) * 0.7, 0, 1)
    expect = f1_score(label, prob >= 0.5, zero_division=0)
    assert M.f1(prob, label) == pytest.approx(expect, abs=1e-9)
    assert M.f1(prob, label, threshold=0.3) == pytest.approx(f1_score(label, prob >= 0.3), abs=1e-9)


def test_f1_counts_a_probability_at_the_threshold_as_positive():
    """Detection papers: threshold 0.5 on probabilities, p >= 0.5 is a detection (random draws never hit 0.5)."""
    assert M.f1([0.5, 0.5, 0.2], [1, 1, 0]) == 1.0
    assert M.f1([0.5, 0.2], [0, 1]) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_with_ties_and_nan(seed):
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(seed)
    label = (rng.random(300) < 0.2).astype(float)
    prob = np.round(np.clip(0.3 * label + 0.7 * rng.random(300), 0, 1), 1)   # rounded: many ties
    label[::17] = np.nan
    keep = ~np.isnan(label)
    assert M.auc(prob, label) == pytest.approx(roc_auc_score(label[keep], prob[keep]), abs=1e-12)


def test_auc_known_values_and_one_class():
    y = np.array([0, 0, 1, 1.0])
    assert M.auc([0.1, 0.2, 0.8, 0.9], y) == 1.0 and M.auc([0.9, 0.8, 0.2, 0.1], y) == 0.0
    assert M.auc([0.5, 0.5, 0.5, 0.5], y) == 0.5               # every pair tied: half credit
    assert M.auc([0.1, 0.6, 0.5, 0.9], y) == 0.75              # 3 of the 4 (pos, neg) pairs in order
    assert M.auc(np.full(5, 0.3), np.ones(5), return_flag=True) == (0.5, "one_class")
    with pytest.raises(ValueError, match="found \\[9.0\\]"):
        M.auc([0.1, 0.2], [0, 9])
    assert M.per_au("auc", np.array([[0.1, 0.2], [0.8, 0.9]]), np.array([[0, 1], [1, 0.0]]), ["AU01", "AU02"])["avg"] == 0.5


def test_mae_pcc_match_plain_formulas():
    rng = np.random.default_rng(4)
    label = rng.integers(0, 6, 30).astype(float)
    pred = label + rng.normal(0, 0.8, 30)
    assert M.mae(pred, label) == pytest.approx(np.abs(pred - label).mean(), abs=1e-12)
    assert M.pcc(pred, label) == pytest.approx(np.corrcoef(pred, label)[0, 1], abs=1e-12)
    assert M.pcc(-pred, label) == pytest.approx(-np.corrcoef(pred, label)[0, 1], abs=1e-12)   # sign kept
    assert M.pcc(5 - label, label) == -1.0


def test_perfect_agreement():
    label = np.array([0, 1, 2, 3, 4, 5, 2, 1], float)
    assert M.icc31(label, label) == pytest.approx(1.0)
    assert M.pcc(label, label) == pytest.approx(1.0)
    assert M.mae(label, label) == 0.0
    occ = (label >= 2).astype(float)
    assert M.f1(occ, occ) == 1.0


def test_icc_consistency_ignores_offset_but_not_scale():
    label = np.array([0, 1, 2, 3, 4, 5], float)
    assert M.icc31(label + 1.0, label) == pytest.approx(1.0)  # consistency, not absolute agreement
    # hand value: pred = 2*label -> ICC(3,1) = (BMS-EMS)/(BMS+EMS) with BMS = 9*var/2, EMS = var/2
    assert M.icc31(2 * label, label) == pytest.approx(0.8)


def test_constant_prediction_is_zero_and_flagged():
    label = np.array([0, 1, 2, 3, 4, 5], float)
    pred = np.full(6, 2.0)
    for fn in (M.icc31, M.pcc):
        value, flag = fn(pred, label, return_flag=True)
        assert value == 0.0 and flag == "constant_prediction"
    value, flag = M.icc31(label, np.zeros(6), return_flag=True)
    assert value == 0.0 and flag == "constant_label"
    for fn, name in ((M.icc31, "ICC"), (M.pcc, "PCC")):   # one frame is too few, not a constant prediction
        with pytest.raises(ValueError, match=f"{name} needs at least 2 labelled frames"):
            fn([1.0, 2.0], [3.0, np.nan])
    assert M.mae(pred, label) == pytest.approx(np.abs(label - 2).mean())


def test_f1_no_positives_is_zero_and_flagged():
    value, flag = M.f1(np.full(10, 0.1), np.zeros(10), return_flag=True)
    assert value == 0.0 and flag == "no_positives"
    # frames predicted present with no positive label: F1 is still undefined, not a model's 0 (an own
    # dataset's AU without a positive test frame was averaged in unflagged)
    value, flag = M.f1(np.r_[np.full(4, 0.9), np.full(6, 0.1)], np.zeros(10), return_flag=True)
    assert value == 0.0 and flag == "no_positives"
    # positives that no frame was predicted present for: a genuine 0, flagged (RTATL's quick tables
    # showed F1 0.00 on every AU with no note)
    value, flag = M.f1(np.full(10, 0.2), np.r_[np.ones(3), np.zeros(7)], return_flag=True)
    assert value == 0.0 and flag == "never_predicted"


def test_per_au_avg_and_flags():
    rng = np.random.default_rng(5)
    prob = rng.random((50, 3))
    label = (rng.random((50, 3)) < 0.4).astype(float)
    label[:, 2] = 0.0
    prob[:, 2] = 0.0
    res = M.per_au("f1", prob, label, ["AU01", "AU02", "AU04"])
    assert res["AU04"] == 0.0 and res["flags"] == {"AU04": "no_positives"}
    # AU04's F1 is undefined (no positive test label): the average is over AU01 and AU02
    assert res["avg"] == pytest.approx(np.mean([res["AU01"], res["AU02"]]))
    assert res["AU01"] == pytest.approx(M.f1(prob[:, 0], label[:, 0]))


def test_per_au_avg_keeps_the_models_zeros_and_leaves_out_undefined_scores():
    label = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], float)
    prob = np.array([[0.9, 0.1, 0.8], [0.2, 0.3, 0.1], [0.7, 0.2, 0.9], [0.1, 0.1, 0.2]])
    res = M.per_au("f1", prob, label, ["AU01", "AU02", "AU04"])
    # AU01 perfect (1.0); AU02 never predicted: the model's 0, counted; AU04 no positive label: left out
    assert res["flags"] == {"AU02": "never_predicted", "AU04": "no_positives"}
    assert res["avg"] == pytest.approx(0.5)
    auc = M.per_au("auc", prob, label, ["AU01", "AU02", "AU04"])
    assert auc["flags"] == {"AU04": "one_class"}
    assert auc["avg"] == pytest.approx(np.mean([auc["AU01"], auc["AU02"]]))
    icc = M.per_au("icc", np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]]), np.array([[1.0, 0.0], [2.0, 1.0],
                                                                                     [4.0, 2.0]]),
                   ["AU06", "AU12"])
    assert icc["flags"] == {"AU12": "constant_prediction"}       # the model's 0: in the average
    assert icc["avg"] == pytest.approx(icc["AU06"] / 2)
    none = M.per_au("f1", prob[:, 2:], label[:, 2:], ["AU04"])   # nothing defined: the placeholder's mean
    assert none["avg"] == 0.0 and none["flags"] == {"AU04": "no_positives"}


def test_constant_label_is_undefined_even_when_the_prediction_is_constant_too():
    value, flag = M.icc31(np.full(5, 1.0), np.full(5, 2.0), return_flag=True)
    assert value == 0.0 and flag == "constant_label"
    assert M.pcc(np.full(5, 1.0), np.full(5, 2.0), return_flag=True) == (0.0, "constant_label")
    assert {"no_positives", "constant_label", "one_class"} == set(M.UNDEFINED)


def test_occurrence_helpers_and_bad_input():
    np.testing.assert_array_equal(M.disfa_occurrence([0, 1, 2, 5, np.nan]), [0, 0, 1, 1, np.nan])
    np.testing.assert_array_equal(M.bp4d_occurrence([0, 1, 9]), [0, 1, np.nan])
    with pytest.raises(ValueError, match="outside"):
        M.bp4d_occurrence([0, 3])
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        M.f1(np.zeros(3), np.array([0, 1, 9.0]))
    with pytest.raises(ValueError, match="non-finite"):
        M.mae(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="AU02: no labelled frame"):
        M.per_au("mae", np.zeros((3, 2)), np.c_[np.ones(3), np.full(3, np.nan)], ["AU01", "AU02"])


def test_aggregate_and_format():
    runs = [{"icc_avg": 0.6, "mae_avg": 0.9, "flags": {}}, {"icc_avg": 0.64, "mae_avg": 0.8, "flags": {}}]
    agg = M.aggregate(runs)
    assert agg["icc_avg"][0] == pytest.approx(0.62)
    assert agg["icc_avg"][1] == pytest.approx(np.std([0.6, 0.64], ddof=1))
    assert "flags" not in agg
    assert M.format_pm(*agg["icc_avg"]) == "0.62 ± 0.03"
    assert M.aggregate(runs[:1])["mae_avg"] == (0.9, 0.0)
    with pytest.raises(ValueError, match="different metric keys"):
        M.aggregate([{"a": 1.0}, {"b": 1.0}])


def test_per_au_matches_dataframes_by_column_name_not_position():
    """Columns in another order were scored positionally: AU01's predictions against AU04's labels,
    with no error. DataFrames are now matched by name; a name they lack is an error."""
    rng = np.random.default_rng(0)
    aus = ["AU01", "AU02", "AU04"]
    y = rng.uniform(0, 5, (60, 3))
    p = y + rng.normal(0, [0.3, 1.0, 2.0], (60, 3))
    want = M.per_au("icc", p, y, aus)
    shuffled = pd.DataFrame(p, columns=aus)[["AU04", "AU01", "AU02"]]
    assert M.per_au("icc", shuffled, pd.DataFrame(y, columns=aus), aus) == want
    assert M.per_au("icc", shuffled, y, aus) == want          # a DataFrame beside an array in aus order
    with pytest.raises(ValueError, match=r"pred is a DataFrame without column\(s\) \['AU12'"):
        M.per_au("icc", shuffled, y, ["AU12", "AU06", "AU25"])
    with pytest.raises(TypeError, match="got the string 'AU01'"):
        M.per_au("icc", p[:, :1], y[:, :1], "AU01")            # was split into 'A', 'U', '0', '1'
    with pytest.raises(KeyError, match="unknown metric 'rmse'; per_au knows icc, mae, pcc, f1, auc"):
        M.per_au("rmse", p, y, aus)


def test_metrics_take_torch_tensors_and_aggregate_takes_0d_values():
    import torch
    rng = np.random.default_rng(1)
    y, p = rng.uniform(0, 5, 40), rng.uniform(0, 5, 40)
    want = M.icc31(p, y)
    t = torch.tensor(p, dtype=torch.float32, requires_grad=True)
    assert M.icc31(t, torch.tensor(y)) == pytest.approx(want, abs=1e-6)
    assert M.icc31(t.to(torch.bfloat16), y) == pytest.approx(M.icc31(t.to(torch.bfloat16).float().detach().numpy(), y))
    agg = M.aggregate([{"a": np.array(1.0)}, {"a": torch.tensor(2.0)}, {"a": np.float32(3.0)}])
    assert agg == {"a": (2.0, 1.0)}  # 0-d values were dropped: {}


def test_a_float64_tensor_stays_float64():
    import torch
    big = np.array([16777217.0, 16777216.0])                  # 2**24 + 1 has no float32
    np.testing.assert_array_equal(M._array(torch.tensor(big)), big)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 1000).astype(float)
    p = y + rng.normal(0, 1e-3, 1000)
    assert M.mae(torch.tensor(p), torch.tensor(y)) == M.mae(p, y)
    assert M.icc31(torch.tensor(p), torch.tensor(y)) == M.icc31(p, y)

def test_flat_per_au_keys_values_and_flags():
    rng = np.random.default_rng(2)
    aus = ["AU01", "AU05"]
    y = np.c_[rng.uniform(0, 5, 30), np.full(30, 2.0)]          # AU05's label is constant
    p = y + rng.normal(0, 0.5, (30, 2))
    flat, flags = M.flat_per_au(("icc", "mae"), p, y, aus)
    assert list(flat) == ["icc_AU01", "icc_AU05", "icc_avg", "mae_AU01", "mae_AU05", "mae_avg"]
    assert flat["icc_AU01"] == M.icc31(p[:, 0], y[:, 0]) and flat["mae_AU05"] == M.mae(p[:, 1], y[:, 1])
    assert flags == {"icc_AU05": "constant_label"}


def test_f1_refuses_scores_that_are_not_probabilities():
    """Intensities 0..5 or logits thresholded at 0.5 gave an F1 of the wrong question."""
    y = np.array([0, 1, 1, 0, 1.0])
    with pytest.raises(ValueError, match=r"probabilities in 0..1 .* got 0..3: logits need a sigmoid"):
        M.f1(np.array([0, 3, 2, 0, 1.0]), y)
    with pytest.raises(ValueError, match="got -2..2"):
        M.f1(np.array([-2, 2, 1, -1, 0.5]), y)
    assert M.f1(np.array([0, 1, 1, 0, 1.0]), y) == 1.0


@pytest.mark.parametrize("code", [9.0, 999.0, -1.0])
def test_a_missing_code_among_intensity_labels_is_an_error_not_an_intensity(code):
    """A raw 9 (BP4D/DISFA "not coded") scored as intensity 9: MAE 2.67 and ICC 0.09 on [0, 9, 2]."""
    pred, label = np.array([0.0, 1.0, 2.0]), np.array([0.0, code, 2.0])
    for fn in (M.icc31, M.mae, M.pcc):
        with pytest.raises(ValueError, match=f"first {code:g}"):
            fn(pred, label)
    assert M.mae(pred, np.array([0.0, np.nan, 2.0])) == 0.0         # as NaN it is left out


def test_flat_per_au_passes_each_metric_its_own_options():
    """flat_per_au took no options: the F1 threshold could not be set through it."""
    import pytest
    from aukit import metrics as M
    prob = np.array([[0.3, 0.9], [0.35, 0.1], [0.2, 0.8], [0.1, 0.2]])
    label = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    flat, _ = M.flat_per_au(("f1", "auc"), prob, label, ["AU01", "AU02"], options={"f1": {"threshold": 0.25}})
    assert flat["f1_AU01"] == M.f1(prob[:, 0], label[:, 0], threshold=0.25) == 1.0
    assert M.flat_per_au(("f1",), prob, label, ["AU01", "AU02"])[0]["f1_AU01"] == 0.0      # 0.5: none reached
    with pytest.raises(ValueError, match=r"options for \['f1'\], which names does not list \(\['auc'\]\)"):
        M.flat_per_au(("auc",), prob, label, ["AU01", "AU02"], options={"f1": {"threshold": 0.25}})
