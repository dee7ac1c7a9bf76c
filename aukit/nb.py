"""Execute notebooks with papermill: one call for ``aukit run``, ``aukit reproduce`` and tests.

Each paper notebook has a ``parameters`` cell with ``out_dir``, ``preset`` and ``smoke``;
it writes ``metrics.json`` (and tables, figures, ``run.yaml``) into ``out_dir``. This
module puts the executed copy and its HTML export beside them and adds the notebook
run (parameters, wall time) to ``run.yaml``.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .config import closest, fits
from .runtime import provenance, repo_root

PAPERS = ("tas", "cpc", "rtatl", "piap_df", "scc")  # report slugs, one notebook each
NOTEBOOK_DIR = repo_root() / "notebooks"


def notebook_path(name: str) -> Path:
    """``tas`` -> notebooks/tas.ipynb; a path is returned as is (must exist)."""
    p = Path(name)
    if p.suffix != ".ipynb":
        p = NOTEBOOK_DIR / f"{name}.ipynb"
    if not p.exists():
        known = sorted(x.stem for x in NOTEBOOK_DIR.glob("*.ipynb"))
        raise FileNotFoundError(f"notebook not found: {p}; available: {known}")
    return p


def execute(notebook: str | Path, out_dir: str | Path, parameters: dict[str, Any] | None = None, *,
            kernel_name: str = "python3", html: bool = True, progress: bool = True,
            timeout: int | None = None, log: bool = False) -> dict:
    """Run ``notebook`` with papermill into ``out_dir``; return its ``metrics.json`` ({} if none).
    ``log``: show what the cells print as they run, every training a line per epoch
    (:data:`aukit.train.EPOCH_LINES_ENV`).

    ``out_dir`` is passed to the notebook as the ``out_dir`` parameter; an ``out_dir`` in
    ``parameters`` that names another folder is a ValueError (it would split the run).
    Raises ``papermill.PapermillExecutionError`` naming the failing cell, and
    :class:`aukit.data.lock.Busy` when another live run is writing into ``out_dir``.
    """
    nb = notebook_path(str(notebook))
    declared = check_parameters(nb, parameters or {})
    from .nbstart import full_on_cpu
    if (slow := full_on_cpu(nb, parameters or {})) is not None:
        print(f"[aukit] {slow}", file=sys.stderr)
    if edited := edited_defaults(nb):     # saved from JupyterLab: the run takes them, unlike the commit's runs
        print(f"[aukit] {nb.name}'s parameters cell differs from the commit's: "
              + ", ".join(f"{n} = {now} (committed: {then})" for n, (then, now) in edited.items())
              + "; this run takes the edited values", file=sys.stderr)
    out = Path(out_dir).resolve()
    given = (parameters or {}).get("out_dir")
    if given is not None and Path(str(given)).resolve() != out:
        # the executed notebook and run.yaml go to out_dir: a different out_dir parameter would split the run
        raise ValueError(f"parameter out_dir={given!r} differs from the output folder {out}; pass one of them")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} is a file")
    if out == nb.resolve().parent:      # papermill would write the executed notebook over the notebook itself
        raise ValueError(f"output folder {out} holds {nb.name} itself: the executed copy would replace it; "
                         "give another --out")
    out.mkdir(parents=True, exist_ok=True)
    held = claim_folder(out, nb.name)
    from .runtime import PIN_ENV, git_info
    from .train import EPOCH_LINES_ENV
    # the kernel imports the code of this commit: its run.yaml names it, whatever lands before the run ends;
    # its tables name the parameters that take it off the paper's setup
    kernel = {PIN_ENV: json.dumps(git_info()), CHANGED_ENV: json.dumps(changed_parameters(nb, parameters or {})),
              # headless: widgets render static figures (aukit.viz.explore), unless the caller set its own value
              "AUKIT_STATIC": os.environ.get("AUKIT_STATIC", "1"), **_absolute_path_env(),
              **({EPOCH_LINES_ENV: "1"} if log else {})}      # --log: a line per epoch of every training
    try:
        with _environment(kernel):
            return _run(nb, out, parameters or {}, kernel_name, html, progress, timeout, declared, log)
    finally:
        release_folder(out, held)


PATH_ENV = ("AUKIT_CACHE", "AUKIT_SYNTHAU", "AUKIT_MANIFEST", "AUKIT_DATA", "AUKIT_DLIB_MODELS")


def _absolute_path_env() -> dict:
    """The path variables (and every AUKIT_DATA_<NAME>) set relative to the caller's folder, made
    absolute: the kernel starts in the repository, where AUKIT_DATA_BP4D=fakebp4d, found by the CLI,
    was 'not a folder' and a relative AUKIT_CACHE would have made a second cache."""
    names = [k for k in os.environ if k in PATH_ENV or k.startswith("AUKIT_DATA_")]
    return {k: str(Path(os.environ[k]).resolve()) for k in names
            if os.environ[k] and not Path(os.environ[k]).is_absolute()}


@contextlib.contextmanager
def _environment(values: dict):
    """Environment variables for the kernel papermill starts, the caller's own restored afterwards
    (a JupyterLab kernel that called execute was left with AUKIT_STATIC=1: its explore() went static)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(nb: Path, out: Path, parameters: dict, kernel_name: str, html: bool, progress: bool, timeout,
         declared, log: bool = False) -> dict:
    import papermill as pm
    from .kernel import resolve

    kernel_name = resolve(kernel_name)          # before anything is moved: a wrong kernel stops here
    if (kept := clear_outputs(out, nb.stem)) is not None:
        print(f"[aukit] the last run's results in {out} moved to {kept}", file=sys.stderr)
    # a notebook that declares no out_dir (00_synthau) gets none: papermill would warn of an unknown parameter
    params = {**({"out_dir": str(out)} if "out_dir" in declared else {}), **parameters}
    for name in PATH_PARAMETERS:
        if isinstance(params.get(name), str) and params[name] and not Path(params[name]).is_absolute():
            params[name] = str(Path(params[name]).expanduser().resolve())     # a quoted '~/w.pth' too
    if "model_dir" not in params and "model_dir" in declared:
        params["model_dir"] = model_dir_for(nb.stem, out, bool(params.get("smoke")))
    executed = out / nb.name
    t0 = time.perf_counter()
    try:
        # the kernel's own log at CRITICAL: ipykernel 7 warns on every start that its localhost TCP is
        # unencrypted, and a kernel stopped mid-cell (Ctrl-C, SIGTERM) logs a ZMQError traceback for the
        # reply it can no longer send. What a cell raises reaches us as a message, not through this log.
        pm.execute_notebook(str(nb), str(executed), parameters=params, kernel_name=kernel_name,
                            cwd=str(repo_root()), progress_bar=progress, execution_timeout=timeout,
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                            # log: what the cells print as it comes
                            log_output=log, stdout_file=sys.stdout if log else None,
                            stderr_file=sys.stderr if log else None)
    except BaseException as e:     # a failed or interrupted run: what it wrote is no result
        for name in ("metrics.json", "reported.json"):
            (out / name).unlink(missing_ok=True)
        moved = _set_aside(out)
        e.aukit_executed = executed          # the CLI's one line names it (failure_summary)
        (out / "error.txt").write_text(f"{type(e).__name__}: {e}\n(the executed notebook: {executed})\n"
                                       + (f"(the tables and figures it wrote: {out / INCOMPLETE})\n" if moved else ""))
        if isinstance(e, KeyboardInterrupt):    # the CLI's one line says "named above": name it
            print(f"[aukit] {nb.name} stopped: {out / 'error.txt'}"
                  + (f"; the tables and figures it had written: {out / INCOMPLETE}" if moved else ""), file=sys.stderr)
        raise
    wall = time.perf_counter() - t0
    if html:
        export_html(executed)
    _record_run(out, nb, params, wall)
    metrics = out / "metrics.json"
    return json.loads(metrics.read_text()) if metrics.exists() else {}


