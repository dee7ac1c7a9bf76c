"""Write SynthAU jobs to disk in the real datasets' formats (the layouts aukit.data.bp4d, disfa, affwild2, ... read).

One job = one labelled sequence, one unlabelled video/clip, or one batch of stills. Each
job seeds its own RNG from (seed, job key), so results do not depend on which worker
runs it. Besides the dataset files every job writes ground truth under
``ground_truth/<dataset>/``: ``<key>_landmarks.npy`` (T, 68, 2) float32,
``<key>_intensity.npy`` (T, 17) float32 continuous intensities, and ``<key>_labels.csv``
(clean integer labels 0-5 of all 17 AUs, plus the written image path per frame).
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .aus import AUS
from .dynamics import au_trajectories, nuisance_track, quantize, random_intensities, still_nuisance
from .presets import SynthConfig
from .render import render
from .subjects import Subject

BP4D_OCC_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
BP4D_INT_AUS = (6, 10, 12, 14, 17)
DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
_COL = {au: i for i, au in enumerate(AUS)}


@dataclass
class Job:
    kind: str  # bp4d | disfa | affwild2 | emotionet | casia_webface | afew_va
    key: str  # sequence / clip / batch name, unique within kind
    subjects: list[Subject]  # one for sequences; the identity pool for stills
    n: int  # frames or images
    apex_shift: dict[int, float] = field(default_factory=dict)


def job_rng(seed: int, kind: str, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{kind}/{key}".encode())])


def _imwrite(path: Path, rgb: np.ndarray, quality: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if quality is not None else []
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write {path}")


def _render_sequence(subject: Subject, traj: np.ndarray, rng: np.random.Generator, strength: float):
    nuis = nuisance_track(len(traj), rng, strength)
    frames, lms = [], []
    for x, nz in zip(traj, nuis):
        img, lm = render(subject, x, nz, rng)
        frames.append(img)
        lms.append(lm)
    return frames, np.stack(lms)


def _noisy(labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Perturb a fraction ``rate`` of (frame, AU) labels by +-1 (clipped to 0-5)."""
    flip = rng.random(labels.shape) < rate
    step = rng.choice([-1, 1], labels.shape)
    return np.where(flip, np.clip(labels + step, 0, 5), labels)


