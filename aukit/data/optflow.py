"""RTATL optical-flow targets: TV-L1 flow from frame t to t+step of a sequence (RTATL Sec. 3.4).
The caller names the step (RTATL's is ``RTATLTrainConfig.flow_step``): the data layer knows no paper's.

RTATL aligns frame t+step with the transform of frame t (to cancel head motion), then
extracts TV-L1 flow. We do the same from the store: the aligned crop of t+step is warped
by A_t o A_{t+step}^-1 (A = image -> crop affine), both crops are converted to gray and
resized to `size` (TV-L1 costs ~0.18 s per 128^2 pair, so we compute at reduced size;
choice), and cv2.optflow.DualTVL1OpticalFlow gives (dx, dy) in pixels of the `size` grid.
Cached as float16 (N, 2, size, size) in the store's derived/ folder; frames without a
t+step frame in the same sequence are NaN (and `has_flow` is False).
"""
from __future__ import annotations

import os

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..workers import imap, process_pool, usable_cores
from .lock import exclusive
from .store import FrameStore


def _invert(a: np.ndarray) -> np.ndarray:
    m = np.vstack([a, [0, 0, 1]]).astype(np.float64)
    return np.linalg.inv(m)[:2]


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a o b for (2,3) affines."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]


def pairs(store: FrameStore, step: int) -> np.ndarray:
    """(N,) row of frame t+step in the same (subject, sequence), or -1."""
    idx = store.index
    key = {(s, q, f): r for s, q, f, r in zip(idx["subject"], idx["sequence"], idx["frame"], idx["row"])}
    return np.array([key.get((s, q, f + step), -1)
                     for s, q, f in zip(idx["subject"], idx["sequence"], idx["frame"])], np.int64)


def _gray(img: np.ndarray, size: int) -> np.ndarray:
    g = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    return cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)


def flow_pair(img_t: np.ndarray, img_later: np.ndarray, a_t: np.ndarray, a_later: np.ndarray,
              size: int, tvl1=None) -> np.ndarray:
    """float32 (2, size, size) TV-L1 flow between two aligned crops (t+step re-aligned with A_t)."""
    s = img_t.shape[0]
    w = _compose(a_t.astype(np.float64), _invert(a_later))
    later = cv2.warpAffine(np.ascontiguousarray(img_later), w, (s, s), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    tvl1 = tvl1 or cv2.optflow.DualTVL1OpticalFlow_create()
    f = tvl1.calc(_gray(img_t, size), _gray(later, size), None)
    return f.transpose(2, 0, 1)


def _work(job):
    path, rows, nxt, size = job
    cv2.setNumThreads(1)
    store = FrameStore(path)
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    out = np.empty((len(rows), 2, size, size), np.float16)
    for i, (r, n) in enumerate(zip(rows, nxt)):
        out[i] = flow_pair(store.images[r], store.images[n], store.affine[r], store.affine[n], size, tvl1)
    return rows, out


def flow(store: FrameStore, step: int, size: int = 64, workers: int | None = None,
         chunk: int = 64, progress: bool = True) -> np.ndarray:
    """float16 memmap (N, 2, size, size): cached TV-L1 flow t -> t+step; NaN where no t+step."""
    path = store.derived(f"flow_s{step}_{size}.npy")
    if not path.is_file():
        # one computation at a time (parallel sweep cells): a second caller waits and reads the first's
        with exclusive(path.with_name(path.stem + ".lock"), f"computing the TV-L1 flow of {store.path.name}"):
            if not path.is_file():
                _compute(store, path, step, size, workers, chunk, progress)
    return np.load(path, mmap_mode="r")


def _compute(store: FrameStore, path, step: int, size: int, workers: int | None, chunk: int,
             progress: bool) -> None:
    nxt = pairs(store, step)
    tmp = path.with_name(path.stem + ".partial.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(store), 2, size, size))
    arr[:] = np.nan
    todo = np.flatnonzero(nxt >= 0)
    jobs = [(str(store.path), todo[i:i + chunk], nxt[todo[i:i + chunk]], size)
            for i in range(0, len(todo), chunk)]
    workers = min(workers or usable_cores(), max(1, len(jobs)))
    bar = tqdm(total=len(todo), desc=f"TV-L1 flow {size}x{size}", unit="pair", disable=not progress)
    pool = process_pool(workers) if workers > 1 else None
    try:
        results = (map(_work, jobs) if pool is None else
                   (r for _, r in imap(pool, _work, jobs, f"TV-L1 flow {store.path.name}", ordered=False,
                                       inflight=2 * workers)))
        for rows, out in results:
            arr[rows] = out
            bar.update(len(rows))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    arr.flush()
    del arr
    os.replace(tmp, path)


def has_flow(flows: np.ndarray) -> np.ndarray:
    """(N,) bool: frames whose flow target exists."""
    return ~np.isnan(np.asarray(flows[:, 0, 0, 0], np.float32))
