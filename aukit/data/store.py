"""The aligned-frame store: a cached, memory-mapped array of aligned faces + index + landmarks.

On disk, one folder per (dataset, policy, code version, root, subset) hash under
`<repo>/data/cache/` (env AUKIT_CACHE overrides):
  images.npy     uint8 (N, S, S, 3) RGB, opened with mmap_mode="r"
  index.csv      the `index()` rows that survived alignment; row i <-> image i (column `row`)
  landmarks.npy  float32 (N, 68, 2) dlib landmarks in aligned pixels
  affine.npy     float32 (N, 2, 3) image -> aligned crop
  qa.json        counts per subject (no face, unreadable, label/frame mismatch, invalid codes)
  meta.json      the hash inputs, the index fingerprint, counts, wall time, frames/s
  derived/       caches computed from the store (flow, PI maps)
A folder with this name exists only once complete: `prepare` writes `<name>.partial/`
and renames it at the end (see preprocess.py).
The folder name hashes the parameters, not the data: `meta.json` keeps a fingerprint of
the index the store was built from, and the size and mtime of each file it could not read or
found no face in (image files; a video's frames share one file, whose change is not watched);
`prepare` / `load_store` compare both with the dataset now. A changed dataset is rebuilt
(`prepare`) or refused with the command that rebuilds it (`load_store(..., prepare=False)`);
a store older than fingerprints loads with a one-line note.
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
from .manifest import REPO, DatasetNotFound, check_name, resolve_root

CODE_VERSION = "aukit.data.store/1"  # bump when alignment or store layout changes


def cache_root() -> Path:
    return Path(os.environ.get("AUKIT_CACHE", REPO / "data" / "cache"))


def cache_key(dataset: str, policy: AlignPolicy, root: Path, subjects=None, max_frames=None) -> dict:
    """Everything a store depends on; its sha256 is the cache hash."""
    return {"dataset": dataset, "policy": asdict(policy), "code_version": CODE_VERSION,
            "root": str(Path(root).resolve()),
            "subjects": sorted(subjects) if subjects is not None else None,
            "max_frames": max_frames}


def index_fingerprint(df: pd.DataFrame) -> str:
    """sha256 of what defines a store's contents: the index rows (subjects, sequences, frame
    numbers, labels). Not image bytes, sizes or mtimes: a regenerated SynthAU whose JPEGs differ
    by codec noise keeps its stores (a GPU machine has no dlib to rebuild them); nor `source`
    (absolute paths: the root is already in the cache key); nor the QA counts (a change in how
    they are counted is no change of frames or labels). Plain bytes per column, so the value
    does not depend on the pandas version or dtype backend."""
    h = hashlib.sha256()
    for c in sorted(set(df.columns) - {"source"}):
        x = df[c]
        if pd.api.types.is_numeric_dtype(x):
            v = x.to_numpy(np.float64, na_value=np.nan)
            b = np.where(np.isnan(v), np.nan, v).tobytes()  # one NaN bit pattern
        else:
            b = "\0".join(x.astype(str)).encode()
        h.update(f"{c}:{len(b)}:".encode() + b)
    return h.hexdigest()[:16]


def select_index(dataset: str, root=None, subjects=None, max_frames: int | None = None) -> pd.DataFrame:
    """The `index()` rows a store holds (restricted to `subjects`, then to the first `max_frames`),
    with the index QA per subject restricted likewise."""
    from .catalog import index
    df = index(dataset, root)
    qa = df.attrs.get("qa", {})
    if subjects is not None:
        df = df[df["subject"].isin(set(subjects))]
    if max_frames is not None:
        df = df.head(int(max_frames))
    df = df.reset_index(drop=True)
    per = qa.get("per_subject", {})
    if subjects is not None or max_frames is not None:
        keep = set(df["subject"]) if max_frames is not None else set(subjects)
        per = {s: c for s, c in per.items() if s in keep}
    df.attrs["qa"] = {**qa, "per_subject": per}
    return df


def file_stats(sources) -> dict[str, list[int]]:
    """{file: [size, mtime_ns, readable]} for the files behind ``sources`` (a video's frames share
    one file); [-1, -1, 0] for a file that is gone. ``readable`` (1/0) catches a permission fixed
    with chmod, which changes neither size nor mtime."""
    from .catalog import parse_source
    out = {}
    for src in sources:
        f = str(parse_source(src)[0])
        if f not in out:
            try:
                st = os.stat(f)
                out[f] = [st.st_size, st.st_mtime_ns, int(os.access(f, os.R_OK))]
            except OSError:
                out[f] = [-1, -1, 0]
    return out


def changed_files(recorded: dict[str, list[int]]) -> list[str]:
    """The files of ``recorded`` (:func:`file_stats` at build time) whose size, mtime or
    readability differ now (a store that recorded only size and mtime is compared on those)."""
    now = file_stats(recorded)
    return [f for f, st in recorded.items() if now[f][:len(st)] != list(st)]


def stale_reason(store: "FrameStore", fingerprint: str) -> str | None:
    """Why `store` no longer matches its dataset, or None: the index it was built from has
    another fingerprint (frames or labels changed), or a file it could not read or found no face in
    then changed since (a damaged JPEG or a black frame replaced: image bytes are otherwise not compared, see
    :func:`index_fingerprint`). A store built before fingerprints existed counts as current,
    with a note (it cannot be checked)."""
    got = store.meta.get("fingerprint")
    if got is None and str(store.path) not in _UNCHECKED_NOTED:
        _UNCHECKED_NOTED.add(str(store.path))   # once per store and process: a bench opens each store twice
        print(f"note: {store.path.name} predates index fingerprints: not checked against the dataset "
              f"(delete {store.path} to rebuild it)")
    if got not in (None, fingerprint):
        return "frames or labels changed"
    fixed = changed_files(store.meta.get("unreadable_stats", {}))
    if fixed:
        return (f"{len(fixed)} file(s) it could not read changed on disk ({Path(fixed[0]).name}"
                f"{', ...' if len(fixed) > 1 else ''})")
    faced = changed_files(store.meta.get("no_face_stats", {}))
    if faced:
        return (f"{len(faced)} image(s) where no face was found changed on disk ({Path(faced[0]).name}"
                f"{', ...' if len(faced) > 1 else ''})")
    return None


_UNCHECKED_NOTED: set[str] = set()


def cache_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def store_dir(dataset: str, policy: AlignPolicy, h: str, out: str | os.PathLike | None = None) -> Path:
    return Path(out or cache_root()) / f"{dataset}__{policy.name}{policy.size}__{h}"


# every store this process opened, by folder name (dataset__policy+size__hash): run.yaml records them
OPENED: dict[str, dict] = {}


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
        # the copy's frames it lacks (no face found, unreadable): every run's tables say so
        OPENED[self.path.name] = {"frames": len(self.index), "fingerprint": self.meta.get("fingerprint"),
                                  "indexed": int(self.qa.get("frames", len(self.index))),
                                  "no_face": int(self.qa.get("no_face", 0)),
                                  "unreadable": int(self.qa.get("unreadable", 0))}

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
    try:
        r = resolve_root(dataset, root)
    except DatasetNotFound:
        if root is None:
            raise
        r = Path(root).expanduser().resolve()     # a store that travelled without its dataset keeps its key
    key = cache_key(dataset, pol, r, subjects, max_frames)
    h = cache_hash(key)
    return store_dir(dataset, pol, h, out), key, h


def load_store(dataset: str, policy: str | AlignPolicy, root=None, prepare: bool = True, *,
               subjects=None, max_frames=None, workers=None, out=None) -> FrameStore:
    """The cached store for (dataset, policy, root), checked against the dataset's index now;
    runs `prepare` first if missing or out of date and allowed."""
    path, _, _ = find_store(dataset, policy, root, subjects=subjects, max_frames=max_frames, out=out)
    pol = get_policy(policy).name
    fix = f"run `aukit prepare {dataset} --policy {pol}` or load_store(..., prepare=True)"
    if (path / "meta.json").is_file():
        store = FrameStore(path)
        try:
            now = index_fingerprint(select_index(dataset, root, subjects, max_frames))
        except DatasetNotFound as e:             # the store travelled without its dataset: use it as it is
            print(f"note: {path.name} not checked against the dataset, which is not here ({e})")
            return store
        why = stale_reason(store, now)
        if why is None:
            return store
        if not prepare:
            raise ValueError(f"{path}: {dataset} changed since this store was built ({store.meta.get('created')}): "
                             f"{why}; {fix} to rebuild it")
    elif not prepare:
        raise FileNotFoundError(f"no prepared store for {dataset}/{pol} at {path}; {fix}")
    from .preprocess import prepare as run_prepare
    return run_prepare(dataset, policy, root=root, workers=workers, out=out, subjects=subjects,
                       max_frames=max_frames)
