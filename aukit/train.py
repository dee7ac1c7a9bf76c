"""The one training loop shared by every method (DINO's ``train_one_epoch`` habit).

Precision, ``channels_last``, ``torch.compile``, gradient scaling, checkpointing,
resume, early stopping, throughput logging and the progress bar are decided here,
once. A method supplies a model, a ``step_fn`` and loaders::

    def step_fn(model, batch) -> StepOutput   # runs under autocast
    history = fit(model, step_fn, loader, optimizer, TrainConfig(epochs=20), device=dev)

Files written to ``cfg.out_dir`` (when set): ``last.pt`` every epoch (atomic),
``best.pt`` when the monitored metric improves, ``metrics.jsonl`` (one line per epoch).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .runtime import autocast, dist_rank_world, evaluating, resolve_precision


# every fit call this process made, in order: {"epochs", "images", "train_s" (the epochs' step loops),
# "wall_s" (the whole call: evaluation and checkpoints too), "images_per_s" (images / train_s, None when no
# epoch ran)}. A run's report sums them (Report.write: train_images_per_s, train_wall_s); a notebook kernel
# is one run, and the tests clear it per test as they do aukit.data.store.OPENED.
FITS: list[dict] = []

# set (to 1) by `aukit run --log` in the notebook's kernel: every fit prints a line per epoch, as with
# ``progress``, without the bars (which a notebook's output would keep as a wall of redraws)
EPOCH_LINES_ENV = "AUKIT_EPOCH_LINES"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is left untouched."""


@dataclass
class StepOutput:
    loss: torch.Tensor                       # scalar to minimise
    logs: dict = field(default_factory=dict)  # floats or 0-d tensors shown/logged per epoch
    n_images: int = 0                        # images processed (for images/s)
    manual: bool = False                     # True: step_fn already filled .grad


@dataclass
class TrainConfig:
    epochs: int = 20
    precision: str = "auto"          # auto = bf16 autocast on CUDA, fp32 on CPU; fp16 adds a GradScaler
    channels_last: bool = True       # NHWC memory format on the device (faster convs with bf16)
    compile: bool = False            # torch.compile the model
    fused_optimizer: bool = True     # on CUDA, Adam/AdamW/SGD step with their fused kernels (fuse_optimizers)
    grad_clip: float | None = None   # clip the global grad norm (None: off)
    max_steps_per_epoch: int | None = None  # cut epochs short (smoke runs)
    scheduler_interval: str = "epoch"       # "epoch" or "step"
    monitor: str | None = None       # evaluate() key for early stopping / best.pt (NaN/inf: never the best)
    mode: str = "max"                # "max" or "min" for monitor
    patience: int | None = None      # epochs without improvement before stopping
    restore_best: bool = True        # end with the best epoch's weights (best.pt; in memory without out_dir)
    out_dir: str | None = None       # where last.pt / best.pt / metrics.jsonl go
    resume: bool = True              # continue from out_dir/last.pt if present
    progress: bool = True            # tqdm bar
    name: str = ""                   # what trains ("A6 seed 0"), first on each epoch line; "" = out_dir's name
    log_every: int = 10              # steps between progress-bar refreshes of the loss


def _to_float(x: Any) -> float:
    return float(x.detach().float().item()) if torch.is_tensor(x) else float(x)


def _metric(key: str, v: Any) -> float:
    """One value of ``evaluate``'s dict as a float. Anything else (per_au's ``flags`` dict, a list, a string,
    a tensor of several elements) raises a TypeError naming the key, rather than being skipped with a
    warning: a skipped key would be missing from the history and metrics.jsonl with nothing left to say why,
    and ``monitor`` may be the very key."""
    if not isinstance(v, (str, bytes)) and not (torch.is_tensor(v) and v.numel() != 1):
        try:
            return _to_float(v)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"evaluate returned {key!r} as a {type(v).__name__}, not a number: evaluate must return a "
                    "dict of numbers (floats or one-element tensors). For aukit.metrics.per_au's result, which "
                    "holds 'flags', return the numbers, e.g. aukit.metrics.flat_per_au(...)[0]")


def _optimizers(optimizer: Any) -> list[torch.optim.Optimizer]:
    return list(optimizer.values()) if isinstance(optimizer, dict) else [optimizer]


# optimizer defaults that choose an implementation, not the training: never a reason to refuse a resume
_IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")


