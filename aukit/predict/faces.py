"""Face detection every k-th frame, landmark tracking in between, alignment: in parallel.

Frames are cut into chunks; a pool of worker processes (one dlib detector + shape
predictor each) handles a chunk at a time: it detects on the chunk's first frame and
every ``detect_every``-th frame after it, and in between refits the 68 landmarks inside
the box of the previous frame's landmarks (dlib's shape predictor as the tracker). A tracked
box is drawn as the detector drew the face's last detected one (its place relative to the
landmarks carried along), so boxes, and a box policy's crops, do not change with the frame's kind.

The shape predictor always returns 68 points, face or not, so each tracked face is checked:
its aligned crop, as a small grey thumbnail, must correlate with the last detected face's
(normalised cross-correlation >= ``track_ncc``). A frame that fails (the face left, a cut, a
black frame) is detected afresh; where detection finds no face the frame has success 0 and
the track ends. At a detection frame the same check decides whether a detection over a track continues
it (a cut to another person does not) and whether a track the detector missed is kept (see ``_assign``).

Chunks, and tracks across their boundaries: the result is the one tracking the whole input in one
piece gives (``track_chunk`` over all its frames), whatever the chunks and the number of workers,
since a chunk starts at a detection frame (its length a multiple of ``detect_every``). A chunk's
first frame is a detection frame, and there the tracks the previous chunk ended with matter in two
ways only: a detection that continues one takes its id (or is a cut, see ``_assign``), and a track
the detector missed is kept while its check passes. The workers track each chunk from a clean start
at once, in parallel, and return its faces and its :class:`Ends` (its first frame's detections,
the tracks alive after its last frame). The main process takes the chunks in order with a
:class:`Carry` of the previous chunk's end tracks: where every carried track is continued by a
first-frame detection (or cannot be kept: as many faces as kept already), the clean start gave the
same faces and the carry only maps its ids (:func:`match`, the rule ``_assign`` follows); where a
carried track is left over (the detector missed a face on a chunk's first frame: a still face lost
a whole chunk, 86 of 300 rows of a SynthAU clip), the chunk is tracked again from the carried
tracks, by a worker. That run takes the clean start's detections (the detector's output depends on the
frame alone) and stops on the first frame after which its tracks are the clean start's but for their ids
(the missed face detected again, or its track lost): the clean start's faces follow, their ids mapped
(:func:`join`). Tracked again in full, 5 of the 10 chunks of a 300-frame clip (60 frames of a still face dlib
finds on about one detection in four, played five times) cost the two workers 4.0-4.6 s of CPU time in all,
against 2.6-3.1 s now (three runs each, on the loaded 2-core development CPU); the CSV is the same. With no
worker processes each chunk is tracked from the carried tracks directly.

Frames reach the workers, and aligned crops come back, through shared memory (``shm``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import hashlib

import cv2
import numpy as np

from ..workers import WorkerError, imap, process_pool, script_hint, usable_cores
from . import shm

_ALIGNER = None
TRACK_NCC = 0.6     # same face within a few frames: 0.83-0.99 on SynthAU; a lost track: below 0.5
MIN_FACE = 100      # px, the smallest dlib face box predict looks for at any resolution (FaceAligner)
FOLLOW_TRACKS = 2   # faces tracked for --max-faces 1, so the one kept can be followed while another is in view
KEEP_RATIO = 0.5    # a detection beside a better one is kept when it scores at least this share of the best (choice:
#   a false detection beside a face scored 0.002-0.04 against 1.2-1.5 on the astronaut; two similar faces 0.15 and 0.19)
# ... or, with --max-faces above 1, when it scores at least CLOSER_SCORE on a closer look (closer_score): a small real
# face the 640 px copy scores low is found again there (the astronaut beside Grace Hopper in a 1024 px frame: 0.21
# beside 1.53, 1.33 closer), her suit's mission patch is not (the audit's webcam.mp4: 144 patches scoring 0.00-0.36,
# at most 0.34 of her face's, 0.22 at most closer: none kept; her photo swept over 15 sizes, 3 angles and 2 frame
# sizes: 22 of 26 patches beside her face dropped, 3 kept scoring at least half of her face partly out of the
# frame, 1 scoring 0.50 closer). Her face closer: 0.86 (5th percentile of 240 on webcam.mp4) to 1.79, 0.33-0.37 at
# the least (turned, partly out of the frame), blurred (sigma 3) 0.40, turned 20 degrees 0.57; blurred more (sigma 4:
# 0.004), Grace Hopper's with a hand over the mouth (-0.22). A face under 0.4 closer is kept only where it scores at
# least half of the frame's best: as the patch, it is not told apart by its score.
CLOSER_SCORE = 0.4
CLOSER_SIDE = 100   # px: the box side of the closer look (dlib's window is 80 px)
KEEP_NOTE = (f"faces kept: besides each frame's best-scoring detection, those scoring at least {KEEP_RATIO:g} of its "
             f"score, or at least {CLOSER_SCORE:g} on a closer look (enlarged to {CLOSER_SIDE} px), up to --max-faces; "
             "a weaker one (a badge, a pattern on clothes, or a face badly blurred) is not kept")


@dataclass
class FaceResult:
    success: bool
    box: tuple = (np.nan, np.nan, np.nan, np.nan)   # x, y, w, h in image pixels
    confidence: float = 0.0                          # dlib detector score (tracked frames: last detection's)
    landmarks: np.ndarray | None = None              # (68, 2) image pixels
    aligned: np.ndarray | None = None                # (S, S, 3) uint8
    redetected: bool = False                         # tracking failed its check here; the detector ran
    face: int = 0                                    # track id (several faces: see track_chunk, Carry; reid)
    detected: bool = False                           # the detector found it on this frame (confidence: this frame's)


def _init(policy: str, min_face: int | None = None) -> None:
    """A worker's start-up: the aligner, with dlib's models loaded now (about 1 s), not on the
    first chunk, so the pipeline's start-up holds it and its stream does not."""
    global _ALIGNER
    from ..data.align import FaceAligner, dlib_models
    dlib_models()
    _ALIGNER = FaceAligner(policy, min_face=min_face)