def failure_summary(e: BaseException) -> str | None:
    """What the CLI prints for a notebook that failed in a cell (papermill's PapermillExecutionError): the cell,
    the error and the executed notebook that holds its traceback, in place of papermill's and aukit's own frames;
    None for any other exception."""
    from papermill.exceptions import PapermillExecutionError
    if not isinstance(e, PapermillExecutionError):
        return None
    where = getattr(e, "aukit_executed", None)
    first = next((line.strip() for line in (e.source or "").splitlines() if line.strip()), "")
    cell = f"the cell starting `{first[:60]}{'...' if len(first) > 60 else ''}`" if first else f"cell {e.exec_count}"
    return (f"{cell} raised {e.ename}: {e.evalue}"
            + (f"; the executed notebook with the cell's traceback: {where} (error.txt beside it)" if where else ""))


RUN_LOCK = ".aukit-run.lock"   # in a run's folder while it runs; left by a run killed outright (SIGKILL)


def claim_folder(out: Path, notebook: str, where: str = "--out"):
    """Refuse a folder another live run is writing into (two runs into one --out wiped each other's
    tables and metrics, both exiting 0); else mark it as this run's with ``RUN_LOCK``
    (:func:`aukit.data.lock.hold`). Returns the open lock file, for :func:`release_folder`."""
    from .data.lock import hold
    return hold(out / RUN_LOCK, f"{{holder}} is running {notebook} into {out}: wait for it, or give another {where}")


