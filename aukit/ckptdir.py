"""Where a notebook run's trainings keep their checkpoints, so that a killed full run resumes.

A run that checkpoints (:func:`wanted`: the full preset, or ``-p checkpoints 1``) gives every
``aukit.train.fit`` call its own ``TrainConfig.out_dir``::

    <model_dir or out_dir>/checkpoints/<code>/<dataset>_fold<fold>/<name>_seed<k>[_<stage>]/last.pt

``<code>`` names the code that trained (:func:`code_key`): a hash of the source files as they are
(aukit's modules, the notebooks by their code cells, pyproject.toml, data_manifest.yaml), so an edit
never resumes from weights that older code wrote, while a commit of documents or reports, or a
notebook saved in JupyterLab, changes no key.
``fit`` itself refuses a checkpoint of another method config (``ConfigMismatchError``); the run
folder's ``run.json`` does the same for the run's other knobs (sizes, step caps, subsets) that no
method config holds. Folders of other code are left where they are: delete them at will.

    root = run_root(checkpoints, preset, smoke, base=model_dir or out_dir, dataset=dataset, fold=fold,
                    knobs={"steps": plan.steps, "size": plan.size})
    out_dir = training_dir(root, "A6", seed=0)            # None when the run does not checkpoint
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .checkpoint import ConfigMismatchError, changes_text, config_changes
from .runtime import repo_root

# the files whose content is the code a run trains with, hashed when git cannot vouch for it
SOURCE_GLOBS = ("aukit/**/*.py", "notebooks/*.ipynb", "pyproject.toml", "data_manifest.yaml")


def wanted(checkpoints: int, preset: str, smoke: bool) -> bool:
    """The notebooks' ``checkpoints`` parameter: -1 the preset's (the full preset checkpoints; quick and
    smoke, minutes on a CPU, do not), 0 never, 1 always (``smoke`` included)."""
    if checkpoints not in (-1, 0, 1):
        raise ValueError(f"checkpoints is -1 (the preset's: full on, quick and smoke off), 0 (off) or 1 (on), "
                         f"got {checkpoints!r}")
    return checkpoints == 1 or (checkpoints == -1 and not smoke and preset == "full")


def notebook_code(data: bytes) -> bytes:
    """A notebook's code as a run executes it: its code cells' sources but the parameters cell's, in order.
    Outputs, execution counts and metadata change with every save in JupyterLab (autosave included), and
    the parameters are checked on their own (``fit``'s method config, ``run.json``): neither is code. A
    file that is no notebook JSON counts as it is."""
    try:
        cells = json.loads(data)["cells"]
        return json.dumps([c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells
                           if c.get("cell_type") == "code"
                           and "parameters" not in c.get("metadata", {}).get("tags", [])]).encode()
    except (ValueError, KeyError, TypeError, AttributeError):
        return data


def _content(path: Path) -> bytes:
    return notebook_code(path.read_bytes()) if path.suffix == ".ipynb" else path.read_bytes()


def source_hash(root: Path | None = None) -> str:
    """sha256 (12 hex) over the path and content of every file of :data:`SOURCE_GLOBS` under ``root``,
    notebooks by their code (:func:`notebook_code`)."""
    root = Path(root or repo_root())
    h = hashlib.sha256()
    files = sorted({p for g in SOURCE_GLOBS for p in root.glob(g) if p.is_file() and "__pycache__" not in p.parts})
    for p in files:
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + _content(p) + b"\0")
    return h.hexdigest()[:12]


def code_key(git: dict | None = None, root: Path | None = None) -> str:
    """``src<hash>``: the code a run trains with, by content (:func:`source_hash`, once per process: the code
    the run imported, not a later edit). Not the commit: a commit or pull that touched only the README or
    reports/ changed the key, and a job or notebook run killed on a cluster could not resume after it.
    A notebook saved in JupyterLab with outputs or other parameter values (:func:`notebook_code`) keeps
    it too. ``git`` is accepted for older callers and not read."""
    return f"src{_cached_source_hash(root)}"


@functools.lru_cache(maxsize=None)
def _cached_source_hash(root: Path | None) -> str:
    return source_hash(root)      # once per process: the code the run imported, not a later edit


def slug(name: Any) -> str:
    """A training's name as a folder name: ``R18+GRU-scratch 2%`` -> ``R18plusGRU-scratch_2pct``."""
    text = str(name).replace("+", "plus").replace("%", "pct").replace("*", "").replace("^", "_")
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9.=-]", "_", text)).strip("_") or "run"