def signature(aligned: np.ndarray, side: int = 24) -> np.ndarray | None:
    """Zero-mean, unit-norm grey thumbnail of an aligned face's centre; None for a flat crop."""
    g = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    m = g.shape[0] // 8                               # the warp's black borders stay out
    v = cv2.resize(g[m:g.shape[0] - m, m:g.shape[1] - m], (side, side), interpolation=cv2.INTER_AREA)
    v = v.astype(np.float32).ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0.5 * side else None    # spread under half a grey level: flat


def _fit(img: np.ndarray, box, rel=None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A worker's landmarks in ``box`` of a BGR frame, the RGB aligned crop and the face box (l, t, r,
    b). With ``rel`` (a tracked frame, :func:`box_relation`) the box is the detector-like box of the
    new landmarks, and a box policy (CPC) crops it: the box around the landmarks is ~10% larger and
    not square, and CPC's crop zoomed in and out between detected and tracked frames."""
    lm = _ALIGNER.landmarks(img, box)
    if rel is not None:
        box = tracked_box(lm, rel, img.shape)
    return lm, cv2.cvtColor(_ALIGNER.warp(img, _ALIGNER.transform(lm, box)), cv2.COLOR_BGR2RGB), box


def box_relation(lm: np.ndarray, box) -> tuple[float, float, float, float]:
    """Where the detector's box (l, t, r, b) sits relative to the landmarks' bounding box, in units of
    its width and height: carried along a track, it gives every tracked frame a box as the detector draws it."""
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    l, t, r, b = box
    return (float((l - x0) / w), float((t - y0) / h), float((r - x1) / w), float((b - y1) / h))


def tracked_box(lm: np.ndarray, rel, shape) -> tuple[int, int, int, int]:
    """The detector-like box of landmarks ``lm`` (:func:`box_relation`), inside the image."""
    x0, y0 = lm.min(0)
    x1, y1 = lm.max(0)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    H, W = shape[:2]
    return (int(round(max(0, x0 + rel[0] * w))), int(round(max(0, y0 + rel[1] * h))),
            int(round(min(W - 1, x1 + rel[2] * w))), int(round(min(H - 1, y1 + rel[3] * h))))


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


