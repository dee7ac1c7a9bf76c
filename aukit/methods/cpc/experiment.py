"""CPC experiments: pre-training (Table 1) and the 2% / all-labels ablations (Tables 2-5).

    plan = Plan(image_size=64, pretrain_epochs=2, ...)          # the notebook's preset
    res = run(dataset="synthau-disfa", fold=1, pool="auto", seeds=[0], plan=plan)   # auto: synthau-affwild2 here
    write_report(res, out_dir="reports", preset="quick")      # aukit.report, see report.py

``pool="auto"`` (the default) pre-trains on Aff-Wild2 (CPC §4) on a BP4D/DISFA run when it is found,
on SynthAU's stand-in ``synthau-affwild2`` otherwise (a real run says so): :func:`pool_for`.

Model selection: the paper keeps "the best performing model" of each method; we keep
the last epoch (no test-set selection). All variants of one seed share the same
labelled subset (§4 Frame selection).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from aukit import ckptdir, metrics
from aukit.data.sidesets import side_or_standin
from aukit.methods import aus as A
from aukit.runtime import seed_everything
from aukit.train import TrainConfig, fit

from .augment import ClipAugment, resize_only
from .config import BaselineConfig, CPCModelConfig, PretrainConfig, SparseConfig
from .data import Split, WindowLoader, clip_rows, frame_loader, labelled_rows, make_split, split_sequences
from .infer import predict_frames, predict_sequences, pretext_accuracy
from .losses import InfoNCELoss, SparseLabelLoss
from .model import CPCNet, FrameRegressor
from .step import make_frame_step, make_pretrain_step, make_sparse_step

# Table 2 (2% labels) and Table 3 (all labels); names follow the paper's rows.
VARIANTS_2PCT = ("R18 2%", "R18+GRU-scratch 2%", "Ours(*target)-2%", "Ours(*pool)-2%")
VARIANTS_SUP = ("R18 Sup.", "R18+GRU-scratch Sup.", "R18+GRU-Pseudo-GT", "Ours(*pool)-Sup.")
REPORTED_ROW = {"Ours(*target)-2%": "Ours(*Disfa)-2%", "Ours(*pool)-2%": "Ours(*Affwild2)-2%",
                "Ours(*pool)-Sup.": "Ours (*Affwild2)-Sup."}


@dataclass
class Plan:
    """Run sizes (the preset); the method's settings stay in the stage configs."""
    image_size: int | None = None        # faces resized on the device (quick: smaller); None: CPCModelConfig.image_size
    pretrain_epochs: int = 300           # CPC §4: 300 epochs on Aff-Wild2
    sparse_epochs: int = 50              # choice: the paper keeps the best model, epochs not given
    baseline_epochs: int = 50            # choice: not given
    steps_per_epoch: int | None = None   # cap on batches per epoch (quick/smoke)
    min_steps: int = 0                   # stage-2/baseline runs get at least this many steps (epochs raised)
    pretrain_clips: int | str | None = "tile"  # §4: non-overlapping clips (33,509 on Aff-Wild2); an int: that
    #                                      many at random frames; None: one clip per frame (overlapping)
    val_clips: int = 512                 # choice: Table 1's Top-n on 512 random validation clips; CPC §4 scores all
    #                                      7,164 held-out sequences, but ours is scored after every pre-training
    #                                      epoch (300), so a sample keeps that pass short; -p val_clips sets more
    eval_frames: int | None = None       # first frames of each test sequence evaluated (None: all)
    table3: bool = True                  # also run the all-labels variants
    precision: str = "auto"
    compile: bool = False
    progress: bool = False


@dataclass
class Results:
    dataset: str
    pool: str
    aus: list
    seeds: list
    device: str
    per_seed: list = field(default_factory=list)   # {variant: {"icc": per_au, "mae": per_au}} per seed
    pretext: list = field(default_factory=list)     # {"pool"|"target": {"history": [...], "val": {...}}} per seed
    curves: dict = field(default_factory=dict)      # seed 0: labels + predictions on one test sequence
    const: list = field(default_factory=list)       # constant-predictor metrics per seed (labelled frames' mean)
    const_median: list = field(default_factory=list)  # ... and their median (least MAE on those frames)
    wall_s: float = 0.0
    configs: dict = field(default_factory=dict)
    split: object = field(default=None, repr=False)   # the target Split (AU distribution figure)
    model: object = field(default=None, repr=False)   # first seed's "Ours 2%" CPCNet (pool pre-training if run): deploy.pt