def release_folder(out: Path, f) -> None:
    """The run ended (finished or failed, its error.txt written): drop its lock file."""
    from .data.lock import drop
    drop(out / RUN_LOCK, f)


# a parameters cell's annotation -> the values a run may give it (bool is no int here)
_KINDS = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}   # checked by config.fits


def declared_parameters(notebook: str | Path) -> dict[str, dict]:
    """{name: papermill's record (``inferred_type_name``, ``default``, ``help``)} of a notebook's
    parameters cell, in its order (read once per version of the file: a sweep checks every cell)."""
    path = notebook_path(str(notebook)).resolve()
    return dict(_inspect(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _inspect(path: str, mtime_ns: int) -> tuple:
    import papermill as pm
    return tuple(pm.inspect_notebook(path).items())


def committed_parameters(notebook: str | Path) -> dict[str, dict] | None:
    """:func:`declared_parameters` as the run's commit has them (``git show``), or None where git cannot
    tell (no checkout, a notebook outside it or not committed): a parameters cell edited and saved in
    JupyterLab (autosave too) changes the defaults every later run takes as the paper's."""
    from .runtime import pin_commit
    path = notebook_path(str(notebook)).resolve()
    commit = str(pin_commit().get("commit") or "")
    return None if not re.fullmatch(r"[0-9a-f]{7,64}", commit) else _committed(str(path), commit)


@functools.lru_cache(maxsize=32)
def _committed(path: str, commit: str) -> dict | None:
    import subprocess
    import tempfile
    try:
        rel = Path(path).relative_to(repo_root()).as_posix()
        data = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=repo_root(), capture_output=True,
                              timeout=30, check=True).stdout
    except (ValueError, OSError, subprocess.SubprocessError):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "committed.ipynb").write_bytes(data)
        return dict(_inspect(str(Path(tmp) / "committed.ipynb"), 0))


def edited_defaults(notebook: str | Path) -> dict[str, tuple[str, str]]:
    """{name: (committed default, default now)} of the parameters whose default in the notebook file
    differs from the commit's (see :func:`committed_parameters`); {} when they agree or git cannot tell."""
    then = committed_parameters(notebook)
    if then is None:
        return {}
    now = declared_parameters(notebook)
    return {n: (then[n]["default"], r["default"]) for n, r in now.items()
            if n in then and then[n]["default"] != r["default"]}