SAME_FACE_IOU = 0.3   # a detection continues the track whose last box it overlaps this much


@dataclass
class Ends:
    """What tracking a chunk hands on, beside its faces: ``first``, the ``(box, signature)`` of each
    detection on its first frame in the detector's order when it started without tracks (None where
    that frame is unreadable, which ends every track, or where it started from carried ones);
    ``tracks``, those alive after its last frame; ``next_id``, the id its next new face would take.
    From a clean start, for tracking the chunk again (:func:`track_chunk`'s ``clean``): ``found``, the
    detector's ``(found, weak)`` on each frame it ran; ``marks``, ``(digest, ids, next_id)`` of the tracks
    after each frame it detected or could not read (:func:`_digest`, their ids in order). Tracked on from
    carried tracks with ``clean``: ``joined``, ``(frame, ids, next_id)`` where its tracks became the clean
    start's (its faces stop there, :func:`join`), else None."""
    first: list | None
    tracks: list
    next_id: int
    found: dict = field(default_factory=dict)
    marks: dict = field(default_factory=dict)
    joined: tuple | None = None


def rules(detect_every: int, track_ncc: float, max_faces: int) -> tuple[float, int]:
    """``(check, keep)`` of a chunk's detection frames: the continuity check's threshold (0 where every
    frame is detected: no tracking, so no check) and the faces up to which a track the detector missed
    is kept (0: none; see :func:`_assign`)."""
    tracking = detect_every > 1
    return (track_ncc if tracking else 0.0), (max_faces if tracking and track_ncc > 0 else 0)


def process_faces(images: list, detect_every: int, track_ncc: float = TRACK_NCC,
                  max_faces: int = 2, want: int | None = None, keep_ratio: float = 0.0) -> list[list[FaceResult]]:
    """The faces of one chunk tracked from a clean start (:func:`track_chunk`), without its ends."""
    return track_chunk(images, detect_every, track_ncc, max_faces, want, keep_ratio)[0]


def track_chunk(images: list, detect_every: int, track_ncc: float = TRACK_NCC, max_faces: int = 2,
                want: int | None = None, keep_ratio: float = 0.0, carried: Ends | None = None,
                clean: Ends | None = None, closer: float | None = None) -> tuple[list[list[FaceResult]], Ends]:
    """Up to ``max_faces`` faces a frame of one chunk (BGR arrays, as OpenCV decodes them, or None), in a
    worker: per frame the list of its faces (by id), or ``[FaceResult(False)]`` when it has none, and the
    chunk's :class:`Ends`. ``carried``: the previous chunk's end tracks and next id to go on from (the
    module's docstring); without, ids start at 0. The detector runs on the chunk's first frame and every
    ``detect_every``-th; between, each face's landmarks are refitted in its last box and checked (NCC of
    its aligned crop with the last detected one's, ``track_ncc``). When one track fails, the detector
    runs, and each detection takes the id of the previous frame's face it overlaps most (IoU >= 0.3)
    if it passes that face's check, or a new one; a face the detector missed is kept while its track
    passes the check (:func:`_assign`; with ``detect_every`` 1 every frame is detected, no check).
    ``want``: faces the detector's second, closer look is for (default ``max_faces``; see
    ``FaceAligner.detect_all``). ``keep_ratio``: detections scoring under this share of the best one
    are not kept (a 0.04-scored patch beside a 1.3-scored face), unless they score at least ``closer`` on a closer
    look (:func:`closer_score`: a small face; None: none). The landmarks do not depend on the
    channel order; the detector's input and the aligned crop are turned to RGB. ``clean``: with ``carried``,
    the :class:`Ends` of this chunk tracked from a clean start: its detections are taken, not run again, and
    tracking stops on the frame where its tracks become the clean start's (``Ends.joined``; :func:`join`)."""
    out, ends = [], Ends(None, [], 0)
    tracks, next_id = ([dict(t) for t in carried.tracks], carried.next_id) if carried else ([], 0)
    every = max(1, detect_every)
    check, keep = rules(every, track_ncc, max_faces)
    for j, img in enumerate(images):
        faces, failed, marked = [], None, img is None
        if img is None:
            tracks = []
        elif tracks and j % every:
            faces = _follow(img, tracks, track_ncc)
            failed = tracks[len(faces)]["face"] if len(faces) < len(tracks) else None
        if img is not None and (not tracks or failed is not None or j % every == 0):
            if clean is not None and j in clean.found:   # the detector's output depends on the frame alone
                found, weak = clean.found[j]
            else:
                found, weak = ends.found[j] = _detect(img, max_faces, want or max_faces, keep_ratio, closer)
            tracks, faces, next_id = _assign(img, found, tracks, next_id, check, keep, failed=failed,
                                             followed={r.face: r for r in faces}, weak=weak)
            for r in faces:
                r.redetected |= failed is not None
            if j == 0 and carried is None:
                ends.first = [(t["box"], t["ref"]) for t in tracks]
            marked = True
        out.append(sorted(faces, key=lambda f: f.face) or [FaceResult(False, redetected=failed is not None)])
        if marked and carried is None:
            ends.marks[j] = (_digest(tracks), [t["face"] for t in tracks], next_id)
        elif clean is not None and j in clean.marks and _digest(tracks) == clean.marks[j][0]:
            ends.joined = (j, [t["face"] for t in tracks], next_id)    # the clean start's faces from here on
            break
    ends.tracks, ends.next_id = tracks, next_id
    return out, ends


