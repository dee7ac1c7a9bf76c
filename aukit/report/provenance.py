"""What a run's report records about the data it read and the training it did (STYLE "Provenance").

- :func:`datasets_read`: for each dataset whose frame store the process opened
  (:data:`aukit.data.store.OPENED`), the ``data_manifest.yaml`` entry it was read with (root, path
  patterns, AUs; a SynthAU dataset's inherited from the real one; a dataset of the user's own, its entry in
  the manifest in use), the manifest file, and the root the store was built from with where that root came
  from. run.yaml's ``datasets``.
- :func:`data_read`: run.yaml's ``stores``, ``datasets`` and ``splits`` of this process, for a notebook's report and
  an ``aukit train`` job alike.
- :func:`training`: the throughput and wall time of the process's ``aukit.train.fit`` calls
  (:data:`aukit.train.FITS`). metrics.json's ``train_images_per_s`` and ``train_wall_s``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping, Sequence


def data_read() -> dict:
    """run.yaml's record of the data this process read: every frame store it opened (``stores``), their datasets'
    manifest entries, manifest file and roots (``datasets``, :func:`datasets_read`) and each fold's subjects and
    where its parts came from (``splits``)."""
    from ..data.splits import SUBJECTS
    from ..data.store import OPENED
    return {"stores": {k: OPENED[k] for k in sorted(OPENED)}, "datasets": datasets_read(OPENED),
            "splits": {k: SUBJECTS[k] for k in sorted(SUBJECTS)}}


def datasets_read(opened: Mapping[str, dict]) -> dict:
    """{dataset: {"manifest", "manifest_sha256", "root", "root_from", "entry"}} for the stores in
    ``opened`` (folder name ``dataset__policy+size__hash`` -> record). ``root``: the store's ``meta.json``
    root when the store is under the cache (``aukit.data.store.cache_root``), else the root the
    manifest resolves now, said so in ``root_from`` (None when neither is found); a dataset read from
    two roots lists both."""
    from ..data import manifest as M

    out: dict = {}
    for name in sorted(opened):
        dataset = name.split("__")[0]
        if dataset not in M.DATASETS and not _own(dataset):
            continue
        rec = out.get(dataset)
        if rec is None:
            path = M.manifest_path()
            rec = out[dataset] = {"manifest": str(path), "manifest_sha256": _sha256(path),
                                  "root": None, "root_from": None, "entry": _entry(dataset)}
            if _own(dataset) and _occurrence(dataset):     # a threshold the entry may not write (its layout's)
                rec["occurrence"] = _occurrence(dataset)
        root = _store_root(name)
        src = None if root is None else _root_source(dataset, root)
        if root is None and (root := _resolved_root(dataset)) is not None:
            src = f"{_root_source(dataset, root)}, resolved when the report was written (the store is not in the cache)"
        if root is None or root == rec["root"] or (isinstance(rec["root"], list) and root in rec["root"]):
            continue
        if rec["root"] is None:
            rec["root"], rec["root_from"] = root, src
        else:                                   # another store of the dataset, from another copy
            rec["root"] = [*([rec["root"]] if isinstance(rec["root"], str) else rec["root"]), root]
            rec["root_from"] = [*([rec["root_from"]] if isinstance(rec["root_from"], str) else rec["root_from"]), src]
    return out


def _own(dataset: str) -> bool:
    """A dataset of the user's own in the manifest in use (its entry and root are what reproduces the run)."""
    from ..data import manifest as M
    try:
        return M.is_custom(dataset)
    except OSError:                     # no manifest file: the run still writes its report
        return False


def _occurrence(dataset: str) -> str | None:
    """How an own dataset's occurrence labels come from its intensities (:func:`manifest.occurrence_rule`)."""
    from ..data import manifest as M
    try:
        return M.occurrence_rule(dataset)
    except (KeyError, FileNotFoundError):
        return None


def _entry(dataset: str) -> dict | None:
    from ..data import manifest as M
    try:
        return M.entry(dataset)
    except (KeyError, FileNotFoundError):       # a manifest without the entry: the run still writes its report
        return None


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _store_root(name: str) -> str | None:
    """The dataset root a store was built from (its meta.json cache key), if the store is in the cache."""
    from ..data.store import cache_root
    try:
        return str(json.loads((cache_root() / name / "meta.json").read_text())["key"]["root"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _resolved_root(dataset: str) -> str | None:
    from ..data import manifest as M
    try:
        return str(M.resolve_root(dataset))
    except (M.DatasetNotFound, KeyError, FileNotFoundError):
        return None


def _root_source(dataset: str, root: str) -> str:
    """Where the manifest's search finds ``root`` now (env AUKIT_DATA_<DATASET>, the manifest's root, ...)."""
    from ..data import manifest as M
    try:
        for src, p in M.candidate_roots(dataset):
            if p.is_dir() and str(p.resolve()) == root:
                return src
    except (KeyError, FileNotFoundError):
        pass
    return "none of the manifest's places now (a root= argument, or a copy since moved)"


def training(fits: Sequence[Mapping]) -> dict:
    """metrics.json's run-level training numbers from ``fits`` (:data:`aukit.train.FITS`):
    ``train_images_per_s``, the fit calls' images/s averaged with their images as weights, and
    ``train_wall_s``, the seconds spent inside fit calls (evaluation and checkpoints included).
    Empty when no fit ran; no ``train_images_per_s`` when none trained an image."""
    if not fits:
        return {}
    out = {"train_wall_s": float(sum(f["wall_s"] for f in fits))}
    timed = [f for f in fits if f["images_per_s"] is not None and f["images"] > 0]
    images = sum(f["images"] for f in timed)
    if images:
        out["train_images_per_s"] = float(sum(f["images"] * f["images_per_s"] for f in timed) / images)
    return out
