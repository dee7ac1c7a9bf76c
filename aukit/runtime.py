"""Device, precision, seeding and provenance: decided once, here, for every method.

Library code never calls ``.cuda()``: it receives the ``torch.device`` chosen by
:func:`pick_device`. Precision follows one policy (:func:`resolve_precision`): bf16
autocast on CUDA, fp32 on CPU/MPS, fp16 (with a GradScaler, see ``aukit.train``) only
when asked for.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_PACKAGES = ("torch", "torchvision", "timm", "numpy", "scipy", "pandas", "scikit-learn",
             "opencv-contrib-python-headless", "dlib-bin", "papermill", "aukit")


class DeviceUnavailable(RuntimeError):
    """A device was asked for (``--device cuda``, ``AUKIT_DEVICE``) that this machine does not have."""


def pick_device(name: str | None = None) -> torch.device:
    """Return the device to train on: ``name`` > ``$AUKIT_DEVICE`` > cuda > mps > cpu.

    Under torchrun (``WORLD_SIZE`` above 1) CUDA is one GPU per rank, ``cuda:<LOCAL_RANK>``: plain
    ``cuda`` (or the automatic choice) becomes it, and another index is refused (``cuda:0`` put every
    rank on GPU 0)."""
    name = name or os.environ.get("AUKIT_DEVICE") or None
    if name:
        try:
            dev = torch.device(name)
        except RuntimeError:
            src = "" if name != os.environ.get("AUKIT_DEVICE") else " (from env AUKIT_DEVICE)"
            raise DeviceUnavailable(f"device {name!r}{src} is not a device name: use cpu, cuda, cuda:N or mps") \
                from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable(f"device {name!r} requested but CUDA is not available on this machine")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise DeviceUnavailable(f"device {name!r} requested but MPS is not available on this machine")
        return rank_gpu(dev) if dev.type == "cuda" else dev
    if torch.cuda.is_available():
        return rank_gpu(torch.device("cuda"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def rank_gpu(dev: torch.device) -> torch.device:
    """A CUDA ``dev`` as this torchrun rank's GPU, ``cuda:<LOCAL_RANK>`` (``dev`` itself in one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return dev
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dev.index is not None and dev.index != local:
        raise DeviceUnavailable(
            f"device {str(dev)!r} under {world} ranks: local rank {local} would train on GPU {dev.index}, as "
            "every rank would; give device cuda (each rank takes cuda:<LOCAL_RANK>) and choose the GPUs "
            "with CUDA_VISIBLE_DEVICES")
    count = torch.cuda.device_count()
    if local >= count:
        raise DeviceUnavailable(f"local rank {local} of {world} has no GPU of its own: this machine shows {count} "
                                f"(CUDA_VISIBLE_DEVICES); run at most {count} ranks a node on CUDA")
    return torch.device("cuda", local)


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """Map ``auto`` to the policy: bf16 on CUDA, fp32 elsewhere, unless the environment
    variable AUKIT_PRECISION names one (e.g. ``AUKIT_PRECISION=fp32 aukit run tas`` reruns a
    notebook in the papers' numerics to compare its metrics)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto" and os.environ.get("AUKIT_PRECISION"):
        env = os.environ["AUKIT_PRECISION"]
        if env == "auto" or env not in PRECISIONS:
            raise ValueError(f"AUKIT_PRECISION must be one of {[p for p in PRECISIONS if p != 'auto']}, got {env!r}")
        precision = env
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision in ("bf16", "fp16") and device.type == "cpu" and precision == "fp16":
        raise ValueError("fp16 autocast is not supported on the CPU; use bf16 or fp32")
    return precision


def autocast(device: torch.device | str, precision: str = "auto"):
    """Autocast context for the resolved precision (a no-op for fp32)."""
    device = torch.device(device)
    prec = resolve_precision(device, precision)
    if prec == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if prec == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def evaluating(model: torch.nn.Module, precision: str = "auto"):
    """Inference over ``model``: eval mode (its training mode comes back after), no autograd, and the
    autocast training uses (bf16 on CUDA, fp32 on the CPU, ``AUKIT_PRECISION`` to compare). Scoring
    every test face at full size is much of a full run; in fp32 it ran at the papers' speed on a GPU.
    Outputs may be bf16 under autocast: take ``.float()`` before NumPy."""
    was = model.training
    ref = next(iter(model.parameters()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    model.eval()
    try:
        with torch.no_grad(), autocast(device, precision):
            yield model
    finally:
        model.train(was)


@contextlib.contextmanager
def running_stats_kept(model: torch.nn.Module):
    """A second forward of one training step (RTATL's pseudo labels from the intact faces): BatchNorm
    layers in training mode normalise with the batch's statistics as usual, but their running
    statistics and batch count stay as they were, so evaluation does not see that batch twice."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
           and m.training and m.track_running_stats]
    saved = [(m, m.momentum, m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0                 # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield model
    finally:
        for m, momentum, count in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)


def full_precision(x: torch.Tensor):
    """Autocast off on ``x``'s device: matmuls inside run in the inputs' own dtype. For work
    that needs more than bf16's three digits: contrastive similarity scores (a softmax over
    many candidates), SCC's k-NN distances and fused BN statistics (``.float()`` alone is not
    enough: autocast casts a matmul's fp32 inputs back down)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def image_layout(device: torch.device | str) -> torch.memory_format:
    """Memory format of image batches on ``device``: NHWC (channels_last) on CUDA, where ``fit`` converts
    the model to it and the convs are fastest; plain NCHW elsewhere, where the model stays NCHW and a
    mixed layout costs a conversion in every conv (SCC's CPU step took 1.7x as long)."""
    return torch.channels_last if torch.device(device).type == "cuda" else torch.contiguous_format


def require(ok: torch.Tensor, message: str) -> None:
    """An input check inside a training step: ValueError(message) unless the 0-d bool ``ok`` is true.

    On CUDA the check stays on the device (``torch._assert_async``): reading ``ok`` on the host would
    stall every step. A failure there surfaces as a device-side assert at the next synchronisation,
    which ends the CUDA context; keep such checks for batches the data layer already rules out."""
    if ok.is_cuda:
        torch._assert_async(ok, message)
    elif not bool(ok):
        raise ValueError(message)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def repo_root() -> Path:
    """The checkout holding this package (where data/, reports/ and notebooks/ live)."""
    return Path(__file__).resolve().parent.parent


def git_info(path: Path | None = None) -> dict:
    """Commit hash and dirty flag of the checkout, or ``unknown`` outside git."""
    if os.environ.get("AUKIT_COMMIT"):  # a copy of the tree whose .git is absent or stale (a lent GPU machine)
        return {"commit": os.environ["AUKIT_COMMIT"], "dirty": None}
    cwd = str(path or repo_root())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        # run outputs (reports/, runs/) are written by the runs themselves: they do not make the code dirty
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)reports", ":(exclude)runs"], cwd=cwd,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", False
    return {"commit": commit, "dirty": dirty}


PIN_ENV = "AUKIT_RUN_GIT"        # the pinned git_info, handed to a notebook's kernel (JSON)
_PINNED: dict | None = json.loads(os.environ[PIN_ENV]) if os.environ.get(PIN_ENV) else None


def pin_commit() -> dict:
    """Take the checkout's commit now, as the one this process's run records (a notebook kernel
    gets it from ``aukit.nb.execute`` through ``AUKIT_RUN_GIT``): run.yaml is written when the run
    ends, and a commit landing meanwhile is not the code the run imported. The first call wins."""
    global _PINNED
    if _PINNED is None:
        _PINNED = git_info()
    return dict(_PINNED)


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def device_name(device: torch.device | str | None = None) -> str:
    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return device.type


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(**extra: Any) -> dict:
    """Git commit, package versions, host and time, plus whatever the caller adds
    (resolved config, seed, dataset + cache hash, wall time, images/s)."""
    git = git_info()
    if _PINNED is not None and _PINNED["commit"] != git["commit"]:
        git = {**_PINNED, "commit_at_end": git["commit"]}    # the code moved on while the run ran
    elif _PINNED is not None:
        git = dict(_PINNED)
    info = {"created": now(), **git, "versions": package_versions(), "host": platform.node()}
    if "device" in extra and not isinstance(extra["device"], str):
        extra["device"] = str(extra["device"])
    info.setdefault("device_name", device_name(extra.get("device")))
    if extra.get("device") is not None:  # the numerics 'auto' gives on that device (AUKIT_PRECISION included)
        info["precision"] = resolve_precision(torch.device(extra["device"]), "auto")
    info.update(extra)
    return info


def _plain(x: Any) -> Any:
    """Make a value YAML-safe (dataclasses, tuples, numpy scalars, paths, devices)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _plain(dataclasses.asdict(x))
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (Path, torch.device)):
        return str(x)
    return x


def write_run_yaml(path: str | Path, config: Any = None, **extra: Any) -> Path:
    """Write ``run.yaml`` (provenance + resolved config) and return its path.

    ``path`` may be a folder (``run.yaml`` is written inside) or a file path.
    """
    import yaml
    from .config import to_dict

    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        path = path / "run.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    info = provenance(**extra)
    if config is not None:
        info["config"] = to_dict(config) if not isinstance(config, dict) else config
        files = weights_files(info["config"])
        if files:              # a caller's record of the files its model started from (a resumed job's) wins
            info.setdefault("weights_files", files)
    path.write_text(yaml.safe_dump(_plain(info), sort_keys=False))
    return path


def weights_files(config: Any) -> dict:
    """{path: {"sha256", "bytes"}} of every local weights file a config names (a ``weights``,
    ``backbone_weights`` or ``trunk_weights`` field holding a path, or PIAP-DF's ``finetune_from`` piap.pt): two
    copies of "resnet34.pth" may hold different weights, so run.yaml records which one a run started from."""
    import hashlib

    found: dict = {}
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if (str(k).endswith("weights") or k == "finetune_from") and isinstance(v, (str, Path)) and v \
                        and Path(v).is_file():
                    digest = hashlib.sha256()
                    with open(v, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            digest.update(block)
                    found[str(v)] = {"sha256": digest.hexdigest(), "bytes": Path(v).stat().st_size}
                elif isinstance(v, (dict, list, tuple)):
                    stack.append(v)
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return found


def init_distributed(timeout_s: float = 120.0, device: str | None = None) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (RANK/WORLD_SIZE env); return (rank, world).

    A single process (no ``WORLD_SIZE`` or 1) stays undistributed. NCCL when the ranks train on CUDA,
    gloo otherwise: ``device`` (else ``$AUKIT_DEVICE``, else the automatic choice) names where, so a
    ``cpu`` job on a GPU machine gets gloo (NCCL cannot reduce CPU tensors). The timeout makes a dead
    rank fail the job instead of hanging it.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        name = device or os.environ.get("AUKIT_DEVICE") or ""
        cuda = torch.cuda.is_available() and (not name or name.startswith("cuda"))
        backend = "nccl" if cuda else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend, timeout=_dt.timedelta(seconds=timeout_s))
    return dist.get_rank(), dist.get_world_size()


def dist_rank_world() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) outside one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_rows(x: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """Every rank's ``x`` joined along dim 0 in rank order: the global batch's rows when each rank holds its
    contiguous share (:class:`aukit.data.loader.BatchLoader`); ``x`` itself outside a group of several ranks.

    The gradient flows back to each rank's own rows: with every rank computing the same loss on the joined
    rows, the backward sums the W ranks' gradients for a rank's rows (W times the loss's own), and DDP's
    average over the W ranks leaves one process's gradient on the global batch. ``sizes``: every rank's
    ``len(x)`` when they differ (:func:`rank_sizes`); None: all alike."""
    rank, world = dist_rank_world()
    if world == 1:
        return x
    top = max(sizes) if sizes else x.shape[0]
    if top > x.shape[0]:                                   # all_gather takes one shape: pad, then cut
        x = torch.cat([x, x.new_zeros((top - x.shape[0], *x.shape[1:]))])
    joined = _GatherRows.apply(x, rank, world)
    if sizes:
        joined = torch.cat([joined[r * top:r * top + k] for r, k in enumerate(sizes)])
    return joined


class _GatherRows(torch.autograd.Function):
    """all_gather of equal shapes, joined along dim 0; its backward all-reduces (sums) the joined rows'
    gradient and keeps this rank's rows. (torch.distributed.nn's all_gather does the same, deprecated in
    torch 2.14 for a private module; all_reduce runs on gloo and NCCL alike.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rank: int, world: int) -> torch.Tensor:
        import torch.distributed as dist
        parts = [torch.empty_like(x, memory_format=torch.contiguous_format) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.rows = (rank * x.shape[0], (rank + 1) * x.shape[0])
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total[ctx.rows[0]:ctx.rows[1]], None, None


def mean_denominator(count: torch.Tensor, floor: float | None = None) -> torch.Tensor:
    """The denominator of a mean over entries the ranks hold in unequal numbers (SCC's labelled maps, RTATL's
    labelled intact AUs, PIAP-DF's coded AUs): ``count`` summed over the W ranks, at least ``floor``, over W.

    A rank's sum over it is W / N times the rank's part of the global sum (N entries in all), so DDP's average
    of the W ranks' losses and gradients is one process's mean on the global batch; each rank dividing by its
    own count weighed the entries of a rank with fewer more. ``count`` (at least ``floor``) itself in one
    process, and outside autograd (evaluation: nothing for DDP to average, and the ranks need not call it
    alike). Under autograd it is a collective: every rank's step calls it, in the same order."""
    _, world = dist_rank_world()
    if world == 1 or not torch.is_grad_enabled():
        return count if floor is None else count.clamp_min(floor)
    import torch.distributed as dist

    total = count.detach().clone()
    dist.all_reduce(total)
    return (total if floor is None else total.clamp_min(floor)) / world


def rank_sizes(n: int, device: torch.device | str) -> list[int]:
    """Every rank's ``n``, in rank order (one small all_gather, read on the host); ``[n]`` in one process."""
    _, world = dist_rank_world()
    if world == 1:
        return [n]
    import torch.distributed as dist

    mine = torch.tensor([n], dtype=torch.long, device=device)
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    return [int(v) for v in torch.cat(every).tolist()]
