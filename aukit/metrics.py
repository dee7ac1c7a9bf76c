"""AU metrics: pure NumPy functions that return Python floats.

Conventions (shared by every paper notebook; those of the TAS and SCC authors' code and the detection papers):

* Intensity is on the 0..5 FACS scale. A method that predicts intensity/5 (TAS)
  multiplies by 5 before calling these functions; MAE is therefore on 0..5.
* ICC is ICC(3,1), consistency, k = 2 raters (prediction, label) over n frames
  (Shrout & Fleiss 1979):  ICC = (BMS - EMS) / (BMS + (k - 1) EMS), with k = 2,
  BMS = between-frames mean square, EMS = residual mean square of the two-way ANOVA.
  It equals pingouin's ``ICC(C,1)`` row (older pingouin: ``ICC3``).
* PCC is Pearson's r.
* AUC is the ROC-AUC of one AU's probabilities (threshold-free: how well frames with the
  AU rank above frames without), ties counted half, as ``sklearn.metrics.roc_auc_score``.
* F1 is the binary F1 of one AU, positive = probability >= threshold (0.5), reported
  as a fraction in [0, 1] (tables in % multiply by 100). DISFA occurrence is
  intensity >= 2 (:func:`disfa_occurrence`); BP4D code 9 ("not coded") is excluded,
  i.e. turned into NaN by :func:`bp4d_occurrence`.
* Labels that are NaN are ignored (the frame is dropped for that AU only).
  Non-finite predictions are an error: they are never silently dropped or zero-filled.
* Degenerate cases never yield NaN. They return a placeholder value and a flag, of two kinds.
  Undefined: the test labels cannot score the AU, whatever the model does (:data:`UNDEFINED`):
  ``"no_positives"``: F1 of an AU with no positive label (0.0, whether or not frames were predicted
  present; ``sklearn.metrics.f1_score(zero_division=0)`` gives 0.0 too);
  ``"constant_label"``: ICC and PCC when the label does not vary (0.0; checked before the prediction);
  ``"one_class"``: ROC-AUC of an AU whose labelled frames are all positive or all negative (0.5).
  The model's own zero: a genuine score, flagged because it reads like one that tried:
  ``"never_predicted"``: F1 of an AU with positive labels that no frame was predicted present for (0.0);
  ``"constant_prediction"``: ICC and PCC of a prediction with zero variance (ICC(3,1) is then exactly
  0 algebraically; PCC is undefined and scored 0.0).
  Functions take ``return_flag=True`` to get ``(value, flag_or_None)``.
  An AU with no labelled frame at all raises ``ValueError``.
* Averages over AUs are unweighted means ("avg") over the AUs whose score is defined: an undefined
  score (its placeholder) is left out, a model's flagged zero counts. When no AU is defined, "avg" is
  the mean of the placeholders (0.0; AUC 0.5) and every AU carries its flag. Over folds or seeds,
  :func:`aggregate` gives (mean, std) with the sample std (ddof=1; 0.0 for one run).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

__all__ = [
    "icc31", "mae", "pcc", "f1", "auc", "per_au", "flat_per_au", "aggregate", "format_pm", "format_aggregate",
    "disfa_occurrence", "bp4d_occurrence", "METRICS", "UNDEFINED",
]

FLAG_NO_POSITIVES = "no_positives"
FLAG_NEVER_PREDICTED = "never_predicted"
FLAG_CONSTANT_PRED = "constant_prediction"
FLAG_CONSTANT_LABEL = "constant_label"
FLAG_ONE_CLASS = "one_class"
# flags of a score that the test labels leave undefined: named under the tables, left out of averages
UNDEFINED = frozenset({FLAG_NO_POSITIVES, FLAG_CONSTANT_LABEL, FLAG_ONE_CLASS})


def _array(x) -> np.ndarray:
    """float64 array of a list, NumPy array, pandas object or torch tensor (any dtype, on any
    device, with or without grad: metrics score values, they take no part in training)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        # to the CPU first (MPS has no float64), then float64: NumPy has no bfloat16, and float32
        # would round a float64 tensor (16777217 -> 16777216) that NumPy input keeps exact
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _pairs(pred, label) -> tuple[np.ndarray, np.ndarray]:
    """Return the (pred, label) pairs whose label is finite, as float64 1-d arrays."""
    pred = _array(pred)
    label = _array(label)
    if pred.ndim != 1 or label.ndim != 1:
        raise ValueError(f"expected 1-d arrays for one AU, got shapes {pred.shape} and {label.shape}")
    if pred.shape != label.shape:
        raise ValueError(f"pred and label differ in length: {pred.shape[0]} vs {label.shape[0]}")
    keep = ~np.isnan(label)
    bad = int(np.count_nonzero(~np.isfinite(pred[keep])))
    if bad:
        raise ValueError(f"{bad} non-finite predictions on labelled frames")
    if not np.all(np.isfinite(label[keep])):
        raise ValueError("labels contain +/-inf")
    if not keep.any():
        raise ValueError("no labelled frame (all labels are NaN)")
    return pred[keep], label[keep]


