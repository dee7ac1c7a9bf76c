"""Person-specific features for AP (PIAP-DF §3.2) and the paper's toy identification check.

* :func:`encoder_features` - v_P from a frozen Encoder P (or any net returning ``feature``),
  computed once per store row: Encoder P is fixed during AP, so its output per frame is
  a constant target (our choice: computed on the un-augmented image).
* :func:`dlib_descriptors` - dlib's 128-d face descriptor (``dlib_face_recognition_resnet_model_v1.dat``
  from the installed face-recognition-models package), as a ready-made v_P.
* :func:`identification_accuracy` - closed-set 1-NN identification on held-out identities
  (the toy case: landmark-task features vs face-recognition features).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch.nn as nn

from aukit.runtime import evaluating

DLIB_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


def models_dir() -> Path:
    """face-recognition-models' ``models/`` folder, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face-recognition-models is not installed (needed for the dlib person features)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def encoder_features(net: nn.Module, loader, n_rows: int) -> np.ndarray:
    """float32 (n_rows, D): ``net(image)["feature"]`` for every row the loader yields
    (an un-shuffled :class:`BatchLoader` with ``drop_last=False``); rows never seen stay NaN.
    Runs in training's precision (:func:`aukit.runtime.evaluating`)."""
    out = None
    with evaluating(net):
        for batch in loader:
            f = net(batch["image"])["feature"].float().cpu().numpy()
            if out is None:
                out = np.full((n_rows, f.shape[1]), np.nan, np.float32)
            out[batch["rows"].cpu().numpy()] = f
    if out is None:
        raise ValueError("the loader yielded no batch")
    return out


def dlib_descriptors(images: np.ndarray, landmarks: np.ndarray, jitter: int = 0) -> np.ndarray:
    """float32 (N, 128) dlib face descriptors of aligned RGB faces.

    images: uint8 (N, S, S, 3); landmarks: (N, 68, 2) in the same pixels. The 68 points
    replace dlib's own detector + shape predictor (the store is already aligned).
    """
    import dlib

    path = models_dir() / DLIB_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"dlib face descriptor model missing: {path}")
    images = np.asarray(images)
    lm = np.asarray(landmarks, np.float64)
    if images.ndim != 4 or images.shape[-1] != 3 or lm.shape != (len(images), 68, 2):
        raise ValueError(f"expected images (N, S, S, 3) and landmarks (N, 68, 2), got {images.shape} and {lm.shape}")
    rec = dlib.face_recognition_model_v1(str(path))
    out = np.empty((len(images), 128), np.float32)
    for i in range(len(images)):
        pts = [dlib.point(int(round(x)), int(round(y))) for x, y in lm[i]]
        x0, y0 = lm[i].min(0)
        x1, y1 = lm[i].max(0)
        shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), pts)
        img = np.ascontiguousarray(images[i], dtype=np.uint8)
        out[i] = np.asarray(rec.compute_face_descriptor(img, shape, jitter), np.float32)
    return out


def identification_accuracy(features: np.ndarray, identities, seed: int = 0) -> float:
    """Closed-set 1-NN identification accuracy with cosine similarity.

    One random image per identity forms the gallery, every other image is a probe.
    Identities with a single image are skipped. Chance level is 1 / n_identities.
    """
    f = np.asarray(features, np.float64)
    ids = np.asarray(identities)
    if f.ndim != 2 or len(f) != len(ids):
        raise ValueError(f"features (N, D) and identities (N,) expected, got {f.shape} and {ids.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{int((~np.isfinite(f)).any(1).sum())} feature rows are not finite")
    rng = np.random.default_rng(seed)
    gallery, probes = [], []
    for ident in np.unique(ids):
        rows = np.flatnonzero(ids == ident)
        if len(rows) < 2:
            continue
        g = rng.choice(rows)
        gallery.append(g)
        probes.extend(r for r in rows if r != g)
    if len(gallery) < 2 or not probes:
        raise ValueError("identification needs at least 2 identities with 2 or more images each")
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    sim = f[probes] @ f[gallery].T                       # (P, G)
    pred = ids[np.asarray(gallery)][sim.argmax(1)]
    return float(np.mean(pred == ids[np.asarray(probes)]))