def parse_value(text: str, kind: str | None = None):
    """``-p name value`` typed for the parameter it sets: a ``str`` parameter takes the text as it is
    (``-p fold_name 01`` stays "01"), a ``float`` one reads 1e-3 too; others read it as YAML (3 -> int,
    [0,1] -> list, true -> bool), and a ``list`` parameter given one value gets a list of it
    (``-p seeds 1`` -> [1])."""
    import yaml
    if kind == "str":
        return text
    if kind == "float":                         # YAML reads 1e-3 as a string (it wants 1.0e-3)
        try:
            return float(text)
        except ValueError:
            pass
    if kind == "int" and re.fullmatch(r"[+-]?\d+", text.strip()):
        return int(text)                        # decimal: YAML 1.1 reads 010 as octal 8
    if kind == "list" and "," in text and not text.strip().startswith("["):
        text = f"[{text}]"                      # -p seeds 0,1 -> [0, 1] (not the one string "0,1")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return [value] if kind == "list" and not isinstance(value, list) else value


def float_values(notebook: str | Path, params: dict) -> dict:
    """``params`` with the text values of float parameters read as numbers: YAML 1.1 reads ``1e-5`` in a
    grid file as the string '1e-5' (it wants 1.0e-5); text that is no number stays, for the check to name."""
    records = declared_parameters(notebook)
    return {name: parse_value(value, "float") if isinstance(value, str) and
            records.get(name, {}).get("inferred_type_name") == "float" else value for name, value in params.items()}


def check_parameters(notebook: str | Path, params, *, files: bool = True) -> list[str]:
    """The parameters ``notebook``'s parameters cell declares. A name in ``params`` (names, or a dict
    of values) that it does not declare is a ValueError: papermill would inject it and run on with the
    default, so a typo (``-p epoch 10``) would give a run that looks right and is not the one asked for.
    A value of the wrong kind for its annotation (``epochs: int`` given "ten") is one too, named."""
    nb = notebook_path(str(notebook))
    records = declared_parameters(nb)
    declared = list(records)
    unknown = [n for n in params if n not in records]
    if unknown:
        hints = [f"{n!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(n, declared, 1))
                 else repr(n) for n in unknown]
        raise ValueError(f"{nb.name} has no parameter {', '.join(hints)}; its parameters: {', '.join(declared)}")
    if isinstance(params, dict):
        for name, value in params.items():
            kind, default = records[name]["inferred_type_name"], records[name]["default"]
            hint = _KINDS.get(kind)
            if hint is None or (value is None and default == "None"):
                continue
            if not fits(value, hint):
                raise ValueError(f"{nb.name}: parameter {name!r} takes {'an' if kind == 'int' else 'a'} {kind} "
                                 f"(default {default}), "
                                 f"got {value!r} ({type(value).__name__})")
        _check_schedule(nb, params)
        if files:                   # a sweep's cell may read a file an earlier cell or job writes
            _check_files(nb, params)
        _check_choices(nb, params)
        from .nbdata import check_data
        check_data(nb, params, records)
    return declared


# -1 / 0: the preset's value; below: no meaning
LOWEST = {"steps": -1, "epochs": 0, "pretrain_epochs": 0, "val_clips": 0}


def _check_schedule(nb: Path, params: dict) -> None:
    """A paper notebook's preset and schedule values, checked before a kernel starts: ``-p preset Full``
    failed in cell 3, and ``-p steps -5`` ran the whole uncapped paper schedule."""
    if nb.stem not in PAPERS:
        return
    if "preset" in params and params["preset"] not in ("quick", "full"):
        raise ValueError(f"{nb.name}: preset {params['preset']!r}: takes 'quick' or 'full' (-p smoke true for the "
                         "tests' seconds-long run)")
    for name, low in LOWEST.items():
        if isinstance(params.get(name), int) and params[name] < low:
            what = "-1 for the preset's, 0 for no cap" if name == "steps" else "0 for the preset's"
            raise ValueError(f"{nb.name}: {name} {params[name]} is below {low} ({what})")
    if "extras" in params and params["extras"] not in (-1, 0, 1):
        raise ValueError(f"{nb.name}: extras {params['extras']!r}: takes -1 (the preset's), 0 (leave out) or 1 (run)")


INPUT_FILES = {"weights": "a local ImageNet state_dict (aukit never downloads weights; \"\" for none)",
               "finetune_from": "a piap.pt exported by an earlier PIAP-DF run (\"\" for none)"}


