"""Timing a training step three ways, in one process on one device (``aukit bench``).

ceiling  the full step on one batch already on the device (no loader at all);
real     the same step fed by the real data path (store -> BatchLoader -> device augment);
paper    the paper's configuration (fp32, the paper's batch size) through the real path.

Warm-up steps are excluded; each repetition times ``steps`` consecutive steps between
device synchronisations; we report the median and the spread (min-max) of images/s,
the time the step waited for the loader, and peak device memory. :func:`profile_case`
splits one step into loader wait, forward, backward and optimizer, synchronising the
device around each phase (slower than :func:`time_case`: it drains the queue 4 times a step).
"""
from __future__ import annotations

import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from ..runtime import autocast, image_layout, resolve_precision
from ..train import TrainConfig, fuse_optimizers, prepare_model


@dataclass
class StepCase:
    """Everything needed to run one method's training step."""
    name: str
    model: torch.nn.Module
    step_fn: Callable
    optimizer: Any                               # optimizer or dict of optimizers
    batch_size: int
    images_per_batch: int                        # images the loader delivers per batch (e.g. B*T)
    synthetic_batch: Callable[[], dict]          # one batch already on the device
    loader: Callable[[int], Iterator] | None = None  # epoch -> iterator of real batches
    notes: dict = field(default_factory=dict)
    precision: str = "auto"                      # auto = bf16 on CUDA, fp32 on CPU (aukit default)
    channels_last: bool = True                   # aukit default memory format on CUDA
    tf32: bool | None = None                     # None: leave the process setting; False: true fp32 matmuls/convs
    fused_optimizer: bool = True                 # aukit default on CUDA (aukit.train.fuse_optimizers)


def paper_variant(case: StepCase) -> StepCase:
    """The same case in the paper's numerics: fp32, NCHW, no TF32, PyTorch's default optimizer
    kernels (what the papers' GPUs ran)."""
    case.precision, case.channels_last, case.tf32, case.fused_optimizer = "fp32", False, False, False
    case.notes = {**case.notes, "numerics": "paper: fp32, NCHW, TF32 off"}
    return case


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _tf32(device: torch.device, allow: bool | None):
    """Temporarily set TF32 for CUDA matmuls and cuDNN convs (no-op off CUDA or when None)."""
    if allow is None or device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _optimizers(opt):
    return list(opt.values()) if isinstance(opt, dict) else [opt]


def _steps(n: int, model, case: StepCase, next_batch, device, precision) -> None:
    """``n`` steps on the batches ``next_batch()`` yields, then a device synchronisation."""
    for _ in range(n):
        _one_step(model, case, next_batch(), device, precision)
    _sync(device)


def _one_step(model, case: StepCase, batch, device, precision, *, around_step=None, around_optimizer=None) -> None:
    """One training step. ``around_step`` / ``around_optimizer``: context managers entered around
    the step (forward, losses, backward) and the optimizers' ``step()`` (e.g. operator counters)."""
    for o in _optimizers(case.optimizer):
        o.zero_grad(set_to_none=True)
    with around_step or contextlib.nullcontext():
        with autocast(device, precision):
            res = case.step_fn(model, batch)
        if not res.manual:
            res.loss.backward()
    with around_optimizer or contextlib.nullcontext():
        for o in _optimizers(case.optimizer):
            o.step()


class _Batches:
    """Endless batches: the fixed synthetic one (ceiling) or the real loader, epoch after epoch."""

    def __init__(self, case: StepCase, real: bool):
        if real and case.loader is None:
            raise ValueError(f"{case.name}: no real loader to time")
        self.case, self.fixed = case, None if real else case.synthetic_batch()
        self.epoch, self.it = 0, None

    def __call__(self):
        if self.fixed is not None:
            return self.fixed
        for _ in range(2):
            if self.it is None:
                self.it = iter(self.case.loader(self.epoch))
            try:
                return next(self.it)
            except StopIteration:
                self.epoch, self.it = self.epoch + 1, None
        raise RuntimeError(f"{self.case.name}: the real loader yields no batch")


def _setup(case: StepCase, device, precision, channels_last, compile):
    device = torch.device(device)
    prec = resolve_precision(device, case.precision if precision is None else precision)
    cl = case.channels_last if channels_last is None else channels_last
    model = prepare_model(case.model, device, TrainConfig(channels_last=cl, compile=compile))
    if case.fused_optimizer:
        fuse_optimizers(case.optimizer, device)
    model.train()
    return device, prec, cl, model