def _not_coded(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean (n,) mask: one contiguous run of ~rate * n frames (at least 1 if rate > 0)."""
    mask = np.zeros(n, bool)
    k = max(1, int(round(rate * n))) if rate > 0 else 0
    if k:
        start = int(rng.integers(0, n - k + 1))
        mask[start:start + k] = True
    return mask


def _write_truth(out: Path, kind: str, key: str, lms: np.ndarray, traj: np.ndarray, paths: list[str]) -> dict:
    gt = out / "ground_truth" / kind
    gt.mkdir(parents=True, exist_ok=True)
    np.save(gt / f"{key}_landmarks.npy", lms.astype(np.float32))
    np.save(gt / f"{key}_intensity.npy", traj.astype(np.float32))
    labels = quantize(traj)
    with open(gt / f"{key}_labels.csv", "w") as f:
        f.write("frame,path," + ",".join(f"AU{au:02d}" for au in AUS) + "\n")
        for i, (p, row) in enumerate(zip(paths, labels)):
            f.write(f"{i + 1},{p}," + ",".join(str(int(v)) for v in row) + "\n")
    rel = lambda name: str((gt / name).relative_to(out))  # noqa: E731
    return {"landmarks": rel(f"{key}_landmarks.npy"), "intensity": rel(f"{key}_intensity.npy"),
            "labels": rel(f"{key}_labels.csv"), "frames": len(paths)}


def write_bp4d(job: Job, out: Path, cfg: SynthConfig, seed: int) -> dict:
    rng = job_rng(seed, job.kind, job.key)
    subject, task = job.key.split("_")
    traj = au_trajectories(job.n, rng, cfg.cooccurrence, apex_shift=job.apex_shift)
    frames, lms = _render_sequence(job.subjects[0], traj, rng, cfg.nuisance)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    root = out / "bp4d"
    paths = []
    for i, img in enumerate(frames, start=1):
        path = root / "2D" / subject / task / f"{i}.jpg"
        _imwrite(path, img, quality)
        paths.append(str(path.relative_to(out)))
    labels = _noisy(quantize(traj), cfg.label_noise, rng)
    occ = (labels >= 1).astype(int)
    skip = _not_coded(job.n, cfg.not_coded, rng)
    occ_dir = root / "AUCoding" / "AU_OCC"
    occ_dir.mkdir(parents=True, exist_ok=True)
    with open(occ_dir / f"{job.key}.csv", "w") as f:
        f.write("0," + ",".join(str(au) for au in BP4D_OCC_AUS) + "\n")
        for i in range(job.n):
            vals = [9 if skip[i] else occ[i, _COL[au]] for au in BP4D_OCC_AUS]
            f.write(f"{i + 1}," + ",".join(str(v) for v in vals) + "\n")
    for au in BP4D_INT_AUS:
        d = root / "AUCoding" / "AU_INT" / f"AU{au:02d}"
        d.mkdir(parents=True, exist_ok=True)
        invalid = _not_coded(job.n, cfg.not_coded, rng)
        with open(d / f"{job.key}_AU{au:02d}.csv", "w") as f:
            for i in range(job.n):
                f.write(f"{i + 1},{9 if invalid[i] else labels[i, _COL[au]]}\n")
    return _write_truth(out, "bp4d", job.key, lms, traj, paths)


def write_disfa(job: Job, out: Path, cfg: SynthConfig, seed: int) -> dict:
    rng = job_rng(seed, job.kind, job.key)
    traj = au_trajectories(job.n, rng, cfg.cooccurrence, apex_shift=job.apex_shift)
    frames, lms = _render_sequence(job.subjects[0], traj, rng, cfg.nuisance)
    vdir = out / "disfa" / "Videos_LeftCamera"
    vdir.mkdir(parents=True, exist_ok=True)
    vpath = vdir / f"LeftVideo{job.key}_comp.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(vpath), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (w, h))
    if not writer.isOpened():
        raise OSError(f"cv2.VideoWriter (MJPG) could not open {vpath}")
    for img in frames:
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()
    labels = _noisy(quantize(traj), cfg.label_noise, rng)
    ldir = out / "disfa" / "ActionUnit_Labels" / job.key
    ldir.mkdir(parents=True, exist_ok=True)
    for au in DISFA_AUS:
        with open(ldir / f"{job.key}_au{au}.txt", "w") as f:
            f.write("".join(f"{i + 1},{labels[i, _COL[au]]}\n" for i in range(job.n)))
    paths = [f"{vpath.relative_to(out)}#{i + 1}" for i in range(job.n)]
    return _write_truth(out, "disfa", job.key, lms, traj, paths)


def write_affwild2(job: Job, out: Path, cfg: SynthConfig, seed: int) -> dict:
    rng = job_rng(seed, job.kind, job.key)
    traj = au_trajectories(job.n, rng, cfg.cooccurrence)
    frames, lms = _render_sequence(job.subjects[0], traj, rng, cfg.nuisance)
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    paths = []
    for i, img in enumerate(frames, start=1):
        path = out / "affwild2" / "cropped_aligned" / job.key / f"{i:05d}.jpg"
        _imwrite(path, img, quality)
        paths.append(str(path.relative_to(out)))
    return _write_truth(out, "affwild2", job.key, lms, traj, paths)


def write_afew_va(job: Job, out: Path, cfg: SynthConfig, seed: int) -> dict:
    rng = job_rng(seed, job.kind, job.key)
    traj = au_trajectories(job.n, rng, cfg.cooccurrence, activity=2.0)
    frames, lms = _render_sequence(job.subjects[0], traj, rng, cfg.nuisance)
    clip = out / "afew_va" / job.key
    clip.mkdir(parents=True, exist_ok=True)
    paths, entries = [], {}
    for i, (img, lm) in enumerate(zip(frames, lms)):
        path = clip / f"{i:05d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
        paths.append(str(path.relative_to(out)))
        entries[f"{i:05d}"] = {"landmarks": np.round(lm, 2).tolist(), "arousal": 0, "valence": 0}
    with open(clip / f"{job.key}.json", "w") as f:
        json.dump({"frames": entries}, f)
    return _write_truth(out, "afew_va", job.key, lms, traj, paths)


def write_stills(job: Job, out: Path, cfg: SynthConfig, seed: int) -> dict:
    """EmotioNet-like images (random identity per image from the pool) or one CASIA identity."""
    rng = job_rng(seed, job.kind, job.key)
    traj = random_intensities(rng, job.n, cfg.cooccurrence)
    paths, lms = [], []
    for i in range(job.n):
        subject = job.subjects[int(rng.integers(len(job.subjects)))]
        img, lm = render(subject, traj[i], still_nuisance(rng, cfg.nuisance), rng)
        if job.kind == "emotionet":
            path = out / "emotionet" / "images" / f"{job.key}_{i:04d}.jpg"
        else:
            path = out / "casia_webface" / job.key / f"{i + 1:03d}.jpg"
        _imwrite(path, img, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
        paths.append(str(path.relative_to(out)))
        lms.append(lm)
    return _write_truth(out, job.kind, job.key, np.stack(lms), traj, paths)


WRITERS = {"bp4d": write_bp4d, "disfa": write_disfa, "affwild2": write_affwild2, "afew_va": write_afew_va,
           "emotionet": write_stills, "casia_webface": write_stills}
