"""RTATL experiments: train each Table 1 variant through ``aukit.train.fit``, evaluate F1 with
``aukit.metrics``, and fill ``reports/rtatl/`` (Tables 1-3, Fig. 4-7, efficiency).

The notebook calls ``run(ExperimentConfig(...))``; every helper is importable for tests. The unlabelled
faces default to ``"auto"``: EmotioNet (RTATL §4.1) on a BP4D/DISFA run when it is found, SynthAU's
stand-in ``synthau-emotionet`` otherwise (a real run says so); ``run`` resolves it (``data.unlabelled_for``).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from aukit import ckptdir, metrics, reported
from aukit.config import fill_missing
from aukit.methods import aus as A
from aukit.models.input_norm import input_norm
from aukit.report import Report
from aukit.report.flags import over_seeds
from aukit.report.tables import order_groups
from aukit.runtime import evaluating, pick_device, seed_everything
from aukit.train import TrainConfig, fit

from .config import BP4D_AUS, DISFA_AUS, RTATLModelConfig, RTATLTrainConfig, crop_side, patch_side
from .data import PairedLoader, RTATLData, load_data, unlabelled_for
from .efficiency import efficiency
from .heads import RTATLNet
from .relation import cooccurrence_graph
from .step import RTATLStep, predict

# Table 1 rows: overrides of (model config, train config). Backbone rows are fully supervised (§4.3).
_OFF = dict(roii=False, ofe=False)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "Backbone^G": (dict(relation="gcn"), _OFF),
    "Backbone^T": ({}, _OFF),
    "Rotation": ({}, dict(_OFF, rotation=True)),
    "Exemplar": ({}, dict(_OFF, exemplar=True)),
    "Jigsaw": (dict(roi=False, relation="none"), dict(_OFF, jigsaw=True)),   # §4.3: plain ResNet-18 for jigsaw
    "OFE": ({}, dict(roii=False)),
    "RoII": ({}, dict(ofe=False)),
    "RTATL": ({}, {}),
}
# ExperimentConfig fields that fill the config fields of the same name; None takes the config's default,
# which holds the number (RTATLTrainConfig's may also come from ``extra``, the model's may not).
TRAIN_FIELDS = ("epochs", "batch_size", "unlabelled_batch_size", "lambda1", "lambda2", "lambda_f", "lr")
MODEL_FIELDS = ("input_size",)
# The paper's ordering on BP4D (Table 1 averages): what the scientific check tests.
PAPER_ORDER = ("Jigsaw", "Backbone^G", "Backbone^T", "Rotation", "Exemplar", "OFE", "RoII", "RTATL")


@dataclass
class ExperimentConfig:
    dataset: str = "synthau-bp4d"            # labelled frames (bp4d / disfa / synthau-*)
    unlabelled: str | None = "auto"          # RTATL §4.1: EmotioNet images; auto: emotionet on a real run when
    #                                          found, else synthau-emotionet (data.unlabelled_for); None: no pool
    fold: int = 1                            # subject-exclusive fold tested
    preset: str = "quick"                    # smoke | quick | full
    seeds: tuple = (0, 1, 2)
    variants: tuple = tuple(VARIANTS)
    epochs: int | None = None                # None: RTATLTrainConfig.epochs (or extra's)
    steps_per_epoch: int | None = None       # cut epochs short (None: whole training set)
    input_size: int | None = None            # None: RTATLModelConfig.input_size
    batch_size: int | None = None            # None: RTATLTrainConfig.batch_size (or extra's)
    unlabelled_batch_size: int | None = None  # None: RTATLTrainConfig.unlabelled_batch_size (or extra's)
    max_train: int | None = None
    max_test: int | None = None
    max_unlabelled: int | None = None
    flow_size: int = 64                      # TV-L1 grid of the data layer's flow cache (choice; cost ~ size^2)
    sweep_subjects: tuple = (3, 9, 15, 21)   # Fig. 4 (plus "all")
    sweep_methods: tuple = ("RTATL", "Rotation", "Exemplar")
    sweep_seeds: tuple = (0,)
    lambda1: float | None = None             # None: RTATLTrainConfig.lambda1 (or extra's)
    lambda2: float | None = None             # None: RTATLTrainConfig.lambda2 (or extra's)
    lambda_f: float | None = None            # None: RTATLTrainConfig.lambda_f (or extra's)
    lr: float | None = None                  # None: RTATLTrainConfig.lr (or extra's)
    weights: str | None = None               # local ImageNet ResNet-18 state_dict (random init otherwise)
    device: str = ""
    out_dir: str = "reports/rtatl"
    model_dir: str = ""                      # the main variant's backbone -> model_dir/deploy.pt (aukit predict); "" skips
    progress: bool = False
    checkpoints: int = -1                # -1 the preset's (full: every training checkpoints, a rerun
    #                                      resumes), 0 off, 1 on
    extra: dict = field(default_factory=dict)  # RTATLTrainConfig overrides shared by all variants
    aus_dropped: dict = field(default_factory=dict)  # AUs of a dataset of your own that load_data left out

    def __post_init__(self):
        # None fields take the config dataclasses' defaults, which hold the numbers (so run.yaml records
        # the values used); a train field given both here and in ``extra`` must agree
        base = RTATLTrainConfig()
        for name in TRAIN_FIELDS:
            mine, theirs = getattr(self, name), self.extra.get(name)
            if mine is not None and theirs is not None and mine != theirs:
                raise ValueError(f"{name} is {mine} here but {theirs} in extra: set it once")
            if mine is None:
                setattr(self, name, getattr(base, name) if theirs is None else theirs)
        fill_missing(self, RTATLModelConfig(), MODEL_FIELDS)

    @property
    def aus(self) -> tuple:
        """RTATL's AUs on BP4D (12) and DISFA (8) and their SynthAU trees; a dataset of your own's occurrence
        AUs (its manifest entry's), less those :func:`.data.load_data` left out (``aus_dropped``)."""
        aus = A.method_aus(self.dataset, "occurrence", {"bp4d": BP4D_AUS, "disfa": DISFA_AUS}, "RTATL")
        return tuple(a for a in aus if A.au_name(a) not in self.aus_dropped)

    @property
    def flow_step(self) -> int:
        """Frames between the two of a flow target (RTATL §3.4): RTATLTrainConfig.flow_step or extra's."""
        return int(self.extra.get("flow_step", RTATLTrainConfig().flow_step))


def with_sweep(cfg: ExperimentConfig, subjects) -> ExperimentConfig:
    """The notebook's ``sweep_subjects``: empty keeps the preset's Fig. 4 sweep; ``[0]`` leaves it
    out (a time-boxed full run: 15 models); other counts ask for the sweep, with the paper's three
    methods where the preset has none."""
    subjects = tuple(int(n) for n in subjects)
    if not subjects:
        return cfg
    if subjects == (0,):
        return dataclasses.replace(cfg, sweep_subjects=(), sweep_methods=())
    if min(subjects) < 1:
        raise ValueError(f"sweep_subjects are counts of labelled training subjects (1 or more), or [0] for no sweep; "
                         f"got {list(subjects)}")
    return dataclasses.replace(cfg, sweep_subjects=subjects,
                               sweep_methods=cfg.sweep_methods or ExperimentConfig.sweep_methods)


def preset_config(preset: str, **overrides) -> ExperimentConfig:
    """Sizes per preset: smoke (seconds), quick (<= 3 min on a 2-core CPU: 64 px input, few steps), full (paper)."""
    base = {
        "smoke": dict(input_size=64, epochs=1, steps_per_epoch=2, batch_size=8, unlabelled_batch_size=8,
                      max_train=64, max_test=64, max_unlabelled=64, flow_size=32, seeds=(0,), variants=("Backbone^T", "RTATL"),
                      sweep_subjects=(), sweep_methods=()),
        "quick": dict(input_size=64, epochs=1, steps_per_epoch=12, batch_size=16, unlabelled_batch_size=16,
                      max_train=1200, max_test=400, max_unlabelled=800, flow_size=32, seeds=(0,),
                      variants=("Backbone^T", "OFE", "RoII", "RTATL"), sweep_subjects=(), sweep_methods=()),
        "full": {},                          # input, epochs, batches: RTATLModelConfig's / RTATLTrainConfig's
    }
    if preset not in base:
        raise ValueError(f"preset must be smoke|quick|full, got {preset!r}")
    return ExperimentConfig(preset=preset, **{**base[preset], **overrides})


def variant_configs(ecfg: ExperimentConfig, variant: str, image_size: int) -> tuple[RTATLModelConfig, RTATLTrainConfig]:
    """The model and train configs of one Table 1 row on faces of ``image_size`` (the store's)."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant {variant!r}; known: {list(VARIANTS)}")
    m_over, t_over = VARIANTS[variant]
    patch = patch_side(ecfg.input_size)                      # RTATL §4.2: the patch scaled with the input
    mc = RTATLModelConfig(aus=ecfg.aus, input_size=ecfg.input_size, patch=patch, weights=ecfg.weights, **m_over)
    fields = {name: getattr(ecfg, name) for name in TRAIN_FIELDS}
    tc = RTATLTrainConfig(aus=ecfg.aus, image_size=image_size, crop_size=crop_side(image_size),
                          **{**ecfg.extra, **fields, **t_over})
    return mc, tc


def build(ecfg: ExperimentConfig, variant: str, data: RTATLData) -> tuple[RTATLNet, RTATLStep]:
    """The training model and step of one Table 1 row."""
    mc, tc = variant_configs(ecfg, variant, data.store.size)
    adj = cooccurrence_graph(data.labels[data.train_rows], mc.gcn_threshold) if mc.relation == "gcn" else None
    return RTATLNet(mc, tc, adj), RTATLStep(tc, ecfg.input_size, mc.patch)


def resolved_config(ecfg: ExperimentConfig, image_size: int) -> dict:
    """run.yaml's ``config``: the experiment's knobs, the method dataclasses of the full RTATL row in
    full, and per row trained (Table 1's and Fig. 4's) the model and train fields it changes."""
    mc, tc = variant_configs(ecfg, "RTATL", image_size)
    base = {"model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc)}
    sweep = ecfg.sweep_methods if ecfg.sweep_subjects else ()
    changed = {}
    for variant in dict.fromkeys((*ecfg.variants, *sweep)):
        cfgs = dict(zip(base, map(dataclasses.asdict, variant_configs(ecfg, variant, image_size))))
        changed[variant] = {part: {k: v for k, v in cfgs[part].items() if v != base[part][k]} for part in base}
    return {"experiment": dataclasses.asdict(ecfg), **base, "variants": changed}


def uses_unlabelled(tc: RTATLTrainConfig) -> bool:
    """Unlabelled images feed RoII and the image-level pretext tasks; OFE needs video (labelled) frames."""
    return tc.roii or tc.rotation or tc.exemplar or tc.jigsaw


def train_variant(ecfg: ExperimentConfig, variant: str, data: RTATLData, seed: int, device,
                  out_dir: str | None = None) -> tuple[RTATLNet, list]:
    """One Table 1 row; ``out_dir``: its checkpoint folder (aukit.ckptdir), None for none."""
    seed_everything(seed)
    net, step = build(ecfg, variant, data)
    step.gen.manual_seed(seed)
    tc = net.train_cfg
    loader = PairedLoader(data, tc.batch_size, tc.unlabelled_batch_size, device=device, seed=seed,
                          use_unlabelled=uses_unlabelled(tc), use_flow=tc.ofe, norm=net.norm)
    cfg = TrainConfig(epochs=tc.epochs, max_steps_per_epoch=ecfg.steps_per_epoch, progress=ecfg.progress,
                      out_dir=out_dir, name=f"{variant} seed {seed}")
    hist = fit(net, step, loader, net.optimizers(), cfg, device=device,
               method_config={"model": dataclasses.asdict(net.model_cfg), "train": dataclasses.asdict(tc)})
    return net, hist


def predict_rows(net, data: RTATLData, rows: np.ndarray, device, batch_size: int = 64) -> np.ndarray:
    """AU probabilities (len(rows), n_aus) with the test-time centre crop; backbone only, in
    training's precision (:func:`aukit.runtime.evaluating`), on inputs normalised as in training."""
    from aukit.data.loader import BatchLoader
    norm = input_norm(net.model_cfg.weights)
    loader = BatchLoader(data.store, rows, batch_size, device=device, shuffle=False, drop_last=False,
                         targets={"centres": data.centres}, mean=norm.mean, std=norm.std)
    crop = crop_side(data.store.size)
    with evaluating(net):
        out = [predict(net, b["image"], b["centres"], crop=crop, input_size=net.model_cfg.input_size).float().cpu()
               for b in loader]
    return torch.cat(out).numpy()


def metric_slug(variant: str) -> str:
    """A Table 1 row's part of its metrics.json keys: ``Backbone^T`` -> ``backbone_t``."""
    return variant.lower().replace("^", "_")


def au_names(aus) -> list[str]:
    return [f"AU{int(a):02d}" for a in aus]


def f1_scores(probs: np.ndarray, labels: np.ndarray, aus) -> dict:
    """Per-AU F1 (threshold 0.5) + "avg" + "flags" (aukit.metrics.per_au)."""
    return metrics.per_au("f1", probs, labels, au_names(aus))


def constant_f1(labels: np.ndarray, aus) -> dict:
    """The best constant predictor for F1: every AU always on."""
    return f1_scores(np.ones_like(labels), labels, aus)


def results_frame(per_variant: dict[str, list[dict]], aus) -> tuple[pd.DataFrame, pd.DataFrame]:
    """{variant: [per_au dict per seed]} -> (mean frame, std frame), rows = variants, cols = AUs + Avg."""
    cols = au_names(aus) + ["avg"]
    mean, std = {}, {}
    for name, runs in per_variant.items():
        v = np.array([[r[c] for c in cols] for r in runs], dtype=float)
        mean[name], std[name] = v.mean(0), (v.std(0, ddof=1) if len(v) > 1 else np.zeros(len(cols)))
    names = au_names(aus) + ["Avg"]
    return (pd.DataFrame.from_dict(mean, orient="index", columns=names),
            pd.DataFrame.from_dict(std, orient="index", columns=names))


def seed_flags(results: dict[str, list[dict]], aus, key: str = "flags") -> dict[str, dict[str, str]]:
    """{variant: {AUxx: flag}} over every seed's F1 (``key`` "auc_flags": AUC) (``aukit.report.flags.over_seeds``):
    the first seed's alone left another seed's undefined or never-predicted AU unnamed under a mean it entered."""
    return {v: f for v, runs in results.items() if (f := over_seeds([r.get(key, {}) for r in runs], au_names(aus)))}


def add_table1(report: Report, mean: pd.DataFrame, std: pd.DataFrame, flags: dict) -> None:
    """Table 1 (the ablation) beside the paper's, which is BP4D's 12 AUs: a DISFA run's table stands
    alone (beside it the paper's rows only added BP4D's columns, labelled "different dataset"), in % as the
    paper's."""
    if report.dataset.removeprefix("synthau-") == "disfa":
        report.add_table("table1", mean, None, measured_std=std, flags=flags, unit="%", decimals=1,
                         title="Table 1 ablation on DISFA (the paper reports this ablation on BP4D only)")
    else:
        report.add_table("table1", mean, reported.table("rtatl", "table1"), measured_std=std, flags=flags)


def order_text(values: dict[str, float], paper_order, what: str = "F1", decimals: int = 3) -> str:
    """One line for the notebook: the measured order low -> high with each value, ``=`` between tied rows,
    and whether it is the paper's. A tie (within the printed decimals) never reads as agreeing with it."""
    groups = order_groups(values, decimals)
    missing = [n for n in values if not any(n in g for g in groups)]
    if missing:
        return f"{what}: no value for {', '.join(missing)} (no order)"
    if len(groups) == 1 and len(values) > 1:
        return (f"{what}: tied, all {len(values)} rows = {values[groups[0][0]]:.{decimals}f}; "
                "no order to compare with the paper's")
    line = " < ".join(" = ".join(f"{n} {values[n]:.{decimals}f}" for n in g) for g in groups)
    if len(values) < 2:
        verdict = "one row, nothing to order"
    elif any(len(g) > 1 for g in groups):
        verdict = "tied rows have no order to compare with the paper's F1 order"
    elif [g[0] for g in groups] == [n for n in paper_order if n in values]:
        verdict = "the paper's F1 order"
    else:
        verdict = "not the paper's F1 order"
    return f"{what} (low -> high): {line}; {verdict}"


def checkpoint_root(ecfg: ExperimentConfig):
    """``ecfg.checkpoints`` -> the run's checkpoint folder (:func:`aukit.ckptdir.run_root`) or None; its knobs
    are the experiment's sizes and settings (not its seeds, rows, sweep or output folders)."""
    skip = ("dataset", "fold", "preset", "seeds", "variants", "sweep_subjects", "sweep_methods", "sweep_seeds",
            "max_test", "device", "out_dir", "model_dir", "progress", "checkpoints")
    knobs = {k: v for k, v in dataclasses.asdict(ecfg).items() if k not in skip}
    return ckptdir.run_root(ecfg.checkpoints, ecfg.preset, ecfg.preset == "smoke", base=ecfg.model_dir or ecfg.out_dir,
                            dataset=ecfg.dataset, fold=ecfg.fold, knobs=knobs)


def label_sweep(ecfg: ExperimentConfig, data: RTATLData, device, ckpt_root=None) -> dict:
    """Fig. 4's runs: each of ``ecfg.sweep_methods`` trained on ``ecfg.sweep_subjects`` labelled training
    subjects (the counts below those present, then all present), the unlabelled pool fixed, per sweep seed.

    Returns {"counts": [...], "means": {method: [F1 % per count]}, "stds": {method: [...]},
    "metrics": {"sweep_<method>_<n>": mean F1 (0-1) over ``ecfg.sweep_seeds``},
    "flags": {"<method> <n> subjects": {AUxx: flag}} over the seeds (every point, flagged or not)}.
    """
    present = len(set(data.store.index["subject"].iloc[data.train_rows]))
    counts = [k for k in ecfg.sweep_subjects if k < present] + [present]
    means = {m: [] for m in ecfg.sweep_methods}
    stds = {m: [] for m in ecfg.sweep_methods}
    flat, flags = {}, {}
    for k in counts:
        for m in ecfg.sweep_methods:
            vals, seed_flags = [], []
            for seed in ecfg.sweep_seeds:
                sub = load_data(ecfg.dataset, ecfg.fold, ecfg.aus, unlabelled=ecfg.unlabelled,
                                max_train=ecfg.max_train, max_test=ecfg.max_test,
                                max_unlabelled=ecfg.max_unlabelled, flow_step=ecfg.flow_step,
                                flow_size=ecfg.flow_size, labelled_subjects=None if k == present else k, seed=seed)
                net, _ = train_variant(ecfg, m, sub, seed, device,
                                       out_dir=ckptdir.training_dir(ckpt_root, m, seed, f"sweep{k}"))
                res = f1_scores(predict_rows(net, sub, sub.test_rows, device), sub.labels[sub.test_rows], ecfg.aus)
                vals.append(res["avg"])
                seed_flags.append(res["flags"])
            means[m].append(100 * float(np.mean(vals)))
            stds[m].append(100 * float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
            flat[f"sweep_{m.lower()}_{k}"] = float(np.mean(vals))
            flags[f"{m} {k} subjects"] = over_seeds(seed_flags, au_names(ecfg.aus))
    return {"counts": counts, "means": means, "stds": stds, "metrics": flat, "flags": flags}


def run(ecfg: ExperimentConfig) -> dict:
    """Table 1 (+ Table 2/3 row, Fig. 4-7, efficiency) on ``ecfg.dataset``; writes ``ecfg.out_dir``."""
    from pathlib import Path

    from . import figures
    device = pick_device(ecfg.device or None)
    # "auto" -> the set read, before anything opens it: run.yaml, Fig. 4's reloads and the report name it
    ecfg = dataclasses.replace(ecfg, unlabelled=unlabelled_for(ecfg.dataset, ecfg.unlabelled))
    t0 = time.perf_counter()
    data = load_data(ecfg.dataset, ecfg.fold, ecfg.aus, unlabelled=ecfg.unlabelled, max_train=ecfg.max_train,
                     max_test=ecfg.max_test, max_unlabelled=ecfg.max_unlabelled, flow_step=ecfg.flow_step,
                     flow_size=ecfg.flow_size, seed=0)
    if data.info["aus_dropped"]:                    # the model's heads: the AUs the data has
        ecfg = dataclasses.replace(ecfg, aus_dropped=data.info["aus_dropped"])
    t_data = time.perf_counter() - t0
    labels = data.labels[data.test_rows]
    out_dir = Path(ecfg.out_dir)
    report = Report("rtatl", dataset=ecfg.dataset, preset=ecfg.preset, seeds=list(ecfg.seeds),
                    device=str(device), config=resolved_config(ecfg, data.store.size), folder=out_dir,
                    weights=ecfg.weights)
    report.aus_dropped.update(data.info["aus_dropped"])
    results: dict[str, list[dict]] = {}
    nets: dict[str, RTATLNet] = {}
    ckpt_root = checkpoint_root(ecfg)
    for variant in ecfg.variants:
        for seed in ecfg.seeds:
            net, hist = train_variant(ecfg, variant, data, seed, device,
                                      out_dir=ckptdir.training_dir(ckpt_root, variant, seed))
            probs = predict_rows(net, data, data.test_rows, device)
            res = f1_scores(probs, labels, ecfg.aus)
            auc = metrics.per_au("auc", probs, labels, au_names(ecfg.aus))       # threshold-free
            res["auc_avg"], res["auc_flags"] = auc["avg"], auc["flags"]
            res["train_loss_first"], res["train_loss_last"] = hist[0]["train_loss"], hist[-1]["train_loss"]
            results.setdefault(variant, []).append(res)
            nets.setdefault(variant, net)
    mean, std = results_frame(results, ecfg.aus)
    const = constant_f1(labels, ecfg.aus)
    flags = seed_flags(results, ecfg.aus)
    add_table1(report, mean, std, flags)
    report.add_flags("auc", seed_flags(results, ecfg.aus, "auc_flags"))     # the AUs auc_avg_* leave out
    key = "table3" if A.family(ecfg.dataset) == "disfa" else "table2"
    if "RTATL" in mean.index and A.family(ecfg.dataset):     # the RTATL row beside the paper's (Table 1 has it)
        report.add_table(key, mean.loc[["RTATL"]], reported.table("rtatl", key), measured_std=std.loc[["RTATL"]],
                         flags={v: f for v, f in flags.items() if v == "RTATL"} or None)
    m = {"f1_constant": const["avg"], "data_prep_s": t_data, "train_frames": len(data.train_rows),
         "test_frames": len(data.test_rows)}
    for v in mean.index:
        slug = metric_slug(v)
        m[f"f1_avg_{slug}"], m[f"f1_std_{slug}"] = float(mean.loc[v, "Avg"]), float(std.loc[v, "Avg"])
        m[f"auc_avg_{slug}"], m[f"auc_std_{slug}"] = metrics.aggregate([{"auc": r["auc_avg"]} for r in results[v]])["auc"]
        m[f"loss_first_{slug}"] = float(np.mean([r["train_loss_first"] for r in results[v]]))
        m[f"loss_last_{slug}"] = float(np.mean([r["train_loss_last"] for r in results[v]]))
    order = [v for v in PAPER_ORDER if v in mean.index]
    # rows tied at the printed 3 decimals share one entry ("OFE = RoII"): a tie is not an order
    f1s = {v: m[f"f1_avg_{metric_slug(v)}"] for v in order}
    aucs = {v: m[f"auc_avg_{metric_slug(v)}"] for v in order}
    m["paper_order"] = order
    m["measured_order"] = [" = ".join(g) for g in order_groups(f1s)]
    m["measured_order_auc"] = [" = ".join(g) for g in order_groups(aucs)]
    m["order_f1"], m["order_auc"] = order_text(f1s, order, "F1"), order_text(aucs, order, "AUC")
    main = "RTATL" if "RTATL" in nets else list(nets)[-1]
    m.update(efficiency(nets[main], data, device))
    if ecfg.sweep_subjects and ecfg.sweep_methods:
        sweep = label_sweep(ecfg, data, device, ckpt_root)
        report.add_figure("fig4_labelled_subjects", figures.label_sweep_figure(
            sweep["counts"], sweep["means"], sweep["stds"], ecfg.dataset, ecfg.fold), flags=sweep["flags"])
        m.update(sweep["metrics"])
    for name, fig in figures.qualitative(nets[main], data, device).items():
        report.add_figure(name, fig)
    if ecfg.model_dir:
        from .deploy import export_deployable
        export_deployable(nets[main], data, f"{ecfg.model_dir}/deploy.pt", ecfg.dataset,
                          config=resolved_config(ecfg, data.store.size))
    m["wall_s"] = time.perf_counter() - t0
    report.add_metrics(**m)
    # F1 at 0.5 is 0 for a model that never says "present" yet ranks frames well: AUC says which
    report.headline(f"f1_avg_{metric_slug(main)}", f"auc_avg_{metric_slug(main)}", "f1_constant")
    if main == "RTATL":
        report.add_reference("f1_avg_rtatl", "rtatl", key, "RTATL")
    report.write(data=data.info)
    return {**report.measured, "results": results}