def time_case(case: StepCase, device: torch.device, *, precision: str | None = None,
              channels_last: bool | None = None, real: bool = False, warmup: int = 3, steps: int = 10,
              reps: int = 5, compile: bool = False, settle: int = 8) -> dict:
    """Images/s of ``case`` (median and spread over ``reps``), loader wait, peak memory.

    After ``warmup`` steps, blocks of ``steps`` steps run untimed until two consecutive blocks
    agree within 10% (at most ``settle`` blocks; their count is returned): cuDNN autotuning
    and allocator growth can last longer than a fixed warm-up (seen with RTATL's GAN step on an H100).

    ``precision``/``channels_last`` default to the case's own (see :func:`paper_variant`).
    """
    device, prec, cl, model = _setup(case, device, precision, channels_last, compile)
    next_batch = _Batches(case, real)
    with _tf32(device, case.tf32):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        _steps(warmup, model, case, next_batch, device, prec)
        settle_blocks = _settle(model, case, next_batch, device, prec, steps, settle)
        rates, waits = [], []
        for _ in range(reps):
            wait = 0.0
            t0 = time.perf_counter()
            for _ in range(steps):
                tw = time.perf_counter()
                batch = next_batch()
                wait += time.perf_counter() - tw
                _one_step(model, case, batch, device, prec)
            _sync(device)
            dt = time.perf_counter() - t0
            rates.append(case.images_per_batch * steps / dt)
            waits.append(wait / steps)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"img_s": statistics.median(rates), "img_s_min": min(rates), "img_s_max": max(rates),
            "settle_blocks": settle_blocks,
            "loader_wait_ms": 1000 * statistics.median(waits), "peak_mem_gb": peak, "precision": prec,
            "channels_last": cl, "tf32": case.tf32, "batch_size": case.batch_size,
            "images_per_batch": case.images_per_batch, "steps": steps, "reps": reps, "warmup": warmup}


def _settle(model, case, next_batch, device, prec, steps: int, max_blocks: int) -> int:
    """Untimed blocks of ``steps`` steps until two consecutive rates agree within 10%."""
    last = None
    for i in range(max_blocks):
        t0 = time.perf_counter()
        _steps(steps, model, case, next_batch, device, prec)
        rate = steps / (time.perf_counter() - t0)
        if last is not None and abs(rate - last) <= 0.1 * max(rate, last):
            return i + 1
        last = rate
    return max_blocks


def profile_case(case: StepCase, device: torch.device, *, real: bool = True, precision: str | None = None,
                 channels_last: bool | None = None, warmup: int = 2, steps: int = 10) -> dict:
    """Median milliseconds per phase of one step: loader wait, forward (step_fn + losses),
    backward, optimizer; the device is synchronised before and after each phase.

    A manual-gradient step (``StepOutput.manual``, e.g. PIAP-DF's DF) computes its
    gradients inside step_fn: its backward shows as 0 and its forward holds both.
    """
    device, prec, _, model = _setup(case, device, precision, channels_last, False)
    next_batch = _Batches(case, real)
    phases = ("loader_wait", "forward", "backward", "optimizer")
    times: dict[str, list[float]] = {p: [] for p in phases}

    def lap(t0: float) -> float:
        _sync(device)
        return time.perf_counter() - t0

    with _tf32(device, case.tf32):
        for i in range(warmup + steps):
            _sync(device)
            t = time.perf_counter()
            batch = next_batch()
            tl = lap(t)
            t = time.perf_counter()
            for o in _optimizers(case.optimizer):
                o.zero_grad(set_to_none=True)
            with autocast(device, prec):
                res = case.step_fn(model, batch)
            tf = lap(t)
            t = time.perf_counter()
            if not res.manual:
                res.loss.backward()
            tb = lap(t)
            t = time.perf_counter()
            for o in _optimizers(case.optimizer):
                o.step()
            to = lap(t)
            if i >= warmup:
                for p, v in zip(phases, (tl, tf, tb, to)):
                    times[p].append(1000 * v)
    out = {f"{p}_ms": statistics.median(v) for p, v in times.items()}
    out["total_ms"] = sum(out.values())
    out["share"] = {p: out[f"{p}_ms"] / out["total_ms"] for p in phases} if out["total_ms"] > 0 else {}
    out.update(real=real, precision=prec, steps=steps, manual=bool(res.manual))
    return out


# Dense matrix peak of the chips the bench meets, TFLOP/s (vendor data sheets, no sparsity):
# bf16 tensor cores, and plain fp32 (the paper configuration, TF32 off). Name fragments as
# torch.cuda.get_device_name prints them; a chip not listed gets no utilisation figure.
PEAK_TFLOPS = {"H100 80GB HBM3": {"bf16": 989.4, "fp32": 66.9},     # H100 SXM5
               "H100 PCIe": {"bf16": 756.5, "fp32": 51.2},
               "H200": {"bf16": 989.4, "fp32": 66.9}}


