"""``aukit`` command line: thin wrappers over the package's functions."""
from __future__ import annotations

import argparse
import json
import re
import signal
import os
import sys
from pathlib import Path


def cmd_synth(a) -> int:
    from .data import synthau
    out = Path(a.out) if a.out else synthau.default_root()
    meta = synthau.generate(out, preset=a.preset, seed=a.seed)
    print(f"SynthAU ({a.preset}, seed {a.seed}) written to {out}")
    return 0 if meta else 1


def cmd_prepare(a) -> int:
    from . import data
    from .data.align import POLICIES
    policies = [a.policy] if a.policy else list(POLICIES)
    for policy in policies:
        store = data.prepare(a.dataset, policy, root=a.root, workers=a.workers)
        print(f"{a.dataset}/{policy}: {len(store.index)} aligned frames in {store.path}")
    return 0


def cmd_data_check(a) -> int:
    """Exit code 1 when a present dataset cannot be read, its explicit root is wrong, a dataset of your own
    cannot be used as its entry stands (folds that leave out a subject of the copy), or a dataset named on the
    command line is not found (or has no frame: bp4d_unlabelled on a copy that codes every image); else 0."""
    from . import data
    if a.root and len(a.datasets) != 1:
        raise SystemExit("aukit data check: --root is one dataset's root: name that dataset (aukit data check bp4d "
                         "--root /path/to/BP4D)")
    table = data.print_check(a.datasets or None, {a.datasets[0]: a.root} if a.root else None)
    named = table["status"].isin(["missing", "empty"]) & bool(a.datasets)
    bad = table["status"].isin(["unreadable", "unusable"]) | named
    return 1 if bad.any() else 0


DEVICE_HELP = "cpu, cuda, cuda:N or mps (default: $AUKIT_DEVICE, else cuda > mps > cpu)"


def cmd_run(a) -> int:
    from . import nb
    kinds = {k: r["inferred_type_name"] for k, r in nb.declared_parameters(a.notebook).items()}
    given = [name for name, _ in (a.param or [])]
    twice = sorted({n for n in given if given.count(n) > 1})
    if twice:                                  # the last would win silently
        raise ValueError(f"parameter(s) {', '.join(twice)} given more than once; give each once")
    params = {name: nb.parse_value(value, kinds.get(name)) for name, value in (a.param or [])}
    name = Path(a.notebook).stem
    if a.out and "out_dir" in params and Path(str(params["out_dir"])).resolve() != Path(a.out).resolve():
        raise ValueError(f"--out {a.out} and -p out_dir {params['out_dir']} disagree; give one")
    out = Path(a.out or params.pop("out_dir", None) or Path("reports") / name)  # -p out_dir works like --out
    metrics = nb.execute(a.notebook, out, params, log=a.log)
    print(f"executed {a.notebook} into {out}; metrics: {len(metrics)} entries")
    if not metrics and name in nb.PAPERS:       # a paper notebook always writes them: none is no result
        print(f"aukit run: {name} wrote no metrics.json into {out}", file=sys.stderr)
        return 1
    return 0


def cmd_reproduce(a) -> int:
    from . import nb
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    nb.reproduce(only=only, preset=a.preset, reports=a.reports)
    return 0


def cmd_sweep(a) -> int:
    from . import sweep
    slurm = {k: getattr(a, k) for k in SLURM_OPTIONS if getattr(a, k) is not None}
    ignored = sorted(set(slurm) - ({"time_min"} if a.executor == "submitit-local" else set()))
    if a.executor != "slurm" and ignored:
        raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in ignored)}: SLURM options, "
                         f"for --executor slurm (this sweep's executor: {a.executor})")
    try:
        folder = sweep.run_sweep(a.notebook, a.grid, executor=a.executor, parallel=a.parallel,
                                 retry_failed=a.retry_failed, reports=a.reports, slurm=slurm)
    except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the cells stopped are pending (their jobs cancelled, named above)
        print("aukit sweep: interrupted; the cells it stopped are pending (rerun the sweep to run them), "
              "finished cells are kept", file=sys.stderr)
        return 130
    agg = folder / "aggregate.md"
    print(f"sweep results: {agg}" if agg.exists() else f"sweep {folder}: no finished cell to aggregate")
    record = sweep_record(folder)
    if record.get("failed"):
        return 1
    return UNFINISHED if record.get("unfinished") else 0


