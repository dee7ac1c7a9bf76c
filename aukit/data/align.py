"""Face detection (dlib frontal detector), 68 landmarks (dlib shape predictor) and alignment.

Policies (each paper's preprocessing, and its authors' code where public):
  tas    256, eye-centre alignment: the similarity that maps the two eye centres
         (means of points 36-41 and 42-47) onto the template's eye centres.
  cpc    128, tight crop: square around the detection box centre, side = box side *
         box_scale (the paper uses an S3FD box; dlib's box is as tight), no rotation.
  rtatl  200, similarity transform: least squares (Umeyama) on 5 points (eye centres,
         nose tip 30, mouth corners 48/54) onto the template.
  scc, piap  256, same similarity transform as rtatl.
Template: the 5-point ArcFace template (112 px) in unit coordinates, shrunk by
`template_scale` about the centre so that brows and chin stay inside the crop (choice).
Models come from the installed face-recognition-models package; nothing is downloaded.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

# ArcFace 5-point template for a 112x112 crop (eyes, nose tip, mouth corners)
_ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], np.float64) / 112.0


@dataclass(frozen=True)
class AlignPolicy:
    name: str
    size: int                    # output side in pixels
    method: str                  # "eyes" | "similarity" | "box"
    template_scale: float = 0.9   # shrink of the ArcFace template (choice: keeps brows and chin)
    box_scale: float = 1.25      # cpc: crop side / dlib box side; dlib boxes are tighter than S3FD (choice)
    det_threshold: float = 0.0   # keep dlib detections with score above this
    det_max_side: int = 640      # detect on a copy downscaled to this longest side (speed)
    det_upsample: int = 0        # dlib pyramid upsampling for the detector
    det_pick: str = "score"      # among several detections: "score" (the highest) or "largest" (choice:
    #   the largest let a 0.0-scored shoulder patch beat a 1.2-scored face of equal size, aukit bench's clip)
    det_edge_pad: float = 0.25   # nothing found in an image up to det_pad_max_side: look again on a copy with a
    #   replicated border this wide (a fraction of the longest side). Face crops whose face touches the edges
    #   (Aff-Wild2's 112-px cropped_aligned) need it: dlib's detector window cannot reach past the edge. 0: off
    det_pad_max_side: int = 400  # the second look is for face crops, not scene frames (choice)

    def __post_init__(self):
        if self.det_pick not in ("score", "largest"):
            raise ValueError(f"alignment policy {self.name!r}: det_pick must be 'score' or 'largest', "
                             f"not {self.det_pick!r}")
        if not 0 <= self.det_edge_pad <= 1:
            raise ValueError(f"alignment policy {self.name!r}: det_edge_pad must be in 0..1, got {self.det_edge_pad}")

    def template(self) -> np.ndarray:
        """(5, 2) template points in output pixels."""
        return (0.5 + (_ARCFACE_112 - 0.5) * self.template_scale) * self.size


POLICIES = {
    "tas": AlignPolicy("tas", 256, "eyes"),          # TAS: dlib, eye centres, 256x256
    "cpc": AlignPolicy("cpc", 128, "box"),           # CPC: tight crop, 128x128
    "rtatl": AlignPolicy("rtatl", 200, "similarity"),  # RTATL: similarity transform, 200x200
    "scc": AlignPolicy("scc", 256, "similarity"),    # SCC: dlib 68 points, 256x256
    "piap": AlignPolicy("piap", 256, "similarity"),  # PIAP-DF: 256x256
}


def get_policy(policy: str | AlignPolicy, **overrides) -> AlignPolicy:
    if isinstance(policy, AlignPolicy):
        p = policy
    elif policy in POLICIES:
        p = POLICIES[policy]
    else:
        raise ValueError(f"unknown alignment policy {policy!r}; known: {', '.join(POLICIES)}")
    unknown = set(overrides) - set(asdict(p))
    if unknown:
        raise ValueError(f"unknown AlignPolicy fields: {sorted(unknown)}")
    return replace(p, **overrides)


def model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """Path of a dlib model shipped by face-recognition-models (found without importing it), or in
    the folder named by ``AUKIT_DLIB_MODELS`` (a machine where that package cannot be installed)."""
    folder = os.environ.get("AUKIT_DLIB_MODELS")
    if folder:
        p = Path(folder) / name
        if not p.is_file():
            raise FileNotFoundError(f"dlib model missing: {p} (AUKIT_DLIB_MODELS={folder})")
        return p
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("face-recognition-models is not installed (pip install face-recognition-models)")
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not p.is_file():
        raise FileNotFoundError(f"dlib model missing: {p}")
    return p


def five_points(lm: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 5, 2): eye centres, nose tip, mouth corners."""
    return np.stack([lm[..., 36:42, :].mean(-2), lm[..., 42:48, :].mean(-2),
                     lm[..., 30, :], lm[..., 48, :], lm[..., 54, :]], axis=-2)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping src (n,2) onto dst (n,2); (2, 3)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / (s ** 2).sum(1).mean()
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(2,3) affine applied to (..., 2) points."""
    return pts @ m[:, :2].T + m[:, 2]


@functools.lru_cache(maxsize=1)
def dlib_models():
    """(frontal detector, 68-point shape predictor), loaded once per process (~100 MB)."""
    import dlib
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model_path()))


# The smallest dlib box (pixels at the detector's scale) the HOG detector finds without pyramid
# upsampling: the astronaut's face was found at 51 px and missed at 44 (1080p canvas, several scales).
DLIB_MIN_BOX = 60
MAX_UPSCALE = 2.0   # the closest second look: a copy enlarged 2x, so faces down to DLIB_MIN_BOX / 2 = 30 px
SMALLEST_FACE = int(DLIB_MIN_BOX / MAX_UPSCALE)


class FaceAligner:
    """dlib detector + 68-point predictor + a policy's warp.

    dlib and its ~100 MB model load on the first detection: warping frames whose faces are
    already cached (``prepare``'s second pass) needs neither.

    ``min_face``: the smallest face (dlib box side, image pixels) to look for. Detection runs on
    a copy downscaled to ``policy.det_max_side`` (fast), where a 1080p frame loses faces under
    about 3 x DLIB_MIN_BOX = 180 px and a 4K frame under 360; when that finds nothing, it runs
    again at the scale where a ``min_face`` face spans DLIB_MIN_BOX. None: the policy's scale
    only (``prepare``: dataset frames hold large faces).
    """

    def __init__(self, policy: str | AlignPolicy = "tas", min_face: int | None = None):
        self.policy = get_policy(policy)
        if min_face is not None and min_face < SMALLEST_FACE:
            raise ValueError(f"min_face: dlib finds faces of {SMALLEST_FACE} px and more (on a copy enlarged "
                             f"{MAX_UPSCALE:g}x), got {min_face}")
        self.min_face = min_face

    @property
    def detector(self):
        return dlib_models()[0]

    @property
    def predictor(self):
        return dlib_models()[1]

    def detect(self, rgb: np.ndarray, bgr: bool = False) -> tuple[tuple[int, int, int, int] | None, float]:
        """The policy's pick among detections scoring above the threshold, as (left, top, right,
        bottom) in image pixels, and its score; (None, nan) when there is none. ``bgr``: the
        image is in OpenCV's order; it is turned to RGB after downscaling, so the detector sees
        exactly what it sees for the RGB image."""
        found = self.detect_all(rgb, bgr)
        return found[0] if found else (None, float("nan"))

    def detect_all(self, rgb: np.ndarray, bgr: bool = False,
                   want: int = 1) -> list[tuple[tuple[int, int, int, int], float]]:
        """Every detection scoring above the threshold, ``(box, score)``, best first by the
        policy's pick (score or size); see :meth:`detect`. ``want``: the faces the caller keeps;
        while the first look found fewer, the second (``min_face``) runs and the look that
        found more is kept (a small face beside a large one)."""
        h, w = rgb.shape[:2]
        f = min(1.0, self.policy.det_max_side / max(h, w))
        found = self._detect_at(rgb, f, bgr)
        if len(found) < want and self.min_face is not None and self.min_face * f < DLIB_MIN_BOX:
            # small faces: a copy where a min_face face spans DLIB_MIN_BOX (enlarged for faces under 60 px)
            closer = self._detect_at(rgb, min(MAX_UPSCALE, DLIB_MIN_BOX / self.min_face), bgr)
            found = closer if len(closer) > len(found) else found
        p = self.policy
        if not found and p.det_edge_pad > 0 and max(h, w) <= p.det_pad_max_side:
            # a face crop whose face touches the edges: the replicated border lets the window reach it
            m = round(p.det_edge_pad * max(h, w))
            padded = cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_REPLICATE)
            f = min(1.0, p.det_max_side / (max(h, w) + 2 * m))
            found = [(tuple(v - m for v in box), score) for box, score in self._detect_at(padded, f, bgr)]
        return found

    def _detect_at(self, rgb: np.ndarray, f: float, bgr: bool) -> list[tuple[tuple[int, int, int, int], float]]:
        """:meth:`detect_all` on a copy scaled by ``f`` (<= MAX_UPSCALE); boxes in image pixels."""
        p = self.policy
        h, w = rgb.shape[:2]
        small = rgb if f == 1 else cv2.resize(rgb, (round(w * f), round(h * f)),
                                             interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        if bgr:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        rects, scores, _ = self.detector.run(np.ascontiguousarray(small), p.det_upsample, p.det_threshold)
        found = [(float(r.width() * r.height()), float(s), r) for r, s in zip(rects, scores) if s > p.det_threshold]
        found.sort(key=(lambda d: (d[1], d[0])) if p.det_pick == "score" else (lambda d: (d[0], d[1])), reverse=True)
        return [(tuple(int(round(v / f)) for v in (r.left(), r.top(), r.right(), r.bottom())), score)
                for _, score, r in found]

    def landmarks(self, rgb: np.ndarray, box) -> np.ndarray:
        """(68, 2) float32 landmarks in image pixels. dlib's shape predictor reads a pixel as the
        mean of its three channels, so RGB and BGR give the same points. A box reaching past the
        image (a face crop, see ``det_edge_pad``) is fitted on a copy with a replicated border:
        dlib reads the pixels outside as black, which pulls the points (1.5 against 1.0 px mean
        error on 112-px crops of SynthAU faces)."""
        import dlib
        h, w = rgb.shape[:2]
        l, t, r, b = (int(v) for v in box)
        m = max(0, -l, -t, r - w + 1, b - h + 1)
        if m:
            rgb = cv2.copyMakeBorder(rgb, m, m, m, m, cv2.BORDER_REPLICATE)
        shape = self.predictor(np.ascontiguousarray(rgb), dlib.rectangle(l + m, t + m, r + m, b + m))
        return np.array([[pt.x - m, pt.y - m] for pt in shape.parts()], np.float32)

    def transform(self, lm: np.ndarray, box) -> np.ndarray:
        """(2, 3) affine from the image to the aligned crop, per the policy."""
        p = self.policy
        if p.method == "box":
            l, t, r, b = box
            side = max(r - l, b - t) * p.box_scale
            s = p.size / side
            cx, cy = (l + r) / 2, (t + b) / 2
            return np.array([[s, 0, p.size / 2 - s * cx], [0, s, p.size / 2 - s * cy]])
        tpl = p.template()
        src = five_points(lm.astype(np.float64))
        if p.method == "eyes":
            return similarity(src[:2], tpl[:2])
        if p.method == "similarity":
            return similarity(src, tpl)
        raise ValueError(f"unknown alignment method {p.method!r}")

    def warp(self, rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
        s = self.policy.size
        return cv2.warpAffine(rgb, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def __call__(self, rgb: np.ndarray):
        """Aligned (S,S,3) uint8, landmarks (68,2) in aligned pixels, affine (2,3); None if no face."""
        box, _ = self.detect(rgb)
        if box is None:
            return None
        lm = self.landmarks(rgb, box)
        m = self.transform(lm, box)
        return self.warp(rgb, m), apply_affine(m, lm).astype(np.float32), m.astype(np.float32)
