"""Face detection every k-th frame, landmark tracking in between, alignment: in parallel.

Frames are cut into chunks; a pool of worker processes (one dlib detector + shape
predictor each) handles a chunk at a time: it detects on the chunk's first frame and
every ``detect_every``-th frame after it, and in between refits the 68 landmarks inside
the box of the previous frame's landmarks (dlib's shape predictor as the tracker).

The shape predictor always returns 68 points, face or not, so each tracked face is checked:
its aligned crop, as a small grey thumbnail, must correlate with the last detected face's
(normalised cross-correlation >= ``track_ncc``). A frame that fails (the face left, a cut, a
black frame) is detected afresh; where detection finds no face the frame has success 0 and
the track ends.

Frames reach the workers, and aligned crops come back, through shared memory (``shm``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np

from ..workers import WorkerError, imap, process_pool, script_hint, usable_cores
from . import shm

_ALIGNER = None
TRACK_NCC = 0.6     # same face within a few frames: 0.83-0.99 on SynthAU; a lost track: below 0.5


@dataclass
class FaceResult:
    success: bool
    box: tuple = (np.nan, np.nan, np.nan, np.nan)   # x, y, w, h in image pixels
    confidence: float = 0.0                          # dlib detector score (tracked frames: last detection's)
    landmarks: np.ndarray | None = None              # (68, 2) image pixels
    aligned: np.ndarray | None = None                # (S, S, 3) uint8
    redetected: bool = False                         # tracking failed its check here; the detector ran


def _init(policy: str) -> None:
    """A worker's start-up: the aligner, with dlib's models loaded now (about 1 s), not on the
    first chunk, so the pipeline's start-up holds it and its stream does not."""
    global _ALIGNER
    from ..data.align import FaceAligner, dlib_models
    dlib_models()
    _ALIGNER = FaceAligner(policy)


def _box_from_landmarks(lm: np.ndarray, shape) -> tuple[int, int, int, int]:
    """A detector-like box around tracked landmarks (dlib boxes span brows to chin)."""
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    pad = 0.05 * (x1 - x0)
    h, w = shape[:2]
    return (int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(w - 1, x1 + pad)), int(min(h - 1, y1 + pad)))


def signature(aligned: np.ndarray, side: int = 24) -> np.ndarray | None:
    """Zero-mean, unit-norm grey thumbnail of an aligned face's centre; None for a flat crop."""
    g = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    m = g.shape[0] // 8                               # the warp's black borders stay out
    v = cv2.resize(g[m:g.shape[0] - m, m:g.shape[1] - m], (side, side), interpolation=cv2.INTER_AREA)
    v = v.astype(np.float32).ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0.5 * side else None    # spread under half a grey level: flat


def process_chunk(images: list, detect_every: int, track_ncc: float = TRACK_NCC) -> list[FaceResult]:
    """Run on one chunk (list of BGR arrays, as OpenCV decodes them, or None) in a worker. The
    landmarks do not depend on the channel order; the detector's input and the aligned crop are
    turned to RGB (the warp is per channel, so converting the crop equals warping an RGB frame)."""
    a = _ALIGNER

    def fit(img, box):
        lm = a.landmarks(img, box)
        return lm, cv2.cvtColor(a.warp(img, a.transform(lm, box)), cv2.COLOR_BGR2RGB)

    out, prev_lm, conf, ref = [], None, 0.0, None
    for j, img in enumerate(images):
        if img is None:
            out.append(FaceResult(False))
            prev_lm = None
            continue
        detect, lost = prev_lm is None or j % max(1, detect_every) == 0, False
        if not detect:
            box = _box_from_landmarks(prev_lm, img.shape)
            lm, aligned = fit(img, box)
            if track_ncc > 0:
                sig = signature(aligned)
                detect = lost = sig is None or ref is None or float(sig @ ref) < track_ncc
        if detect:
            box, score = a.detect(img, bgr=True)
            if box is None:
                out.append(FaceResult(False, redetected=lost))
                prev_lm = None
                continue
            conf = score
            lm, aligned = fit(img, box)
            ref = signature(aligned) if track_ncc > 0 else None
        l, t, r, b = box
        out.append(FaceResult(True, (l, t, r - l, b - t), conf, lm, aligned, redetected=lost))
        prev_lm = lm
    return out


def process_payload(payload, detect_every: int, track_ncc: float = TRACK_NCC) -> list[FaceResult]:
    """:func:`process_chunk` on a chunk sent as a list of images, or as a :class:`shm.Layout`:
    then the frames are read from the block and the aligned crops written back into it."""
    if not isinstance(payload, shm.Layout):
        return process_chunk(payload, detect_every, track_ncc)
    block = shm.attach(payload.name)
    out = process_chunk(shm.frames(block, payload), detect_every, track_ncc)
    crops = shm.crops(block, payload)
    for i, r in enumerate(out):
        if r.aligned is not None:
            crops[i] = r.aligned
            r.aligned = None
    return out


def _ready(_) -> bool:
    """A no-op task: returns once a worker has run its initializer (dlib models loaded)."""
    return _ALIGNER is not None


class FacePipeline:
    """``stream(items)`` in order over a process pool (or in-process with workers=0).

    A worker that dies (dlib cannot load, out of memory) raises :class:`aukit.workers.WorkerError`
    instead of leaving the call waiting.
    """

    def __init__(self, policy: str, detect_every: int = 5, workers: int | None = None,
                 track_ncc: float = TRACK_NCC):
        from ..data.align import get_policy
        get_policy(policy)                       # an unknown policy fails here, not in every worker
        self.policy, self.detect_every, self.track_ncc = policy, detect_every, track_ncc
        self.workers = usable_cores() if workers is None else workers
        self.pool, self.blocks = None, None
        if self.workers > 0:
            self.pool = process_pool(self.workers, initializer=_init, initargs=(policy,), method="spawn")
            try:                                  # start-up (dlib import, workers spawned) done here
                list(self.pool.map(_ready, range(self.workers)))
            except Exception as e:
                self.close()
                raise WorkerError(f"face-detection workers ({self.workers}) could not start: "
                                  f"{str(e).rstrip('.')}.{script_hint()}") from e
            self.blocks = shm.Blocks(get_policy(policy).size)
        else:
            _init(policy)

    def stream(self, items, inflight: int | None = None):
        """``(tag, results)`` in order over an iterable of ``(tag, images)`` read lazily.

        At most ``inflight`` chunks (default: two per worker) are in the workers' hands at
        once, so a long video is never held in memory whole, and what the caller does
        between two results (inference, decoding in its reader thread) overlaps detection.
        """
        if self.pool is None:
            for tag, images in items:
                yield tag, process_chunk(images, self.detect_every, self.track_ncc)
            return
        fn = partial(process_payload, detect_every=self.detect_every, track_ncc=self.track_ncc)
        placed = ((tag, images, self.blocks.put(images)) for tag, images in items)
        results = imap(self.pool, fn, placed, f"face detection ({self.policy})", inflight=inflight or 2 * self.workers,
                       arg=lambda it: it[1] if it[2] is None else it[2])
        try:
            for (tag, _, layout), res in results:
                if layout is not None:
                    for r, crop in zip(res, self.blocks.collect(layout)):
                        if r.success:
                            r.aligned = crop
                yield tag, res
        finally:                                  # left early: the blocks of chunks still out are let go
            results.close()
            self.blocks.drop_busy()

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.blocks is not None:
            self.blocks.close()
