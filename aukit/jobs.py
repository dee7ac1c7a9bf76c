"""``aukit train <method> --config cfg.yaml [--nproc N]``: one method's training outside a notebook.

The YAML holds the job (dataset, fold, seed, compute knobs) and, under ``method``, overrides
of the method's paper-default dataclass config. Under ``torchrun`` every rank runs the same
job: the shared loop wraps the model in DDP and each BatchLoader reads its rank's shard;
rank 0 alone writes checkpoints, ``metrics.json``, ``deploy.pt`` and ``run.yaml``.
``--nproc N`` relaunches the command under ``torchrun --nproc-per-node N``.

Jobs exist for the methods that train one model per run: ``tas`` and ``scc`` (SCC-Heatmap, the
paper's main setting; its ablations live in the notebook). CPC, RTATL and PIAP-DF train several
models per run (pre-training, generators, teachers): their notebooks drive them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics
from .checkpoint import ConfigMismatchError
from .config import did_you_mean, from_dict, load_yaml
from .runtime import dist_rank_world, init_distributed, write_run_yaml


FOLDS = "-1 (the paper's split), 0 or 'fera' (BP4D's FERA2015 split), or 1, 2, 3 (test on part<fold>)"


@dataclass
class JobConfig:
    dataset: str = "synthau-disfa"       # dataset name (aukit.data)
    # fold -1: the paper's split (BP4D: FERA2015, else fold 1); 1..3: test on part<fold>; 0 or 'fera' (kept as 0):
    # BP4D's FERA2015 split (SCC takes it on BP4D unless method.fera is false)
    fold: int | str = -1
    seed: int = 0
    out_dir: str = "runs/job"            # checkpoints, metrics.json, deploy.pt, run.yaml
    epochs: int | None = None            # None: the paper's
    max_steps: int | None = None         # cap on steps per epoch (smoke)
    size: int | None = None              # input size (None: the policy's)
    device: str = ""                     # "" = auto
    method: dict = field(default_factory=dict)  # overrides of the method's dataclass config

    def __post_init__(self) -> None:
        if self.fold == "fera":
            self.fold = 0
        if isinstance(self.fold, bool) or self.fold not in (-1, 0, 1, 2, 3):
            raise ValueError(f"fold must be {FOLDS}, got {self.fold!r}")
        for name in ("epochs", "max_steps", "size"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"{name} must be at least 1 (or left out for the default), got {v}")


def tas_config(job: JobConfig):
    """The job's TASConfig: the paper's defaults, λ_sub for the job's dataset (TAS: 0.005 on
    BP4D, 0.05 on DISFA) unless ``method.loss.lambda_sub`` sets it, then the job's overrides."""
    from .methods.tas import config as tc

    cfg = from_dict(tc.TASConfig, job.method, where="method") if job.method else tc.TASConfig()
    if "lambda_sub" not in (job.method.get("loss") or {}):
        cfg.loss.lambda_sub = tc.default_lambda_sub(job.dataset)
    if job.size:            # the job's size wins over method.train.image_size; either is what trains
        cfg.train.image_size = job.size
    if job.epochs:
        cfg.train.epochs = job.epochs
    cfg.model.weights = cfg.model.weights or None      # "": none, as the notebooks' weights (not the file ".")
    return cfg


