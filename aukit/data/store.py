"""The aligned-frame store: a cached, memory-mapped array of aligned faces + index + landmarks.

On disk, one folder per (dataset, policy, code version, root, subset) hash under
`<repo>/data/cache/` (env AUKIT_CACHE overrides):
  images.npy     uint8 (N, S, S, 3) RGB, opened with mmap_mode="r"
  index.csv      the `index()` rows that survived alignment; row i <-> image i (column `row`)
  landmarks.npy  float32 (N, 68, 2) dlib landmarks in aligned pixels
  affine.npy     float32 (N, 2, 3) image -> aligned crop
  qa.json        counts per subject (no face, unreadable, label/frame mismatch, invalid codes)
  meta.json      the hash inputs, counts, wall time, frames/s
  derived/       caches computed from the store (flow, PI maps)
A folder with this name exists only once complete: `prepare` writes `<name>.partial/`
and renames it at the end (see preprocess.py).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from .align import AlignPolicy, get_policy
from .manifest import REPO, check_name, resolve_root

CODE_VERSION = "aukit.data.store/1"  # bump when alignment or store layout changes


def cache_root() -> Path:
    return Path(os.environ.get("AUKIT_CACHE", REPO / "data" / "cache"))


def cache_key(dataset: str, policy: AlignPolicy, root: Path, subjects=None, max_frames=None) -> dict:
    """Everything a store depends on; its sha256 is the cache hash."""
    return {"dataset": dataset, "policy": asdict(policy), "code_version": CODE_VERSION,
            "root": str(Path(root).resolve()),
            "subjects": sorted(subjects) if subjects is not None else None,
            "max_frames": max_frames}


def cache_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def store_dir(dataset: str, policy: AlignPolicy, h: str, out: str | os.PathLike | None = None) -> Path:
    return Path(out or cache_root()) / f"{dataset}__{policy.name}{policy.size}__{h}"


class FrameStore:
    """A complete store folder opened read-only (see module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.name.endswith(".partial") or not (self.path / "meta.json").is_file():
            raise FileNotFoundError(f"not a complete frame store: {self.path}")
        self.meta = json.loads((self.path / "meta.json").read_text())
        self.images = np.load(self.path / "images.npy", mmap_mode="r")
        self.landmarks = np.load(self.path / "landmarks.npy")
        self.affine = np.load(self.path / "affine.npy")
        self.index = pd.read_csv(self.path / "index.csv", dtype={"subject": str, "sequence": str,
                                                                 "source": str})
        self.qa = json.loads((self.path / "qa.json").read_text())
        self.policy = AlignPolicy(**self.meta["key"]["policy"])
        self.size = int(self.policy.size)
        self.cache_hash = self.meta["hash"]
        self.dataset = self.meta["key"]["dataset"]
        if len(self.images) != len(self.index) or len(self.landmarks) != len(self.index):
            raise ValueError(f"{self.path}: images/index/landmarks lengths differ")

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (f"FrameStore({self.dataset!r}, policy={self.policy.name!r}, N={len(self)}, "
                f"size={self.size}, hash={self.cache_hash})")

    def au_centres(self, aus, **kw) -> np.ndarray:
        """float32 (N, len(aus), 2, 2): two points per AU in aligned pixels (centres.py rules)."""
        from .centres import au_centres
        return au_centres(self.landmarks, aus, **kw)

    def derived(self, name: str) -> Path:
        """Path for a derived cache file inside this store (folder created on demand)."""
        d = self.path / "derived"
        d.mkdir(exist_ok=True)
        return d / name


def find_store(dataset: str, policy: str | AlignPolicy, root=None, *, subjects=None,
               max_frames=None, out=None) -> tuple[Path, dict, str]:
    """(folder, cache key, hash) where this store lives or will live."""
    check_name(dataset)
    pol = get_policy(policy)
    r = resolve_root(dataset, root)
    key = cache_key(dataset, pol, r, subjects, max_frames)
    h = cache_hash(key)
    return store_dir(dataset, pol, h, out), key, h


def load_store(dataset: str, policy: str | AlignPolicy, root=None, prepare: bool = True, *,
               subjects=None, max_frames=None, workers=None, out=None) -> FrameStore:
    """The cached store for (dataset, policy, root); runs `prepare` first if missing and allowed."""
    path, _, _ = find_store(dataset, policy, root, subjects=subjects, max_frames=max_frames, out=out)
    if (path / "meta.json").is_file():
        return FrameStore(path)
    if not prepare:
        pol = get_policy(policy).name
        raise FileNotFoundError(f"no prepared store for {dataset}/{pol} at {path}; run "
                                f"`aukit prepare {dataset} --policy {pol}` or load_store(..., prepare=True)")
    from .preprocess import prepare as run_prepare
    return run_prepare(dataset, policy, root=root, workers=workers, out=out, subjects=subjects,
                       max_frames=max_frames)
