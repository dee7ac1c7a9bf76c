"""Face ids per person with ``--max-faces`` above 1: a face tracked afresh takes the id it had before.

Tracking (``faces``) gives each track an id, and a person who leaves the frame and comes back, or
whose track fails its check, starts a new track. Each new track's face is described once by dlib's face
recognition network (``dlib_face_recognition_resnet_model_v1.dat`` from face-recognition-models: a 128-d
descriptor, 75-150 ms on one core of the development CPU, its model loaded on the first new track), on
the frame of its best-scoring detection among its first :data:`LOOK` (or those it had when it ended, or
after :data:`WINDOW` frames), and takes the id of the earlier person one of whose tracks' descriptors lies
nearest, if within :data:`SAME_PERSON` (Euclidean: dlib's threshold for one person) and that person was
not in a frame beside it; else a new id. Its rows wait for that: ``aukit predict`` holds them back. Persons
are numbered in the order they come into view, those coming into one frame by detection score, the best first.

Why the best-scoring of three detections, not the first: a face coming into view is often blurred,
small, turned, half out of the frame or behind a hand, and dlib scores such faces low and describes them
worse. Measured on the astronaut and Grace Hopper (matplotlib's sample photo), each in 8 tracks whose
three detections go from degraded to clear (motion and Gaussian blur, far, at the frame's edge, turned,
a hand over the mouth, dark and blurred, noisy and far): with the first detection's descriptor 1 of 56
pairs of one person's tracks lay 0.6 or more apart (a new id) and 17 of 64 pairs of the two persons'
under 0.6 (one id for both); with the best-scoring detection's, 0 and 0 (one person's pairs at most
0.29 apart, the two persons' at least 0.65). The mean of the three descriptors was worse than either
(20 of 64 under 0.6: degraded faces lie near one another, whoever they are), and the best of two
detections left 3. Clear copies: the astronaut mirrored, darker or grey lies 0.18-0.21 from herself,
Grace Hopper 0.71; ten LFW faces (25 px, enlarged) 0.72-0.95.
SynthAU's subjects, one photograph warped, lie 0.23-0.74 apart: several of them read as one person.

Only where ids can tell persons apart: with one face a frame every row's id is 0, and a folder of
photos numbers each photo's faces. ``reid=False`` (``--no-reid``): one id per track.
"""
from __future__ import annotations

import functools
import os
from collections import deque

import numpy as np

SAME_PERSON = 0.6    # descriptors of one person lie closer than this (Euclidean; strictly below, as dlib counts)
LOOK = 3             # detections of a new track its best-scoring face is chosen from (the module's docstring)
WINDOW = 30          # frames a new track's rows wait for them at most (a face the detector keeps missing)
NOTE = ("face_id: one per person: a face tracked afresh (back in view, or its track lost) takes the id of the "
        "earlier face whose dlib face descriptor lies nearest to its own (on its best-scoring of its first {} "
        "detections), within {:g} (Euclidean), unless that face was in view beside it; else a new id; persons numbered "
        "in the order they come into view, those coming into one frame by detection score, the best first")
TRACK_NOTE = ("face_id: one per track (--no-reid): a face tracked afresh (back in view, or its track lost) takes a "
              "new id")
PHOTO_NOTE = "face_id: each image's faces numbered 0, 1, ... by detection score"


@functools.lru_cache(maxsize=1)
def _network():
    """dlib's face recognition network, loaded once per process."""
    import dlib
    from ..data.synthau.face import models_dir
    path = os.path.join(models_dir(), "dlib_face_recognition_resnet_model_v1.dat")
    if not os.path.exists(path):
        raise FileNotFoundError(f"dlib face recognition model missing: {path} (package face-recognition-models)")
    return dlib.face_recognition_model_v1(path)


