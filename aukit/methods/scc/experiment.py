"""SCC experiments: train ResNet-Deconv / SCC-Heatmap and the ablations through
``aukit.train.fit``, evaluate ICC(3,1) and MAE with ``aukit.metrics``, fill ``reports/scc/``.

Table 1: per-AU ICC/MAE of ResNet-Deconv (SCC off) and SCC-Heatmap beside the reported
methods. Table 2: deconv layers (3 -> 64x64 / 2 -> 32x32 maps) x SCC on/off. Table 3:
edge features. Fig. 6: ICC/MAE vs k. Figs. 5, 7, 8: heatmaps, curves, channel patterns.
Runs with identical settings (Table 1 SCC-Heatmap = Table 2 a = Table 3 e) train once.
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
from aukit.data.loader import BatchLoader
from aukit.methods.aus import family, family_or_bp4d
from aukit.models.input_norm import RANDOM_INIT, InputNorm, input_norm
from aukit.report import Report
from aukit.report.flags import over_seeds, undefined_aus
from aukit.runtime import pick_device, seed_everything
from aukit.train import TrainConfig, fit

from .config import SCCModelConfig, SCCTrainConfig, k_for
from .data import SCCData, dataset_aus, load_data, resolve_fold
from .model import SCCHeatmapNet
from .step import make_step, predict

TABLE1 = {"ResNet-Deconv": {"use_scc": False}, "SCC-Heatmap (Ours)": {}}
TABLE2 = {"a": {}, "b": {"use_scc": False}, "c": {"deconv_layers": 2}, "d": {"deconv_layers": 2, "use_scc": False}}
TABLE3 = {"e": {"edge": "both"}, "f": {"edge": "pair"}, "g": {"edge": "diff"}}
SLUGS = {"ResNet-Deconv": "resnet_deconv", "SCC-Heatmap (Ours)": "scc_heatmap"}
# ExperimentConfig fields that fill the config fields of the same name; None takes the config's default,
# which holds the number
MODEL_FIELDS = ("depth", "input_size", "deconv_channels")
TRAIN_FIELDS = ("epochs", "batch_size", "lr", "lr_milestones", "sigma")


TABLES = ("table1", "table2", "table3", "fig6")     # what an SCC run can make (ExperimentConfig.tables)


@dataclass
class ExperimentConfig:
    dataset: str = "synthau-disfa"       # bp4d / disfa / synthau-bp4d / synthau-disfa
    fold: int = 1                        # DISFA: test part 1-3 (SCC §Datasets: 3-fold)
    fera: bool = True                    # BP4D: FERA2015 train/test split (SCC §Datasets)
    preset: str = "full"                 # smoke | quick | full
    seeds: tuple = (0, 1, 2)
    tables: tuple = TABLES
    k_values: tuple = (3, 5, 7, 9, 11)  # Fig. 6 grid (our choice; the figure's values are not in the text)
    epochs: int | None = None            # None: SCCTrainConfig.epochs
    steps_per_epoch: int | None = None   # cut epochs short (None: the whole training set)
    batch_size: int | None = None        # None: SCCTrainConfig.batch_size
    lr: float | None = None              # None: SCCTrainConfig.lr (Adam)
    lr_milestones: tuple | None = None   # None: SCCTrainConfig.lr_milestones
    sigma: float | None = None           # None: SCCTrainConfig.sigma (Eq. 1)
    k: int | None = None                 # None: the dataset's K_BY_DATASET (SCC §Implementation Details)
    nodes: str = "channels"              # SCC graph nodes: the paper's channels | positions (an alternative of ours)
    depth: int | None = None             # None: SCCModelConfig.depth; quick/smoke use ResNet-18 on CPU
    input_size: int | None = None        # None: SCCModelConfig.input_size
    deconv_channels: int | None = None   # None: SCCModelConfig.deconv_channels
    weights: str | None = None           # local ImageNet state_dict for the trunk (random init otherwise)
    max_train: int | None = None
    max_test: int | None = None
    curve_frames: int = 300              # Fig. 5 intensity curves: frames per subject
    device: str = ""
    out_dir: str = "reports/scc"
    model_dir: str = ""                  # SCC-Heatmap (first seed) -> model_dir/deploy.pt for aukit predict; "" skips
    progress: bool = False
    checkpoints: int = -1                # -1 the preset's (full: every training checkpoints, a rerun
    #                                      resumes), 0 off, 1 on
    aus_dropped: dict = field(default_factory=dict)  # AUs of a dataset of your own that load_data left out

    def __post_init__(self) -> None:
        unknown = [t for t in self.tables if t not in TABLES]
        if unknown:               # -p tables '["Table2"]' ran Table 1 alone, and said nothing
            raise ValueError(f"SCC has no table {', '.join(map(repr, unknown))}; its tables: {', '.join(TABLES)}")
        # None fields take the config dataclasses' defaults, which hold the numbers (run.yaml records them);
        # k the dataset's K_BY_DATASET
        fill_missing(self, SCCModelConfig(), MODEL_FIELDS)
        fill_missing(self, SCCTrainConfig(), TRAIN_FIELDS)
        if self.k is None:
            self.k = k_for(self.dataset)

    @property
    def aus(self) -> tuple:
        """The dataset's AUs, less those :func:`.data.load_data` left out (a dataset of your own)."""
        return tuple(a for a in dataset_aus(self.dataset) if a not in self.aus_dropped)