def _digest(tracks: list[dict]) -> bytes:
    """A fingerprint of tracks, their ids left out: two tracking states with the same one go on alike."""
    h = hashlib.blake2b(digest_size=16)
    for tr in tracks:
        for key in sorted(k for k in tr if k != "face"):
            v = tr[key]
            h.update(f"{key}:{v.dtype}{v.shape}:".encode() + v.tobytes() if isinstance(v, np.ndarray)
                     else f"{key}:{v!r};".encode())
    return h.digest()


def join(head: list, head_ends: Ends, res: list, ends: Ends) -> tuple[list, Ends]:
    """A chunk tracked again from carried tracks (``head``, up to where it ``joined`` its clean start) with
    the rest of the clean start's faces (``res``, ``ends``), their ids mapped: those of the tracks alive at
    the join become the head's, newer ones number on from the head's next id."""
    if head_ends.joined is None:
        return head, head_ends
    j, ids, nxt = head_ends.joined
    _, clean_ids, clean_next = ends.marks[j]
    mapped = dict(zip(clean_ids, ids))

    def to(face: int) -> int:
        return mapped[face] if face in mapped else nxt + face - clean_next
    for faces in res[j + 1:]:
        for r in faces:
            if r.success:
                r.face = to(r.face)
        faces.sort(key=lambda r: r.face)
    return head + res[j + 1:], Ends(None, [dict(t, face=to(t["face"])) for t in ends.tracks],
                                    nxt + ends.next_id - clean_next)


def _detect(img, max_faces: int, want: int, keep_ratio: float, closer: float | None = None) -> tuple[list, list]:
    """The detector's best ``max_faces`` faces kept, ``(box, score)``, and apart those it left out before them: a
    detection scoring under ``keep_ratio`` of the best one, unless it scores at least ``closer`` on a closer look
    (:func:`closer_score`; None: no closer look)."""
    found = _ALIGNER.detect_all(img, bgr=True, want=want)
    kept, left = [], []
    for box, score in found:
        if len(kept) == max_faces:
            break
        keep = score >= keep_ratio * found[0][1] or (closer is not None and closer_score(img, box) >= closer)
        (kept if keep else left).append((box, score))
    return kept, left