INTENSITY_MAX = 5.0


def _intensities(label: np.ndarray, what: str) -> None:
    """Labels of an intensity metric lie on the 0..5 scale: a 9 (BP4D/DISFA "not coded"), 999
    (EmotioNet) or -1 (Aff-Wild2) is a missing code that must be NaN, never an intensity."""
    bad = label[(label < 0) | (label > INTENSITY_MAX)]
    if bad.size:
        raise ValueError(f"{what} takes intensity labels on 0..{INTENSITY_MAX:g}; {bad.size} label(s) outside it "
                         f"(first {bad[0]:g}): missing codes (9, 999, -1) must be NaN - aukit.data's readers do that")


def _out(value: float, flag: str | None, return_flag: bool):
    return (float(value), flag) if return_flag else float(value)


def icc31(pred, label, *, return_flag: bool = False):
    """ICC(3,1) between predictions and labels of one AU, both (N,).

    Two-way mixed, consistency, single rater, k = 2 (Shrout & Fleiss 1979, Case 3):
    ``(BMS - EMS) / (BMS + EMS)``. Returns 0.0 flagged when either side is constant (the label first:
    a constant label leaves it undefined).
    """
    p, y = _pairs(pred, label)
    _intensities(y, "ICC")
    if p.size < 2:
        raise ValueError("ICC needs at least 2 labelled frames")
    if np.ptp(y) == 0:            # no model can score here: undefined, whatever it predicted
        return _out(0.0, FLAG_CONSTANT_LABEL, return_flag)
    if np.ptp(p) == 0:
        return _out(0.0, FLAG_CONSTANT_PRED, return_flag)
    x = np.stack([y, p], axis=1)  # (n, k=2): targets x raters
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    return _out((bms - ems) / (bms + (k - 1) * ems), None, return_flag)


def mae(pred, label, *, return_flag: bool = False):
    """Mean absolute error of one AU on the 0..5 scale, both (N,)."""
    p, y = _pairs(pred, label)
    _intensities(y, "MAE")
    return _out(np.mean(np.abs(p - y)), None, return_flag)


def pcc(pred, label, *, return_flag: bool = False):
    """Pearson correlation of one AU, both (N,). 0.0 flagged when a side is constant. Labels are AU
    intensities on 0..5 (a value outside is refused as a missing code left in); for another scale
    (valence, arousal) ``scipy.stats.pearsonr``."""
    p, y = _pairs(pred, label)
    _intensities(y, "PCC")
    if p.size < 2:
        raise ValueError("PCC needs at least 2 labelled frames")
    if np.ptp(y) == 0:            # no model can score here: undefined, whatever it predicted
        return _out(0.0, FLAG_CONSTANT_LABEL, return_flag)
    if np.ptp(p) == 0:
        return _out(0.0, FLAG_CONSTANT_PRED, return_flag)
    pc, yc = p - p.mean(), y - y.mean()
    r = np.sum(pc * yc) / np.sqrt(np.sum(pc ** 2) * np.sum(yc ** 2))
    return _out(np.clip(r, -1.0, 1.0), None, return_flag)