def _optimizer_record(optimizer: Any) -> dict:
    """What a run given no ``method_config`` records in its checkpoints and is checked by on resume: each
    optimizer's class and hyper-parameters (lr, weight decay, betas, momentum ...), so that a second
    ``fit`` into the same out_dir with another learning rate is refused instead of resuming the first."""
    named = optimizer if isinstance(optimizer, dict) else {"optimizer": optimizer}
    return {name: {"type": type(o).__name__, **{k: v for k, v in o.defaults.items() if k not in _IMPLEMENTATION
                                                 and (v is None or isinstance(v, (bool, int, float, str, tuple)))}}
            for name, o in named.items()}


def _non_finite(loss, epoch: int, step: int, out) -> None:
    value = f" ({_to_float(loss)})" if loss is not None else ""
    raise NonFiniteLossError(f"non-finite loss{value} at epoch {epoch + 1}, step {step}; "
                             f"last good checkpoint kept at {out / 'last.pt' if out else '(no out_dir)'}")


def _all_reduce_means(sums: dict, n_images: int, device: torch.device) -> tuple[dict, int]:
    """Average the per-rank epoch sums over ranks and add up the images (DDP)."""
    import torch.distributed as dist

    keys = sorted(sums)
    vec = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=device) for k in keys]
                      + [torch.tensor(float(n_images), dtype=torch.float64, device=device)])
    dist.all_reduce(vec)
    world = dist.get_world_size()
    return {k: vec[i] / world for i, k in enumerate(keys)}, int(vec[-1].item())


class RanksOutOfSyncError(RuntimeError):
    """DDP ranks hold different weights: their gradients were not all-reduced alike."""


def check_ranks_in_sync(model: nn.Module, device: torch.device) -> None:
    """Raise :class:`RanksOutOfSyncError` unless every rank holds the same parameters.

    DDP all-reduces the gradients that ``backward()`` fills, so after each optimizer step
    every rank has bit-identical weights. A step that fills them otherwise (``autograd.grad``,
    a parameter used outside the wrapped forward) leaves each rank training its own model,
    silently. One float64 sum per parameter tensor, gathered: cheap once an epoch."""
    import torch.distributed as dist

    named = list(model.named_parameters())
    mine = (torch.stack([p.detach().sum(dtype=torch.float64) for _, p in named]) if named
            else torch.zeros(0, dtype=torch.float64, device=device))
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    for rank, theirs in enumerate(every):
        differ = (theirs != every[0]).nonzero().flatten()
        if differ.numel():
            raise RanksOutOfSyncError(
                f"rank {rank} holds other weights than rank 0 in {differ.numel()} of {len(named)} parameter "
                f"tensors (first: {named[int(differ[0])][0]}): the ranks' gradients were not all-reduced alike")


def prepare_model(model: nn.Module, device: torch.device, cfg: TrainConfig) -> nn.Module:
    """Move to device in the configured memory format (and compile if asked)."""
    model = model.to(device)
    if cfg.channels_last and device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        model = torch.compile(model)
    return model


_FUSABLE = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)


def fuse_optimizers(optimizer: Any, device: torch.device | str) -> list[str]:
    """On CUDA, switch Adam, AdamW and SGD to their fused kernels: one launch per step for all
    parameters instead of a few per parameter tensor (the optimizer took 5 of SCC's 49 ms per step
    on an H100). Same update rule; no-op elsewhere, for other optimizers, for parameters not on
    the device, and for optimizers that already hold state. Returns the class names switched."""
    if torch.device(device).type != "cuda":
        return []
    done = []
    for o in _optimizers(optimizer):
        params = [p for g in o.param_groups for p in g["params"]]
        if (not isinstance(o, _FUSABLE) or o.state or any(g.get("differentiable") for g in o.param_groups)
                or not all(p.is_cuda and p.is_floating_point() for p in params)):
            continue
        for g in (*o.param_groups, o.defaults):
            g["fused"], g["foreach"] = True, False
        done.append(type(o).__name__)
    return done


