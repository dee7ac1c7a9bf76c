"""Face detection every k-th frame, landmark tracking in between, alignment: in parallel.

Frames are cut into chunks; a pool of worker processes (one dlib detector + shape
predictor each) handles a chunk at a time: it detects on the chunk's first frame and
every ``detect_every``-th frame after it, and in between refits the 68 landmarks inside
the box of the previous frame's landmarks (dlib's shape predictor as the tracker). A
frame where detection finds no face ends the track.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ALIGNER = None


@dataclass
class FaceResult:
    success: bool
    box: tuple = (np.nan, np.nan, np.nan, np.nan)   # x, y, w, h in image pixels
    confidence: float = 0.0                          # dlib detector score (tracked frames: last detection's)
    landmarks: np.ndarray | None = None              # (68, 2) image pixels
    aligned: np.ndarray | None = None                # (S, S, 3) uint8


def _init(policy: str) -> None:
    global _ALIGNER
    from ..data.align import FaceAligner
    _ALIGNER = FaceAligner(policy)


def _box_from_landmarks(lm: np.ndarray, shape) -> tuple[int, int, int, int]:
    """A detector-like box around tracked landmarks (dlib boxes span brows to chin)."""
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    pad = 0.05 * (x1 - x0)
    h, w = shape[:2]
    return (int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(w - 1, x1 + pad)), int(min(h - 1, y1 + pad)))


def process_chunk(images: list, detect_every: int) -> list[FaceResult]:
    """Run on one chunk (list of RGB arrays or None) in a worker."""
    a = _ALIGNER
    out, prev_lm, conf = [], None, 0.0
    for j, img in enumerate(images):
        if img is None:
            out.append(FaceResult(False))
            prev_lm = None
            continue
        if prev_lm is None or j % max(1, detect_every) == 0:
            box, score = a.detect(img)
            if box is None:
                out.append(FaceResult(False))
                prev_lm = None
                continue
            conf = score
        else:
            box = _box_from_landmarks(prev_lm, img.shape)
        lm = a.landmarks(img, box)
        m = a.transform(lm, box)
        aligned = a.warp(img, m)
        l, t, r, b = box
        out.append(FaceResult(True, (l, t, r - l, b - t), conf, lm, aligned))
        prev_lm = lm
    return out


def _ready(_) -> bool:
    """A no-op task: returns once a worker has run its initializer (dlib models loaded)."""
    return _ALIGNER is not None


class FacePipeline:
    """``stream(items)`` in order over a process pool (or in-process with workers=0).

    A worker that dies (dlib cannot load, out of memory) raises :class:`aukit.workers.WorkerError`
    instead of leaving the call waiting.
    """

    def __init__(self, policy: str, detect_every: int = 5, workers: int | None = None):
        import os

        from ..data.align import get_policy
        get_policy(policy)                       # an unknown policy fails here, not in every worker
        self.policy, self.detect_every = policy, detect_every
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.pool = None
        if self.workers > 0:
            from ..workers import WorkerError, process_pool
            self.pool = process_pool(self.workers, initializer=_init, initargs=(policy,), method="spawn")
            try:                                  # start-up (dlib import, workers spawned) done here
                list(self.pool.map(_ready, range(self.workers)))
            except Exception as e:
                self.close()
                raise WorkerError(f"face-detection workers ({self.workers}) could not start: {e}") from e
        else:
            _init(policy)

    def stream(self, items, inflight: int | None = None):
        """``(tag, results)`` in order over an iterable of ``(tag, images)`` read lazily.

        At most ``inflight`` chunks (default: two per worker) are in the workers' hands at
        once, so a long video is never held in memory whole, and what the caller does
        between two results (inference, decoding in its reader thread) overlaps detection.
        """
        from functools import partial
        if self.pool is None:
            for tag, images in items:
                yield tag, process_chunk(images, self.detect_every)
            return
        from ..workers import imap
        fn = partial(process_chunk, detect_every=self.detect_every)
        for (tag, _), res in imap(self.pool, fn, items, f"face detection ({self.policy})",
                                  inflight=inflight or 2 * self.workers, arg=lambda it: it[1]):
            yield tag, res

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