def describe(image: np.ndarray, face) -> np.ndarray:
    """The 128-d dlib descriptor of a :class:`~aukit.predict.faces.FaceResult` (its box and 68 landmarks)
    in ``image``, a BGR frame."""
    import dlib
    l, t, w, h = (int(round(v)) for v in face.box)
    points = [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
    shape = dlib.full_object_detection(dlib.rectangle(l, t, l + w, t + h), points)
    rgb = np.ascontiguousarray(image[..., ::-1])
    return np.array(_network().compute_face_descriptor(rgb, shape))


class _Waiting:
    """A new track waiting for its person: its faces so far, the detections looked at, the best-scoring
    one ``(score, frame, face)`` and the tracks seen in a frame with it."""

    def __init__(self):
        self.faces, self.looks, self.best, self.beside = [], 0, None, set()


class PersonIds:
    """Track ids turned into person ids over a whole input, in order (the module's docstring).
    ``described``: descriptors computed, one per track. ``look``, ``window``: :data:`LOOK`, :data:`WINDOW`."""

    def __init__(self, threshold: float = SAME_PERSON, describe=describe, look: int = LOOK, window: int = WINDOW):
        self.threshold, self.describe, self.look, self.window = threshold, describe, look, window
        self.person: dict[int, int] = {}                    # track id -> person id
        self.known: list[tuple[int, np.ndarray]] = []       # (person id, descriptor of one of their tracks)
        self.waiting: dict[int, _Waiting] = {}              # new tracks whose person is not decided yet
        self.held: deque = deque()                          # (item, its frames' faces, its track ids) not given back
        self.shown: dict[int, int] = {}                     # person id -> the id the rows give (:meth:`_number`)
        self.next = self.described = 0

    def feed(self, item, images: list, per_frame: list[list]) -> list:
        """The next frames' faces (``per_frame[i]``, found in BGR ``images[i]``; ``item``: what they came in)
        given their person's id, in place, once decided: the items, in order, whose faces all have it now."""
        tracks = set()
        for image, faces in zip(images, per_frame):
            found = [r for r in faces if r.success]
            here = {r.face for r in found}
            tracks |= here
            due = [t for t in self.waiting if t not in here]          # ended: decided on what they showed
            for r in found:
                if r.face in self.person:
                    r.face = self.person[r.face]
                    continue
                w = self.waiting.setdefault(r.face, _Waiting())
                w.faces.append(r)
                w.beside |= here - {r.face}
                w.looks += r.detected
                if w.best is None or r.confidence > w.best[0]:    # a tracked face repeats its last detection's score
                    w.best = (r.confidence, image, r)
            due += [t for t in sorted(here) if t in self.waiting
                    and (self.waiting[t].looks >= self.look or len(self.waiting[t].faces) >= self.window)]
            if due:
                self._identify(sorted(due))
        self.held.append((item, per_frame, tracks))
        return self._ready()

    def finish(self) -> list:
        """The items held back, every track's person decided on what it showed (the input has ended)."""
        if self.waiting:
            self._identify(sorted(self.waiting))
        return self._ready()

    def assign(self, images: list, per_frame: list[list]) -> None:
        """A whole input's frames (``per_frame[i]`` found in ``images[i]``) given their person's id, in place."""
        self.feed(None, images, per_frame)
        self.finish()

    def _ready(self) -> list:
        """The items held, from the first, whose tracks all have their person; each frame's faces by id."""
        out = []
        while self.held and not self.held[0][2] & self.waiting.keys():
            item, per_frame, _ = self.held.popleft()
            for faces in per_frame:
                self._number(faces)
                faces.sort(key=lambda r: r.face)
            out.append(item)
        return out

    def _number(self, faces: list) -> None:
        """A frame's faces given the ids the rows show, in place: persons numbered in the order they come into
        view, those first seen in one frame by score, the best first. Persons are decided in another order (a
        track when it ends or has its third detection): numbered so, a mission patch tracked beside the astronaut
        and lost first was person 0 and she person 1."""
        for r in sorted((r for r in faces if r.success), key=lambda r: -r.confidence):
            self.shown.setdefault(r.face, len(self.shown))
        for r in faces:
            if r.success:
                r.face = self.shown[r.face]

    def _identify(self, tracks: list[int]) -> None:
        """Persons for the waiting ``tracks``, each described by its best-scoring detection: the nearest pairs
        first, each person once, none of those a track was seen beside."""
        waiting = [self.waiting.pop(t) for t in tracks]
        descs = [self.describe(w.best[1], w.best[2]) for w in waiting]
        self.described += len(waiting)
        barred = [{self.person[u] for u in w.beside if u in self.person} for w in waiting]
        pairs = sorted((float(np.linalg.norm(d - known)), i, p) for i, d in enumerate(descs)
                       for p, known in self.known if p not in barred[i])
        chosen: dict[int, int] = {}
        for dist, i, p in pairs:
            if dist >= self.threshold:
                break
            if i not in chosen and p not in chosen.values():
                chosen[i] = p
        for i, (t, w) in enumerate(zip(tracks, waiting)):
            if i not in chosen:
                chosen[i], self.next = self.next, self.next + 1
            self.person[t] = chosen[i]
            self.known.append((chosen[i], descs[i]))
            for r in w.faces:
                r.face = chosen[i]


def ids_note(photos: bool, reid: bool) -> str:
    """The CSV header's line on how ``face_id`` is given (several faces a frame)."""
    return PHOTO_NOTE if photos else NOTE.format(LOOK, SAME_PERSON) if reid else TRACK_NOTE