def preset_config(preset: str, **overrides) -> ExperimentConfig:
    """smoke (seconds), quick (~6 min on a 2-core CPU: ResNet-18 on 64 px faces -> 16x16 maps,
    10 epochs of 30 steps of 32, lr / 10 after epoch 5, one seed, Table 1 only; the fewest steps
    at which both Table 1 models learn on SynthAU: reports/scc/checks/table1_cpu_300steps),
    full (the paper's sizes and tables, for a GPU)."""
    base = {
        "smoke": dict(depth=18, input_size=64, deconv_channels=32, epochs=1, steps_per_epoch=3, batch_size=8,
                      max_train=64, max_test=48, seeds=(0,), tables=("table1",), curve_frames=24),
        "quick": dict(depth=18, input_size=64, deconv_channels=64, epochs=10, steps_per_epoch=30, batch_size=32,
                      max_train=1600, max_test=400, seeds=(0,), tables=("table1",), curve_frames=120),
        "full": {},
    }
    if preset not in base:
        raise ValueError(f"preset must be smoke|quick|full, got {preset!r}")
    return ExperimentConfig(preset=preset, **{**base[preset], **overrides})


def notebook_config(*, dataset: str, fold: int, fera: bool, preset: str, seeds: list, epochs: int, smoke: bool,
                    tables: list, out_dir: str, device: str, lr: float, batch_size: int, k: int,
                    sigma: float, model_dir: str = "", nodes: str = "channels", steps: int = -1,
                    weights: str = "", checkpoints: int = -1) -> ExperimentConfig:
    """The notebook's parameters -> config: ``smoke`` replaces the preset; empty lists and 0
    keep the preset's seeds / epochs / tables / k / lr / sigma / batch size, and so the config
    dataclasses' where the preset sets none; any other value is used in every preset, smoke too
    (a smoke sweep over seeds ran seed 0 in every cell, averaged as replicates).
    ``steps``: steps per epoch, -1 the preset's (quick 30, full none), 0 no cap. ``weights``: a local
    ImageNet state_dict for the trunk, empty for random init."""
    over = dict(dataset=dataset, fold=fold, fera=fera, out_dir=out_dir, device=device, model_dir=model_dir,
                nodes=nodes, weights=weights or None, checkpoints=checkpoints)
    if batch_size:
        over["batch_size"] = batch_size
    if seeds:
        over["seeds"] = tuple(seeds)
    if steps >= 0:
        over["steps_per_epoch"] = steps or None
    if epochs:
        over["epochs"] = epochs
    if lr:
        over["lr"] = lr
    if sigma:
        over["sigma"] = sigma
    if tables:
        over["tables"] = tuple(tables)
    if k:
        over["k"] = k
    return preset_config("smoke" if smoke else preset, **over)


def configs(ecfg: ExperimentConfig, overrides: dict) -> tuple[SCCModelConfig, SCCTrainConfig]:
    mc = SCCModelConfig(depth=ecfg.depth, input_size=ecfg.input_size, deconv_channels=ecfg.deconv_channels,
                        k=ecfg.k, n_points=2 * len(ecfg.aus), backbone_weights=ecfg.weights, nodes=ecfg.nodes)
    mc = dataclasses.replace(mc, **overrides)
    tc = SCCTrainConfig(lr=ecfg.lr, batch_size=ecfg.batch_size, epochs=ecfg.epochs,
                        lr_milestones=tuple(ecfg.lr_milestones), sigma=ecfg.sigma)
    return mc, tc


