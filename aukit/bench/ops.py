"""Operators a training step dispatches: the host's share of the step, counted on any device.

Every aten operator costs the host a few tens of microseconds in eager PyTorch (Python,
the dispatcher, autocast, the kernel launch), however small its kernel. A step that
dispatches thousands of operators on a small batch keeps a fast GPU waiting on the host,
and no change of numerics helps it; a bigger batch, fewer operators or a compiled graph
does. The count is exact and does not depend on the batch size unless the step loops
over samples in Python, so it is also the test of "no per-sample Python in the hot loop".

What changes with the device: the optimizer (per-tensor loops on a CPU, one fused kernel
per optimizer on CUDA, :func:`aukit.train.fuse_optimizers`) and autocast's casts (bf16 on
CUDA adds a cast per weight and activation that enters a matmul or convolution). The
forward-and-backward count without autocast is the same everywhere.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from torch.utils._python_dispatch import TorchDispatchMode

from .harness import StepCase, _one_step, _setup, _sync


class OpCounter(TorchDispatchMode):
    """Counts the aten operators dispatched on this thread while active, by name.

    ``views`` counts those that only make a view (``detach``, ``view``, ``t``...): they
    cost the host but launch no kernel; ``kernels`` is the rest."""

    def __init__(self):
        super().__init__()
        self.ops: Counter = Counter()
        self.views = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        self.views += bool(func.is_view)
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.ops.values())

    @property
    def kernels(self) -> int:
        return self.total - self.views


def step_ops(case: StepCase, device, *, batch: dict | None = None, top: int = 8) -> dict:
    """Operators of one training step of ``case`` on its synthetic batch (after one untimed
    step, so that lazily created state such as optimizer moments is not counted).

    ``step``: forward, losses and backward (for a manual-gradient step such as PIAP-DF's DF,
    everything inside it, its inner optimizer step included); ``optimizer``: the optimizers'
    ``step()`` after it. ``top``: the most frequent operators of the step.
    """
    device, prec, _, model = _setup(case, device, None, None, False)
    batch = case.synthetic_batch() if batch is None else batch
    _one_step(model, case, batch, device, prec)
    s, o = OpCounter(), OpCounter()
    _one_step(model, case, batch, device, prec, around_step=s, around_optimizer=o)
    _sync(device)
    return {"step_ops": s.total, "step_kernel_ops": s.kernels, "optimizer_ops": o.total,
            "precision": prec, "batch_size": case.batch_size, "images_per_batch": case.images_per_batch,
            "top": [{"op": k, "per_step": n} for k, n in s.ops.most_common(top)]}


OPS_BATCH = 2   # images (clips, pairs) per step when counting operators: the count is the same at any batch


def count_methods(methods, device, preset: str = "default", data: dict | None = None) -> dict:
    """:func:`step_ops` of each method's step at ``preset`` (tiny | default) on its synthetic
    batch, no timing and no dataset (what ``aukit bench --ops-only`` writes). ``data``:
    {method: overrides}. The batch is OPS_BATCH unless ``data`` names one: the count does not
    depend on it, and the paper batches held 21 GB on a 23 GB CPU machine until it was killed."""
    from ..runtime import git_info, pick_device, provenance
    from .cases import build_case

    dev = pick_device(device)
    prov = provenance(device=dev)
    rows = {}
    data = {m: {"batch_size": OPS_BATCH, **(data or {}).get(m, {})} for m in methods}
    for m in methods:
        case = build_case(m, device=dev, size="tiny" if preset == "tiny" else "default", data=data[m], real=False)
        rows[m] = step_ops(case, dev)
        del case
    return {"device": prov["device_name"], "device_type": dev.type, "commit": git_info()["commit"],
            "dirty": prov.get("dirty"), "preset": preset, "data": data or {}, "methods": rows,
            "versions": prov["versions"]}


def write(res: dict, out) -> tuple[Path, Path]:
    """``<out>/ops.json`` and ``<out>/ops.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "ops.json", out / "ops.md"
    js.write_text(json.dumps(res, indent=1) + "\n")
    md.write_text(ops_markdown(res))
    return js, md


def ops_markdown(res: dict) -> str:
    lines = [f"# Operators per training step ({res['preset']} preset)", "",
             f"- device: {res['device']}; commit {res['commit']}" + (" (dirty tree)" if res.get("dirty") else ""),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()),
             *([f"- overrides: {res['data']}"] if res.get("data") else []), "",
             "| method | batch | step operators | of which kernels | optimizer operators | most frequent |",
             "|---|---|---|---|---|---|"]
    for m, r in res["methods"].items():
        top = ", ".join(f"{t['op'].removeprefix('aten.')} {t['per_step']}" for t in r["top"][:4])
        lines.append(f"| {m} | {r['batch_size']} | {r['step_ops']} | {r['step_kernel_ops']} | {r['optimizer_ops']} "
                     f"| {top} |")
    lines += ["", "Step operators: the aten operators one training step dispatches (forward, losses, backward; "
              "everything inside a manual-gradient step such as PIAP-DF's DF), counted exactly; the count does not "
              "depend on the batch size (tests/test_bench_ops.py). Kernels: those that are not views. Optimizer: "
              "its step() after the step, per tensor on a CPU, one fused kernel per optimizer on CUDA."]
    return "\n".join(lines) + "\n"