def run_root(checkpoints: int, preset: str, smoke: bool, *, base: str, dataset: str, fold: Any,
             knobs: dict, git: dict | None = None, log=print) -> Path | None:
    """The run's checkpoint folder, or None when it does not checkpoint (:func:`wanted`). ``knobs``: what
    shapes every training of the run besides its method configs (sizes, step caps, frame subsets; not
    seeds, variants or epochs, which resuming may change): recorded in ``run.json`` on first use, and a
    different value later is a :class:`ConfigMismatchError` (fit's, for the method configs), as is a weights file
    the knobs name whose content changed since a checkpoint was written (:func:`check_weights`)."""
    if not wanted(checkpoints, preset, smoke):
        return None
    if not base:
        raise ValueError("checkpoints need a folder: model_dir or out_dir is empty")
    root = Path(base) / "checkpoints" / code_key(git) / f"{slug(dataset)}_fold{slug(fold)}"
    root.mkdir(parents=True, exist_ok=True)
    record, now = root / "run.json", json.loads(json.dumps(knobs, default=str))   # tuples as lists, as read back
    if record.exists():
        changed = config_changes(json.loads(record.read_text()), now)
        if changed:
            raise ConfigMismatchError(
                f"{root} holds checkpoints of this code run with other settings ({changes_text(changed)}): "
                f"delete that folder, give another --out (or -p model_dir), or run with -p checkpoints 0")
    else:
        record.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    from .runtime import weights_files
    files = weights_files(now)              # the ImageNet file the knobs name: same path, other content is refused
    if files:
        check_weights(root, files)
    log(f"checkpoints: {root} (a training found there resumes; one already finished is not trained again)")
    return root


def training_dir(root: Path | None, name: Any, seed: int | None = None, stage: str | None = None) -> str | None:
    """``root/<name>_seed<seed>[_<stage>]`` as fit's ``TrainConfig.out_dir``; None when ``root`` is None.
    Called just before the training, once its data is open: :func:`check_data` keeps a training from
    resuming on data that changed since."""
    if root is None:
        return None
    leaf = slug(name) + (f"_seed{seed}" if seed is not None else "") + (f"_{slug(stage)}" if stage else "")
    path = Path(root) / leaf
    check_data(path)
    return str(path)


def data_record() -> dict:
    """{``dataset__policy+size``: index fingerprint} of the frame stores this process opened
    (:data:`aukit.data.store.OPENED`): what a training read, whichever root or cache holds it."""
    from .data.store import OPENED
    return {name.rsplit("__", 1)[0]: rec.get("fingerprint") for name, rec in sorted(OPENED.items())}


def check_data(path: Path) -> None:
    """A training folder's ``data.json`` (:func:`data_record` at its first use) against the data open now: a
    store whose frames or labels changed since (a partial copy completed, labels corrected, SynthAU generated
    again) is a :class:`ConfigMismatchError`, not weights trained on the old data resumed as the new."""
    now, record = data_record(), path / "data.json"
    if record.exists():
        old = json.loads(record.read_text())
        changed = sorted(k for k in old if k in now and old[k] != now[k])
        if changed:
            raise ConfigMismatchError(
                f"{path} holds a training on other data ({', '.join(changed)}: frames or labels changed since "
                f"it was written): delete {path.parent} to train on the data as it is now, give another --out "
                "(or -p model_dir), or run with -p checkpoints 0")
        if set(now) - set(old):
            record.write_text(json.dumps({**now, **old}, indent=1, sort_keys=True) + "\n")
    else:
        path.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")


def check_weights(path: Path, files: dict) -> dict:
    """A training folder's ``weights.json``: the weights files (:func:`aukit.runtime.weights_files`, path -> sha256
    and bytes) its training started from, recorded at its first use. Once the folder holds a checkpoint, a file
    whose content changed since is a :class:`ConfigMismatchError`: the resumed weights come from the old file,
    and run.yaml recorded the new one. Before the first checkpoint nothing started from the old file: the new
    one is recorded. Returns the record, the files the training started from."""
    record = path / "weights.json"
    if record.exists() and any(path.rglob("*.pt")):
        try:
            old = json.loads(record.read_text())
        except ValueError as e:
            raise ValueError(f"{record} is damaged ({e}): delete {path} to train afresh") from None
        changed = [f for f in old if f in files and old[f]["sha256"] != files[f]["sha256"]]
        if changed:
            raise ConfigMismatchError(
                "; ".join(f"{path} holds a training started from {f} (sha256 {old[f]['sha256']}), which now holds "
                          f"other weights (sha256 {files[f]['sha256']})" for f in changed)
                + ": resumed, it would go on from the old file's weights and be recorded as started from the new. "
                f"Give another out_dir (a notebook: --out or -p model_dir) to train from the file as it is, delete "
                f"{path} to start afresh, or put the old file back")
        return old
    path.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")
    return files


__all__ = ["check_data", "check_weights", "code_key", "data_record", "run_root", "slug", "source_hash", "training_dir",
           "wanted"]
