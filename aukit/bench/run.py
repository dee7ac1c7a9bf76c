"""``run_bench``: every method's step three ways, ``prepare`` and inference, written to
``<out>/bench.json`` and ``<out>/bench.md`` (what ``aukit bench`` runs).

Targets (issue #11, on a GPU): real >= 85% of ceiling for every method; default numerics
>= 5x the paper configuration for TAS and SCC. A missed target is reported with its gap
and the per-phase profile of the real step. On a CPU the targets are shown but do not
apply (both numerics are fp32 there).
"""
from __future__ import annotations

import gc
import json
import math
import os
import time
from pathlib import Path

import torch

from ..runtime import git_info, pick_device, provenance, seed_everything
from .cases import METHODS, build_case, check_data
from .harness import chip_peak, label_profile, paper_variant, profile_case, step_flops, time_case, time_inference
from .ops import step_ops

# aukit predict's stages as bench.md names them (decoding runs in a reader thread, beside the rest)
STAGE_NAMES = {"decode": "decoding (reader thread, overlapped)", "faces_wait": "waiting on the detection workers",
               "infer": "inference", "rows": "building the table", "write": "writing the CSV"}

RATIO_TARGET = 0.85                       # issue #11: real path >= 85% of the ceiling
SPEEDUP_TARGET = 5.0                      # issue #11: default >= 5x paper configuration
SPEEDUP_METHODS = ("tas", "scc")
PRESETS = ("tiny", "default")


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def checked_methods(methods, data: dict | None) -> list[str]:
    """``methods`` (default: all five) after checking them and the ``data`` overrides, so that a
    mistyped name or key fails now, not after the other methods have run."""
    methods = list(methods or METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    for m, d in (data or {}).items():
        if m not in METHODS:
            raise ValueError(f"bench data for unknown method {m!r}; choose from {METHODS}")
        check_data(m, d)
    return methods


def bench_method(method: str, device: torch.device, preset: str, *, reps: int, steps: int, warmup: int,
                 data: dict | None = None, compile: bool = False) -> dict:
    """Ceiling, real and paper timings, their ratios and the real step's phase profile.
    ``compile``: the default configuration (ceiling and real) through ``torch.compile``."""
    tiny = preset == "tiny"
    case = build_case(method, device=device, size="tiny" if tiny else "default", data=data)
    kw = dict(warmup=warmup, steps=steps, reps=reps, settle=8 if device.type == "cuda" else 2)
    ceiling = time_case(case, device, real=False, compile=compile, **kw)
    real = time_case(case, device, real=True, compile=compile, **kw)
    profile = profile_case(case, device, real=True, warmup=1, steps=steps)
    try:  # a profiler that cannot start (no CUPTI, say) must not cost the method its timings
        profile["inside"] = label_profile(case, device, real=True, warmup=1, steps=min(steps, 3))
    except Exception as e:  # noqa: BLE001
        profile["inside"] = {"error": f"{type(e).__name__}: {e}", "labels": {}}
    flops = step_flops(case, device) / case.images_per_batch
    ops = step_ops(case, device)
    notes = {**case.notes, "compiled": compile}
    del case
    _free(device)
    paper_data = {k: v for k, v in (data or {}).items() if k != "batch_size"}  # the paper keeps its batch
    paper_case = (paper_variant(build_case(method, device=device, size="tiny", data=paper_data)) if tiny
                  else build_case(method, device=device, size="paper", data=paper_data))
    paper = time_case(paper_case, device, real=True, **kw)
    del paper_case
    _free(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    util = {}
    for key, r in (("ceiling", ceiling), ("real", real), ("paper", paper)):
        r["tflop_s"] = r["img_s"] * flops / 1e12
        peak = chip_peak(name, r["precision"])
        util[key] = r["tflop_s"] / peak if peak else None
    return {"ceiling_img_s": ceiling["img_s"], "real_img_s": real["img_s"], "paper_img_s": paper["img_s"],
            "ratio": real["img_s"] / ceiling["img_s"], "speedup_vs_paper": real["img_s"] / paper["img_s"],
            "peak_mem_gb": real["peak_mem_gb"], "loader_wait_ms": real["loader_wait_ms"],
            "gflop_per_image": flops / 1e9, "real_tflop_s": real["tflop_s"], "chip_utilisation": util,
            "ops": ops, "ceiling": ceiling, "real": real, "paper": paper, "profile": profile, "config": notes}


def targets(method: str, row: dict, device: torch.device) -> dict:
    """Each target with its value, whether it is met and by how much it is missed."""
    out = {"applies": device.type == "cuda"}
    checks = [("ratio", RATIO_TARGET)] + ([("speedup_vs_paper", SPEEDUP_TARGET)] if method in SPEEDUP_METHODS else [])
    for key, goal in checks:
        v = row[key]
        out[key] = {"target": goal, "value": v, "met": v >= goal, "short_by": max(0.0, goal - v),
                    "short_by_pct": max(0.0, 100 * (goal - v) / goal)}
    invalid = timing_problem(row)
    if invalid:                     # the real path faster than its own ceiling: the timings, not the code
        out["ratio"].update(met=False, invalid=invalid)
    return out


def timing_problem(row: dict) -> str | None:
    """Why a method's ratio cannot be read as a result, or None. The real step does the ceiling's
    work plus the loader's, so real > ceiling by more than the timing noise (10%) means the machine
    was busy or slowed while one of them was timed (a CPU shared with other work gave real/ceiling 2.67)."""
    c, r = row.get("ceiling", {}), row.get("real", {})
    if row["ratio"] > 1.10:
        return (f"real faster than its ceiling by {100 * (row['ratio'] - 1):.0f}% (ceiling spread "
                f"{_f(c.get('img_s_min'), 1)}-{_f(c.get('img_s_max'), 1)}, real {_f(r.get('img_s_min'), 1)}-"
                f"{_f(r.get('img_s_max'), 1)} img/s): the machine was busy while one was timed; rerun on an idle one")
    return None


def bench_prepare(preset: str, flow: bool = True) -> dict:
    """prepare's frames/s; RTATL's TV-L1 flow too when ``flow`` (RTATL among the methods)."""
    from .prep import time_prepare
    if preset == "tiny":
        return time_prepare("synthau-bp4d", "tas", max_frames=40, flow_size=32, with_flow=flow)
    return time_prepare("synthau-bp4d", "tas", flow_size=64, with_flow=flow)


def bench_inference(methods, device: torch.device, preset: str, *, reps: int, warmup: int,
                    batch_sizes=(1, 256)) -> dict:
    from .deployable import deployable, faces
    out = {}
    for m in methods:
        model, s = deployable(m, "tiny" if preset == "tiny" else "default")
        out[m] = {"face_size": s, **time_inference(model, faces(s), device, batch_sizes=batch_sizes, reps=reps,
                                                        warmup=warmup)}
        del model
        _free(device)
    return out


def run_bench(methods=None, *, device=None, preset: str | None = None, out: str | Path | None = "reports/bench",
              reps: int = 5, steps: int = 10, warmup: int = 3, prepare: bool = True, inference: bool = True,
              inference_batch_sizes=(1, 256), data: dict | None = None, on_error: str = "record",
              predict: bool = True, compile: bool = False, train: bool = True) -> dict:
    """Benchmark ``methods`` (default: all five) on ``device`` (default: aukit's pick).

    preset: "default" (the paper's models and batches) or "tiny" (a few minutes on a CPU);
    None picks "default" on CUDA and "tiny" elsewhere. ``data``: {method: {key: value}} overrides
    (:func:`aukit.bench.cases.data_keys`: dataset, fold, batch sizes, SCC's model settings).
    A method that fails is recorded as {"error": ...} (``on_error="raise"`` re-raises).
    ``inference_batch_sizes``: batches of the deployable-model timing. ``predict``: ``aukit
    predict`` end to end on a video (:mod:`aukit.bench.endtoend`). ``train=False`` leaves out
    the training steps (a predict-only run, say).
    Writes ``<out>/bench.json`` and ``<out>/bench.md`` unless ``out`` is None.
    """
    dev = pick_device(device)
    preset = preset or ("default" if dev.type == "cuda" else "tiny")
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    methods = checked_methods(methods, data)
    seed_everything(0)
    t0 = time.perf_counter()
    prov = provenance(device=dev)
    res = {"device": prov["device_name"], "device_type": dev.type, "commit": git_info()["commit"],
           "dirty": prov.get("dirty"), "preset": preset,
           "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
           "settings": {"reps": reps, "steps": steps, "warmup": warmup, "compile": compile, "data": data or {}},
           "methods": {}, "prepare": {}, "inference": {}, "predict": {}, "predict_1080p": {}, "targets": {},
           "provenance": prov}
    for m in methods if train else []:
        try:
            row = bench_method(m, dev, preset, reps=reps, steps=steps, warmup=warmup, data=(data or {}).get(m),
                               compile=compile)
        except Exception as e:  # noqa: BLE001 (one broken method must not hide the others' numbers)
            if on_error == "raise":
                raise
            res["methods"][m] = {"error": f"{type(e).__name__}: {e}"}
            print(f"aukit bench: {m} failed: {type(e).__name__}: {e}")
            _free(dev)
            continue
        res["methods"][m] = row
        res["targets"][m] = targets(m, row, dev)
    def part(name: str, fn) -> None:
        try:
            res[name] = fn()
        except Exception as e:  # noqa: BLE001 (a missing dlib model must not lose the step timings)
            if on_error == "raise":
                raise
            res[name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"aukit bench: {name} failed: {type(e).__name__}: {e}")

    if prepare:
        part("prepare", lambda: bench_prepare(preset, flow="rtatl" in methods))
    if inference:
        part("inference", lambda: bench_inference(methods, dev, preset, reps=reps, warmup=warmup,
                                                  batch_sizes=inference_batch_sizes))
    if predict:
        from .endtoend import time_predict
        part("predict", lambda: time_predict(dev, preset, reps=min(reps, 3)))
        part("predict_1080p", lambda: time_predict(dev, preset, reps=min(reps, 3), clip="1080p"))
    res["wall_s"] = time.perf_counter() - t0
    if out is not None:
        write(res, out)
    return res


# ---- writing ---------------------------------------------------------------------------------

def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN (e.g. peak memory on a CPU)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _compute_lines(res: dict) -> list[str]:
    """How busy the chip is: counted FLOPs per image times images/s, against the chip's peak."""
    rows = {m: r for m, r in res["methods"].items() if "error" not in r and "gflop_per_image" in r}
    if not rows:
        return []
    pct = lambda u: "n/a" if u is None else f"{100 * u:.0f}%"  # noqa: E731
    lines = ["", "## Compute (matrix FLOPs per image, counted by torch.utils.flop_counter)", "",
             "| method | GFLOP/image | ceiling TFLOP/s | real TFLOP/s | paper TFLOP/s | real / chip peak (bf16) "
             "| paper / chip peak (fp32) |", "|---|---|---|---|---|---|---|"]
    for m, r in rows.items():
        u = r["chip_utilisation"]
        lines.append(f"| {m} | {_g(r['gflop_per_image'])} | {_g(r['ceiling']['tflop_s'])} | "
                     f"{_g(r['real']['tflop_s'])} | {_g(r['paper']['tflop_s'])} | {pct(u['real'])} | "
                     f"{pct(u['paper'])} |")
    lines += ["", "One training step (forward, losses, backward) counted once; element-wise work is not counted, "
              "so these are lower bounds on the work done. Chip peaks: dense data-sheet figures "
              "(aukit.bench.harness.PEAK_TFLOPS); n/a on a chip not listed (a CPU)."]
    return lines


def _host_lines(res: dict) -> list[str]:
    """Operators per step beside the step's time: how much of it the host's dispatching can be."""
    rows = {m: r for m, r in res["methods"].items() if "error" not in r and "ops" in r}
    if not rows:
        return []
    lines = ["", "## Host work per step (operators dispatched, aukit.bench.ops)", "",
             "| method | batch | step operators (kernels) | optimizer operators | real ms per step "
             "| us per operator | device busy |", "|---|---|---|---|---|---|---|"]
    for m, r in rows.items():
        o = r["ops"]
        ms = 1000 * r["real"]["images_per_batch"] / r["real"]["img_s"]
        per_op = 1000 * ms / (o["step_ops"] + o["optimizer_ops"])
        dev = r.get("profile", {}).get("inside", {}).get("device_ms")
        busy = "n/a" if dev is None else f"{100 * min(1.0, dev / ms):.0f}%"
        lines.append(f"| {m} | {o['batch_size']} | {o['step_ops']} ({o['step_kernel_ops']}) | {o['optimizer_ops']} | "
                     f"{_f(ms, 2)} | {_f(per_op, 1)} | {busy} |")
    lines += ["", "Operators: aten operators one step dispatches (forward, losses, backward; views cost the host but "
              "launch nothing), the same at any batch size. Each costs the host tens of microseconds in eager "
              "PyTorch, so a step near that many microseconds per operator waits on its host, whatever its "
              "numerics. Device busy (GPU only): the kernels' time in a profiled real step over the real step's time."]
    return lines


def write(res: dict, out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "bench.json", out / "bench.md"
    js.write_text(json.dumps(_plain(res), indent=1) + "\n")
    md.write_text(markdown(res))
    return js, md


def _f(v, nd: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _g(v) -> str:
    """Three significant digits (TFLOP/s on a CPU are small, on a GPU large)."""
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def markdown(res: dict) -> str:
    prov = res["provenance"]
    s = res["settings"]
    lines = [f"# aukit bench ({res['preset']} preset)", "",
             f"- device: {res['device']}" + ("" if res["device"].startswith(res["device_type"])
                                              else f" ({res['device_type']})"),
             f"- commit: {res['commit']}" + (" (dirty tree)" if res.get("dirty") else ""),
             "- versions: " + ", ".join(f"{k} {v}" for k, v in prov["versions"].items()),
             f"- host: {prov.get('host')}, created {prov.get('created')}, wall {_f(res.get('wall_s'), 0)} s, "
             f"load average at start {res.get('load_average', 'n/a')} on {os.cpu_count()} cores",
             f"- timing: {s['warmup']} warm-up steps, then untimed blocks of {s['steps']} steps until two agree "
             f"within 10%, excluded; median of {s['reps']} repetitions of {s['steps']} steps (spread min-max)",
             f"- default configuration: {'torch.compile' if s.get('compile') else 'eager'}"
             + (f"; overrides {s['data']}" if s.get("data") else ""), "",
             "## Training step (images/s)", ""]
    if res["methods"]:
        lines += ["| method | ceiling | real | paper | real/ceiling | default/paper | peak GB | loader wait ms |",
                  "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["Not run (`aukit bench --skip train`): no targets are judged."]
    for m, r in res["methods"].items():
        if "error" in r:
            lines.append(f"| {m} | error: {r['error']} |||||||")
            continue
        spread = lambda d: f"{_f(d['img_s'])} ({_f(d['img_s_min'])}-{_f(d['img_s_max'])})"  # noqa: E731
        lines.append(f"| {m} | {spread(r['ceiling'])} | {spread(r['real'])} | {spread(r['paper'])} | "
                     f"{_f(r['ratio'], 2)} | {_f(r['speedup_vs_paper'], 2)} | {_f(r['peak_mem_gb'], 2)} | "
                     f"{_f(r['loader_wait_ms'], 2)} |")
    if res["methods"]:
        lines += ["", "ceiling: the step on one batch already on the device; real: fed by store -> BatchLoader -> "
                  "device augmentation; paper: fp32, NCHW, TF32 off at the paper's batch, real path. "
                  "Images = images the loader delivers per step."]
        lines += _compute_lines(res)
        lines += _host_lines(res)
        lines += ["", "## Targets", ""]
    applies = res["device_type"] == "cuda"
    if not applies and res["methods"]:
        lines += ["Not applicable on this device (the targets are for a GPU; on a CPU both numerics are fp32). "
                  "Values shown for reference.", ""]
    missed = []
    for m, t in res["targets"].items():
        for key, name in (("ratio", "real/ceiling"), ("speedup_vs_paper", "default/paper")):
            if key in t:
                c = t[key]
                verdict = ("met" if c["met"] else f"missed by {_f(c['short_by'], 3)} ({_f(c['short_by_pct'], 1)}%)")
                if c.get("invalid"):
                    verdict = f"not valid: {c['invalid']}"
                lines.append(f"- {m} {name}: {_f(c['value'], 3)} vs >= {c['target']}: {verdict}")
                if not c["met"] and m not in missed:
                    missed.append(m)
    if missed:
        lines += ["", "## Per-phase profile of the real step (missed targets)", "",
                  "| method | loader wait ms | forward ms | backward ms | optimizer ms | total ms |",
                  "|---|---|---|---|---|---|"]
        for m in missed:
            p = res["methods"][m]["profile"]
            lines.append(f"| {m} | {_f(p['loader_wait_ms'], 2)} | {_f(p['forward_ms'], 2)} | "
                         f"{_f(p['backward_ms'], 2)} | {_f(p['optimizer_ms'], 2)} | {_f(p['total_ms'], 2)} |")
        lines += ["", "Each phase is bracketed by device synchronisation; a manual-gradient step (PIAP-DF) "
                  "counts its gradients under forward."]
    inside = {m: r["profile"]["inside"] for m, r in res["methods"].items()
              if "error" not in r and r.get("profile", {}).get("inside", {}).get("labels")}
    if inside:
        lines += ["", "## Inside the step (profiler labels)", "",
                  "| method | label | ms per step | share of the profiled step |", "|---|---|---|---|"]
        for m, ins in inside.items():
            for name, v in ins["labels"].items():
                lines.append(f"| {m} | {name} | {_f(v['ms'], 2)} | {_f(100 * v['share'], 0)}% |")
        lines += ["", "A label counts the forward work launched inside it (and DF's explicit gradients); the "
                  "backward of a labelled forward runs outside it. Device time on a GPU, CPU time otherwise."]
    tops = {m: r["profile"]["inside"]["top_ops"] for m, r in res["methods"].items()
            if "error" not in r and r.get("profile", {}).get("inside", {}).get("top_ops")}
    if tops:
        lines += ["", "## Operators with the most self time (profiled step)", "",
                  "| method | operator | ms per step | share | calls per step |", "|---|---|---|---|---|"]
        for m, ops in tops.items():
            for o in ops[:5]:
                lines.append(f"| {m} | {o['op']} | {_f(o['ms'], 2)} | {_f(100 * o['share'], 0)}% | "
                             f"{_f(o['calls_per_step'], 0)} |")
        lines += ["", "Self time: an operator's own work, not its children's (on a GPU its kernels' device "
                  "time). Forward and backward operators both appear."]
    for name in ("prepare", "inference", "predict", "predict_1080p"):
        if "error" in (res.get(name) or {}):
            lines += ["", f"## {name}: failed", "", f"- {res[name]['error']}"]
    if res.get("prepare") and "error" not in res["prepare"]:
        p = res["prepare"]
        lines += ["", "## aukit prepare", "",
                  f"- {p['dataset']} / {p['policy']}: {p['frames']} frames, {_f(p['frames_per_s'])} frames/s end to "
                  f"end (detect + align {_f(p['frames_per_s_detect_align'])} frames/s), {p['workers']} workers"]
        lines += [f"- TV-L1 flow ({p['flow_size']}x{p['flow_size']}): {p['flow_pairs']} pairs, "
                  f"{_f(p['flow_pairs_per_s'])} pairs/s" if "flow_pairs" in p else
                  "- TV-L1 flow: not timed (RTATL not among the methods)"]
    if res.get("inference") and "error" not in res["inference"]:
        bss = [k[2:-6] for k in next(iter(res["inference"].values())) if k.startswith("bs") and k.endswith("_img_s")]
        lines += ["", "## Inference of the deployable models (images/s, uint8 faces in)", "",
                  "| method | face | " + " | ".join(f"batch {b}" for b in bss) + " |", "|---" * (2 + len(bss)) + "|"]
        for m, r in res["inference"].items():
            lines.append(f"| {m} | {r['face_size']} | " + " | ".join(_f(r[f"bs{b}_img_s"]) for b in bss) + " |")
    clips = [res[k] for k in ("predict", "predict_1080p") if res.get(k) and "error" not in res[k]]
    if clips:
        lines += ["", "## aukit predict end to end (frames/s)", ""]
    for p in clips:
        lines += [f"- {p['clip']}, {p['model']}, batch {p['batch']}, detection every {p['detect_every']} frames, "
                  f"{p['workers']} detection workers: {_f(p['frames_per_s'])} frames/s for the whole call "
                  f"({_f(p['frames_per_s_min'])}-{_f(p['frames_per_s_max'])}; start-up {_f(p['startup_s'], 2)} s), "
                  f"{_f(p['steady_frames_per_s'])} frames/s once started; {p['faces']}/{p['frames']} faces",
                  "  - where the time goes, ms per frame: " + ", ".join(
                      f"{STAGE_NAMES.get(k, k)} {v:.2f}" for k, v in p.get("stages_ms_per_frame", {}).items())]
    if clips:
        lines.append(f"- reported: Py-Feat {_f(clips[0]['pyfeat_frames_per_s'], 0)} frames/s at batch 16 on an "
                     "RTX 3090 (its best published figure, frame size not stated; the GPU target)")
    return "\n".join(lines) + "\n"
