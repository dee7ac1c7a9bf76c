"""Face ids per person with ``--max-faces`` above 1: a face tracked afresh takes the id it had before.

Tracking (``faces``) gives each track an id, and a person who leaves the frame and comes back, or
whose track fails its check, starts a new track. Each new track's face is described once, on its
first frame, by dlib's face recognition network (``dlib_face_recognition_resnet_model_v1.dat`` from
face-recognition-models: a 128-d descriptor, about 75 ms on one core of the development CPU, its
model loaded on the first new track), and takes the id of the earlier person whose descriptor lies
nearest, if within :data:`SAME_PERSON` (Euclidean: dlib's threshold for one person) and that person
is not in the frame already; else a new id. Measured on skimage's pictures: the astronaut back in
view in a clip 0.05 from her first track, against herself mirrored, darker or grey 0.08-0.21, against
ten LFW faces (25 px, enlarged) 0.72-0.95.
SynthAU's subjects, one photograph warped, lie 0.23-0.74 apart: several of them read as one person.

Only where ids can tell persons apart: with one face a frame every row's id is 0, and a folder of
photos numbers each photo's faces. ``reid=False`` (``--no-reid``): one id per track.
"""
from __future__ import annotations

import functools
import os

import numpy as np

SAME_PERSON = 0.6    # descriptors of one person lie closer than this (Euclidean; strictly below, as dlib counts)
NOTE = ("face_id: one per person: a face tracked afresh (back in view, or its track lost) takes the id of the "
        "earlier face whose dlib face descriptor lies nearest, within {:g} (Euclidean), unless that face is in "
        "the frame; else a new id")
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


class PersonIds:
    """Track ids turned into person ids over a whole input, in order (the module's docstring).
    ``described``: descriptors computed, one per track."""

    def __init__(self, threshold: float = SAME_PERSON, describe=describe):
        self.threshold, self.describe = threshold, describe
        self.person: dict[int, int] = {}                    # track id -> person id
        self.known: list[tuple[int, np.ndarray]] = []       # (person id, descriptor of one of their tracks)
        self.next = self.described = 0

    def assign(self, images: list, per_frame: list[list]) -> None:
        """Each frame's faces (``per_frame[i]``, found in BGR ``images[i]``) given their person's id, in place."""
        for image, faces in zip(images, per_frame):
            found = [r for r in faces if r.success]
            new = [r for r in found if r.face not in self.person]
            if new:
                self._identify(image, new, {self.person[r.face] for r in found if r.face in self.person})
            for r in found:
                r.face = self.person[r.face]
            faces.sort(key=lambda r: r.face)

    def _identify(self, image: np.ndarray, new: list, present: set) -> None:
        """Persons for the new tracks ``new`` of one frame: the nearest pairs first, each person once, none
        of those ``present`` in the frame."""
        descs = [self.describe(image, r) for r in new]
        self.described += len(new)
        pairs = sorted((float(np.linalg.norm(d - known)), i, p) for i, d in enumerate(descs)
                       for p, known in self.known if p not in present)
        chosen: dict[int, int] = {}
        for dist, i, p in pairs:
            if dist >= self.threshold:
                break
            if i not in chosen and p not in chosen.values():
                chosen[i] = p
        for i, r in enumerate(new):
            if i not in chosen:
                chosen[i], self.next = self.next, self.next + 1
            self.person[r.face] = chosen[i]
            self.known.append((chosen[i], descs[i]))


def ids_note(photos: bool, reid: bool) -> str:
    """The CSV header's line on how ``face_id`` is given (several faces a frame)."""
    return PHOTO_NOTE if photos else NOTE.format(SAME_PERSON) if reid else TRACK_NOTE