def _tas(job: JobConfig, rank: int, cfg) -> dict:
    """``cfg``: :func:`tas_config`."""
    from .methods.tas.deploy import export_deployable
    from .methods.tas import experiment as te
    from .models.input_norm import input_norm
    from .methods.tas.data import load_data

    data = load_data(job.dataset, job_fold(job), cfg.train.T)
    dropped = _dropped("tas", job.dataset, data.aus_dropped, rank)
    ckpt_dir = Path(job.out_dir) / "checkpoints"
    start = _begin(job, rank, ckpt_dir, dataclasses.asdict(cfg))
    cfg = te.built_config(data, cfg)              # recorded as built (the heads the data needs)
    size = cfg.train.image_size
    opts = te.RunOptions(device=job.device, size=size, epochs=cfg.train.epochs, max_steps=job.max_steps,
                         progress=rank == 0, ckpt_dir=str(ckpt_dir))
    model, hist = te.train_model(data, cfg, opts, seed=job.seed, name="tas")
    if rank != 0:
        return {}
    ev = te.evaluate(model, data, opts)
    export_deployable(model, data.aus, Path(job.out_dir) / "deploy.pt", job.dataset, size=size, config=cfg)
    return {"history": hist, "config": dataclasses.asdict(cfg), **_scores(ev["metrics"], ev["flags"]),
            **_flag_kinds(ev["flags"]), **dropped, "test_frames": len(ev["rows"]), "fold_used": str(job_fold(job)),
            "input_norm": input_norm(cfg.model.weights).record(), "weights_files": start}


def _scores(flat: dict, flags: dict) -> dict:
    """Flat scores for metrics.json (``icc_AU05``, ``icc_avg``, ...): null where ``flags`` calls one undefined (a
    constant test label's ICC), as the notebooks' reports write it, not the metric's placeholder 0.0."""
    out = {k: None if flags.get(k) in metrics.UNDEFINED else float(v) for k, v in flat.items()}
    for avg in [k for k in flat if k.endswith("_avg")]:        # every AU undefined: no average either
        per = [k for k in flat if k.startswith(avg[:-3]) and k != avg]
        if per and all(out[k] is None for k in per):
            out[avg] = None
    return out


def _flag_kinds(flags: dict) -> dict:
    """``flags`` (``{"icc_AU05": "constant_label"}``) and their split as the notebooks' metrics.json splits them:
    ``undefined_scores`` (the test labels cannot score the AU: null, left out of the averages) and
    ``model_zero_scores`` (the model's own zero, counted in them), each ``{key: flag}``."""
    undefined = {k: f for k, f in flags.items() if f in metrics.UNDEFINED}
    return {"flags": flags, "undefined_scores": undefined,
            "model_zero_scores": {k: f for k, f in flags.items() if k not in undefined}}


def _dropped(method: str, dataset: str, dropped: dict, rank: int) -> dict:
    """The AUs of the dataset's list its loader left out (a dataset of your own: no column, no coded training
    frame): said once as the data opens, as a notebook's tables note them, and recorded as ``aus_dropped``."""
    if dropped and rank == 0:
        print(f"aukit train {method}: " + "; ".join(f"{au} (in {dataset}'s AU list) not trained or scored: {why}"
                                                     for au, why in dropped.items()))
    return {"aus_dropped": dict(dropped)} if dropped else {}


def _begin(job: JobConfig, rank: int, folder: Path, config: dict) -> dict:
    """Once the job's data is open, before it trains: its checkpoint folder refuses data changed since its first
    run (:func:`aukit.ckptdir.check_data`: weights trained on a partial copy must not resume as the completed
    copy's) and a weights file ``config`` names that changed since its training started from it
    (:func:`aukit.ckptdir.check_weights`), then an earlier run's results leave the folder (they are not this run's
    until it ends). Rank 0; returns the weights files the training started from (run.yaml's ``weights_files``)."""
    if rank != 0:
        return {}
    from .ckptdir import check_data, check_weights
    from .runtime import weights_files
    check_data(folder)
    start = check_weights(folder, weights_files(config))
    _clear_results(Path(job.out_dir))
    return start


def _clear_results(out: Path) -> None:
    for stale in (*FINISHED, "error.txt"):
        (out / stale).unlink(missing_ok=True)


SCC_METHOD_KEYS = ("model", "train", "fera")