def _train_cfg(epochs: int, plan: Plan, loader=None, out_dir: str | None = None) -> TrainConfig:
    if loader is not None and plan.min_steps:
        per_epoch = min(len(loader), plan.steps_per_epoch or len(loader))
        epochs = max(epochs, -(-plan.min_steps // max(per_epoch, 1)))
    return TrainConfig(epochs=epochs, max_steps_per_epoch=plan.steps_per_epoch, precision=plan.precision,
                       compile=plan.compile, progress=plan.progress, out_dir=out_dir)


def _augment(pcfg: PretrainConfig, size: int | None, on: bool = True):
    if not on:
        return resize_only(size)
    return ClipAugment.from_config(pcfg, out_size=size)


def face_size(plan: Plan, mcfg: CPCModelConfig) -> int:
    """The face side fed to the network: the plan's (a preset's), else the model config's."""
    return plan.image_size if plan.image_size is not None else mcfg.image_size


def _size(split: Split, plan: Plan, mcfg: CPCModelConfig) -> int | None:
    side = face_size(plan, mcfg)
    return None if side == split.store.size else side


def pretrain(split: Split, train_rows, val_rows, mcfg: CPCModelConfig, pcfg: PretrainConfig, plan: Plan,
             device, seed: int, out_dir: str | None = None) -> tuple[CPCNet, list[dict]]:
    """Stage 1 (§3.3) on the frames ``train_rows`` (labels unused); validation Top-n on ``val_rows``.
    ``out_dir``: the training's checkpoint folder (aukit.ckptdir), None for none (also below)."""
    seed_everything(seed)
    model = CPCNet(mcfg)
    size = _size(split, plan, mcfg)
    clips = clip_rows(split.frames, train_rows, pcfg.seq_len, pcfg.stride, plan.pretrain_clips, seed)
    val = clip_rows(split.frames, val_rows, pcfg.seq_len, pcfg.stride, plan.val_clips, seed + 1)
    from aukit.data.loader import BatchLoader
    loader = BatchLoader(split.store, clips, min(pcfg.batch_size, len(clips)), device=device, seed=seed,
                         augment=_augment(pcfg, size))
    val_loader = BatchLoader(split.store, val, min(pcfg.batch_size, len(val)), device=device, shuffle=False,
                             drop_last=True, augment=resize_only(size))
    loss_fn = InfoNCELoss(pcfg.batch_negatives, pcfg.temperature)
    opt = torch.optim.Adam(model.parameters(), lr=pcfg.lr, weight_decay=pcfg.weight_decay)

    def evaluate(m, epoch):
        return {f"val_{k}": v for k, v in pretext_accuracy(m, val_loader, pcfg.context, loss_fn,
                                                                precision=plan.precision).items()}

    hist = fit(model, make_pretrain_step(pcfg.context, loss_fn), loader, opt,
               _train_cfg(plan.pretrain_epochs, plan, out_dir=out_dir), device=device, evaluate=evaluate, method_config={"model": asdict(mcfg), "pretrain": asdict(pcfg)})
    return model, hist


def train_sequence_model(model: CPCNet, split: Split, anchors, labels, scfg: SparseConfig, pcfg: PretrainConfig,
                         plan: Plan, device, seed: int, out_dir: str | None = None) -> list[dict]:
    """Stage 2 (§3.4): windows around the labelled frames, Eq. 2 at the labelled frame only."""
    loader = WindowLoader(split, anchors, labels, scfg.window, scfg.stride, scfg.batch_size, device=device,
                          seed=seed, augment=_augment(pcfg, _size(split, plan, model.cfg), scfg.augment))
    opt = torch.optim.Adam(model.parameters(), lr=scfg.lr, betas=tuple(scfg.betas), weight_decay=scfg.weight_decay)
    return fit(model, make_sparse_step(SparseLabelLoss(scfg.au_reduction)), loader, opt,
               _train_cfg(plan.sparse_epochs, plan, loader, out_dir), device=device,
               method_config={"model": asdict(model.cfg), "sparse": asdict(scfg)})


def train_frame_model(model: FrameRegressor, split: Split, rows, labels, bcfg: BaselineConfig,
                      pcfg: PretrainConfig, plan: Plan, device, seed: int, out_dir: str | None = None) -> list[dict]:
    """R18 baselines (§4.1): per-frame L2 regression on the labelled frames."""
    loader = frame_loader(split, rows, bcfg.batch_size, device=device, labels=labels, seed=seed,
                          augment=_augment(pcfg, _size(split, plan, model.cfg), bcfg.augment))
    opt = torch.optim.Adam(model.parameters(), lr=bcfg.lr, betas=tuple(bcfg.betas), weight_decay=bcfg.weight_decay)
    return fit(model, make_frame_step(SparseLabelLoss(bcfg.au_reduction)), loader, opt,
               _train_cfg(plan.baseline_epochs, plan, loader, out_dir), device=device,
               method_config={"model": asdict(model.cfg), "baseline": asdict(bcfg)})


def eval_rows(split: Split, plan: Plan) -> np.ndarray:
    """Test frames in temporal order, the first ``plan.eval_frames`` of each sequence."""
    rows = split.test_rows
    if plan.eval_frames is None:
        return rows
    seq = split.seq_id[rows]
    pos = np.zeros(len(rows), np.int64)
    for s in np.unique(seq):
        sel = seq == s
        pos[sel] = np.arange(sel.sum())
    return rows[pos < plan.eval_frames]


def predict(model, split: Split, rows, scfg: SparseConfig, plan: Plan, device) -> np.ndarray:
    """Dense predictions (len(rows), N) on the 0..5 scale (clipped), in the order of ``rows``."""
    loader = frame_loader(split, rows, 256, device=device, shuffle=False,
                          augment=resize_only(_size(split, plan, model.cfg)))
    if isinstance(model, CPCNet):
        # a window's context never crosses frames missing from the store
        pred, got = predict_sequences(model, loader, split.run_id, scfg.eval_window, scfg.stride,
                                      plan.precision)
    else:
        pred, got = predict_frames(model, loader, plan.precision)
    assert np.array_equal(got, rows), "evaluation loader changed the frame order"
    return np.clip(pred, 0.0, 5.0)


def score(pred, label, aus) -> dict:
    return {"icc": metrics.per_au("icc", pred, label, aus), "mae": metrics.per_au("mae", pred, label, aus)}


def run_seed(split: Split, pool: Split | None, seed: int, *, mcfg: CPCModelConfig, pcfg: PretrainConfig,
             scfg: SparseConfig, bcfg: BaselineConfig, plan: Plan, device, log=print, ckpt_root=None) -> dict:
    """Every variant for one seed: {"variants": {name: score}, "pretext": ..., "preds": ..., "const": ...}.
    ``ckpt_root``: the run's checkpoint folder (:func:`checkpoint_root`), one training per variant and stage."""

    def ckpt(name: str) -> str | None:
        return ckptdir.training_dir(ckpt_root, name, seed)
    mcfg = CPCModelConfig(**{**asdict(mcfg), "num_aus": len(split.aus)})
    rows = eval_rows(split, plan)
    y = split.labels[rows]
    anchors = labelled_rows(split, scfg.label_fraction, scfg.label_seed + seed)
    all_anchors = labelled_rows(split, 1.0, 0)
    out: dict = {"variants": {}, "pretext": {}, "preds": {}, "rows": rows, "n_labelled": len(anchors)}
    # constant predictors, the floor every model must beat: the labelled frames' mean, and their
    # median (the constant with the least MAE on those frames)
    out["const"] = score(np.broadcast_to(np.nanmean(split.labels[anchors], 0), y.shape), y, split.aus)
    out["const_median"] = score(np.broadcast_to(np.nanmedian(split.labels[anchors], 0), y.shape), y, split.aus)

    def done(name, model, t0):
        pred = predict(model, split, rows, scfg, plan, device)
        out["preds"][name] = pred
        out["variants"][name] = score(pred, y, split.aus)
        log(f"seed {seed} {name}: ICC {out['variants'][name]['icc']['avg']:.3f} "
            f"MAE {out['variants'][name]['mae']['avg']:.3f} ({time.perf_counter() - t0:.0f}s)")

    def from_scratch(rows, tag: str) -> FrameRegressor:
        """The two baselines trained from scratch on the labelled ``rows``: R18 (per frame) and
        R18+GRU (sequence model); returns the R18 (the pseudo-label source of Table 3)."""
        t0 = time.perf_counter()
        seed_everything(seed)
        r18 = FrameRegressor(mcfg)
        train_frame_model(r18, split, rows, split.labels, bcfg, pcfg, plan, device, seed, ckpt(f"R18 {tag}"))
        done(f"R18 {tag}", r18, t0)
        t0 = time.perf_counter()
        seed_everything(seed)
        gru = CPCNet(mcfg)
        train_sequence_model(gru, split, rows, split.labels, scfg, pcfg, plan, device, seed,
                             ckpt(f"R18+GRU-scratch {tag}"))
        done(f"R18+GRU-scratch {tag}", gru, t0)
        return r18

    r18 = from_scratch(anchors, "2%")

    pretrained = {}
    # target: the training subjects' frames, validated on the test subjects' clips (labels unused)
    sources = {"target": (split, split.train_rows, split.test_rows)}
    if pool is not None:
        tr, va = split_sequences(pool, np.concatenate([pool.train_rows, pool.test_rows]), pcfg.val_fraction, seed)
        sources["pool"] = (pool, tr, va)
    for src, (sp, tr, va) in sources.items():
        t0 = time.perf_counter()
        net, hist = pretrain(sp, tr, va, mcfg, pcfg, plan, device, seed, ckpt(f"pretrain {src}"))
        out["pretext"][src] = {"history": hist, "val": {k[4:]: v for k, v in hist[-1].items() if k.startswith("val_")}}
        log(f"seed {seed} pre-training on {src}: {out['pretext'][src]['val']} ({time.perf_counter() - t0:.0f}s)")
        pretrained[src] = net.state_dict()
    for src in sources:
        t0 = time.perf_counter()
        model = CPCNet(mcfg)
        model.load_state_dict(pretrained[src])
        train_sequence_model(model, split, anchors, split.labels, scfg, pcfg, plan, device, seed,
                             ckpt(f"Ours(*{src})-2%"))
        done(f"Ours(*{src})-2%", model, t0)
        out["model"] = model.eval()                 # the last source (pool when given) is the headline model

    if plan.table3:
        from_scratch(all_anchors, "Sup.")
        # pseudo-labels: R18 2% predicts every training frame and initialises f and c (§4.1)
        t0 = time.perf_counter()
        pseudo = np.full_like(split.labels, np.nan)
        pseudo[all_anchors] = predict(r18, split, all_anchors, scfg, plan, device)
        m = CPCNet(mcfg)
        m.encoder.load_state_dict(r18.encoder.state_dict())
        m.head.load_state_dict(r18.head.state_dict())
        train_sequence_model(m, split, all_anchors, pseudo, scfg, pcfg, plan, device, seed, ckpt("R18+GRU-Pseudo-GT"))
        done("R18+GRU-Pseudo-GT", m, t0)
        if "pool" in pretrained:
            t0 = time.perf_counter()
            m = CPCNet(mcfg)
            m.load_state_dict(pretrained["pool"])
            train_sequence_model(m, split, all_anchors, split.labels, scfg, pcfg, plan, device, seed,
                                 ckpt("Ours(*pool)-Sup."))
            done("Ours(*pool)-Sup.", m, t0)
    return out


def settings_for(preset: str, smoke: bool = False, *, epochs: int = 0, image_size: int = 0,
                 lr_scale: float | None = None, **overrides) -> tuple[Plan, CPCModelConfig, PretrainConfig, SparseConfig, BaselineConfig]:
    """Stage configs (paper values) and the run plan of a preset.

    ``full``: the paper's sizes (128x128, T = 15, B = 20, 300 pre-training epochs) for a GPU.
    ``quick``: a 2-core-CPU budget: small faces, short clips, capped steps (not the paper's scale).
    ``smoke``: seconds. ``overrides`` set config fields by name in every config that has them
    (``weight_decay``, ``stride``, ...); ``pretrain_lr``, ``sparse_lr``, ``pretrain_batch`` and
    ``pretrain_epochs`` name one stage.
    ``epochs`` > 0 sets the stage-2 and baseline epochs. ``lr_scale`` multiplies the stage-2 and
    baseline lr (default 10 for quick/smoke, whose runs are ~100x shorter than the paper's; 1 for full).
    The full preset gives stage 2 and the baselines at least 2,000 steps (``Plan.min_steps``, more
    epochs on a small labelled set) unless ``epochs`` or ``steps_per_epoch`` is given: a schedule
    asked for is kept as asked (a time-boxed run).
    """
    from dataclasses import fields, replace

    mcfg, pcfg, scfg, bcfg = CPCModelConfig(), PretrainConfig(), SparseConfig(), BaselineConfig()
    if smoke:
        plan = Plan(image_size=32, pretrain_epochs=1, sparse_epochs=1, baseline_epochs=1, steps_per_epoch=2,
                    pretrain_clips=16, val_clips=8, eval_frames=24)
        pcfg = replace(pcfg, seq_len=5, context=3, batch_size=4)   # 9 frames at stride 2: tiny SynthAU's hold 10
        scfg = replace(scfg, window=6, eval_window=6, batch_size=4)
        bcfg = replace(bcfg, batch_size=8)
    elif preset == "quick":
        plan = Plan(image_size=32, pretrain_epochs=6, sparse_epochs=6, baseline_epochs=6, steps_per_epoch=6,
                    pretrain_clips=96, val_clips=32, eval_frames=120, table3=False)
        pcfg = replace(pcfg, seq_len=8, context=5, batch_size=8)
        scfg = replace(scfg, window=8, eval_window=8, batch_size=8)
        bcfg = replace(bcfg, batch_size=16)
    elif preset == "full":
        plan = Plan(min_steps=2000)
    else:
        raise ValueError(f"preset must be 'quick' or 'full', got {preset!r}")
    if epochs > 0:
        plan = replace(plan, sparse_epochs=epochs, baseline_epochs=epochs)
    if image_size > 0:
        plan = replace(plan, image_size=image_size)
    renames = {"pretrain_lr": ("p", "lr"), "sparse_lr": ("s", "lr"), "pretrain_batch": ("p", "batch_size"),
               "pretrain_epochs": ("plan", "pretrain_epochs")}
    cfgs = {"plan": plan, "m": mcfg, "p": pcfg, "s": scfg, "b": bcfg}
    for name, value in overrides.items():
        if name in renames:
            targets = [renames[name]]
        else:  # e.g. weight_decay, stride: set wherever the field exists
            targets = [(k, name) for k in cfgs if name in {f.name for f in fields(cfgs[k])}]
            if not targets:
                raise ValueError(f"unknown CPC setting {name!r}")
        for which, attr in targets:
            cfgs[which] = replace(cfgs[which], **{attr: value})
    if epochs > 0 or "steps_per_epoch" in overrides:
        cfgs["plan"] = replace(cfgs["plan"], min_steps=0)
    if "sparse_lr" in overrides:
        cfgs["b"] = replace(cfgs["b"], lr=cfgs["s"].lr)  # the R18 baselines share the stage-2 optimiser
    scale = lr_scale if lr_scale is not None else (1.0 if preset == "full" and not smoke else 10.0)
    cfgs["s"] = replace(cfgs["s"], lr=cfgs["s"].lr * scale)
    cfgs["b"] = replace(cfgs["b"], lr=cfgs["b"].lr * scale)
    return cfgs["plan"], cfgs["m"], cfgs["p"], cfgs["s"], cfgs["b"]


def notebook_settings(preset: str, smoke: bool, *, epochs: int = 0, pretrain_epochs: int = 0, val_clips: int = 0,
                      steps: int = -1, image_size: int = 0, seq_len: int = 0, context: int = 0, pretrain_batch: int = 0,
                      lr_scale: float = 0.0, stride: int, pretrain_lr: float, weight_decay: float, encoder: str,
                      label_fraction: float, sparse_lr: float
                      ) -> tuple[Plan, CPCModelConfig, PretrainConfig, SparseConfig, BaselineConfig]:
    """The notebook's parameters -> :func:`settings_for`. ``smoke`` replaces the preset; 0 ``epochs``,
    ``pretrain_epochs``, ``val_clips``, ``image_size``, ``seq_len``, ``context``, ``pretrain_batch`` and
    ``lr_scale``, and -1 ``steps``, keep the preset's (``steps`` 0: no cap); any other value is used whatever
    the preset. The paper's values (``stride``, the learning rates, ...) are always passed on."""
    sizes = dict(seq_len=seq_len, context=context, pretrain_batch=pretrain_batch, pretrain_epochs=pretrain_epochs,
                 val_clips=val_clips)
    bad = {k: v for k, v in {**sizes, "epochs": epochs, "image_size": image_size}.items() if v < 0}
    if bad or steps < -1 or lr_scale < 0:
        raise ValueError(f"sizes are 0 (the preset's) or positive, steps -1 (the preset's), 0 (no cap) or positive, "
                         f"lr_scale 0 (the preset's) or positive; got {bad or dict(steps=steps, lr_scale=lr_scale)}")
    overrides = dict(pretrain_lr=pretrain_lr, weight_decay=weight_decay, label_fraction=label_fraction,
                     sparse_lr=sparse_lr, stride=stride, encoder=encoder, **{k: v for k, v in sizes.items() if v})
    if steps >= 0:
        overrides["steps_per_epoch"] = steps or None
    out = settings_for(preset, smoke, epochs=epochs, image_size=image_size, lr_scale=lr_scale or None, **overrides)
    pcfg = out[2]
    if not 0 < pcfg.context < pcfg.seq_len:
        raise ValueError(f"context must be at least 1 and fewer than seq_len frames (CPC §3.2: P = T - C predicted), "
                         f"got context {pcfg.context}, seq_len {pcfg.seq_len} (0 keeps the preset's value)")
    return out


def notebook_in_effect(preset: str) -> dict:
    """What the notebook's 0 "the preset's" sizes stand for on ``preset`` (smoke, quick or full): a run given
    these values runs the preset unchanged (:func:`aukit.nb.changed_parameters`). ``epochs`` and ``steps``
    are not here: given, they lift the full preset's step floor."""
    plan, mcfg, pcfg, _, _ = settings_for(preset if preset != "smoke" else "quick", preset == "smoke")
    return {"seq_len": pcfg.seq_len, "context": pcfg.context, "pretrain_batch": pcfg.batch_size,
            "pretrain_epochs": plan.pretrain_epochs, "val_clips": plan.val_clips,
            "image_size": plan.image_size or mcfg.image_size}


def pool_for(dataset: str, pool: str | None = "auto") -> str | None:
    """The pre-training pool's dataset for a run on ``dataset``: ``"auto"`` is Aff-Wild2 (CPC §4) on a
    real run when it is found, else SynthAU's stand-in synthau-affwild2 (said on a real run); a name is
    checked; ``""`` or None: no pool (None). See :func:`aukit.data.sidesets.side_or_standin`."""
    return side_or_standin("affwild2", dataset, pool, what="CPC's pre-training pool", ref="§4", param="pool") or None


def target_aus(dataset: str, idx, train_subjects) -> tuple[list | None, dict[str, str]]:
    """(the target's AUs, {AU: why left out}): the papers' datasets keep every AU column with a label (None,
    :func:`.data.make_split`'s default: DISFA's 12, BP4D's 5); a dataset of your own takes its manifest entry's
    ``intensity_aus``, less those without a column or a coded frame of the training subjects."""
    if not A.is_own(dataset):
        return None, {}
    names = [A.au_name(a) for a in A.own_aus(dataset, "intensity", "CPC")]
    aus, dropped = A.kept_aus(dataset, idx, names, train_subjects, "CPC")
    return list(aus), dropped


def load_splits(dataset: str, fold: int, pool: str | None, max_pool_frames: int | None = None):
    """(target split by the fold's subjects, pool split with every subject in train) from the data layer.
    ``pool``: see :func:`pool_for`."""
    from aukit.data import fold_subjects, load_store
    from aukit.data.splits import notebook_fold

    pool = pool_for(dataset, pool)
    store = load_store(dataset, "cpc")
    fold = notebook_fold("cpc", dataset, fold)      # 0: BP4D's FERA2015 split; -1: the paper's for the dataset
    train_s, test_s = fold_subjects(dataset, fold, present=store.index)    # its gaps are checked too
    aus, dropped = target_aus(dataset, store.index, train_s)
    target = make_split(store, train_s, test_s, aus=aus)
    target.aus_dropped = dropped
    pool_split = None
    if pool:
        store = load_store(pool, "cpc", max_frames=max_pool_frames)
        subjects = store.index["subject"].astype(str).unique().tolist()
        pool_split = make_split(store, subjects, [], aus=[])
    return target, pool_split


def run(dataset: str = "synthau-disfa", fold: int = 1, pool: str | None = "auto", seeds=(0,), *,
        plan: Plan | None = None, mcfg: CPCModelConfig | None = None, pcfg: PretrainConfig | None = None,
        scfg: SparseConfig | None = None, bcfg: BaselineConfig | None = None, device=None,
        max_pool_frames: int | None = None, log=print, checkpoints: int = 0, preset: str = "quick",
        ckpt_base: str = "") -> Results:
    """Load the data, run every variant for every seed, return :class:`Results`. ``pool``: the
    pre-training pool, ``"auto"`` Aff-Wild2 or its stand-in (:func:`pool_for`), ``""``/None none.
    ``checkpoints`` (-1 the preset's: full on, 0 off, 1 on), ``preset`` ("smoke" for a smoke run) and ``ckpt_base``
    (model_dir or out_dir): :func:`aukit.ckptdir.run_root`; the default trains without checkpoints."""
    from aukit.runtime import pick_device

    plan, mcfg, pcfg = plan or Plan(), mcfg or CPCModelConfig(), pcfg or PretrainConfig()
    scfg, bcfg = scfg or SparseConfig(), bcfg or BaselineConfig()
    device = pick_device(device or None)
    t0 = time.perf_counter()
    pool = pool_for(dataset, pool)                  # Results.pool names the set read, not "auto"
    target, pool_split = load_splits(dataset, fold, pool, max_pool_frames)
    res = Results(dataset, pool or "", list(target.aus), list(seeds), str(device),
                  configs={"plan": asdict(plan), "model": {**asdict(mcfg), "num_aus": len(target.aus)},  # as built
                           "pretrain": asdict(pcfg), "sparse": asdict(scfg), "baseline": asdict(bcfg), "fold": fold})
    knobs = {"plan": {k: v for k, v in asdict(plan).items() if k not in ("progress",)}, "pool": pool or "",
             "max_pool_frames": max_pool_frames}
    root = ckptdir.run_root(checkpoints, preset, preset == "smoke", base=ckpt_base, dataset=dataset, fold=fold,
                            knobs=knobs, log=log)
    for seed in seeds:
        out = run_seed(target, pool_split, int(seed), mcfg=mcfg, pcfg=pcfg, scfg=scfg, bcfg=bcfg, plan=plan,
                       device=device, log=log, ckpt_root=root)
        res.per_seed.append(out["variants"])
        res.pretext.append(out["pretext"])
        res.const.append(out["const"])
        res.const_median.append(out["const_median"])
        if not res.curves:
            res.curves = _curve_data(target, out)
        if res.model is None:
            res.model = out.get("model")
    res.wall_s = time.perf_counter() - t0
    res.split = target
    return res


def _curve_data(split: Split, out: dict) -> dict:
    """Labels and two models' predictions on the longest evaluated test sequence (figure)."""
    rows = out["rows"]
    seq = split.seq_id[rows]
    longest = np.bincount(seq).argmax()
    sel = seq == longest
    wanted = ("R18 2%", "Ours(*pool)-2%") if "Ours(*pool)-2%" in out["preds"] else ("R18 2%", "Ours(*target)-2%")
    return {"labels": split.labels[rows[sel]], "preds": {k: out["preds"][k][sel] for k in wanted},
            "sequence": int(longest)}