def closer_score(img, box) -> float:
    """dlib's score of the face in ``box`` (l, t, r, b) of a BGR frame on a copy of its surroundings scaled so that
    the box spans :data:`CLOSER_SIDE` px (-inf where it finds none there): the detector runs on a copy downscaled
    to 640 px, where a small face scores as low as a badge does (see :data:`CLOSER_SCORE`)."""
    l, t, r, b = box
    f, side = CLOSER_SIDE / max(r - l, 1), int(2.5 * CLOSER_SIDE)
    to = np.float32([[f, 0, side / 2 - f * (l + r) / 2], [0, f, side / 2 - f * (t + b) / 2]])
    crop = cv2.cvtColor(cv2.warpAffine(img, to, (side, side)), cv2.COLOR_BGR2RGB)
    rects, scores, _ = _ALIGNER.detector.run(crop, 0, -1.0)
    there = (side / 2 - CLOSER_SIDE / 2,) * 2 + (CLOSER_SIDE, CLOSER_SIDE)
    return max((s for d, s in zip(rects, scores)
                if iou((d.left(), d.top(), d.width(), d.height()), there) >= SAME_FACE_IOU), default=float("-inf"))


def _follow(img, tracks: list[dict], track_ncc: float) -> list[FaceResult]:
    """Each track's face refitted in its last box, updated in place, up to the first whose crop fails
    the check (``track_ncc``): the frame is then detected afresh."""
    faces = []
    for tr in tracks:
        r = _refit(img, tr, track_ncc)
        if r is None:
            break
        tr.update(lm=r.landmarks, box=r.box)
        faces.append(r)
    return faces


def _same(sig, ref, track_ncc: float) -> bool:
    """The continuity check of a track: the NCC of a face's signature with the track's reference
    (its last detected face's) reaches ``track_ncc`` (0: every face passes)."""
    return track_ncc <= 0 or (sig is not None and ref is not None and float(sig @ ref) >= track_ncc)


def match(found: list, tracks: list[dict], track_ncc: float) -> tuple[list[tuple[int | None, bool]], set]:
    """Which track each detection ``(box, signature)`` of ``found`` continues, in order: ``(id, False)``
    for the track it overlaps most (IoU >= 0.3, the first such in ``tracks`` on a tie) among those not
    taken yet, where it passes that track's check (:func:`_same`); ``(None, True)`` where it fails it,
    a cut (that track is taken all the same: no other detection continues it); ``(None, False)`` where
    it overlaps none. Also the ids of the tracks taken. The rule of :func:`_assign` and :class:`Carry`."""
    out, taken = [], set()
    for box, sig in found:
        over = [(iou(box, tr["box"]), tr["face"], tr["ref"]) for tr in tracks if tr["face"] not in taken]
        best = max(over, key=lambda o: o[0], default=(0.0, None, None))
        near = best[0] >= SAME_FACE_IOU
        cut = near and not _same(sig, best[2], track_ncc)
        out.append((best[1] if near and not cut else None, cut))
        if near:
            taken.add(best[1])
    return out, taken


def _assign(img, found: list, tracks: list[dict], next_id: int, track_ncc: float, keep: int = 0,
            failed: int | None = None, followed: dict | None = None, weak: list = ()):
    """``(tracks, faces, next_id)`` of the detections ``found``: each takes the id of the previous
    frame's face it overlaps most (IoU >= 0.3) if it also passes that track's continuity check
    (:func:`match`, as tracking between detections does), else a new one, redetected: a cut to
    another person at a detection frame kept the track by overlap alone, so CPC read the other
    person's frames as this one's context. A track no detection took is kept, up to ``keep`` faces,
    when its face refitted here passes the check and overlaps no detection, kept or ``weak`` (one the
    score ratio left out decides for its place): dlib misses a clear, still face on some frames, and
    dropping it there gave a static face success 0 on 40 of 100 frames and five ids. ``failed``: the
    track whose check failed on this frame (not kept); ``followed``: the faces already refitted on this
    frame (id: FaceResult), not fitted again. :func:`track_chunk` gives ``track_ncc`` 0 and ``keep`` 0
    where every frame is detected (photos): there is no tracking whose check would apply."""
    new, faces = [], []
    for (l, t, r, b), score in found:
        lm, aligned, _ = _fit(img, (l, t, r, b))
        new.append(dict(lm=lm, box=(l, t, r - l, b - t), conf=score, rel=box_relation(lm, (l, t, r, b)),
                        ref=signature(aligned) if track_ncc > 0 else None))
        faces.append(FaceResult(True, new[-1]["box"], score, lm, aligned, detected=True))
    matched, taken = match([(n["box"], n["ref"]) for n in new], tracks, track_ncc)
    for n, face, (continued, cut) in zip(new, faces, matched):
        if continued is None:
            continued, next_id = next_id, next_id + 1
        n["face"] = face.face = continued
        face.redetected = cut
    weak_boxes = [(l, t, r - l, b - t) for (l, t, r, b), _ in weak]
    for tr in tracks:
        if len(new) >= keep:
            break
        if tr["face"] in taken or tr["face"] == failed:
            continue
        kept = (followed or {}).get(tr["face"]) or _refit(img, tr, track_ncc)
        if kept is None or any(iou(kept.box, b) >= SAME_FACE_IOU for b in [n["box"] for n in new] + weak_boxes):
            continue
        new.append(dict(tr, lm=kept.landmarks, box=kept.box))
        faces.append(kept)
    return new, faces, next_id