def settings(ecfg: ExperimentConfig) -> dict[str, dict]:
    """{setting: model-config overrides} of every setting the run trains: Table 1's, and Tables 2-3's and
    Fig. 6's k values when ``ecfg.tables`` asks for them."""
    rows = {f"table1 {name}": over for name, over in TABLE1.items()}
    for table, grid in (("table2", TABLE2), ("table3", TABLE3)):
        if table in ecfg.tables:
            rows.update({f"{table} {r}": over for r, over in grid.items()})
    if "fig6" in ecfg.tables:
        rows.update({f"fig6 k={kk}": {"k": kk} for kk in ecfg.k_values})
    return rows


def resolved_config(ecfg: ExperimentConfig) -> dict:
    """run.yaml's ``config``: the experiment's knobs, the method dataclasses of the paper's setting
    (SCC-Heatmap) in full, and per setting trained the model fields it changes (the train config is
    one for all settings)."""
    mc, tc = configs(ecfg, {})
    base = dataclasses.asdict(mc)
    changed = {}
    for name, over in settings(ecfg).items():
        m = dataclasses.asdict(configs(ecfg, over)[0])
        changed[name] = {k: v for k, v in m.items() if v != base[k]}
    return {"experiment": dataclasses.asdict(ecfg), "model": base, "train": dataclasses.asdict(tc),
            "settings": changed}


def scores(pred: np.ndarray, label: np.ndarray, aus, flags: dict | None = None) -> dict:
    """Flat per-AU ICC and MAE + averages: {"icc_AU01", ..., "icc_avg", "mae_AU01", ..., "mae_avg"};
    ``flags`` (a dict) receives the degenerate cases (``{"icc_AU05": "constant_prediction"}``)."""
    flat, found = metrics.flat_per_au(("icc", "mae"), pred, label, list(aus))
    if flags is not None:
        flags.update(found)
    return flat


def data_loader(data: SCCData, rows: np.ndarray, batch_size: int, device: torch.device, shuffle: bool,
                seed: int = 0, norm: InputNorm = RANDOM_INIT) -> BatchLoader:
    """Batches of ``rows``: shuffled training batches (each DDP rank takes its share), or every row in order;
    ``norm``: the trunk's input normalisation (``input_norm(mc.backbone_weights)``)."""
    return BatchLoader(data.store, rows, min(batch_size, len(rows)), device=device, shuffle=shuffle, seed=seed,
                       drop_last=shuffle, targets=data.targets, mean=norm.mean, std=norm.std)