def scc_configs(job: JobConfig):
    """The job's (SCCModelConfig, SCCTrainConfig, fold): the paper's defaults with what the job's
    dataset decides (its AUs' 2 points each, k = 5 on BP4D and 7 on DISFA, BP4D's FERA2015 split
    unless ``method.fera`` is false), ``size`` and ``epochs``, then ``method.model`` / ``method.train``."""
    from .methods.aus import is_own
    from .methods.scc import config as sc
    from .methods.scc.data import dataset_aus, resolve_fold

    unknown = sorted(set(job.method) - set(SCC_METHOD_KEYS))
    if unknown:
        raise ValueError(f"method: unknown key(s) {unknown}{did_you_mean(unknown, SCC_METHOD_KEYS)} for scc; "
                         f"valid keys: {list(SCC_METHOD_KEYS)}")
    mc = scc_model_config(job, dataset_aus(job.dataset), check=not is_own(job.dataset))
    train = {**({"epochs": job.epochs} if job.epochs else {}), **(job.method.get("train") or {})}
    tc = from_dict(sc.SCCTrainConfig, train, where="method.train")
    fera = bool(job.method.get("fera", True))
    if job.fold == 0 and not fera:
        raise ValueError("fold: 0 ('fera') asks for BP4D's FERA2015 split, method.fera: false for a 3-fold one: "
                         "drop one of the two")
    fold = "fera" if job.fold == 0 else resolve_fold(job.dataset, 1 if job.fold == -1 else job.fold, fera)
    if fold == "fera" and job.fold not in (-1, 0, 1):     # the job asked for a fold it would not get
        raise ValueError(f"fold: {job.fold} has no effect on {job.dataset}: SCC runs BP4D on the FERA2015 split "
                         f"(method.fera true, the paper's); set method.fera: false to run fold {job.fold}")
    return mc, tc, fold


def scc_model_config(job: JobConfig, aus, dropped: dict | None = None, check: bool = True):
    """SCC's model config for ``aus``, the AUs the model gets: 2 heatmap points each, the dataset's k, the job's
    ``size``, then ``method.model``. :func:`scc_configs` builds it from the manifest's AUs before the data is read
    (``check`` False on a dataset of your own, whose loader may leave an AU out: ``n_points`` is checked then),
    :func:`_scc` again from the AUs loaded (``dropped``: those left out): a head per manifest AU crashed the
    training against the targets of the kept ones."""
    from .methods.scc import config as sc
    user, need = job.method.get("model") or {}, 2 * len(aus)
    if check and user.get("n_points", need) != need:
        left = f" ({', '.join(dropped)} left out)" if dropped else ""
        raise ValueError(f"method.model.n_points: SCC draws 2 points per AU, so {job.dataset}'s {len(aus)} AUs{left} "
                         f"need {need}, got {user['n_points']}")
    mc = from_dict(sc.SCCModelConfig, {"k": sc.k_for(job.dataset), "n_points": need, **user}, where="method.model")
    mc.backbone_weights = mc.backbone_weights or None     # "": none, as the notebooks' weights (not the file ".")
    if not job.size or "input_size" in user:             # method.model.input_size wins over the job's size
        return mc
    try:
        return dataclasses.replace(mc, input_size=job.size)
    except ValueError as e:        # the one field changed: the job's key is the one to fix
        raise ValueError(f"size: {job.size}: SCC's input size (method.model.input_size): {e}") from None


