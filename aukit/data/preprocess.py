"""`prepare(dataset, policy)`: decode, detect, fit 68 landmarks, align, and cache a FrameStore.

Work is split into units of <= `chunk` consecutive frames of one sequence. Each unit is
written atomically to `<store>.partial/chunks/<uid>.npz`, so an interrupted run resumes
where it stopped; the store folder itself only appears, by a rename, once every unit is
assembled and `meta.json` written. Frames without a face or that cannot be decoded are
excluded and counted per subject in `qa.json` (never zero-filled).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..workers import imap, process_pool, usable_cores
from .align import AlignPolicy, FaceAligner, apply_affine, get_policy
from .catalog import index as read_index
from .catalog import parse_source
from .store import FrameStore, cache_hash, cache_root, find_store

OK, NO_FACE, UNREADABLE = 0, 1, 2
FACES_VERSION = "faces/1"  # bump when detection or landmark fitting changes
_ALIGNER: FaceAligner | None = None


def _init_worker(policy: dict) -> None:
    global _ALIGNER
    cv2.setNumThreads(1)
    _ALIGNER = FaceAligner(AlignPolicy(**policy))


def _decode(sources: list[str]):
    """Yield RGB frames (or None when unreadable) for the sources of one unit, in order."""
    cap, cap_path, pos = None, None, -1
    try:
        for s in sources:
            path, k = parse_source(s)
            if k is None:
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                yield None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                continue
            if cap_path != path:
                if cap is not None:
                    cap.release()
                cap, cap_path, pos = cv2.VideoCapture(str(path)), path, -1
            if k != pos + 1:
                cap.set(cv2.CAP_PROP_POS_FRAMES, k)
            ok, bgr = cap.read() if cap.isOpened() else (False, None)
            pos = k
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None else None
    finally:
        if cap is not None:
            cap.release()


def _detect_unit(job: tuple[int, list[str], str]) -> tuple[int, int]:
    """Detect + fit landmarks for one unit (policy-independent); write status/boxes/landmarks."""
    uid, sources, chunk_path = job
    n = len(sources)
    status = np.zeros(n, np.int8)
    boxes = np.zeros((n, 4), np.float32)
    lms = np.zeros((n, 68, 2), np.float32)
    for i, rgb in enumerate(_decode(sources)):
        if rgb is None:
            status[i] = UNREADABLE
            continue
        box, _ = _ALIGNER.detect(rgb)
        if box is None:
            status[i] = NO_FACE
            continue
        boxes[i], lms[i] = box, _ALIGNER.landmarks(rgb, box)
    _save_npz(chunk_path, status=status, boxes=boxes, landmarks=lms)
    return uid, n


def _run_unit(job: tuple[int, list[str], str, dict]) -> tuple[int, int]:
    """Warp one unit with the policy, reusing the cached faces (no detection); write its chunk."""
    uid, sources, chunk_path, faces = job
    s = _ALIGNER.policy.size
    status = faces["status"].copy()
    imgs, lms, affs = [], [], []
    for i, rgb in enumerate(_decode(sources)):
        if status[i] != OK:
            continue
        if rgb is None:  # readable at detection time, not now: count it, never zero-fill
            status[i] = UNREADABLE
            continue
        m = _ALIGNER.transform(faces["landmarks"][i], tuple(int(v) for v in faces["boxes"][i]))
        imgs.append(_ALIGNER.warp(rgb, m))
        lms.append(apply_affine(m, faces["landmarks"][i]).astype(np.float32))
        affs.append(m.astype(np.float32))
    _save_npz(chunk_path, status=status,
              images=np.stack(imgs) if imgs else np.zeros((0, s, s, 3), np.uint8),
              landmarks=np.stack(lms) if lms else np.zeros((0, 68, 2), np.float32),
              affine=np.stack(affs) if affs else np.zeros((0, 2, 3), np.float32))
    return uid, len(sources)


def _save_npz(path: str, **arrays) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def plan_units(df: pd.DataFrame, chunk: int) -> list[np.ndarray]:
    """Row positions per unit: runs of <= chunk consecutive rows of one (subject, sequence)."""
    units = []
    seq = (df["subject"] + "\x00" + df["sequence"]).to_numpy()
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    ends = np.r_[starts[1:], len(df)]
    for a, b in zip(starts, ends):
        units.extend(np.arange(i, min(i + chunk, b)) for i in range(a, b, chunk))
    return units


def prepare(dataset: str, policy: str | AlignPolicy = "tas", root=None, workers: int | None = None,
            out=None, *, subjects=None, max_frames: int | None = None, chunk: int = 256,
            progress: bool = True) -> FrameStore:
    """Build (or resume, or just open) the aligned FrameStore of `dataset` under `policy`.

    subjects / max_frames restrict the work (smoke runs); they are part of the cache key.
    """
    pol = get_policy(policy)
    path, key, h = find_store(dataset, pol, root, subjects=subjects, max_frames=max_frames, out=out)
    if (path / "meta.json").is_file():
        return FrameStore(path)
    t0 = time.perf_counter()
    df = read_index(dataset, root)
    if subjects is not None:
        df = df[df["subject"].isin(set(subjects))]
    if max_frames is not None:
        df = df.head(int(max_frames))
    df = df.reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{dataset}: no frames to prepare (subjects={subjects}, max_frames={max_frames})")
    partial = path.with_name(path.name + ".partial")
    chunks = partial / "chunks"
    chunks.mkdir(parents=True, exist_ok=True)
    (partial / "key.json").write_text(json.dumps(key, indent=1))
    units = plan_units(df, chunk)
    sources = df["source"].tolist()
    t1 = time.perf_counter()
    faces = detect_faces(dataset, pol, df, units, key, workers=workers, progress=progress, out=out)
    jobs = [(u, [sources[i] for i in rows], str(chunks / f"{u:06d}.npz"),
             {k: v[rows] for k, v in faces.items()})
            for u, rows in enumerate(units) if not (chunks / f"{u:06d}.npz").is_file()]
    n_todo = sum(len(j[1]) for j in jobs)
    _pool_run(_run_unit, jobs, pol, workers, f"align {dataset}/{pol.name}", n_todo, progress)
    fps = len(df) / max(time.perf_counter() - t1, 1e-9)
    store = _assemble(df, units, partial, path, pol, key, h, fps=fps, wall=time.perf_counter() - t0)
    print_summary(store, fps)
    return store


def _pool_run(fn, jobs: list, pol: AlignPolicy, workers: int | None, desc: str, n_todo: int,
              progress: bool) -> None:
    """Run unit jobs over a process pool (in-process for one worker), with a progress bar."""
    # a spawned worker costs about a second to start: small jobs run in-process
    workers = min(workers or usable_cores(), max(1, len(jobs)), max(1, n_todo // 150))
    bar = tqdm(total=n_todo, desc=desc, unit="frame", disable=not progress)
    if workers == 1:
        _init_worker(asdict(pol))
        for job in jobs:
            bar.update(fn(job)[1])
    elif jobs:
        with process_pool(workers, initializer=_init_worker, initargs=(asdict(pol),)) as pool:
            for _, (_, n) in imap(pool, fn, jobs, desc, ordered=False, inflight=2 * workers):
                bar.update(n)
    bar.close()


def faces_key(key: dict) -> dict:
    """The part of a store key detection depends on: every policy shares these faces."""
    det = {k: v for k, v in key["policy"].items() if k.startswith("det_")}
    return {**{k: v for k, v in key.items() if k != "policy"}, "detector": det, "faces": FACES_VERSION}


def detect_faces(dataset: str, pol: AlignPolicy, df: pd.DataFrame, units: list, key: dict, *,
                 workers: int | None, progress: bool, out=None) -> dict:
    """Per-frame status, dlib box and 68 landmarks (image pixels), cached once per dataset so
    that every alignment policy reuses one detection pass (the expensive part of `prepare`)."""
    fkey = faces_key(key)
    folder = Path(out or cache_root()) / f"{dataset}__faces__{cache_hash(fkey)}"
    done = folder / "faces.npz"
    if not done.is_file():
        chunks = folder.with_name(folder.name + ".partial") / "chunks"
        chunks.mkdir(parents=True, exist_ok=True)
        sources = df["source"].tolist()
        jobs = [(u, [sources[i] for i in rows], str(chunks / f"{u:06d}.npz"))
                for u, rows in enumerate(units) if not (chunks / f"{u:06d}.npz").is_file()]
        _pool_run(_detect_unit, jobs, pol, workers, f"detect {dataset}", sum(len(j[1]) for j in jobs), progress)
        parts = [np.load(chunks / f"{u:06d}.npz") for u in range(len(units))]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "key.json").write_text(json.dumps(fkey, indent=1))
        _save_npz(str(done), **{k: np.concatenate([p[k] for p in parts]) for k in ("status", "boxes", "landmarks")})
        shutil.rmtree(chunks.parent)
    with np.load(done) as z:
        faces = {k: z[k] for k in ("status", "boxes", "landmarks")}
    if len(faces["status"]) != len(df):
        raise ValueError(f"{done}: cached faces for {len(faces['status'])} frames, index has {len(df)}; "
                         "delete the folder to rebuild")
    return faces


def _assemble(df, units, partial: Path, path: Path, pol: AlignPolicy, key: dict, h: str, *,
              fps: float, wall: float) -> FrameStore:
    chunks = partial / "chunks"
    status = np.concatenate([np.load(chunks / f"{u:06d}.npz")["status"] for u in range(len(units))])
    n = int((status == OK).sum())
    s = pol.size
    if n:
        images = np.lib.format.open_memmap(partial / "images.npy", mode="w+", dtype=np.uint8, shape=(n, s, s, 3))
    else:
        np.save(partial / "images.npy", np.zeros((0, s, s, 3), np.uint8))
    lms = np.zeros((n, 68, 2), np.float32)
    affs = np.zeros((n, 2, 3), np.float32)
    at = 0
    for u in range(len(units)):
        with np.load(chunks / f"{u:06d}.npz") as z:
            k = len(z["images"])
            if k:
                images[at:at + k] = z["images"]
                lms[at:at + k], affs[at:at + k] = z["landmarks"], z["affine"]
            at += k
    if n:
        images.flush()
        del images
    np.save(partial / "landmarks.npy", lms)
    np.save(partial / "affine.npy", affs)
    kept = df[status == OK].copy()
    kept.insert(0, "row", np.arange(n))
    kept["index_row"] = np.flatnonzero(status == OK)
    kept.to_csv(partial / "index.csv", index=False)
    qa = _qa(df, status, pol)
    (partial / "qa.json").write_text(json.dumps(qa, indent=1))
    shutil.rmtree(chunks)
    meta = {"hash": h, "key": key, "frames": int(len(df)), "aligned": n, "wall_s": round(wall, 3),
            "frames_per_s": round(fps, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (partial / "meta.json").write_text(json.dumps(meta, indent=1))
    os.rename(partial, path)  # the store becomes visible only now, complete
    return FrameStore(path)


def _qa(df: pd.DataFrame, status: np.ndarray, pol: AlignPolicy) -> dict:
    per = defaultdict(lambda: {"frames": 0, "aligned": 0, "no_face": 0, "unreadable": 0})
    for subj, st in zip(df["subject"], status):
        c = per[subj]
        c["frames"] += 1
        c[("aligned", "no_face", "unreadable")[int(st)]] += 1
    index_qa = df.attrs.get("qa", {}).get("per_subject", {})
    for subj, c in index_qa.items():
        if subj in per:
            per[subj].update(c)
    totals = {k: int(sum(c.get(k, 0) for c in per.values()))
              for k in ("frames", "aligned", "no_face", "unreadable", "invalid_codes", "out_of_range",
                        "label_without_frame", "frame_without_label", "missing_label_file")}
    return {**totals, "policy": pol.name, "per_subject": dict(sorted(per.items())),
            "notes": df.attrs.get("qa", {}).get("notes", [])}


def print_summary(store: FrameStore, fps: float | None = None) -> None:
    q = store.qa
    print(f"{store.dataset}/{store.policy.name}: {q['aligned']}/{q['frames']} frames aligned "
          f"({q['no_face']} no face, {q['unreadable']} unreadable); invalid codes {q['invalid_codes']}, "
          f"labels without frame {q['label_without_frame']}, frames without label "
          f"{q['frame_without_label']}" + (f"; {fps:.1f} frames/s" if fps is not None else "")
          + f"\n  store {store.path}")