def _check_files(nb: Path, params: dict) -> None:
    """A file parameter naming no file (``-p weights resnet34.pht``) is refused before a kernel starts: it failed
    in a cell, after the data had loaded, with papermill's traceback."""
    for name, what in INPUT_FILES.items():
        value = params.get(name)
        if isinstance(value, str) and value and not Path(value).expanduser().is_file():
            raise ValueError(f"{nb.name}: -p {name} {value}: no such file ({what})")


def _choices(stem: str) -> dict[str, list[str]]:
    """The names a paper notebook's list parameters take (TAS and RTATL ``variants``, SCC ``tables``)."""
    if stem == "tas":
        from .methods.tas.config import ABLATIONS
        return {"variants": list(ABLATIONS)}
    if stem == "rtatl":
        from .methods.rtatl.experiment import VARIANTS
        return {"variants": list(VARIANTS)}
    if stem == "scc":
        from .methods.scc.experiment import TABLES
        return {"tables": list(TABLES)}
    return {}


def _check_choices(nb: Path, params: dict) -> None:
    """``-p variants '["A9"]'`` and ``-p device gpu`` failed in a cell after a kernel started (RTATL's variant once
    its data had loaded), with papermill's traceback: refused here, naming what the parameter takes. Whether
    the device is on this machine is the kernel's to say (a sweep checks its cells where it submits them)."""
    if params.get("device"):                     # a name only: a sweep's cells may run on other (GPU) machines
        import torch
        try:
            torch.device(str(params["device"]))
        except RuntimeError:
            raise ValueError(f"{nb.name}: device {params['device']!r} is not a device name: use cpu, cuda, cuda:N "
                             "or mps") from None
    for name, known in _choices(nb.stem).items():
        unknown = [v for v in params.get(name) or () if v not in known]
        if unknown:
            hints = [f"{v!r} (did you mean {close!r}?)" if (close := closest(str(v), known)) else repr(v)
                     for v in unknown]
            raise ValueError(f"{nb.name}: {name} {', '.join(hints)}: takes {', '.join(known)}")


FERA_FOLD0 = ("tas", "cpc")     # notebooks whose -p fold 0 means BP4D's FERA2015 split, -1 the paper's split
# parameters that choose what runs or where it goes, not how a model trains: a run that changes only
# these keeps the paper's setup (the split has its own check, aukit.reported.PROTOCOLS)
SETUP_NEUTRAL = ("dataset", "fold", "fera", "preset", "seeds", "variants", "tables", "smoke", "out_dir", "model_dir",
                 "device", "weights", "finetune_from", "pool", "unlabelled", "landmark_set", "identity_set",
                 "noise_levels", "sweep_subjects", "extras", "checkpoints")
CHANGED_ENV = "AUKIT_RUN_CHANGED"   # changed_parameters, handed to the kernel (JSON): its tables say them
PRESET_ENV = "AUKIT_RUN_PRESET"     # the preset a notebook's kernel runs (nbstart.start_run): deploy.pt records it


def changed_parameters(notebook: str | Path, params: dict) -> dict:
    """The parameters ``params`` sets away from the notebook's defaults, other than the neutral ones
    (:data:`SETUP_NEUTRAL`): ``steps 2`` or ``epochs 1`` on the full preset make a run that is not
    the paper's, whatever its label's preset says. A value equal to what the default stands for on the
    run's preset (a None or 0 "the preset's" default, see :func:`_in_effect`) is no change: ``-p T 16``
    on TAS's full preset is the paper's T."""
    # against the committed defaults: a value saved into the parameters cell is a change too
    records = committed_parameters(notebook) or declared_parameters(notebook)
    params = {**{n: _literal(now) for n, (_, now) in edited_defaults(notebook).items()}, **params}

    def default_of(name):
        return _literal(records[name]["default"])
    preset = "smoke" if params.get("smoke", default_of("smoke") if "smoke" in records else False) else \
        params.get("preset", default_of("preset") if "preset" in records else None)
    in_effect = _in_effect(Path(notebook).stem, preset,
                           params.get("dataset", default_of("dataset") if "dataset" in records else None))
    out = {}
    for name, value in params.items():
        if name in SETUP_NEUTRAL or name not in records or value is None:
            continue
        if value != default_of(name) and not (name in in_effect and value == in_effect[name]):
            out[name] = value
    return out