def fit(model: nn.Module, step_fn: Callable[[nn.Module, Any], StepOutput], train_loader: Iterable,
        optimizer: Any, cfg: TrainConfig | None = None, *, device: torch.device | str,
        scheduler: Any = None, evaluate: Callable[[nn.Module, int], dict] | None = None,
        method_config: Any = None, on_epoch_end: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` for ``cfg.epochs``; return one metrics dict per epoch run.

    ``optimizer`` is a torch optimizer or a dict of them (all stepped after each
    batch). ``evaluate(model, epoch)`` returns validation metrics (numbers), merged into the
    epoch's record. Raises :class:`NonFiniteLossError` on a NaN/inf loss. A NaN/inf value of
    ``cfg.monitor`` never improves and never becomes the best: the epoch counts as stale for
    ``patience`` and writes no best.pt. ``method_config`` (a dataclass or dict) is saved in the checkpoints,
    and a last.pt written under another one is refused on resume (:class:`aukit.checkpoint.ConfigMismatchError`);
    without one, the optimizers' classes and hyper-parameters stand for it.
    """
    t_call = time.perf_counter()
    cfg = cfg or TrainConfig()
    device = torch.device(device)
    precision = resolve_precision(device, cfg.precision)
    if cfg.mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {cfg.mode!r}")
    if cfg.scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {cfg.scheduler_interval!r}")
    rank, world = dist_rank_world()
    main_rank = rank == 0  # only rank 0 writes checkpoints, logs and the progress bar
    run_model = prepare_model(model, device, cfg)
    if world > 1:
        run_model = torch.nn.parallel.DistributedDataParallel(
            run_model, device_ids=[device.index] if device.type == "cuda" else None)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    opts = _optimizers(optimizer)
    method_cfg = dataclasses.asdict(method_config) if dataclasses.is_dataclass(method_config) else (method_config or {})
    if method_config is None:     # a call of one's own: a last.pt of other optimizer settings resumed silently
        method_cfg = {"optimizers": _optimizer_record(optimizer)}

    out = Path(cfg.out_dir) if cfg.out_dir else None
    prog = _resume(out, cfg, model, optimizer, scheduler, method_cfg, main_rank)
    if cfg.fused_optimizer:
        fuse_optimizers(optimizer, device)

    for epoch in range(prog.start_epoch, cfg.epochs):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        if hasattr(step_fn, "set_epoch"):       # a step drawing from its own generator (RTATL): resumable
            step_fn.set_epoch(epoch)
        run_model.train()
        sums: dict[str, float] = {}
        n_steps, n_images, t0 = 0, 0, time.perf_counter()
        lazy_check = device.type == "cuda"
        first_bad = torch.zeros((), dtype=torch.long, device=device)          # 1-based step of the first NaN/inf
        total = len(train_loader) if hasattr(train_loader, "__len__") else None
        if cfg.max_steps_per_epoch is not None and total is not None:
            total = min(total, cfg.max_steps_per_epoch)
        bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (cfg.progress and main_rank),
                   leave=False, dynamic_ncols=True)
        for step, batch in enumerate(train_loader):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            for o in opts:
                o.zero_grad(set_to_none=True)
            with autocast(device, precision):
                res = step_fn(run_model, batch)
            finite = torch.isfinite(res.loss.detach()).all()
            if lazy_check:   # CUDA: note the first bad step on the device, read it every log_every steps
                first_bad = torch.where(finite | (first_bad > 0), first_bad, torch.full_like(first_bad, step + 1))
            elif not finite:
                bar.close()
                _non_finite(res.loss, epoch, step + 1, out)
            if res.manual and scaler:
                raise ValueError("precision fp16 scales the loss before backward, which a manual-gradient step "
                                 "(PIAP-DF's DF) does not do: its gradients would be unscaled 65536-fold; "
                                 "use bf16 or fp32")
            if not res.manual:
                (scaler.scale(res.loss) if scaler else res.loss).backward()
            if cfg.grad_clip is not None:
                if scaler:
                    for o in opts:
                        scaler.unscale_(o)
                torch.nn.utils.clip_grad_norm_(run_model.parameters(), cfg.grad_clip)
            for o in opts:
                (scaler.step(o) if scaler else o.step())
            if scaler:
                scaler.update()
            if scheduler is not None and cfg.scheduler_interval == "step":
                scheduler.step()
            # Accumulate on the device; a host sync only every log_every steps keeps the GPU queue full.
            logs = {"loss": res.loss.detach(), **res.logs}
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + (v.detach().float() if torch.is_tensor(v) else float(v))
            n_steps += 1
            n_images += res.n_images
            bar.update(1)
            if (step + 1) % cfg.log_every == 0:
                if lazy_check and (bad := int(first_bad)) > 0:
                    bar.close()
                    _non_finite(None, epoch, bad, out)
                dt = time.perf_counter() - t0
                bar.set_postfix(loss=f"{_to_float(sums['loss']) / n_steps:.4f}", img_s=f"{n_images / max(dt, 1e-9):.0f}")
        bar.close()
        if lazy_check and (bad := int(first_bad)) > 0:
            _non_finite(None, epoch, bad, out)
        if n_steps == 0:
            raise RuntimeError(f"epoch {epoch + 1}: the training loader yielded no batches")
        if world > 1:
            sums, n_images = _all_reduce_means(sums, n_images, device)
            check_ranks_in_sync(model, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - t0
        record = {"epoch": epoch + 1, **{f"train_{k}": _to_float(v) / n_steps for k, v in sums.items()},
                  "images_per_s": n_images / max(wall, 1e-9), "epoch_time_s": wall, "steps": n_steps,
                  **({"ranks_in_sync": world} if world > 1 else {})}
        if not math.isfinite(record["train_loss"]):
            raise NonFiniteLossError(f"non-finite mean loss in epoch {epoch + 1}")
        prog.epochs, prog.images, prog.train_s = prog.epochs + 1, prog.images + n_images, prog.train_s + wall
        if _end_epoch(record, epoch, prog, cfg, run_model=run_model, model=model, optimizer=optimizer,
                      scheduler=scheduler, evaluate=evaluate, on_epoch_end=on_epoch_end, precision=precision,
                      out=out, method_cfg=method_cfg, main_rank=main_rank):
            break
    if world > 1:
        import torch.distributed as dist
        dist.barrier()  # rank 0 has finished writing best.pt
    if cfg.monitor is not None and cfg.restore_best:
        _restore_best(model, out, prog)
    FITS.append({"epochs": prog.epochs, "images": prog.images, "train_s": prog.train_s,
                 "wall_s": time.perf_counter() - t_call,
                 "images_per_s": prog.images / max(prog.train_s, 1e-9) if prog.epochs else None})
    return prog.history


@dataclass
class _Progress:
    """What ``fit`` carries from epoch to epoch: the records so far and early stopping's state (both
    restored on resume), and this call's own epochs, images and step-loop seconds (for FITS)."""
    start_epoch: int = 0
    history: list = field(default_factory=list)
    best: float | None = None            # the best monitored value so far
    best_state: dict | None = None       # its weights, a CPU copy, when there is no out_dir to hold best.pt
    stale: int = 0                       # epochs since it improved
    epochs: int = 0                      # run by this call (not those a resume restored)
    images: int = 0
    train_s: float = 0.0


def _resume(out: Path | None, cfg: TrainConfig, model: nn.Module, optimizer: Any, scheduler: Any,
            method_cfg: dict, main_rank: bool) -> _Progress:
    """Where ``fit`` starts: from ``out/last.pt`` (weights, optimizer, scheduler, RNG, history and early
    stopping's state) when ``cfg.resume`` and it exists; else from epoch 0, a run that does not resume
    dropping the folder's old metrics.jsonl. Creates ``out`` (rank 0)."""
    if out is None:
        return _Progress()
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    if cfg.resume and last.exists():
        try:
            state = ckpt.load_checkpoint(last, model, optimizer, scheduler, restore_rng=True,
                                         expect_config=method_cfg)
        except ValueError as e:
            if isinstance(e, ckpt.ConfigMismatchError):
                raise
            raise ValueError(f"cannot resume: {e}. Delete {last} to train from the start "
                             "(the run's other checkpoints stay)") from e
        start_epoch = state["epoch"] + 1
        extra = state.get("extra", {})
        stale = int(extra.get("stale", 0))
        # a run early stopping ended is finished: resumed, it trained one more epoch past its patience
        stopped = cfg.patience is not None and cfg.monitor is not None and stale >= cfg.patience
        if start_epoch > cfg.epochs and not stopped:
            # the weights of more epochs would be scored and exported as a run of cfg.epochs
            raise ValueError(f"{last} holds {start_epoch} trained epochs, more than the {cfg.epochs} asked: give "
                             f"epochs {start_epoch} or more to use it, or another output folder")
        if main_rank:
            print(f"resuming from {last}: {start_epoch} of {cfg.epochs} epochs done"
                  + (f" (stopped early: {stale} epochs without improvement)" if stopped else "")
                  + (" (nothing left to train)" if start_epoch >= cfg.epochs or stopped else ""), flush=True)
        return _Progress(cfg.epochs if stopped else start_epoch, json.loads(extra.get("history", "[]")),
                         extra.get("best"), stale)
    if main_rank and not cfg.resume:         # a run that starts over: an earlier run's log and best are not its
        for name in ("metrics.jsonl", "best.pt"):
            (out / name).unlink(missing_ok=True)
    return _Progress()


def _improves(val: float, best: float | None, mode: str) -> bool:
    """Whether the monitored ``val`` beats ``best``. A NaN/inf value never does: as the best, a NaN would lose
    every later comparison. A non-finite ``best`` (resumed from a last.pt written before this rule) loses to
    any finite value."""
    if not math.isfinite(val):
        return False
    if best is None or not math.isfinite(best):
        return True
    return val > best if mode == "max" else val < best


def _cpu_copy(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else copy.deepcopy(v) for k, v in state.items()}


def _restore_best(model: nn.Module, out: Path | None, prog: _Progress) -> None:
    """Load the best epoch's weights into ``model``: best.pt, or without an out_dir the copy kept in memory.
    Neither is this run's when no monitored value was finite (``prog.best`` None); the last weights stay
    then, whatever best.pt an earlier run in the folder left (it was restored as this run's)."""
    if prog.best is None:
        return
    if out is None and prog.best_state is not None:
        ckpt.unwrap(model).load_state_dict(prog.best_state)
    elif out is not None and (out / "best.pt").exists():
        ckpt.load_checkpoint(out / "best.pt", model)


def _end_epoch(record: dict, epoch: int, prog: _Progress, cfg: TrainConfig, *, run_model: nn.Module,
               model: nn.Module, optimizer: Any, scheduler: Any, evaluate, on_epoch_end, precision: str,
               out: Path | None, method_cfg: dict, main_rank: bool) -> bool:
    """After an epoch's steps: the epoch's scheduler step, evaluation into ``record``, early stopping's
    bookkeeping, ``record`` appended to the history, last.pt / best.pt / metrics.jsonl (rank 0), the
    callback and the printed line. Returns whether patience has run out (stop)."""
    if scheduler is not None and cfg.scheduler_interval == "epoch":
        scheduler.step()
    if evaluate is not None:
        with evaluating(run_model, precision):
            scores = evaluate(run_model, epoch)
            if not isinstance(scores, dict):
                raise TypeError(f"evaluate(model, epoch) returned a {type(scores).__name__}: it must return a dict "
                                "of numbers, e.g. {'icc_avg': 0.41}")
            record.update({k: _metric(k, v) for k, v in scores.items()})
    improved = False
    if cfg.monitor is not None:
        if cfg.monitor not in record:
            raise KeyError(f"monitor {cfg.monitor!r} not among the epoch metrics {sorted(record)}")
        val = record[cfg.monitor]
        improved = _improves(val, prog.best, cfg.mode)
        if improved:
            prog.best, prog.stale = val, 0
            if out is None and cfg.restore_best:
                prog.best_state = _cpu_copy(ckpt.unwrap(model).state_dict())
        else:
            prog.stale += 1
    prog.history.append(record)
    if out is not None and main_rank:
        extra = {"history": json.dumps(prog.history), "best": prog.best, "stale": prog.stale}
        if improved:
            ckpt.save_checkpoint(out / "best.pt", model, None, None, epoch=epoch, config=method_cfg)
        ckpt.save_checkpoint(out / "last.pt", model, optimizer, scheduler, epoch=epoch,
                             config=method_cfg, extra=extra)
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
    if on_epoch_end is not None:
        on_epoch_end(record)
    if main_rank and (cfg.progress or os.environ.get(EPOCH_LINES_ENV) == "1"):
        tqdm.write(_epoch_line(record, cfg, out))
    return cfg.patience is not None and cfg.monitor is not None and prog.stale >= cfg.patience


def _epoch_line(record: dict, cfg: TrainConfig, out: Path | None) -> str:
    """'A6 seed 0 epoch 1/20 train_loss 0.4127, train_spd 3.1e-05, ...': what trains (``cfg.name``, else the
    checkpoint folder's name), then every value to 4 significant digits. Seven unnamed lines told TAS's A0..A6
    apart by order alone, and 4 decimals printed a small L_spd as 0.0, as if it were off."""
    name = cfg.name or (out.name if out is not None else "")
    values = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
    return f"{name + ' ' if name else ''}epoch {record['epoch']}/{cfg.epochs} {values}"


__all__ = ["EPOCH_LINES_ENV", "FITS", "NonFiniteLossError", "RanksOutOfSyncError", "StepOutput", "TrainConfig",
           "check_ranks_in_sync", "fit", "fuse_optimizers", "prepare_model"]