def _occurrence_pairs(prob, label) -> tuple[np.ndarray, np.ndarray]:
    p, y = _pairs(prob, label)
    if not np.all((y == 0) | (y == 1)):
        odd = np.unique(y[(y != 0) & (y != 1)])
        raise ValueError(f"occurrence labels must be 0, 1 or NaN; found {odd[:5].tolist()} "
                         "(BP4D code 9: use bp4d_occurrence; DISFA intensity: disfa_occurrence)")
    return p, y


def f1(prob, label, threshold: float = 0.5, *, return_flag: bool = False):
    """Binary F1 of one AU: prob (N,) in [0, 1], label (N,) in {0, 1} or NaN (excluded).

    F1 = 2TP / (2TP + FP + FN); 0.0 flagged ``"no_positives"`` when no label is positive (F1 is then
    undefined: 0.0 whatever is predicted), and ``"never_predicted"`` when positives exist but no frame
    reaches ``threshold``.
    """
    p, y = _occurrence_pairs(prob, label)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"f1 takes probabilities in 0..1 (positive: >= {threshold}), got "
                         f"{p.min():.3g}..{p.max():.3g}: logits need a sigmoid; intensities an occurrence rule "
                         "(disfa_occurrence)")
    hit = p >= threshold
    pos = y == 1
    tp = np.count_nonzero(hit & pos)
    fp = np.count_nonzero(hit & ~pos)
    fn = np.count_nonzero(~hit & pos)
    if not pos.any():             # frames predicted present or not, no positive label: F1 undefined
        return _out(0.0, FLAG_NO_POSITIVES, return_flag)
    if not hit.any():
        return _out(0.0, FLAG_NEVER_PREDICTED, return_flag)
    return _out(2 * tp / (2 * tp + fp + fn), None, return_flag)


def auc(prob, label, *, return_flag: bool = False):
    """ROC-AUC of one AU: the chance that a frame with the AU scores above one without (ties 1/2),
    from the Mann-Whitney U of the average ranks. 0.5 flagged ``"one_class"`` when the labelled
    frames hold one class only."""
    p, y = _occurrence_pairs(prob, label)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return _out(0.5, FLAG_ONE_CLASS, return_flag)
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])   # first index of each tie group
    ends = np.r_[starts[1:], len(p)]
    ranks = np.empty(len(p))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)     # 1-based average ranks
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return _out(u / (n_pos * n_neg), None, return_flag)


METRICS: dict[str, Callable] = {"icc": icc31, "mae": mae, "pcc": pcc, "f1": f1, "auc": auc}


def disfa_occurrence(intensity) -> np.ndarray:
    """DISFA detection labels: 1.0 where intensity >= 2, 0.0 below, NaN kept. Any shape."""
    x = np.asarray(intensity, dtype=np.float64)
    return np.where(np.isnan(x), np.nan, (x >= 2).astype(np.float64))


def bp4d_occurrence(codes) -> np.ndarray:
    """BP4D occurrence codes {0, 1, 9} -> {0.0, 1.0, NaN}; any other code is an error."""
    x = np.asarray(codes, dtype=np.float64)
    bad = ~(np.isnan(x) | np.isin(x, (0, 1, 9)))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} BP4D occurrence codes outside {{0, 1, 9}}, "
                         f"e.g. {np.unique(x[bad])[:5].tolist()}")
    return np.where(x == 9, np.nan, x)


def per_au(metric: str | Callable, pred, label, aus: Sequence[str], **kwargs) -> dict:
    """Apply a one-AU metric to each column of pred/label (N, n_aus).

    Returns ``{au: value, ..., "avg": unweighted mean, "flags": {au: flag}}``; ``flags``
    only lists the AUs whose value came from a degenerate case (see module docstring); ``avg``
    leaves out the AUs whose flag is in :data:`UNDEFINED` (all of them undefined: their mean).
    """
    if isinstance(metric, str) and metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; per_au knows {', '.join(METRICS)} (or pass a function)")
    fn = METRICS[metric] if isinstance(metric, str) else metric
    if isinstance(aus, (str, bytes)):
        raise TypeError(f"aus is a list of AU names, one per column, got the string {aus!r}")
    aus = list(aus)
    pred, label = _by_name(pred, aus, "pred"), _by_name(label, aus, "label")
    if pred.ndim != 2 or pred.shape != label.shape:
        raise ValueError(f"expected pred and label (N, n_aus) of equal shape, got {pred.shape} and {label.shape}")
    if pred.shape[1] != len(aus):
        raise ValueError(f"{pred.shape[1]} columns but {len(aus)} AU names: {list(aus)}")
    out: dict = {}
    flags: dict[str, str] = {}
    for j, au in enumerate(aus):
        try:
            value, flag = fn(pred[:, j], label[:, j], return_flag=True, **kwargs)
        except ValueError as err:
            raise ValueError(f"{au}: {err}") from None
        out[str(au)] = value
        if flag is not None:
            flags[str(au)] = flag
    scored = [str(au) for au in aus if flags.get(str(au)) not in UNDEFINED] or [str(au) for au in aus]
    out["avg"] = float(np.mean([out[au] for au in scored]))
    out["flags"] = flags
    return out