def _refit(img, tr: dict, track_ncc: float) -> FaceResult | None:
    """Track ``tr``'s face refitted in its last box if it passes the check (:func:`_same`), else None."""
    lm, aligned, (l, t, r, b) = _fit(img, tracked_box(tr["lm"], tr["rel"], img.shape), tr["rel"])
    if not _same(signature(aligned) if track_ncc > 0 else None, tr["ref"], track_ncc):
        return None
    return FaceResult(True, (l, t, r - l, b - t), tr["conf"], lm, aligned, face=tr["face"])


class Carry:
    """The main process's side of tracks across chunks (the module's docstring): the tracks alive after
    the chunks so far, with the input's face ids, and the next id. A chunk tracked from a clean start is
    either mapped onto them (:meth:`link`) or, where :meth:`retrack` says so, tracked again from
    :meth:`state` and taken as it is (:meth:`take`): either way its faces and ids are those of tracking
    the input in one piece."""

    def __init__(self, detect_every: int, track_ncc: float = TRACK_NCC, max_faces: int = 2):
        self.check, self.keep = rules(max(1, detect_every), track_ncc, max_faces)
        self.tracks, self.next = [], 0

    def state(self) -> Ends:
        """What the next chunk goes on from (:func:`track_chunk`'s ``carried``)."""
        return Ends(None, self.tracks, self.next)

    def retrack(self, ends: Ends) -> bool:
        """Whether a chunk tracked from a clean start (its ``ends``) differs from one tracked on from the
        carried tracks: one of them no first-frame detection continues could be kept there (a face the
        detector missed), where fewer faces than ``keep`` were detected."""
        if ends.first is None or not self.tracks or len(ends.first) >= self.keep:
            return False
        _, taken = match(ends.first, self.tracks, self.check)
        return any(tr["face"] not in taken for tr in self.tracks)

    def link(self, per_frame: list[list[FaceResult]], ends: Ends) -> None:
        """A chunk tracked from a clean start, given the ids it would have had, in place: a first-frame
        detection that continues a carried track (:func:`match`) takes its id (one that fails its check
        is marked ``redetected``, a cut), every other face a new id in the order of its chunk's."""
        matched, _ = match(ends.first or [], self.tracks, self.check)
        ids = {k: face for k, (face, _) in enumerate(matched) if face is not None}
        cuts = {k for k, (_, cut) in enumerate(matched) if cut}
        for k in range(ends.next_id):
            if k not in ids:
                ids[k], self.next = self.next, self.next + 1
        for j, faces in enumerate(per_frame):
            for r in faces:
                if r.success:
                    r.redetected |= j == 0 and r.face in cuts
                    r.face = ids[r.face]
            faces.sort(key=lambda r: r.face)
        self.tracks = [dict(tr, face=ids[tr["face"]]) for tr in ends.tracks]

    def take(self, ends: Ends) -> None:
        """A chunk tracked on from :meth:`state`: its ids are the input's already."""
        self.tracks, self.next = ends.tracks, ends.next_id