def _literal(text: str):
    """A parameters cell's default as the value it is (papermill records its source text)."""
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _in_effect(stem: str, preset: str | None, dataset: str | None = None) -> dict:
    """The values a paper notebook's "the preset's" defaults stand for: its method package's
    ``notebook_in_effect(preset)`` (TAS's T 0 = 16 on full), its ``NOTEBOOK_NONE`` (RTATL's lambda1
    None = RTATLTrainConfig.lambda1 = 0.1) and its ``notebook_dataset_in_effect(dataset)`` (SCC's k 0 =
    the dataset's k, 7 on DISFA); {} for other notebooks."""
    import importlib
    if stem not in PAPERS:
        return {}
    package = importlib.import_module(f"aukit.methods.{stem}")
    values = dict(getattr(package, "NOTEBOOK_NONE", {}))
    if preset and hasattr(package, "notebook_in_effect"):
        values.update(package.notebook_in_effect(preset))
    if isinstance(dataset, str) and hasattr(package, "notebook_dataset_in_effect"):
        values.update(package.notebook_dataset_in_effect(dataset))
    return values


def run_changes() -> dict:
    """In a notebook's kernel: the parameters its run changed (:func:`changed_parameters`, handed
    over by :func:`execute` in ``AUKIT_RUN_CHANGED``); {} elsewhere."""
    raw = os.environ.get(CHANGED_ENV)
    return json.loads(raw) if raw else {}


def changes_text(changed: dict) -> str:
    """``steps=2, epochs=1``: changed parameters as labels, index.md and a model's record read them."""
    return ", ".join(f"{k}={v}" for k, v in changed.items())


INCOMPLETE = "incomplete"     # a failed or interrupted run's tables and figures, set aside
RUN_OUTPUTS = ("tables", "figures", "metrics.json", "reported.json", "run.yaml", "error.txt", INCOMPLETE)


def _set_aside(out: Path) -> bool:
    """Move a failed run's ``tables/`` and ``figures/`` into ``incomplete/``: a killed run left
    tables with difference rows against the paper beside no metrics, as if they were its result."""
    import shutil
    moved = False
    for name in ("tables", "figures"):
        if (out / name).is_dir():
            (out / INCOMPLETE).mkdir(exist_ok=True)
            shutil.move(str(out / name), str(out / INCOMPLETE / name))
            moved = True
    return moved
# parameters holding paths: a relative one is the caller's (papermill runs the kernel in the repository)
PATH_PARAMETERS = ("out_dir", "model_dir", "weights", "finetune_from", "root")


PREVIOUS = "previous"       # the last finished run's outputs, moved aside by the run after it


def clear_outputs(out: Path, stem: str | None = None) -> Path | None:
    """Take the last run's tables, figures and metrics out of ``out`` before a run writes its own:
    a quick run after a full one would otherwise sit beside the full run's Table 4, and a run that fails
    would leave the last one's metrics.json looking like its result. A finished run (its metrics.json
    there) is moved into ``previous/``, replacing the one before, so that a rerun which fails or was
    started into the wrong folder loses no result; an unfinished one's outputs are deleted. Other
    contents (``checks/``, ``sweeps/``, ``model/``) stay. Returns ``previous/`` when a run moved there."""
    import shutil
    # the last run's executed notebook and its page come along (``stem``: the notebook a CLI run executes)
    names = (*RUN_OUTPUTS, *([f"{stem}.html", f"{stem}.ipynb"] if stem else []))
    present = [out / name for name in names if (out / name).exists()]
    if (out / "metrics.json").is_file():
        keep = out / PREVIOUS
        if keep.exists():
            shutil.rmtree(keep)
        keep.mkdir()
        for p in present:
            shutil.move(str(p), str(keep / p.name))
        return keep
    for p in present:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    return None