# `aukit sweep`'s exit code when no cell failed but some are not finished (running elsewhere, queued
# on SLURM, or cancelled before they started): the aggregate lacks them, and 0 would say it is whole
UNFINISHED = 3


# `aukit sweep`'s SLURM options (their defaults, where unset: aukit.sweep_jobs.SLURM_DEFAULTS)
SLURM_OPTIONS = ("partition", "time_min", "gpus", "cpus_per_task", "mem", "account", "qos", "constraint", "job_name")


def _slurm_mem(text: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", text, flags=re.IGNORECASE):
        raise argparse.ArgumentTypeError(f"memory as sbatch --mem takes it (32G, 64000M, a number in MB), got {text!r}")
    return text


def sweep_record(folder: Path) -> dict:
    import yaml
    return yaml.safe_load((folder / "sweep.yaml").read_text()) or {}


def _pixels(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more pixels, got {n}")
    return n


def _min_face(text: str) -> int:
    from .data.align import SMALLEST_FACE
    n = _pixels(text)
    if 0 < n < SMALLEST_FACE:
        raise argparse.ArgumentTypeError(f"dlib finds faces of {SMALLEST_FACE} px and more (0: do not look closer), "
                                         f"got {n}")
    return n


def _non_negative(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _at_least_one(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _smooth_window(text: str) -> int:
    """--smooth: a centred window has an odd length (an even N averaged N + 1 rows: N // 2 each side)."""
    n = _non_negative(text)
    if n > 1 and n % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be odd (a centred window: the row and as many on each side), "
                                         f"got {n}; use {n - 1} or {n + 1}")
    return n


def cmd_predict(a) -> int:
    """Each input in turn with one model and one detection pool. Exit code: 0 when every input
    had a face, 1 when one had none, 2 when one could not be read (a folder of unreadable files too) or an
    option does not fit an input (before the model loads), 3 when one failed with an error (the others still
    run; AUKIT_DEBUG=1 prints its traceback)."""
    from .predict import Predictor
    from .predict.frames import output_names
    from .predict.options import check_options
    try:
        names = output_names(a.input)          # F001/T1 and M001/T1 write F001_T1.csv and M001_T1.csv
        for path in a.input:                   # --fps on a video, --smooth on photos: usage errors, as argparse's
            check_options(path, frames=a.frames, fps=a.fps, smooth=a.smooth)
    except ValueError as e:                    # InputError is one
        print(f"aukit predict: {e}", file=sys.stderr)
        return 2
    todo, rc = _outputs_allowed(a, names)       # before the model loads: a refused input costs nothing
    if not todo:
        return rc
    p, done = None, []
    try:
        with Predictor(a.model, batch=a.batch, device=a.device, detect_every=a.detect_every, workers=a.workers,
                       max_faces=a.max_faces, min_face=a.min_face or None, runs=a.runs, compile=a.compile,
                       reid=not a.no_reid,
                       **({} if a.track_ncc is None else {"track_ncc": a.track_ncc})) as p:
            for i, path, name in todo:
                where = f"[{i}/{len(a.input)}] " if len(a.input) > 1 else ""
                done.append(path)
                rc = max(rc, _predict_one(p, a, path, name, where))
    except KeyboardInterrupt:                   # Ctrl-C or SIGTERM: say what is left, and only that
        _interrupted(p, done)
        return 130
    return rc


def _interrupted(p, started: list[str]) -> None:
    """The line ``aukit predict`` ends with when stopped: which input it was in and what that input left."""
    if p is None or not started:
        print("aukit predict: interrupted while loading the model; nothing was written", file=sys.stderr)
        return
    before = f" ({len(started) - 1} input(s) before it finished, named above)" if len(started) > 1 else ""
    left = (f"it left {', '.join(map(str, p.left))}" if p.left else
            "it left nothing of that input (stopped before its first rows)")
    print(f"aukit predict: interrupted in {started[-1]}; {left}{before}", file=sys.stderr)


def _outputs_allowed(a, names: list[str]) -> tuple[list, int]:
    """``(number, input, name)`` of the inputs whose outputs may be written to ``--out``, and the exit
    code so far (2 where an input's outputs would replace a file predict did not write, or none where
    ``--out`` cannot be written)."""
    from .predict import InputError
    from .predict.outdir import check_outputs, check_writable
    try:
        check_writable(Path(a.out))
    except InputError as e:
        print(f"aukit predict: {e}", file=sys.stderr)
        return [], 2
    todo, rc = [], 0
    for i, (path, name) in enumerate(zip(a.input, names), 1):
        try:
            check_outputs(path, Path(a.out), name, plot=True, annotate=a.annotate)
        except InputError as e:
            print(f"aukit predict: {f'[{i}/{len(a.input)}] ' if len(a.input) > 1 else ''}{e}", file=sys.stderr)
            rc = 2
            continue
        todo.append((i, path, name))
    return todo, rc


def _predict_one(p, a, path: str, name: str, where: str) -> int:
    """One input of ``aukit predict``: its summary, and its exit code. An error other than an unreadable
    input is named with the input, one line (AUKIT_DEBUG=1: the traceback too), and the next input runs;
    a worker pool that died stops the call (every later input would fail the same way)."""
    import os
    import traceback

    from .predict import InputError
    from .workers import WorkerError
    try:
        res = p(path, a.out, smooth=a.smooth, annotate_video=a.annotate, progress=not a.no_progress,
                frames=a.frames, name=name, frame_step=a.frame_step, fps=a.fps)
    except InputError as e:
        print(f"aukit predict: {where}{e}", file=sys.stderr)
        return 2
    except WorkerError:
        raise
    except Exception as e:                        # noqa: BLE001 - named for this input; the others still run
        if os.environ.get("AUKIT_DEBUG"):
            traceback.print_exc()
        print(f"aukit predict: {where}{path} failed: {type(e).__name__}: {e}"
              + ("" if os.environ.get("AUKIT_DEBUG") else " (AUKIT_DEBUG=1 shows the traceback)"), file=sys.stderr)
        return 3
    _summary(a, path, res, where)
    return 0 if res.n_faces > 0 else 2 if res.unreadable == res.n_frames else 1


def _summary(a, path: str, res, where: str) -> None:
    """The lines ``aukit predict`` prints for one input it predicted."""
    unit = res.unit                                  # photos are images, not frames
    found = (f"face found in {res.n_faces}" if a.max_faces == 1 else
             f"{res.n_faces} face{'' if res.n_faces == 1 else 's'} found "
             f"(up to {a.max_faces} {'an' if unit[0] in 'aeiou' else 'a'} {unit})")
    frames = f"{res.n_frames} {unit}{'' if res.n_frames == 1 else 's'}"
    tracked = f" (tracking lost and detected afresh in {res.redetected})" if unit == "frame" else ""
    print(f"{where}{path}: {frames} ({res.unreadable} unreadable), {found}{tracked}; "
          f"{res.frames_per_s:.1f} {unit}s/s"
          f"\n  {res.csv}" + "".join(f"\n  {p}" for p in (res.png, res.video) if p))
    readable = res.n_frames - res.unreadable
    if res.n_faces == 0 and readable:       # none there, or too small: predict cannot tell which
        why = (f"faces under --min-face {a.min_face} px may be missed: lower it if the faces are small"
               if a.min_face else "with --min-face 0, small faces in large frames may be missed")
        print(f"  no face found in {readable} {unit}{'' if readable == 1 else 's'} ({why})", file=sys.stderr)
    for note in res.notes:
        print(f"  {note}", file=sys.stderr)
    for problem in res.problems[:5]:
        print(f"  unreadable {problem}", file=sys.stderr)
    if res.skipped:
        subs = [n for n in res.skipped if n.endswith("/")]
        hint = f" (give subfolders as inputs, {path}/*/, to predict them)" if subs else ""
        print(f"  skipped {len(res.skipped)} file(s) or folder(s) that are not images: "
              f"{', '.join(res.skipped[:5])}" + (", ..." if len(res.skipped) > 5 else "") + hint, file=sys.stderr)


def cmd_train(a) -> int:
    from .config import load_yaml
    from .jobs import JobConfig, launch
    code = launch(a.method, a.config, a.nproc)
    if code == 0 and "WORLD_SIZE" not in os.environ:      # the launcher, not each torchrun rank: where it all went
        out = Path(load_yaml(JobConfig, a.config).out_dir)
        m = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
        scores = "".join(f", {k} {m[k]:.3f}" for k in ("icc_avg", "mae_avg") if isinstance(m.get(k), (int, float)))
        frames = f" ({m['test_frames']} test frames{scores})" if "test_frames" in m else ""
        print(f"aukit train {a.method}: done{frames}: {out / 'metrics.json'}; "
              f"aukit predict --model {out / 'deploy.pt'}")
    return code


def _bench_ops(methods, a, data: dict) -> int:
    from .bench import ops
    from .bench.run import checked_methods
    try:
        methods = checked_methods(methods, data)
    except ValueError as e:
        raise SystemExit(f"aukit bench: {e}") from None
    res = ops.count_methods(methods, a.device, a.preset or "default", data)
    ops.write(res, a.out)
    print(ops.ops_markdown(res))
    return 0


def cmd_bench(a) -> int:
    from .bench.run import run_bench
    methods = [m.strip() for m in a.methods.split(",")] if a.methods else None
    skip = {x.strip() for x in (a.skip or "").split(",") if x.strip()}
    unknown = skip - {"train", "prepare", "inference", "predict"}
    if unknown:
        raise SystemExit(f"aukit bench --skip: unknown parts {sorted(unknown)} (train, prepare, inference, predict)")
    from .nb import parse_value

    data: dict = {}
    for item in a.data or []:
        key, sep, value = item.partition("=")
        method, dot, field = key.partition(".")
        if not (sep and dot and method and field):
            raise SystemExit(f"aukit bench --data: expected METHOD.KEY=VALUE (e.g. rtatl.flow_size=32), got {item!r}")
        data.setdefault(method, {})[field] = parse_value(value)
    if a.ops_only:
        return _bench_ops(methods, a, data)
    run_bench(methods, device=a.device, preset=a.preset, out=a.out, data=data or None, compile=a.compile,
              prepare="prepare" not in skip, train="train" not in skip,
              inference="inference" not in skip, predict="predict" not in skip)
    return 0


def cmd_models(a) -> int:
    import datetime

    from . import deploy
    from .registry import list_models
    found = deploy.available(tuple(a.runs), shadowed=True)
    print(f"trained models under {', '.join(a.runs)} (aukit predict --model NAME):")
    rows = [("NAME", "METHOD", "TRAINED ON", "OUTPUT", "AUS", "SIZE", "WRITTEN", "PATH")]
    seen: set[str] = set()
    for name, path in found:
        if name in seen:                # the same name in a later folder: --model NAME does not reach it
            name = f"({name}: by path)"
        seen.add(name)
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        try:
            sp = deploy.read_spec(path)
        except (OSError, ValueError, TypeError) as e:       # one damaged file does not hide the others
            rows.append((name, "?", f"unreadable: {e}", "", "", "", when, str(path)))
            continue
        output = "occurrence" if sp.output in ("logits", "probs") else sp.output
        trained = ((sp.dataset or "?") + (f" (changed: {sp.changed})" if sp.changed else "")
                   + (f", {sp.preset} preset" if sp.preset else ""))
        rows.append((name, sp.method or "?", trained, output, str(len(sp.aus)), str(sp.size), when, str(path)))
    if found:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    else:
        print("  none: the paper notebooks write runs/<method>/deploy.pt (aukit reproduce, aukit run), "
              "aukit train writes OUT_DIR/deploy.pt")
    print("architectures (aukit.registry.create_model):")
    print("  " + ", ".join(list_models()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aukit", description="Reproducible facial Action Unit experiments.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="generate the embedded SynthAU dataset")
    s.add_argument("--preset", default="default", choices=["tiny", "default", "large"],
                   help="tree size: tiny (the tests' tree, seconds), default (what the notebooks read), large")
    s.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same labels and pixels")
    s.add_argument("--out", help="output folder (default: data/synthau or $AUKIT_SYNTHAU)")
    s.set_defaults(fn=cmd_synth)

    s = sub.add_parser("prepare", help="detect, align and cache faces of a dataset (dlib)")
    s.add_argument("dataset")
    s.add_argument("--root", help="dataset root (default: env or data_manifest.yaml)")
    s.add_argument("--policy", help="alignment policy: tas, cpc, rtatl, scc or piap (default: all)")
    s.add_argument("--workers", type=_at_least_one, default=None, help="detection processes (default: all cores)")
    s.set_defaults(fn=cmd_prepare)

    s = sub.add_parser("data", help="dataset utilities")
    dsub = s.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    c = dsub.add_parser("check", help="validate every present dataset against data_manifest.yaml")
    c.add_argument("datasets", nargs="*", help="the datasets to check (default: every one in the manifest)")
    c.add_argument("--root", help="one dataset's root, to try a copy before naming it in data_manifest.yaml "
                                  "(an error if it does not exist)")
    c.set_defaults(fn=cmd_data_check)

    s = sub.add_parser("run", help="execute a notebook with papermill into reports/<name>/")
    s.add_argument("notebook", help="path or paper slug (tas, cpc, rtatl, piap_df, scc)")
    s.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="a notebook parameter (repeatable), e.g. -p preset full -p seeds \"[0, 1, 2]\"; "
                        "the notebook's parameters cell lists them")
    s.add_argument("--out", help="output folder (default: reports/<name>)")
    s.add_argument("--log", action="store_true",
                   help="show what the notebook prints as it runs, and a line per epoch of every training (kept "
                        "in the executed notebook too); otherwise only a bar over its cells, which sits still "
                        "through a long training cell")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("reproduce", help="run every paper notebook on SynthAU and write reports/index.md")
    s.add_argument("--only", help="comma-separated slugs, e.g. tas,scc")
    s.add_argument("--preset", choices=["smoke", "quick", "full"], default=None,
                   help="default: full with a CUDA GPU, quick otherwise; smoke: a wiring check of every cell at "
                        "tiny sizes (on the whole SynthAU tree: minutes on a CPU, not seconds)")
    s.add_argument("--reports", default="reports", help="the folder that gets <paper>/ and index.md (default: reports)")
    s.set_defaults(fn=cmd_reproduce)

    s = sub.add_parser("sweep", help="run a notebook over a parameter grid (local pool or SLURM)",
                       epilog=f"exit code: 0 every cell done; 1 a cell failed (rerun it with --retry-failed); "
                              f"2 a wrong grid, option or SLURM refusing the jobs; {UNFINISHED} cells not finished "
                              "(running elsewhere, queued, or cancelled before they started: named in the "
                              "output); 130 interrupted")
    s.add_argument("notebook", help="path or paper slug (tas, cpc, rtatl, piap_df, scc)")
    s.add_argument("--grid", required=True, help="YAML with name, parameters, grid")
    s.add_argument("--executor", default="local", choices=["local", "slurm", "submitit-local"],
                   help="local: a process pool here; slurm: a submitit job array; submitit-local: submitit's "
                        "path run here (to try a SLURM sweep without a cluster)")
    s.add_argument("--parallel", type=_at_least_one, default=1, help="local workers (GPUs handed out round-robin)")
    s.add_argument("--retry-failed", action="store_true", help="rerun the cells that failed (they are kept otherwise)")
    s.add_argument("--reports", default="reports", help="the sweep goes to REPORTS/<notebook>/sweeps/<name>/")
    g = s.add_argument_group("SLURM (--executor slurm; one job per cell)")
    g.add_argument("--partition", help="partition (default: the cluster's)")
    g.add_argument("--time-min", type=_at_least_one, help="time limit per cell, minutes (default: 240; "
                                                           "submitit-local: 60)")
    g.add_argument("--gpus", type=_non_negative,
                   help="GPUs per cell (default: 1; 0 requests none, for a CPU partition)")
    g.add_argument("--cpus-per-task", type=_at_least_one, help="CPU cores per cell (default: 8)")
    g.add_argument("--mem", type=_slurm_mem, help="memory per cell as sbatch --mem takes it, e.g. 32G "
                                                  "(default: the partition's)")
    g.add_argument("--account", help="account to charge (default: yours)")
    g.add_argument("--qos", help="quality of service")
    g.add_argument("--constraint", help="node features, as sbatch --constraint takes them (e.g. a100)")
    g.add_argument("--job-name", help="the jobs' name in squeue (default: aukit-<notebook>-<grid name>)")
    s.set_defaults(fn=cmd_sweep)

    s = sub.add_parser("predict", help="per-frame AU predictions for videos, images or folders of frames")
    s.add_argument("input", nargs="+", help="a video, an image or a folder of images (photos, or the frames of one "
                                            "video); several are run in turn with one model and one detection pool")
    s.add_argument("--model", default="tas",
                   help="run folder name under --runs (holding deploy.pt) or a checkpoint path (default: tas)")
    s.add_argument("--out", default="predictions",
                   help="folder for <input>.csv, <input>.png and <input>_annotated.avi (default: ./predictions)")
    s.add_argument("--batch", type=_at_least_one, default=64, help="faces per inference batch")
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.add_argument("--frames", action="store_true",
                   help="a folder holds one video's frames in name order, not photos: track faces between "
                        "detections and let a sequence model (cpc) read them in time")
    s.add_argument("--fps", type=float, default=None,
                   help="with --frames: the frames' rate, so frame i is timed at (i - 1) / fps (a folder has no "
                        "times of its own: without it every timestamp is 0)")
    s.add_argument("--detect-every", type=_at_least_one, default=None,
                   help="run the detector every k-th frame, track landmarks between (default: 5 for a video "
                        "or --frames, 1 for a folder of photos)")
    s.add_argument("--track-ncc", type=float, default=None,
                   help="a tracked face correlating less than this with the last detected one is detected afresh "
                        "(default 0.6; 0: trust the tracker)")
    s.add_argument("--min-face", type=_min_face, default=100,
                   help="smallest face to find, in pixels of the input (dlib box side, default 100, at least 30): "
                        "where detection on a copy downscaled to 640 px finds none, it looks again closer, on a "
                        "copy enlarged up to 2x for faces under 60 px (slower); 0: never")
    s.add_argument("--max-faces", type=_at_least_one, default=1,
                   help="faces a frame may have (1: the best-scoring one; more: one CSV row each, a detection "
                        "beside the best kept if it scores at least half the best or passes a closer look; face_id "
                        "one per person, numbered as they come into view: a face back in view takes its earlier id "
                        "by its dlib face descriptor)")
    s.add_argument("--no-reid", action="store_true",
                   help="with --max-faces above 1: face_id one per track (a face back in view takes a new id)")
    s.add_argument("--frame-step", type=_at_least_one, default=1,
                   help="predict frames 1, 1+N, 1+2N, ... only (the CSV's numbering; Py-Feat's skip_frames): "
                        "a long recording at 5 "
                        "frames/s from 30 is --frame-step 6; rows keep the frame numbers and times")
    s.add_argument("--smooth", type=_smooth_window, default=0,
                   help="centred moving average over this many predicted rows of each face, an odd number (the "
                        "row and N // 2 on each side; 0: off; with --frame-step N a row is every N-th frame); "
                        "the CSV and the plot are smoothed, the --annotate video is not")
    s.add_argument("--compile", action="store_true",
                   help="run the model through torch.compile (seconds once; TAS on a 2-core CPU: 34 images/s, "
                        "24 without); falls back to the plain model where compiling fails")
    s.add_argument("--annotate", action="store_true",
                   help="also write an annotated video (<input>_annotated.avi, MJPG: about 35 MB a minute "
                        "at 640x480, 2 GB an hour); its AU bars are the unsmoothed values (drawn as frames are "
                        "predicted, before --smooth, which needs the frames after each one)")
    s.add_argument("--workers", type=_non_negative, default=None,
                   help="face-detection processes (default: all cores; 0: in this process)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")
    s.add_argument("--runs", nargs="+", default=["runs", "reports"],
                   help="folders holding run folders with deploy.pt (the notebooks write runs/<slug>/deploy.pt)")
    s.set_defaults(fn=cmd_predict)

    s = sub.add_parser("train", help="train one method outside a notebook (torchrun/DDP with --nproc)")
    s.add_argument("method", help="tas or scc (the methods that train one model per run)")
    s.add_argument("--config", required=True, help="YAML: dataset, fold, seed, out_dir, ..., method: {overrides}")
    s.add_argument("--nproc", type=_at_least_one, default=1,
                   help="processes (GPUs) on this node, via torchrun; the batch is shared out, and BatchNorm "
                        "normalises each rank's share with its own statistics (no SyncBatchNorm)")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("bench", help="training/inference throughput: ceiling vs real data path vs paper config")
    s.add_argument("--methods", help="comma-separated slugs (default: all five)")
    s.add_argument("--device", default=None, help=DEVICE_HELP)
    s.add_argument("--preset", default=None, choices=("tiny", "default"),
                   help="tiny (CPU default) or default (GPU default)")
    s.add_argument("--out", default="reports/bench",
                   help="folder for bench.json and bench.md (default: reports/bench, the committed report)")
    s.add_argument("--data", action="append", metavar="METHOD.KEY=VALUE",
                   help="override a method's data: dataset, aux, fold, flow_size (RTATL), batch_size (not the "
                        "paper configuration), e.g. scc.batch_size=128")
    s.add_argument("--compile", action="store_true", help="time the default configuration through torch.compile")
    s.add_argument("--skip", help="comma-separated parts to leave out: train (the training steps), prepare (dlib), "
                                  "inference, predict (dlib)")
    s.add_argument("--ops-only", action="store_true",
                   help="only count the operators each method's step dispatches (no timing, no dataset): "
                        "<out>/ops.json and ops.md; --preset default by default, batch 2 unless --data "
                        "METHOD.batch_size=N (the count does not depend on it)")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("models", help="list the trained models aukit predict can use, and the architectures")
    s.add_argument("--runs", nargs="+", default=["runs", "reports"],
                   help="folders holding run folders with deploy.pt (as aukit predict --runs)")
    s.set_defaults(fn=cmd_models)
    return p


# what an interrupted command leaves, said in its last line
NOTEBOOK_LEFT = "what it left is named above (a notebook run: error.txt)"
INTERRUPTED = {"run": NOTEBOOK_LEFT, "reproduce": NOTEBOOK_LEFT, "sweep": NOTEBOOK_LEFT,
               "prepare": "the faces aligned so far are kept: the same command resumes from them",
               "synth": "the tree is unfinished (no meta.json, readers refuse it): run aukit synth again",
               "train": "its checkpoints are kept: the same command resumes from the last one"}


def main(argv: list[str] | None = None) -> int:
    from .runtime import DeviceUnavailable

    args = build_parser().parse_args(argv)
    previous = _stop_on_sigterm()
    try:
        return int(args.fn(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, DeviceUnavailable) as e:
        print(f"aukit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:          # a notebook's cell failed: one paragraph, not papermill's traceback
        if type(e).__name__ != "PapermillExecutionError":   # (papermill is imported only if a notebook ran)
            raise
        from .nb import failure_summary
        print(f"aukit {args.command}: error: {failure_summary(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:       # Ctrl-C, or SIGTERM (a scheduler's or `timeout`'s stop): one line, not a traceback
        print(f"aukit {args.command}: interrupted; {INTERRUPTED.get(args.command, 'what it left is named above')}",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm():
    """SIGTERM stops a command as Ctrl-C does (it left a killed run's folder looking untouched: no
    error.txt); the previous handler, to restore, or None off the main thread."""
    def stop(signum, frame):
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, stop)
    except ValueError:              # not the main thread (main() called from a worker thread)
        return None


if __name__ == "__main__":
    sys.exit(main())