class FollowOne:
    """``--max-faces 1``: one face a frame, the same person while they are in view. The workers track up to
    :data:`FOLLOW_TRACKS` faces (ids over the whole input, :class:`Carry`); the face followed is kept while it
    is there, and the best-scoring one is taken only when it is gone (taking the best-scoring one at every
    detection switched between two people every few frames). ``follow`` False (photos): each picture's
    best-scoring face. ``crowded``: frames where more faces were seen than kept."""

    def __init__(self, follow: bool = True):
        self.follow, self.id, self.crowded = follow, None, 0

    def keep(self, per_frame: list[list[FaceResult]]) -> None:
        """Each frame's faces cut to the one kept (id 0), in place."""
        for i, faces in enumerate(per_frame):
            found = [r for r in faces if r.success]
            self.crowded += len(found) > 1
            if not found:
                self.id = None
                per_frame[i] = faces[:1]
                continue
            pick = next((r for r in found if self.follow and r.face == self.id), None)
            if pick is None:
                pick = max(found, key=lambda r: r.confidence)
                pick.redetected |= self.follow and self.id is not None   # another person: a new sequence
                self.id = pick.face
            pick.face = 0
            per_frame[i] = [pick]


def tracked(max_faces: int) -> int:
    """Faces the workers track a frame for ``--max-faces``."""
    return FOLLOW_TRACKS if max_faces == 1 else max_faces


def process_payload(payload, detect_every: int, track_ncc: float = TRACK_NCC,
                    max_faces: int = 1) -> list[list[FaceResult]]:
    """:func:`track_payload` from a clean start, without the chunk's ends."""
    return track_payload(payload, detect_every, track_ncc, max_faces)[0]


def track_payload(payload, detect_every: int, track_ncc: float = TRACK_NCC, max_faces: int = 1,
                  carried: Ends | None = None, clean: Ends | None = None) -> tuple[list[list[FaceResult]], Ends]:
    """:func:`track_chunk` on a chunk (a worker's task); for ``max_faces`` 1 up to :data:`FOLLOW_TRACKS` faces
    are tracked (the main process keeps one, :class:`FollowOne`) and the detector looks closer only while it
    finds none. A detection beside a better one is kept as :data:`KEEP_RATIO` says (the closer look with
    ``max_faces`` above 1 only: with one face kept, the second is tracked only to follow the first). Sent as a
    list of images or as a :class:`shm.Layout`: then the frames are read from the block and the aligned crops
    written back into it, :func:`tracked` slots a frame."""
    def run(images):
        return track_chunk(images, detect_every, track_ncc, tracked(max_faces), want=max_faces,
                           keep_ratio=KEEP_RATIO, closer=None if max_faces == 1 else CLOSER_SCORE,
                           carried=carried, clean=clean)
    if not isinstance(payload, shm.Layout):
        return run(payload)
    block = shm.attach(payload.name)
    out, ends = run(shm.frames(block, payload))
    crops = shm.crops(block, payload)
    for i, faces in enumerate(out):
        for k, r in enumerate(faces):
            if r.aligned is not None:
                crops[i * payload.slots + k] = r.aligned
                r.aligned = None
    return out, ends


def settle(carry: Carry, images: list, res: list[list[FaceResult]], ends: Ends, again) -> list[list[FaceResult]]:
    """A chunk tracked from a clean start (``res``, its ``ends``) as tracking the input in one piece gives
    it: linked onto ``carry``, or, where :meth:`Carry.retrack` says so, tracked again up to where it joins
    the clean start, ``again(images, carry.state(), ends)``, and the clean start's faces after (:func:`join`)."""
    if carry.retrack(ends):
        res, ends = join(*again(images, carry.state(), ends), res, ends)
        carry.take(ends)
    else:
        carry.link(res, ends)
    return res


def _ready(_) -> bool:
    """A no-op task: returns once a worker has run its initializer (dlib models loaded)."""
    return _ALIGNER is not None