def model_dir_for(slug: str, out: Path, smoke: bool) -> str:
    """Where a run's deploy.pt goes: ``runs/<slug>`` for the standard report folder, else (smoke
    runs, sweep cells, other folders) a ``model/`` folder inside ``out``, so that a test or a
    sweep never replaces the model ``aukit predict --model <slug>`` finds."""
    if not smoke and Path(out).resolve() == (repo_root() / "reports" / slug).resolve():
        return str(repo_root() / "runs" / slug)
    return str(Path(out) / "model")


def export_html(executed: Path) -> Path:
    import nbconvert
    import nbformat

    body, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body)
    return target


def _record_run(out: Path, nb: Path, params: dict, wall: float) -> None:
    run_yaml = out / "run.yaml"
    info = yaml.safe_load(run_yaml.read_text()) if run_yaml.exists() else provenance()
    info["notebook"] = {"path": str(nb.relative_to(repo_root()) if nb.is_relative_to(repo_root()) else nb),
                        "parameters": params, "wall_time_s": round(wall, 2),
                        "executed": str(out / nb.name)}
    run_yaml.write_text(yaml.safe_dump(info, sort_keys=False, default_flow_style=None))


def preset_seeds(seeds, preset: str, smoke: bool = False) -> list[int]:
    """The seeds a notebook runs: the ones given, else the preset's (smoke and quick [0], full [0, 1, 2])."""
    return [int(s) for s in seeds] if seeds else ([0, 1, 2] if preset == "full" and not smoke else [0])


def default_preset() -> str:
    import torch
    return "full" if torch.cuda.is_available() else "quick"


def reproduce(only: list[str] | None = None, preset: str | None = None, reports: str | Path = "reports",
              seed: int = 0) -> Path:
    """Generate SynthAU if absent or stale (another version, preset or seed), run every paper
    notebook, write ``reports/index.md``."""
    from .data import synthau
    from . import report

    preset = preset or default_preset()
    if preset not in ("quick", "full", "smoke"):
        raise ValueError(f"preset must be quick, full or smoke, got {preset!r}")
    names = list(only) if only else list(PAPERS)
    unknown = sorted(set(names) - set(PAPERS))
    if unknown:
        raise ValueError(f"unknown paper(s) {unknown}; choose from {list(PAPERS)}")
    reports = Path(reports).resolve()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    root = synthau.default_root()
    old = synthau.stale(root, preset="default", seed=seed)
    if old:   # the committed reports come from this code's tree: an older one would not reproduce them
        print(f"[aukit] regenerating SynthAU: {old}")
    if old or not (root / "meta.json").exists():
        print(f"[aukit] generating the SynthAU default dataset into {root}")
        synthau.generate(root, preset="default", seed=seed)
    times["synthau_generate_s"] = round(time.perf_counter() - t0, 1)
    for name in names:
        t = time.perf_counter()
        print(f"[aukit] running notebooks/{name}.ipynb (preset={preset})")
        # quick = one seed everywhere (the CPU budget); full runs each notebook's paper seeds; smoke is
        # each notebook's own switch on top of the quick preset (a wiring check: minutes on the full SynthAU tree)
        params = ({"preset": "quick", "smoke": True} if preset == "smoke" else
                  {"preset": preset, **({"seeds": [seed]} if preset == "quick" else {})})
        execute(name, reports / name, params)
        times[f"{name}_s"] = round(time.perf_counter() - t, 1)
    times["total_s"] = round(time.perf_counter() - t0, 1)
    stamp = reports / "reproduce_times.json"      # --only: the other papers' last times stay
    old = json.loads(stamp.read_text()) if only and stamp.exists() else {}
    keep = {k: v for k, v in old.items() if k.endswith("_s") and k not in times} if old.get("preset") == preset else {}
    stamp.write_text(json.dumps({"preset": preset, **keep, **times}, indent=2))
    index = report.write_index(reports)
    print(f"[aukit] done in {times['total_s']:.0f} s; report index: {index}")
    return Path(index)
