"""How big a TAS notebook run is: compute knobs per preset. The paper's hyper-parameters (lr, lambdas,
T and batch in the full preset) come from the notebook's parameters into :class:`TASConfig`.

    plan = notebook_plan("quick", smoke=False, seeds=[], epochs=0, steps=-1, variants=[])
    cfg = notebook_config(plan, "synthau-bp4d", lr=0.005, weight_decay=5e-4, alpha=0.5, lambda_rank=0.1,
                          lambda_spd=0.05, lambda_sub=-1.0, attention_kernel=9)
    opts = run_options(plan, device="")
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import (ABLATIONS, TASConfig, TASLossConfig, TASModelConfig, TASTrainConfig, default_label_fraction,
                     default_lambda_sub)
from .experiment import RunOptions


@dataclass
class Plan:
    mode: str                    # smoke | quick | full
    depth: int                   # ResNet trunk (TAS: 34)
    hidden: int                  # hidden channels of each AU's attention
    size: int | None             # input side; None: the store's 256 (TAS)
    T: int                       # frames per segment
    batch: int                   # segments per batch
    epochs: int
    steps: int | None            # steps per epoch cap; None: every batch
    stride: int                  # score every k-th test frame
    seeds: list                  # choice: 3 seeds in full (the paper gives no count), 1 on a CPU
    variants: list               # Table 3 rows trained (A6, the full model, always)
    extras: bool                 # Table 4 and the Fig. 5 lambda sweep


def preset_plan(mode: str, T: int = 0, batch_size: int = 0) -> Plan:
    """smoke (the tests' wiring check: seconds on their tiny tree), quick (a 2-core CPU: ResNet-18 at 48 px,
    10 steps) or full (the paper: ResNet-34 at 256 px, 20 epochs, 3 seeds). ``T`` frames per segment and
    ``batch_size`` segments per batch: 0 keeps the preset's (smoke 4 and 2, quick 8 and 8, full TAS's 16 and 16),
    any other value is used in every preset."""
    if mode == "smoke":
        plan = Plan(mode, depth=18, hidden=8, size=32, T=4, batch=2, epochs=1, steps=2, stride=2, seeds=[0],
                    variants=["A1", "A4", "A6"], extras=False)
    elif mode == "quick":
        plan = Plan(mode, depth=18, hidden=16, size=48, T=8, batch=8, epochs=1, steps=10, stride=4, seeds=[0],
                    variants=list(ABLATIONS), extras=False)
    elif mode == "full":                            # the paper's values, read from the config dataclasses
        model, train = TASModelConfig(), TASTrainConfig()
        plan = Plan(mode, depth=model.depth, hidden=model.attention_hidden, size=None, T=train.T,
                    batch=train.batch_size, epochs=train.epochs, steps=None, stride=1, seeds=[0, 1, 2],
                    variants=list(ABLATIONS), extras=True)
    else:
        raise ValueError(f"preset must be quick or full, got {mode!r}")
    if T < 0 or batch_size < 0:
        raise ValueError(f"T and batch_size are 0 (the preset's) or positive, got {T}, {batch_size}")
    plan.T = T or plan.T
    plan.batch = batch_size or plan.batch
    return plan


def notebook_in_effect(preset: str) -> dict:
    """What the notebook's "the preset's" defaults (T 0, batch_size 0, epochs 0, steps -1) stand for on
    ``preset``: a run given these values runs the preset unchanged (:func:`aukit.nb.changed_parameters`)."""
    plan = preset_plan(preset)
    return {"T": plan.T, "batch_size": plan.batch, "epochs": plan.epochs, "steps": plan.steps or 0}


def notebook_plan(preset: str, smoke: bool, *, seeds: list, epochs: int, steps: int, variants: list,
                  T: int = 0, batch_size: int = 0, extras: int = -1) -> Plan:
    """The notebook's parameters -> Plan: ``smoke`` replaces the preset; empty ``seeds``, 0 ``epochs``,
    -1 ``steps``, empty ``variants``, 0 ``T`` / ``batch_size`` and -1 ``extras`` keep the preset's (``steps`` 0:
    no cap); any other value is used whatever the preset. A subset of
    ``variants`` (a GPU session's time box) always keeps A6, which feeds Tables 1-2 and deploy.pt.
    ``extras`` 0 / 1 leaves out / runs Table 4 and the Fig. 5 sweep (27 more models)."""
    if extras not in (-1, 0, 1):
        raise ValueError(f"extras is -1 (the preset's), 0 (leave Table 4 and Fig. 5 out) or 1 (run them), got {extras}")
    plan = preset_plan("smoke" if smoke else preset, T, batch_size)
    if extras >= 0:
        plan.extras = bool(extras)
    if seeds:
        plan.seeds = [int(s) for s in seeds]
    if epochs:
        plan.epochs = epochs
    if steps >= 0:
        plan.steps = steps or None
    if variants:
        unknown = [v for v in variants if v not in ABLATIONS]
        if unknown:
            raise ValueError(f"unknown variants {unknown}; choose from {list(ABLATIONS)}")
        plan.variants = [v for v in ABLATIONS if v in variants or v == "A6"]
    return plan


def notebook_config(plan: Plan, dataset: str, *, lr: float, weight_decay: float, alpha: float, lambda_rank: float,
                    lambda_spd: float, lambda_sub: float, attention_kernel: int, weights: str = "",
                    reduction: str = "mean") -> TASConfig:
    """The paper's hyper-parameters at the plan's size. ``lambda_sub`` < 0: the paper's value for the
    dataset; the labelled fraction of keyframes is TAS's (2% BP4D, 1% DISFA); ``weights`` "" : random init;
    ``reduction``: Eqs. 1-3 averaged ("mean", ours) or summed as printed ("sum")."""
    return TASConfig(
        model=TASModelConfig(depth=plan.depth, attention_kernel=attention_kernel, attention_hidden=plan.hidden,
                             weights=weights or None),
        loss=TASLossConfig(lambda_rank=lambda_rank, lambda_spd=lambda_spd, alpha=alpha, reduction=reduction,
                           lambda_sub=default_lambda_sub(dataset) if lambda_sub < 0 else lambda_sub),
        train=TASTrainConfig(T=plan.T, batch_size=plan.batch, epochs=plan.epochs, lr=lr, weight_decay=weight_decay,
                             label_fraction=default_label_fraction(dataset),
                             image_size=plan.size or TASTrainConfig.image_size))   # recorded as trained


def run_options(plan: Plan, device: str = "", ckpt_dir: str | None = None) -> RunOptions:
    """Compute options of every run of the plan (each run is also scored on its training subjects);
    ``ckpt_dir``: :func:`checkpoint_root`'s folder, None for no checkpoints."""
    return RunOptions(device=device, size=plan.size, epochs=plan.epochs, max_steps=plan.steps,
                      eval_stride=plan.stride, train_eval=True, ckpt_dir=ckpt_dir and str(ckpt_dir))


def checkpoint_root(plan: Plan, checkpoints: int, preset: str, smoke: bool, *, base: str, dataset: str, fold,
                    weights: str = ""):
    """The notebook's ``checkpoints`` -> the run's checkpoint folder (:func:`aukit.ckptdir.run_root`) or None;
    its knobs are the plan's sizes that no TASConfig holds (T, batch and lr are in the config fit checks) and the
    ImageNet file the trunk starts from (its content is checked on a resume)."""
    from aukit.ckptdir import run_root
    return run_root(checkpoints, preset, smoke, base=base, dataset=dataset, fold=fold,
                    knobs={"size": plan.size, "steps": plan.steps, "weights": weights or ""})


__all__ = ["Plan", "checkpoint_root", "notebook_config", "notebook_in_effect", "notebook_plan", "preset_plan",
           "run_options"]