def chip_peak(device_name: str, precision: str) -> float | None:
    """The listed dense peak (TFLOP/s) of ``device_name`` at ``precision``, else None."""
    for frag, peaks in PEAK_TFLOPS.items():
        if frag in device_name:
            return peaks.get(precision)
    return None


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                         _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """A convolution's gradients: the input's and the weight's each cost the forward's FLOPs.
    (torch's own formula counts the weight gradient of a grouped convolution as if it were
    dense: 65x too many for a 64-channel depthwise conv, which made EfficientNet's step 30x.)"""
    from torch.utils.flop_counter import conv_flop_count
    fwd = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=transposed)
    return fwd * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def step_flops(case: StepCase, device: torch.device) -> float:
    """Floating-point operations of one full training step on the case's synthetic batch
    (forward, losses, backward or explicit gradients), counted by
    ``torch.utils.flop_counter``: matrix products and convolutions, the work tensor cores do;
    element-wise work is not counted. Runs one real step (the optimizer too)."""
    from torch.utils.flop_counter import FlopCounterMode
    device, prec, _, model = _setup(case, device, None, None, False)
    batch = case.synthetic_batch()
    fix = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with _tf32(device, case.tf32), FlopCounterMode(display=False, custom_mapping=fix) as counter:
        _one_step(model, case, batch, device, prec)
    _sync(device)
    return float(counter.get_total_flops())


LABELS = ("tas.", "cpc.", "scc.", "rtatl.", "df.")   # torch.profiler ranges the methods' steps name


def label_profile(case: StepCase, device: torch.device, *, real: bool = True, warmup: int = 2, steps: int = 3,
                  precision: str | None = None, channels_last: bool | None = None, top_ops: int = 8) -> dict:
    """Where the time goes inside a step: milliseconds per step spent in each labelled range
    (``tas.speed_mixup``, ``cpc.gru``, ``scc.knn``, ``rtatl.gan``, ``df.teacher``/``df.student``),
    device time on CUDA and CPU time elsewhere, with its share of the profiled step; and the
    ``top_ops`` operators (on CUDA: kernels) with the most self time, forward and backward.

    A label counts the work launched inside it: the forward pass, plus explicit gradients
    (DF's ``autograd.grad``); the backward the autograd engine runs later for a labelled
    forward is outside it. The profiler slows the step; shares are of the profiled step.
    On CUDA also ``device_ms``, the kernels' own time per step (the profiler slows the host,
    not the kernels), and ``kernels_per_step``, the launches; both None elsewhere.
    """
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "5")   # Kineto's "no GPU" error line on a CPU machine is noise
    device, prec, _, model = _setup(case, device, precision, channels_last, False)
    next_batch = _Batches(case, real)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with _tf32(device, case.tf32):
        _steps(warmup, model, case, next_batch, device, prec)
        t0 = time.perf_counter()
        with profile(activities=acts) as prof:
            _steps(steps, model, case, next_batch, device, prec)
        step_ms = 1000 * (time.perf_counter() - t0) / steps
    labels, ops = {}, []
    cuda = device.type == "cuda"
    kernels = [ev for ev in prof.key_averages() if ev.device_type == torch.autograd.DeviceType.CUDA]
    for ev in prof.key_averages():
        if ev.key.startswith(LABELS):
            us = ev.device_time_total if cuda else ev.cpu_time_total
            ms = us / 1000 / steps
            labels[ev.key] = {"ms": ms, "share": ms / step_ms, "calls_per_step": ev.count / steps}
        elif not ev.key.startswith(("ProfilerStep", "cuda", "Optimizer.")):
            self_us = ev.self_device_time_total if cuda else ev.self_cpu_time_total
            if self_us > 0:
                ops.append((self_us / 1000 / steps, ev.key, ev.count / steps))
    ops.sort(reverse=True)
    top = [{"op": k, "ms": ms, "share": ms / step_ms, "calls_per_step": n} for ms, k, n in ops[:top_ops]]
    # on CUDA, the kernels' own time per step: set beside the unprofiled step time it says how
    # busy the device is (the profiler slows the host, not the kernels)
    device_ms = sum(ev.self_device_time_total for ev in kernels) / 1000 / steps if cuda else None
    launches = sum(ev.count for ev in kernels) / steps if cuda else None
    return {"step_ms": step_ms, "labels": dict(sorted(labels.items())), "top_ops": top,
            "time": "device" if cuda else "cpu", "steps": steps, "precision": prec,
            "device_ms": device_ms, "kernels_per_step": launches}


def time_inference(model: torch.nn.Module, make_input: Callable[[int], torch.Tensor], device: torch.device, *,
                   batch_sizes=(1, 256), warmup: int = 3, reps: int = 5, precision: str = "auto") -> dict:
    """Inference images/s of a deployable model at each batch size (median over ``reps``)."""
    device = torch.device(device)
    prec = resolve_precision(device, precision)
    model = model.to(device, memory_format=image_layout(device)).eval()     # as aukit.deploy.place puts it
    out = {}
    for bs in batch_sizes:
        x = make_input(bs).to(device)
        with torch.no_grad(), autocast(device, prec):
            for _ in range(warmup):
                model(x)
            _sync(device)
            rates = []
            for _ in range(reps):
                t0 = time.perf_counter()
                model(x)
                _sync(device)
                rates.append(bs / (time.perf_counter() - t0))
        out[f"bs{bs}_img_s"] = statistics.median(rates)
        out[f"bs{bs}_img_s_min"], out[f"bs{bs}_img_s_max"] = min(rates), max(rates)
    out["precision"] = prec
    return out
