"""TAS experiments: train the Table 3 / Table 4 / Fig. 5 variants through ``aukit.train.fit``,
evaluate single-image predictions with ``aukit.metrics``, and build the tables and figures.

    data = load_data("synthau-bp4d", fold=1, T=cfg.train.T)
    res = run_variants(data, {k: (ablation_config(k, cfg), "keyframe") for k in ABLATIONS}, [0, 1, 2], opts)
    mean, std = summary(res, "icc", data.aus)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from aukit import ckptdir, metrics
from aukit.models.input_norm import input_norm
from aukit.report.flags import over_seeds
from aukit.runtime import pick_device, seed_everything
from aukit.train import TrainConfig, fit

from .config import INTENSITY_MAX, TASConfig
from .data import TASData, frame_batches, segment_batches
from .model import TASNet
from .step import TASStep, predict


@dataclass
class RunOptions:
    """Compute knobs of a run (not the paper's hyper-parameters; those live in TASConfig)."""

    device: str = ""                    # "" = aukit.runtime.pick_device()
    size: int | None = None             # input size; None = the store's 256 (TAS); smaller for CPU presets
    epochs: int | None = None           # None = cfg.train.epochs (20)
    max_steps: int | None = None        # steps per epoch cap (smoke / quick)
    max_segments: int | None = None     # random subset of training segments (quick)
    eval_stride: int = 1                # evaluate every k-th test frame (quick)
    eval_batch: int = 64
    train_eval: bool = False            # also score every run on its training subjects (train_icc_avg, ...)
    progress: bool = False
    ckpt_dir: str | None = None         # checkpoints (last.pt / metrics.jsonl) per variant and seed: a rerun resumes

    def torch_device(self) -> torch.device:
        return pick_device(self.device or None)


def built_config(data: TASData, cfg: TASConfig) -> TASConfig:
    """``cfg`` with the heads ``data`` needs (``n_aus``: 5 on BP4D, 12 on DISFA): the config a model is built
    from, and so the one its checkpoints, results and run.yaml record (``cfg`` itself is left as it is)."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, n_aus=data.n_aus))


def build_model(data: TASData, cfg: TASConfig) -> TASNet:
    return TASNet(built_config(data, cfg).model)


def make_optimizer(model: torch.nn.Module, cfg: TASConfig) -> torch.optim.Optimizer:
    t = cfg.train
    return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.nesterov,
                           weight_decay=t.weight_decay)


def train_model(data: TASData, cfg: TASConfig, opts: RunOptions, *, setting: str = "keyframe", seed: int = 0,
                name: str = "run") -> tuple[TASNet, list[dict]]:
    """Train one variant for a fixed number of epochs (the paper's early stopping needs a labelled
    validation split the semi-supervised setting does not have; see the notebook text)."""
    seed_everything(seed)
    dev = opts.torch_device()
    cfg = built_config(data, cfg)                   # checkpoints record the config the model is built from
    model = TASNet(cfg.model)
    batches = segment_batches(data, setting, batch_size=cfg.train.batch_size, device=dev, seed=seed, size=opts.size,
                              label_fraction=cfg.train.label_fraction, max_segments=opts.max_segments,
                              norm=input_norm(cfg.model.weights))
    # one folder per training: the variant, its seed and (Table 4) its setting; aukit.ckptdir names it
    out = ckptdir.training_dir(opts.ckpt_dir and Path(opts.ckpt_dir), name, seed,
                               None if setting == "keyframe" else setting)
    tcfg = TrainConfig(epochs=opts.epochs or cfg.train.epochs, max_steps_per_epoch=opts.max_steps,
                       progress=opts.progress, out_dir=out, name=training_name(name, seed, setting))
    hist = fit(model, TASStep(cfg.loss), batches, make_optimizer(model, cfg), tcfg, device=dev, method_config=cfg)
    return model, hist


def training_name(name: str, seed: int, setting: str = "keyframe") -> str:
    """'A6 seed 0' ('S1 Baseline seed 0 (S1)' off the keyframe setting): what trains, on each epoch line of
    ``aukit run --log``, which named it only with checkpoints on (the quick preset's seven lines were alike)."""
    return f"{name} seed {seed}" + ("" if setting == "keyframe" else f" ({setting})")


def eval_rows(data: TASData, stride: int = 1, split: str = "test") -> np.ndarray:
    """Rows of the ``split`` ("test" or "train") subjects with at least one label, every ``stride``-th.

    On "train" the model is scored on every labelled frame of its own training subjects (not only the
    keyframes it saw): how well it fits, beside how well it carries over to new subjects."""
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    pool = data.test_rows if split == "test" else data.train_rows
    rows = pool[np.isfinite(data.labels[pool]).any(1)]
    return rows[::max(1, stride)]


def evaluate(model: TASNet, data: TASData, opts: RunOptions, *, rows: np.ndarray | None = None,
             features: bool = False) -> dict:
    """Single-image inference on test rows -> flat metrics (icc_<AU>, icc_avg, mae_<AU>, mae_avg) on 0..5,
    their degenerate cases (``flags``, :func:`aukit.metrics.flat_per_au`), ``pred``/``label`` (n, C) on
    0..5, ``rows`` and, if asked, ``features`` (n, C, d)."""
    rows = eval_rows(data, opts.eval_stride) if rows is None else rows
    loader = frame_batches(data, rows, batch_size=opts.eval_batch, device=opts.torch_device(), size=opts.size,
                           norm=input_norm(model.cfg.weights))
    out = predict(model, loader, features=features)
    pred, feats = out if features else (out, None)
    pred = pred * INTENSITY_MAX
    label = data.labels[rows] * INTENSITY_MAX
    flat, flags = metrics.flat_per_au(("icc", "mae"), pred, label, data.aus)
    result = {"metrics": flat, "flags": flags, "pred": pred, "label": label, "rows": rows}
    if features:
        result["features"] = feats
    return result


# The constant predictors, in the order a tie picks the floor from (the simplest first). Each value comes from
# training-subject labels alone (one fitted to the test labels, their median, would be an oracle); the floor is the
# lowest test MAE among these few.
CONSTANTS = ("zero", "train_median", "keyframe_median", "keyframe_mean")
CONST_PREFIX = {"zero": "zero_", "train_median": "train_median_", "keyframe_median": "median_", "keyframe_mean": ""}


def _labelled(fn, columns) -> np.ndarray:
    """``fn`` of each column's labelled (finite) values; 0 for a column without any (an AU with no keyframe
    segment), as the keyframe constants always did."""
    return np.array([fn(v[np.isfinite(v)]) if np.isfinite(v).any() else 0.0 for v in columns], np.float32)


def constant_values(data: TASData) -> dict[str, np.ndarray]:
    """Each constant predictor's value per AU on 0..1. ``zero``: no AU active. ``train_median``: the median over
    every labelled frame of the training subjects, the usual dataset prior (TAS trains on none of these labels
    but the frames are the training subjects'). ``keyframe_median`` / ``keyframe_mean``: over the training
    keyframes, what TAS's supervision sees; keyframes are peaks and valleys, so they sit far from the mostly
    neutral frames and make a weak reference, which is why they are no longer the floor by themselves."""
    ends = np.stack([data.seg_rows[:, 0], data.seg_rows[:, -1]], 1)
    keyframes = [data.labels[ends[data.seg_au == c].ravel(), c] for c in range(data.n_aus)]
    train = data.labels[data.train_rows]
    return {"zero": np.zeros(data.n_aus, np.float32),
            "train_median": _labelled(np.median, train.T),
            "keyframe_median": _labelled(np.median, keyframes),
            "keyframe_mean": _labelled(np.mean, keyframes)}


def constant_predictor(data: TASData, opts: RunOptions) -> dict:
    """MAE of every constant predictor (:func:`constant_values`) on the test rows the model is scored on:
    ``<prefix>mae_<AU>`` and ``<prefix>mae_avg`` (prefixes :data:`CONST_PREFIX`; the keyframe ones keep the
    keys they always had), and the floor a model must beat: ``floor_constant``, the constant with the lowest
    ``mae_avg`` among these few (a tie goes to the first of :data:`CONSTANTS`), its ``floor_mae_<AU>`` and
    ``floor_mae_avg``."""
    rows = eval_rows(data, opts.eval_stride)
    label = data.labels[rows] * INTENSITY_MAX
    out: dict = {}
    for name, const in constant_values(data).items():
        pred = np.broadcast_to(const * INTENSITY_MAX, label.shape)
        res = metrics.per_au("mae", pred, label, data.aus)
        out.update({f"{CONST_PREFIX[name]}mae_{au}": res[au] for au in data.aus})
        out[f"{CONST_PREFIX[name]}mae_avg"] = res["avg"]
    best = min(CONSTANTS, key=lambda k: out[f"{CONST_PREFIX[k]}mae_avg"])
    out["floor_constant"] = best
    out.update({f"floor_mae_{k}": out[f"{CONST_PREFIX[best]}mae_{k}"] for k in [*data.aus, "avg"]})
    return out


def run_variants(data: TASData, variants: Mapping[str, tuple[TASConfig, str]], seeds: Sequence[int],
                 opts: RunOptions, *, keep: Sequence[str] = (), features: Sequence[str] = ()) -> dict:
    """Train and evaluate each ``{name: (config, setting)}`` for every seed.

    Returns ``{name: {"runs": [flat metrics per seed], "history": [...], "eval": last seed's evaluate()
    (only for names in ``keep``), "model": last seed's model (``keep``)}}``; ``features`` lists the
    names whose evaluation also returns AU features (t-SNE).
    """
    out: dict = {}
    for name, (cfg, setting) in variants.items():
        runs, hists = [], []
        for seed in seeds:
            model, hist = train_model(data, cfg, opts, setting=setting, seed=seed, name=name)
            ev = evaluate(model, data, opts, features=name in features)
            seen = {}
            if opts.train_eval:
                fit_m = evaluate(model, data, opts, rows=eval_rows(data, opts.eval_stride, "train"))["metrics"]
                seen = {f"train_{m}_avg": fit_m[f"{m}_avg"] for m in ("icc", "mae")}
            runs.append({**ev["metrics"], **seen, "train_loss": hist[-1]["train_loss"], "seed": seed,
                         "flags": ev["flags"]})
            hists.append(hist)
        out[name] = {"runs": runs, "history": hists, "config": dataclasses.asdict(built_config(data, cfg)),
                     "setting": setting}
        if name in keep or name in features:
            out[name].update(eval=ev, model=model)
    return out


def summary(results: Mapping[str, dict], metric: str, aus: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean, std) over seeds: rows = variants, columns = AUs + Avg, for metric 'icc' or 'mae'."""
    cols = [f"{metric}_{a}" for a in aus] + [f"{metric}_avg"]
    mean, std = {}, {}
    for name, r in results.items():
        agg = metrics.aggregate([{k: run[k] for k in cols} for run in r["runs"]])
        mean[name] = [agg[c][0] for c in cols]
        std[name] = [agg[c][1] for c in cols]
    names = list(aus) + ["Avg"]
    return (pd.DataFrame.from_dict(mean, orient="index", columns=names),
            pd.DataFrame.from_dict(std, orient="index", columns=names))


def seed_flags(result: dict, metric: str, aus: Sequence[str]) -> dict[str, str]:
    """{au: "constant_prediction in 2 of 3 seeds"}: the degenerate cases behind a variant's 0.0s
    (``aukit.metrics`` flags), for the table notes (:mod:`aukit.report.flags`)."""
    per_seed = [{au: f for au in aus if (f := r.get("flags", {}).get(f"{metric}_{au}"))} for r in result["runs"]]
    return over_seeds(per_seed, aus)


def overall(results: Mapping[str, dict], aus: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mean, std) of the AU-averaged ICC and MAE per variant (Tables 2-4 layout: columns ICC, MAE)."""
    icc_m, icc_s = summary(results, "icc", aus)
    mae_m, mae_s = summary(results, "mae", aus)
    return (pd.DataFrame({"ICC": icc_m["Avg"], "MAE": mae_m["Avg"]}),
            pd.DataFrame({"ICC": icc_s["Avg"], "MAE": mae_s["Avg"]}))


def flat_summary(results: Mapping[str, dict], prefix: str = "") -> dict:
    """``{<prefix><variant>_icc_avg: mean, ..._std: std}`` for metrics.json."""
    out = {}
    for name, r in results.items():
        agg = metrics.aggregate([{k: v for k, v in run.items() if k != "seed"} for run in r["runs"]])
        key = prefix + name.replace(" ", "_").replace("+", "plus")
        for m in ("icc_avg", "mae_avg", "train_icc_avg", "train_mae_avg"):
            if m in agg:
                out[f"{key}_{m}"], out[f"{key}_{m}_std"] = agg[m]
    return out


def lambda_sweep(data: TASData, base: TASConfig, values: Mapping[str, Sequence[float]], seeds: Sequence[int],
                 opts: RunOptions) -> dict:
    """Fig. 5: vary one lambda of the full model (A6) at a time; ``{lambda_name: {value: results}}``."""
    out = {}
    for lam, vals in values.items():
        variants = {f"{lam}={v:g}": (dataclasses.replace(base, loss=dataclasses.replace(base.loss, **{lam: v})),
                                     "keyframe") for v in vals}
        out[lam] = run_variants(data, variants, seeds, opts)
    return out


def varying_sequence(data: TASData, ev: dict, au: str | None = None) -> dict:
    """The test sequence (and AU, unless ``au`` is given) whose label varies most: largest variance over its
    labelled frames, ties broken by (subject, sequence, AU) name. Fig. 3 took the first test sequence, whose AU12
    was flat at 0 (F002 T1): no trend to follow, and its 'ICC 0.00' was the constant-label case.
    Returns {subject, sequence, au, var, lo, hi} (lo / hi: the label's range there)."""
    idx = data.store.index.iloc[ev["rows"]].reset_index(drop=True)
    best = None
    for (subj, seq), frame in idx.groupby(["subject", "sequence"], sort=True):    # name order: first wins a tie
        for a in ([au] if au is not None else data.aus):
            y = ev["label"][frame.index.to_numpy(), data.aus.index(a)]
            y = y[np.isfinite(y)]
            var = float(np.var(y)) if y.size >= 2 else -1.0     # under two labelled frames: no curve to show
            if best is None or var > best["var"]:
                lo, hi = (float(y.min()), float(y.max())) if y.size else (np.nan, np.nan)
                best = {"subject": subj, "sequence": seq, "au": a, "var": var, "lo": lo, "hi": hi}
    return best


def sequence_curves(data: TASData, evals: Mapping[str, dict], au: str, *, subject=None, sequence=None):
    """Fig. 3 arrays for one test sequence: (labels (n,), {model: preds (n,)}, (subject, sequence)). Without a
    ``subject``, the test sequence whose ``au`` label varies most (:func:`varying_sequence`); without a
    ``sequence``, the subject's first."""
    first = next(iter(evals.values()))
    idx = data.store.index.iloc[first["rows"]].reset_index(drop=True)
    if subject is None:
        pick = varying_sequence(data, first, au)
        subject, sequence = pick["subject"], pick["sequence"]
    sequence = idx.loc[idx["subject"] == subject, "sequence"].iloc[0] if sequence is None else sequence
    m = ((idx["subject"] == subject) & (idx["sequence"] == sequence)).to_numpy()
    order = np.argsort(idx.loc[m, "frame"].to_numpy(), kind="stable")
    j = data.aus.index(au)
    labels = first["label"][m, j][order]
    preds = {k: ev["pred"][m, j][order] for k, ev in evals.items()}
    return labels, preds, (subject, sequence)


def tsne_inputs(data: TASData, ev: dict, au: str | None = None, subject=None) -> dict:
    """Feature matrix and colourings for t-SNE: one AU over all test frames (Fig. 4: AU12) or all AUs
    of one subject (Fig. 6)."""
    feats = ev["features"]
    idx = data.store.index.iloc[ev["rows"]].reset_index(drop=True)
    if au is not None:
        j = data.aus.index(au)
        lab = ev["label"][:, j]
        keep = np.isfinite(lab)
        return {"X": feats[keep, j], "intensity": lab[keep], "subject": idx["subject"].to_numpy()[keep]}
    subject = idx["subject"].iloc[0] if subject is None else subject
    m = (idx["subject"] == subject).to_numpy()
    n = int(m.sum())
    return {"X": feats[m].reshape(n * data.n_aus, -1), "AU": np.repeat(np.array(data.aus)[None], n, 0).ravel(),
            "subject": subject}