def _scc(job: JobConfig, rank: int, configs) -> dict:
    """``configs``: :func:`scc_configs`."""
    from .methods.scc import experiment as se
    from .methods.scc.data import load_data
    from .methods.scc.deploy import export_deployable
    from .models.input_norm import input_norm
    from .runtime import pick_device

    _, tc, fold = configs
    data = load_data(job.dataset, fold)
    dropped = _dropped("scc", job.dataset, data.info["aus_dropped"], rank)
    mc = scc_model_config(job, data.aus, data.info["aus_dropped"])      # the heads the data needs
    ckpt_dir = Path(job.out_dir) / "checkpoints" / f"scc_seed{job.seed}"
    start = _begin(job, rank, ckpt_dir, {"model": dataclasses.asdict(mc)})
    device = pick_device(job.device or None)
    model = se.train_model(data, mc, tc, device=device, seed=job.seed, steps_per_epoch=job.max_steps,
                           progress=rank == 0, out_dir=str(ckpt_dir))
    if rank != 0:
        return {}
    out = se.predict_rows(model, data, data.test_rows, tc, device)
    export_deployable(model, data.aus, Path(job.out_dir) / "deploy.pt", job.dataset, tc)
    flat, flags = metrics.flat_per_au(("icc", "mae"), out["pred"], out["label"], list(data.aus))
    return {"history": model.history, "config": {"model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc)},
            **_scores(flat, flags), **_flag_kinds(flags), **dropped, "test_frames": len(data.test_rows),
            "fold_used": str(fold), "input_norm": input_norm(mc.backbone_weights).record(), "weights_files": start}


JOBS = {"tas": _tas, "scc": _scc}
CONFIGS = {"tas": tas_config, "scc": scc_configs}


JOB_FILE = "job.yaml"
RESUMABLE = ("epochs", "device")   # what may change when a job is run again into its folder


def check_job_folder(method: str, job: JobConfig, write: bool = True, world: int = 1) -> None:
    """A job folder holds one job: ``job.yaml`` records the first run's method and settings, and a
    rerun with other settings (fold, dataset, size, seed, max_steps, method overrides) is refused
    before anything trains: it would resume the first run's checkpoint and write its metrics under
    the new settings. More epochs, or another device, continue the run; other code does not (``code``:
    :func:`aukit.ckptdir.code_key`, as a notebook run's checkpoint folders are keyed). A folder whose run
    stopped before its first checkpoint holds nothing to mix: any settings go. ``write`` False: check only
    (``launch``, before torchrun starts the ranks). ``world``: the ranks the run trains over (``--nproc``),
    recorded as ``world_size``: a resume over another number is refused (:func:`_other_world`)."""
    from .checkpoint import changes_text, config_changes
    from .ckptdir import code_key
    out = Path(job.out_dir)
    now = {"train": method, "code": code_key(),
           **{k: v for k, v in dataclasses.asdict(job).items() if k != "out_dir"}, "world_size": world}
    rec = out / JOB_FILE
    # a run stopped before its first checkpoint left nothing to mix: its settings (an out-of-memory batch) may change
    started = any((out / "checkpoints").rglob("*.pt")) or any((out / f).exists() for f in FINISHED)
    if rec.exists() and started:
        import yaml
        saved = yaml.safe_load(rec.read_text()) or {}
        if saved.get("train") != method:
            raise ValueError(f"{rec}: {out} holds an `aukit train {saved.get('train')}` run, not {method}: give "
                             "another out_dir")
        if saved.get("code") != now["code"]:
            raise ValueError(f"{rec}: {out} holds a run of other code ({saved.get('code') or 'unrecorded'}; this is "
                             f"{now['code']}): its checkpoints would go on training under this code as one run. "
                             f"Give another out_dir, or delete {out} to start afresh")
        if saved.get("world_size", 1) != world:
            raise ValueError(_other_world(rec, saved.get("world_size", 1), world))
        changed = config_changes(saved, now, free=RESUMABLE)
        if changed:
            raise ValueError(f"{rec}: {out} holds a run with other settings ({changes_text(changed)}); rerunning "
                             "into it would mix the two runs' checkpoints and results. Give another out_dir, or "
                             f"delete {out} to start afresh")
    if write:
        from .config import save_yaml
        save_yaml(now, rec)


def _other_world(rec: Path, was: int, now: int) -> str:
    """Why a job trained over ``was`` ranks does not resume over ``now``. The global batch is the same
    (``method.train.batch_size``, shared out), but each rank's share has its own BatchNorm statistics and
    augmentation draws, and the checkpoint's random state is one rank's: the run would go on under
    another optimisation, recorded as one run."""
    out = rec.parent
    return (f"{rec}: {out} holds a run trained over {was} rank(s) (--nproc {was}), this one has {now}: each rank's "
            "share of the batch has its own BatchNorm statistics and augmentation draws, so the run would go on "
            f"under another optimisation. Resume it with --nproc {was}, or give another out_dir (or delete {out}) "
            f"to train afresh over {now}")


def job_fold(job: JobConfig) -> int | str:
    """The fold a TAS job splits by: 1..3, or 'fera' for ``fold: 0`` and, on BP4D, for the default -1
    (as the TAS notebook's -p fold)."""
    from .data.splits import notebook_fold
    return notebook_fold("tas", job.dataset, job.fold)


def preflight(method: str, job: JobConfig, world: int = 1):
    """Everything that can be refused before a rank starts (a misspelt method, dataset, override
    or fold; a batch the ranks cannot share): the job's configs. ``aukit train --nproc N`` calls it
    before starting torchrun, so a mistake is one line, not N tracebacks and torchrun's report."""
    if method not in JOBS:
        raise ValueError(f"no `aukit train` job for {method!r}; available: {sorted(JOBS)} "
                         "(the other methods train several models per run: use their notebooks)")
    if world > 1:
        _check_rank_device(job.device or os.environ.get("AUKIT_DEVICE", ""), world)
    from .data.manifest import check_name
    check_name(job.dataset)       # a misspelt dataset or override fails here, before the folder is made
    configs = CONFIGS[method](job)
    from .data.splits import check_copy
    check_copy(job.dataset, configs[2] if method == "scc" else job_fold(job))   # a bad fold or copy: before mkdir
    batch = configs.train.batch_size if method == "tas" else configs[1].batch_size
    if world > 1 and batch % world:
        key = "method.train.batch_size"
        raise ValueError(f"{key} {batch} is not divisible by the {world} ranks (--nproc {world}): each rank takes "
                         f"an equal share of a batch; set {key} to a multiple of {world}")
    _check_out_dir(Path(job.out_dir))
    return configs


def _check_rank_device(name: str, world: int) -> None:
    """Over several ranks each takes its own GPU, ``cuda:<LOCAL_RANK>`` (:func:`aukit.runtime.pick_device`):
    a device naming one GPU is refused before they start (every rank trained on it). Mapping ``cuda:N`` to
    N + LOCAL_RANK would be a convention of our own; CUDA_VISIBLE_DEVICES is the one torchrun users know."""
    if name.startswith("cuda:"):
        raise ValueError(f"device {name}: --nproc {world} runs one rank a GPU, each on cuda:<LOCAL_RANK>; give "
                         "device: cuda, and choose the GPUs with CUDA_VISIBLE_DEVICES")


def _check_out_dir(out: Path) -> None:
    """An out_dir that is a file, or lies under one, is refused before any rank starts (it failed in
    mkdir with a traceback, N of them under torchrun)."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"out_dir {out}: {p} is a file, not a folder: give another out_dir")
            return


def job_changes(job: JobConfig) -> dict:
    """What takes a job off the paper's setup, as a notebook run's changed parameters: the step cap, epochs,
    input size and every method override (``method.model.depth``). Its deploy.pt records them (the
    models of a 3-step ResNet-18 job were listed and used as the paper's)."""
    out = {k: getattr(job, k) for k in ("epochs", "max_steps", "size") if getattr(job, k) is not None}

    def flat(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                flat(f"{prefix}{k}.", v)
            else:
                out[f"{prefix}{k}"] = v
    flat("method.", job.method or {})
    return out


INVOCATIONS = "invocations.json"    # the runs into a job folder since its first checkpoint: kept across runs


@dataclass
class _Invocations:
    """This run of a job and the folder's earlier ones, whose checkpoints it resumes: run.yaml's wall time is
    their sum (it was the last run's alone), each listed with its ranks, device and end."""
    out: Path
    began: str                     # when it started (UTC, ISO)
    t0: float = field(default_factory=time.perf_counter)
    world: int = 1
    device: str = ""
    past: list | None = None      # None: not read yet, and this run records nothing (it did not start)

    def resume(self, world: int, device: str) -> None:
        """Read the earlier runs (none when the folder holds no checkpoint: this run starts afresh). Rank 0,
        before it trains."""
        f = self.out / INVOCATIONS
        past = []
        if f.exists() and any((self.out / "checkpoints").rglob("*.pt")):
            try:
                past = json.loads(f.read_text())
            except ValueError as e:
                raise ValueError(f"{f} is damaged ({e}): delete it to go on (run.yaml's wall time then counts "
                                 "from this run)") from None
        self.world, self.device, self.past = world, device, past

    def record(self, outcome: str) -> list[dict]:
        """Every run so far, this one ended as ``outcome``; written to the folder's invocations.json."""
        if self.past is None:
            return []
        runs = [*self.past, {"started": self.began, "wall_time_s": round(time.perf_counter() - self.t0, 2),
                             "world_size": self.world, "device": self.device, "outcome": outcome}]
        (self.out / INVOCATIONS).write_text(json.dumps(runs, indent=1))
        return runs


def run_job(method: str, job: JobConfig) -> dict:
    from .runtime import now, pick_device, pin_commit
    runs = _Invocations(Path(job.out_dir), now())
    configs = preflight(method, job, int(os.environ.get("WORLD_SIZE", 1)))
    pin_commit()                  # run.yaml records the code that ran, not a commit landing before it ends
    rank, world = init_distributed(device=job.device or None)   # a cpu job on a GPU machine: gloo
    held, started, out = None, False, Path(job.out_dir)
    try:
        if rank == 0:             # torchrun stops the other ranks when this one fails
            from .nb import claim_folder
            out.mkdir(parents=True, exist_ok=True)
            held = claim_folder(out, f"aukit train {method}", "out_dir")   # two at once each trained it all
            check_job_folder(method, job, world=world)
        started = True
        if rank == 0:
            runs.resume(world, str(pick_device(job.device or None)))      # the device rank 0 trains on
        from .nb import CHANGED_ENV, _environment
        with _environment({CHANGED_ENV: json.dumps(job_changes(job), default=str)}):   # deploy.export reads it
            return _train(method, job, configs, rank, world, runs)
    except BaseException as e:
        # interrupted or failed: the folder says so, and an earlier run's results are not this run's; a refusal
        # of changed data (_begin's ConfigMismatchError) leaves the folder as it was
        if rank == 0 and started and not isinstance(e, ConfigMismatchError):
            _clear_results(out)
            (out / "error.txt").write_text(f"{type(e).__name__}: {e}\n" + _after_failure(out, world, e))
            runs.record(type(e).__name__)
        raise
    finally:
        if held is not None:
            from .nb import release_folder
            release_folder(Path(job.out_dir), held)


FINISHED = ("metrics.json", "deploy.pt", "run.yaml")   # what a job writes when it ends


def _after_failure(out: Path, world: int, e: BaseException) -> str:
    """error.txt's advice: resume where a checkpoint was saved; with several ranks, where to look
    when rank 0 only saw its peer vanish (gloo: 'Connection reset by peer')."""
    ckpt = out / "checkpoints"
    lines = [f"(rerun the job to resume from {ckpt})" if any(ckpt.rglob("*.pt")) else
             "(no checkpoint was saved yet: a rerun starts afresh)"]
    if world > 1 and not isinstance(e, KeyboardInterrupt):
        lines.append(f"(a run over {world} ranks: an error about a lost connection usually means another rank "
                     "ended first; torchrun's report on stderr names that rank and its exit code or signal)")
    return "\n".join(lines) + "\n"


def _train(method: str, job: JobConfig, configs, rank: int, world: int, runs: _Invocations) -> dict:
    res = JOBS[method](job, rank, configs)
    if rank == 0:                 # run_job made the folder
        out = Path(job.out_dir)
        hist, cfg, start = res.pop("history", []), res.pop("config", None), res.pop("weights_files", {})
        record = {**res, "method": method, "dataset": job.dataset, "fold": job.fold, "seed": job.seed,
                  "world_size": world}
        if world > 1 and hist:
            record["ranks_in_sync"] = hist[-1].get("ranks_in_sync")    # fit checked the ranks' weights agree
        from .data.splits import PARTIAL
        from .report.provenance import data_read       # run.yaml's stores, datasets and splits, as a notebook's
        if PARTIAL:                                                 # AUKIT_ALLOW_PARTIAL=1 on an incomplete copy
            record["partial_copy"] = list(PARTIAL)
        (out / "metrics.json").write_text(json.dumps(record, indent=1))
        ips = [h.get("images_per_s", 0.0) for h in hist]
        every = runs.record("finished")
        write_run_yaml(out, config={"job": dataclasses.asdict(job), "method": method, "method_config": cfg},
                       seed=job.seed, dataset=job.dataset, device=runs.device,
                       wall_time_s=round(sum(r["wall_time_s"] for r in every), 2), invocations=every,
                       mean_images_per_s=sum(ips) / max(1, len(ips)), world_size=world,
                       input_norm=res.get("input_norm"),      # the inputs' normalisation (the trunk's start decides)
                       **({"aus_dropped": res["aus_dropped"]} if "aus_dropped" in res else {}),
                       **({"weights_files": start} if start else {}), **data_read())
    return res


def launch(method: str, config: str, nproc: int = 1) -> int:
    """Run in this process (nproc 1 or already under torchrun) or relaunch under torchrun."""
    job = load_yaml(JobConfig, config)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        preflight(method, job, nproc)
        cores = os.cpu_count() or 1
        import torch
        on_gpu = (job.device or "").startswith("cuda") or (not job.device and torch.cuda.is_available())
        if nproc > cores and not on_gpu:
            print(f"[aukit] --nproc {nproc} on {cores} CPU cores: each rank gets less than a core, slower than "
                  f"--nproc {cores} (GPU ranks need device: cuda and a GPU each)", file=sys.stderr)
        out = Path(job.out_dir)
        if out.is_dir():          # a live run, or a run of other settings: say so now, not under N ranks' tracebacks
            from .nb import claim_folder, release_folder
            release_folder(out, claim_folder(out, f"aukit train {method}", "out_dir"))
            check_job_folder(method, job, write=False, world=nproc)
        return _torchrun(method, config, nproc)
    run_job(method, job)
    rank, world = dist_rank_world()
    if world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return 0


STOP_WAIT_S = 60     # torchrun gives its ranks 30 s to end after SIGTERM, then kills them
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with_parent():
    """A ``preexec_fn`` (Linux; None elsewhere): the child gets SIGTERM when the launcher dies, even by SIGKILL,
    which no handler of ours sees (an OOM kill, `kill -9`, a scheduler's hard stop); torchrun then stops its
    ranks as on Ctrl-C. prctl is looked up here, in the parent: the child between fork and exec only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _torchrun(method: str, config: str, nproc: int) -> int:
    """torchrun over ``nproc`` ranks. Interrupted (Ctrl-C, or SIGTERM, which ``aukit.cli`` turns into
    KeyboardInterrupt), it passes SIGTERM on and waits for torchrun to stop its ranks: killing
    torchrun outright left the ranks (in sessions of their own) training on, orphaned. Killed itself
    (SIGKILL), the launcher takes torchrun along (:func:`_stop_with_parent`)."""
    import signal
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    cmd = [torchrun, "--standalone", f"--nproc-per-node={nproc}", "-m", "aukit.cli", "train", method,
           "--config", config]
    proc = subprocess.Popen(cmd, preexec_fn=_stop_with_parent())
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