class FacePipeline:
    """``stream(items)`` in order over a process pool (or in-process with workers=0).

    A worker that dies (dlib cannot load, out of memory) raises :class:`aukit.workers.WorkerError`
    instead of leaving the call waiting.
    """

    def __init__(self, policy: str, detect_every: int = 5, workers: int | None = None,
                 track_ncc: float = TRACK_NCC, max_faces: int = 1, min_face: int | None = MIN_FACE):
        from ..data.align import FaceAligner, get_policy
        FaceAligner(policy, min_face=min_face)   # an unknown policy or min_face fails here, not in every worker
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        self.policy, self.detect_every, self.track_ncc = policy, detect_every, track_ncc
        self.max_faces = max_faces
        self.workers = usable_cores() if workers is None else workers
        self.pool, self.blocks = None, None
        self.retracked = 0                        # chunks tracked again on from the last one's tracks
        if self.workers > 0:
            self.pool = process_pool(self.workers, initializer=_init, initargs=(policy, min_face), method="spawn")
            try:                                  # start-up (dlib import, workers spawned) done here
                list(self.pool.map(_ready, range(self.workers)))
            except Exception as e:
                self.close()
                raise WorkerError(f"face-detection workers ({self.workers}) could not start: "
                                  f"{str(e).rstrip('.')}.{script_hint()}") from e
            self.blocks = shm.Blocks(get_policy(policy).size, slots=tracked(max_faces))
        else:
            _init(policy, min_face)

    def stream(self, items, inflight: int | None = None, detect_every: int | None = None):
        """``(tag, faces)`` in order over an iterable of ``(tag, images)`` read lazily: ``faces``
        holds one list of :class:`FaceResult` per image (its faces by id, or one failure), as tracking
        the images of all the chunks in one piece gives them (the module's docstring).
        ``detect_every`` overrides the pipeline's for this stream (one input's kind).

        At most ``inflight`` chunks (default: two per worker) are in the workers' hands at
        once, so a long video is never held in memory whole, and what the caller does
        between two results (inference, decoding in its reader thread) overlaps detection.
        """
        every = self.detect_every if detect_every is None else detect_every
        carry = Carry(every, self.track_ncc, tracked(self.max_faces))
        fn = partial(track_payload, detect_every=every, track_ncc=self.track_ncc, max_faces=self.max_faces)
        if self.pool is None:
            for tag, images in items:
                res, ends = fn(images, carried=carry.state())
                carry.take(ends)
                yield tag, res
            return
        placed = ((tag, images, self.blocks.put(images)) for tag, images in items)
        results = imap(self.pool, fn, placed, f"face detection ({self.policy})", inflight=inflight or 2 * self.workers,
                       arg=lambda it: it[1] if it[2] is None else it[2])
        try:
            for (tag, images, layout), (res, ends) in results:
                self._crops(res, layout)
                yield tag, settle(carry, images, res, ends, partial(self._again, fn))
        finally:                                  # left early: the blocks of chunks still out are let go
            results.close()
            self.blocks.drop_busy()

    def _crops(self, res: list[list[FaceResult]], layout: shm.Layout | None) -> None:
        """The aligned crops a worker wrote into the chunk's block (``layout``; None: they came by pipe)."""
        if layout is not None:
            crops = self.blocks.collect(layout)
            for i, faces in enumerate(res):
                for k, r in enumerate(faces):
                    if r.success:
                        r.aligned = crops[i * layout.slots + k]

    def _again(self, fn, images: list, carried: Ends, clean: Ends) -> tuple[list[list[FaceResult]], Ends]:
        """A chunk tracked again by a worker, on from the ``carried`` tracks, up to where it joins ``clean``."""
        self.retracked += 1
        layout = self.blocks.put(images)
        clean = Ends(None, [], clean.next_id, clean.found, clean.marks)     # what the worker reads of it
        [(_, (res, ends))] = imap(self.pool, partial(fn, carried=carried, clean=clean),
                                  [images if layout is None else layout], f"face detection ({self.policy})")
        self._crops(res, layout)
        return res, ends

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.blocks is not None:
            self.blocks.close()