def train_model(data: SCCData, mc: SCCModelConfig, tc: SCCTrainConfig, *, device: torch.device, seed: int,
                steps_per_epoch: int | None = None, progress: bool = False,
                out_dir: str | None = None, name: str = "") -> SCCHeatmapNet:
    """One heatmap network trained on ``data.train_rows`` with Adam and the step-wise lr of ``tc``
    through ``aukit.train.fit``; ``model.history`` keeps fit's per-epoch logs. ``out_dir``: fit's
    checkpoints (last.pt, metrics.jsonl; a rerun resumes); ``name``: what trains, on each epoch line."""
    seed_everything(seed)
    model = SCCHeatmapNet(mc)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(tc.lr_milestones), tc.lr_gamma)
    cfg = TrainConfig(epochs=tc.epochs, max_steps_per_epoch=steps_per_epoch, progress=progress, out_dir=out_dir,
                      name=name)
    train = data_loader(data, data.train_rows, tc.batch_size, device, shuffle=True, seed=seed,
                        norm=input_norm(mc.backbone_weights))
    model.history = fit(model, make_step(tc, mc.input_size), train, opt, cfg, device=device, scheduler=sched,
                        method_config={"model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc)})
    return model


def predict_rows(model: SCCHeatmapNet, data: SCCData, rows: np.ndarray, tc: SCCTrainConfig,
                 device: torch.device, batch_size: int = 64) -> dict:
    """:func:`step.predict` over ``rows`` in order (every row, on every rank)."""
    loader = data_loader(data, rows, batch_size, device, shuffle=False, norm=input_norm(model.cfg.backbone_weights))
    return predict(model, loader, tc,
                   points_per_au=model.cfg.n_points // len(data.aus), input_size=model.cfg.input_size)


class Runner:
    """Trains each (setting, seed) once and remembers its scores (and the first seed's model)."""

    def __init__(self, ecfg: ExperimentConfig, data: SCCData, device: torch.device, ckpt_root=None):
        self.ecfg, self.data, self.device, self.ckpt_root = ecfg, data, device, ckpt_root
        self.results: dict[tuple, dict] = {}
        self.flags: dict[tuple, dict] = {}           # (setting, seed) -> the degenerate cases of its scores
        self.models: dict[tuple, SCCHeatmapNet] = {}

    def key(self, overrides: dict) -> tuple:
        """The resolved model config: equal settings (e.g. Table 2 a, Table 3 e) share one run."""
        mc, _ = configs(self.ecfg, overrides)
        return tuple(sorted(dataclasses.asdict(mc).items()))

    def loader(self, rows, shuffle: bool, batch_size: int, seed: int = 0) -> BatchLoader:
        return data_loader(self.data, rows, batch_size, self.device, shuffle, seed, norm=input_norm(self.ecfg.weights))

    def train(self, overrides: dict, seed: int) -> SCCHeatmapNet:
        mc, tc = configs(self.ecfg, overrides)
        name = "_".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "paper"   # the setting's folder
        return train_model(self.data, mc, tc, device=self.device, seed=seed,
                           steps_per_epoch=self.ecfg.steps_per_epoch, progress=self.ecfg.progress,
                           out_dir=ckptdir.training_dir(self.ckpt_root, name, seed), name=f"{name} seed {seed}")

    def predict(self, model: SCCHeatmapNet, rows: np.ndarray) -> dict:
        _, tc = configs(self.ecfg, {})
        return predict_rows(model, self.data, rows, tc, self.device)

    def get(self, overrides: dict, seed: int) -> dict:
        key = (self.key(overrides), seed)
        if key not in self.results:
            t0 = time.perf_counter()
            model = self.train(overrides, seed)
            out = self.predict(model, self.data.test_rows)
            res = scores(out["pred"], out["label"], self.data.aus, self.flags.setdefault(key, {}))
            res.update(loss_first=model.history[0]["train_loss"], loss_last=model.history[-1]["train_loss"],
                       images_per_s=model.history[-1]["images_per_s"], train_s=time.perf_counter() - t0)
            self.results[key] = res
            changed = overrides or "paper setting"
            print(f"[scc] {changed} seed {seed}: ICC {res['icc_avg']:.3f}, MAE {res['mae_avg']:.3f}, "
                  f"loss {res['loss_first']:.4f} -> {res['loss_last']:.4f}, {res['train_s']:.0f}s", flush=True)
            if seed == self.ecfg.seeds[0]:
                self.models[self.key(overrides)] = model.eval()
        return self.results[key]

    def seed_flags(self, overrides: dict, metric: str) -> dict[str, str]:
        """{au: "constant_prediction in 2 of 3 seeds"}: why a setting's per-AU value is a 0.00, for
        the table notes (an ICC of 0 from a constant prediction read as a measured agreement of 0; a constant
        test label leaves it undefined, out of the average: :mod:`aukit.report.flags`)."""
        per_seed = [{au: f for au in self.data.aus
                     if (f := self.flags.get((self.key(overrides), s), {}).get(f"{metric}_{au}"))}
                    for s in self.ecfg.seeds]
        return over_seeds(per_seed, self.data.aus)

    def over_seeds(self, overrides: dict) -> tuple[dict, dict]:
        """Mean and std over seeds of every score of one setting."""
        agg = metrics.aggregate([self.get(overrides, s) for s in self.ecfg.seeds])
        return {k: v[0] for k, v in agg.items()}, {k: v[1] for k, v in agg.items()}


def per_au_frames(rows: dict[str, tuple[dict, dict]], metric: str, aus) -> tuple[pd.DataFrame, pd.DataFrame]:
    """{method: (mean, std)} -> (mean frame, std frame) with AU columns + Avg."""
    cols = [f"{metric}_{a}" for a in aus] + [f"{metric}_avg"]
    names = list(aus) + ["Avg"]
    mean = pd.DataFrame({m: [ms[0][c] for c in cols] for m, ms in rows.items()}, index=names).T
    std = pd.DataFrame({m: [ms[1][c] for c in cols] for m, ms in rows.items()}, index=names).T
    return mean, std


def small_frames(rows: dict[str, tuple[dict, dict]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 2-3: rows = settings, columns ICC, MAE (averages over AUs)."""
    mean = pd.DataFrame({m: [ms[0]["icc_avg"], ms[0]["mae_avg"]] for m, ms in rows.items()}, index=["ICC", "MAE"]).T
    std = pd.DataFrame({m: [ms[1]["icc_avg"], ms[1]["mae_avg"]] for m, ms in rows.items()}, index=["ICC", "MAE"]).T
    return mean, std


def constant_scores(data: SCCData) -> dict[str, dict]:
    """Constant predictors on the test frames: the training mean and the training median of
    each AU (the median is the MAE-optimal constant; ICC of any constant is 0)."""
    label = data.intensity[data.test_rows]
    train = data.intensity[data.train_rows]
    return {name: scores(np.broadcast_to(fn(train, axis=0), label.shape).copy(), label, data.aus)
            for name, fn in (("mean", np.nanmean), ("median", np.nanmedian))}


def checkpoint_root(ecfg: ExperimentConfig, fold):
    """``ecfg.checkpoints`` -> the run's checkpoint folder (:func:`aukit.ckptdir.run_root`) or None; its knobs
    are the experiment's sizes (not its seeds, tables or output folders)."""
    skip = ("dataset", "fold", "fera", "preset", "seeds", "tables", "max_test", "curve_frames", "device", "out_dir",
            "model_dir", "progress", "checkpoints")
    knobs = {k: v for k, v in dataclasses.asdict(ecfg).items() if k not in skip}
    return ckptdir.run_root(ecfg.checkpoints, ecfg.preset, ecfg.preset == "smoke", base=ecfg.model_dir or ecfg.out_dir,
                            dataset=ecfg.dataset, fold=fold, knobs=knobs)


def ran_split(ecfg: ExperimentConfig) -> tuple[ExperimentConfig, int | str]:
    """The split ``ecfg`` runs (:func:`.data.resolve_fold`: 1..3 or 'fera') and ``ecfg`` saying so: ``fera`` is
    true only where the FERA2015 split ran. The default ``fera`` true asks for it on any dataset, and run.yaml
    recorded it on a DISFA run or one on a dataset of your own, which ran ``fold``."""
    fold = resolve_fold(ecfg.dataset, ecfg.fold, ecfg.fera)
    return dataclasses.replace(ecfg, fera=fold == "fera"), fold


def run(ecfg: ExperimentConfig) -> dict:
    """Train, evaluate and write the report into ``ecfg.out_dir``; return the metrics."""
    from . import report_figures
    t0 = time.perf_counter()
    device = pick_device(ecfg.device or None)
    ecfg, fold = ran_split(ecfg)
    data = load_data(ecfg.dataset, fold, ecfg.aus, max_train=ecfg.max_train, max_test=ecfg.max_test)
    if data.info["aus_dropped"]:                    # the model's heads: the AUs the data has
        ecfg = dataclasses.replace(ecfg, aus_dropped=data.info["aus_dropped"])
    t_data = time.perf_counter() - t0
    report = Report("scc", dataset=ecfg.dataset, preset=ecfg.preset, seeds=list(ecfg.seeds), device=str(device),
                    config=resolved_config(ecfg), folder=ecfg.out_dir, weights=ecfg.weights)
    runner = Runner(ecfg, data, device, checkpoint_root(ecfg, fold))
    fam = family_or_bp4d(ecfg.dataset)             # the paper's table shown (none beside a dataset of your own)
    tab = family(ecfg.dataset) or "own"
    report.aus_dropped.update(data.info["aus_dropped"])
    const = constant_scores(data)
    m: dict = {"icc_constant": const["mean"]["icc_avg"], "mae_constant_mean": const["mean"]["mae_avg"],
               "mae_constant_median": const["median"]["mae_avg"],
               "mae_constant": min(const["mean"]["mae_avg"], const["median"]["mae_avg"]), "data_prep_s": t_data,
               "train_frames": len(data.train_rows), "test_frames": len(data.test_rows), "k": ecfg.k}

    t1 = {name: runner.over_seeds(over) for name, over in TABLE1.items()}
    for metric in ("icc", "mae"):
        mean, std = per_au_frames(t1, metric, data.aus)
        flags = {name: f for name, over in TABLE1.items() if (f := runner.seed_flags(over, metric))}
        report.add_table(f"table1_{tab}_{metric}", mean, reported.table("scc", f"table1_{fam}_{metric}"),
                         measured_std=std, flags=flags or None)
    for name, (mean, std) in t1.items():
        s = SLUGS[name]
        undefined = {f"icc_{au}" for au in undefined_aus(runner.seed_flags(TABLE1[name], "icc"))}   # null, as n/a†
        m.update({f"{k}_{s}": None if k in undefined else v for k, v in mean.items() if k.startswith(("icc_", "mae_"))})
        m.update({f"icc_std_{s}": std["icc_avg"], f"mae_std_{s}": std["mae_avg"],
                  f"loss_first_{s}": mean["loss_first"], f"loss_last_{s}": mean["loss_last"],
                  f"images_per_s_{s}": mean["images_per_s"]})
    m["scc_minus_deconv_icc"] = m["icc_avg_scc_heatmap"] - m["icc_avg_resnet_deconv"]
    m["scc_minus_deconv_mae"] = m["mae_avg_scc_heatmap"] - m["mae_avg_resnet_deconv"]

    for name, grid in (("table2", TABLE2), ("table3", TABLE3)):
        if name not in ecfg.tables:
            continue
        rows = {r: runner.over_seeds(over) for r, over in grid.items()}
        mean, std = small_frames(rows)
        flags = {r: f for r, over in grid.items() if (f := runner.seed_flags(over, "icc"))}   # the averages' AUs
        report.add_table(name, mean, reported.table("scc", name), measured_std=std, flags=flags or None)
        for r in mean.index:
            m.update({f"{name}_{r}_icc": mean.loc[r, "ICC"], f"{name}_{r}_mae": mean.loc[r, "MAE"],
                      f"{name}_{r}_icc_std": std.loc[r, "ICC"], f"{name}_{r}_mae_std": std.loc[r, "MAE"]})
    if "table2" in ecfg.tables:   # the paper's ordering: SCC helps at both resolutions, 64x64 beats 32x32
        m["table2_scc_helps_64"] = bool(m["table2_a_icc"] > m["table2_b_icc"])
        m["table2_scc_helps_32"] = bool(m["table2_c_icc"] > m["table2_d_icc"])
        m["table2_64_beats_32"] = bool(m["table2_a_icc"] > m["table2_c_icc"])
    if "fig6" in ecfg.tables:
        sweep = {kk: runner.over_seeds({"k": kk}) for kk in ecfg.k_values}
        icc = {"mean": [sweep[kk][0]["icc_avg"] for kk in ecfg.k_values],
               "std": [sweep[kk][1]["icc_avg"] for kk in ecfg.k_values]}
        mae = {"mean": [sweep[kk][0]["mae_avg"] for kk in ecfg.k_values],
               "std": [sweep[kk][1]["mae_avg"] for kk in ecfg.k_values]}
        from .figures import k_sweep
        report.add_figure("fig6_k_sweep", k_sweep(ecfg.k_values, icc, mae),
                          flags={f"K={kk}": runner.seed_flags({"k": kk}, "icc") for kk in ecfg.k_values})
        m.update({f"fig6_k{kk}_icc": v for kk, v in zip(ecfg.k_values, icc["mean"])})
        m.update({f"fig6_k{kk}_mae": v for kk, v in zip(ecfg.k_values, mae["mean"])})

    scc_model = runner.models[runner.key(TABLE1["SCC-Heatmap (Ours)"])]
    plain_model = runner.models[runner.key(TABLE1["ResNet-Deconv"])]
    figs, fig_metrics = report_figures.make(runner, scc_model, plain_model)
    for name, fig in figs.items():
        report.add_figure(name, fig)
    m.update(fig_metrics)
    if ecfg.model_dir:
        from .deploy import export_deployable
        export_deployable(scc_model, data.aus, f"{ecfg.model_dir}/deploy.pt", ecfg.dataset, configs(ecfg, {})[1],
                          config=resolved_config(ecfg))
    m["wall_s"] = time.perf_counter() - t0
    report.add_metrics(**m)
    report.headline("icc_avg_scc_heatmap", "mae_avg_scc_heatmap", "icc_avg_resnet_deconv", "mae_avg_resnet_deconv",
                    "mae_constant_median")
    report.add_reference("icc_avg_scc_heatmap", "scc", f"table1_{fam}_icc", "SCC-Heatmap (Ours)")
    report.add_reference("mae_avg_scc_heatmap", "scc", f"table1_{fam}_mae", "SCC-Heatmap (Ours)")
    report.write(data=data.info)
    return dict(report.measured)