def flat_per_au(names: Sequence[str], pred, label, aus: Sequence[str], *,
                options: dict[str, dict] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """:func:`per_au` for each metric in ``names``, flattened: ``{"icc_AU01": ..., "icc_avg": ...,
    "mae_AU01": ...}``, and the degenerate cases keyed the same way (``{"icc_AU05": "constant_label"}``).
    ``options``: keyword arguments per metric name, e.g. ``{"f1": {"threshold": 0.3}}``."""
    options = options or {}
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ValueError(f"options for {unknown}, which names does not list ({list(names)})")
    flat, flags = {}, {}
    for name in names:
        res = per_au(name, pred, label, aus, **options.get(name, {}))
        flat.update({f"{name}_{au}": res[str(au)] for au in aus})
        flat[f"{name}_avg"] = res["avg"]
        flags.update({f"{name}_{au}": flag for au, flag in res["flags"].items()})
    return flat, flags


def _by_name(x, aus: list, what: str) -> np.ndarray:
    """A DataFrame's columns picked by the AU names (in `aus` order); other inputs as arrays,
    their columns taken in order. A DataFrame lacking a name is an error, never a silent
    positional match (columns in another order would score each AU against another)."""
    if hasattr(x, "columns"):
        cols = [str(c) for c in x.columns]
        missing = [str(a) for a in aus if str(a) not in cols]
        if missing:
            raise ValueError(f"{what} is a DataFrame without column(s) {missing} (its columns: {cols}); name its "
                             "columns as the AUs, or pass arrays whose columns follow aus")
        x = x[[x.columns[cols.index(str(a))] for a in aus]]
    return _array(x)


def aggregate(results: Sequence[dict], ddof: int = 1) -> dict[str, tuple[float, float]]:
    """Mean and std over folds or seeds of flat metric dicts: ``{key: (mean, std)}``.

    Only numeric entries are aggregated (``flags`` and strings are skipped). Every dict
    must hold the same numeric keys. The std uses ``ddof`` (sample std by default) and
    is 0.0 for a single result.
    """
    if not results:
        raise ValueError("aggregate needs at least one result dict")

    results = [{k: _scalar(v) for k, v in d.items()} for d in results]

    def numeric(d):
        return {k for k, v in d.items() if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}

    keys = numeric(results[0])
    for i, d in enumerate(results[1:], start=1):
        if numeric(d) != keys:
            diff = sorted(numeric(d) ^ keys)
            raise ValueError(f"result {i} has different metric keys than result 0: {diff}")
    out = {}
    for k in results[0]:
        if k not in keys:
            continue
        v = np.array([d[k] for d in results], dtype=np.float64)
        std = float(np.std(v, ddof=ddof)) if v.size > ddof else 0.0
        out[k] = (float(v.mean()), std)
    return out


def _scalar(v):
    """A 0-d NumPy array or a one-element torch tensor as its Python number; anything else as is."""
    if hasattr(v, "detach") and hasattr(v, "cpu"):
        v = v.detach().float().cpu().numpy()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    return v


def format_pm(mean: float, std: float, digits: int = 2) -> str:
    """``"0.62 ± 0.03"``."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_aggregate(agg: dict[str, tuple[float, float]], digits: int = 2) -> dict[str, str]:
    """Apply :func:`format_pm` to every entry of :func:`aggregate`'s output."""
    return {k: format_pm(m, s, digits) for k, (m, s) in agg.items()}
