"""`prepare(dataset, policy)`: decode, detect, fit 68 landmarks, align, and cache a FrameStore.

Work is split into units of <= `chunk` consecutive frames of one sequence. Each unit is
written atomically to `<store>.partial/chunks/<uid>.npz`, so an interrupted run resumes
where it stopped; the store folder itself only appears, by a rename, once every unit is
assembled and `meta.json` written. Frames without a face or that cannot be decoded (missing,
a JPEG cut short, a video frame past the end) are excluded, counted per subject in `qa.json`
and named there (never zero-filled): `unreadable_files` with the reason, `no_face_frames` per
sequence as runs of frame numbers. `meta.json` keeps the index fingerprint (store.py): a
dataset whose frames or labels changed is rebuilt, reusing the dlib faces of unchanged frames.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..workers import imap, process_pool, usable_cores
from .align import AlignPolicy, FaceAligner, apply_affine, get_policy
from .catalog import parse_source
from .imagefile import read_bgr
from .labelio import ranges
from .lock import exclusive
from .store import (FrameStore, cache_hash, cache_root, changed_files, file_stats, find_store, index_fingerprint,
                    select_index, stale_reason)

OK, NO_FACE, UNREADABLE = 0, 1, 2
FACE_KEYS = ("status", "boxes", "landmarks")
QA_COUNTS = ("frames", "aligned", "no_face", "unreadable", "invalid_codes", "out_of_range",
             "label_without_frame", "frame_without_label", "missing_label_file")
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
                bgr, _ = read_bgr(path)
                yield None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                continue
            if cap_path != path:
                if cap is not None:
                    cap.release()
                cap, cap_path, pos = cv2.VideoCapture(str(path)), path, -1
            if k != pos + 1:
                cap.set(cv2.CAP_PROP_POS_FRAMES, k)
            # a video cut short: frames past the cut fail here (counted); the one the cut falls in
            # decodes partly (ffmpeg logs only "overread"), which OpenCV does not report
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


def frame_ids(df: pd.DataFrame) -> np.ndarray:
    """'subject/sequence/frame' per row: what identifies a frame across index changes."""
    return (df["subject"].astype(str) + "/" + df["sequence"].astype(str) + "/"
            + df["frame"].astype(str)).to_numpy(str)


def _start_partial(partial: Path, key: dict) -> Path:
    """`partial/chunks`, emptied first if a run for another key or index left it (its units differ)."""
    kf = partial / "key.json"
    if kf.is_file() and json.loads(kf.read_text()) != key:
        shutil.rmtree(partial)
    (partial / "chunks").mkdir(parents=True, exist_ok=True)
    kf.write_text(json.dumps(key, indent=1))
    return partial / "chunks"


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
    A store whose index fingerprint differs from the dataset's index now is rebuilt.
    """
    pol = get_policy(policy)
    path, key, h = find_store(dataset, pol, root, subjects=subjects, max_frames=max_frames, out=out)
    if (path / "meta.json").is_file():   # built and current: opened without the lock (a read-only cache has none)
        old = FrameStore(path)
        if stale_reason(old, index_fingerprint(select_index(dataset, root, subjects, max_frames))) is None:
            return old
    # one prepare of a dataset at a time (its policies share the detection cache): a second one
    # waits, then finds the store built below
    with exclusive(Path(out or cache_root()) / f"{dataset}.prepare.lock", f"preparing {dataset}"):
        return _prepare(dataset, pol, root, workers, out, path, key, h, subjects=subjects, max_frames=max_frames,
                        chunk=chunk, progress=progress)


def _prepare(dataset: str, pol: AlignPolicy, root, workers, out, path: Path, key: dict, h: str, *, subjects,
             max_frames, chunk: int, progress: bool) -> FrameStore:
    t0 = time.perf_counter()
    df = select_index(dataset, root, subjects, max_frames)
    fp = index_fingerprint(df)
    retry: set[str] = set()                       # files unreadable or without a face then, changed since: detect again
    if (path / "meta.json").is_file():
        old = FrameStore(path)
        why = stale_reason(old, fp)
        if why is None:
            return old
        retry = set(changed_files(old.meta.get("unreadable_stats", {}))
                    + changed_files(old.meta.get("no_face_stats", {})))
        print(f"{dataset}/{pol.name}: {why} since {path} was built ({old.meta.get('created')}): rebuilding")
    if df.empty:
        raise ValueError(f"{dataset}: no frames to prepare (subjects={subjects}, max_frames={max_frames})")
    partial = path.with_name(path.name + ".partial")
    chunks = _start_partial(partial, {**key, "fingerprint": fp})
    units = plan_units(df, chunk)
    sources = df["source"].tolist()
    t1 = time.perf_counter()
    faces = detect_faces(dataset, pol, df, units, key, workers=workers, progress=progress, out=out, retry=retry)
    jobs = [(u, [sources[i] for i in rows], str(chunks / f"{u:06d}.npz"),
             {k: v[rows] for k, v in faces.items()})
            for u, rows in enumerate(units) if not (chunks / f"{u:06d}.npz").is_file()]
    n_todo = sum(len(j[1]) for j in jobs)
    _pool_run(_run_unit, jobs, pol, workers, f"align {dataset}/{pol.name}", n_todo, progress)
    fps = len(df) / max(time.perf_counter() - t1, 1e-9)
    store = _assemble(df, units, partial, path, pol, key, h, fp, fps=fps, wall=time.perf_counter() - t0)
    print_summary(store, fps)
    return store


def _pool_run(fn, jobs: list, pol: AlignPolicy, workers: int | None, desc: str, n_todo: int,
              progress: bool) -> None:
    """Run unit jobs over a process pool (in-process for one worker), with a progress bar."""
    # a spawned worker costs about a second to start: small jobs run in-process
    workers = min(workers or usable_cores(), max(1, len(jobs)), max(1, n_todo // 150))
    bar = _progress_bar(n_todo, desc, progress)
    if workers == 1:
        _init_worker(asdict(pol))
        for job in jobs:
            bar.update(fn(job)[1])
    elif jobs:
        with process_pool(workers, initializer=_init_worker, initargs=(asdict(pol),)) as pool:
            for _, (_, n) in imap(pool, fn, jobs, desc, ordered=False, inflight=2 * workers):
                bar.update(n)
    bar.close()


def _progress_bar(total: int, desc: str, progress: bool):
    """tqdm's bar on a terminal; elsewhere, with ``progress``, a printed line per tenth of the frames. A notebook
    kernel (tqdm draws a widget there) showed nothing under `aukit run --log` for the minutes detection took."""
    if progress and not sys.stderr.isatty():
        return _TenthLines(total, desc)
    return tqdm(total=total, desc=desc, unit="frame", disable=not progress)


class _TenthLines:
    """``update`` / ``close`` as tqdm's bar has them: a line 'detect bp4d: 120/1200 frames (10%), 9 s' each time
    another tenth of ``total`` is done."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done, self.tenths, self.t0 = total, desc, 0, 0, time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        tenths = self.done * 10 // max(self.total, 1)
        if tenths > self.tenths:
            self.tenths = tenths
            print(f"{self.desc}: {self.done}/{self.total} frames ({100 * self.done / max(self.total, 1):.0f}%), "
                  f"{time.perf_counter() - self.t0:.0f} s", flush=True)

    def close(self) -> None:
        """Nothing to clear: the lines stay."""


def faces_key(key: dict) -> dict:
    """The part of a store key detection depends on: every policy shares these faces, and so does every
    subset of the copy (``subjects``, ``max_frames``: a store of 2 subjects detected them again, beside
    the whole copy's faces; on BP4D, hours). The whole copy's key, so its existing cache stays found."""
    det = {k: v for k, v in key["policy"].items() if k.startswith("det_")}
    return {**{k: v for k, v in key.items() if k != "policy"}, "subjects": None, "max_frames": None,
            "detector": det, "faces": FACES_VERSION}


def detect_faces(dataset: str, pol: AlignPolicy, df: pd.DataFrame, units: list, key: dict, *,
                 workers: int | None, progress: bool, out=None, retry: set[str] = frozenset()) -> dict:
    """Per-frame status, dlib box and 68 landmarks (image pixels), cached once per dataset so
    that every alignment policy reuses one detection pass (the expensive part of `prepare`).
    The cache keeps the frame ids it holds: after an index change, units whose frames all were
    read before are reused and only the others are detected again; it keeps every frame it ever held
    (a subset's store adds its frames, the whole copy's frames stay). ``retry``: files unreadable or
    without a face before that changed since; units holding them are detected again."""
    fkey = faces_key(key)
    folder = Path(out or cache_root()) / f"{dataset}__faces__{cache_hash(fkey)}"
    done = folder / "faces.npz"
    ids = frame_ids(df)
    old = {}
    if done.is_file():
        with np.load(done) as z:
            old = dict(z)
    if (len(old.get("status", ())) == len(df) and np.array_equal(old.get("ids", ids), ids)
            and not _retried_in(old["status"], df["source"], retry)):
        return {k: old[k] for k in FACE_KEYS}  # (a cache from before frame ids: trusted on its length, as then)
    fids = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    chunks = _start_partial(folder.with_name(folder.name + ".partial"), {**fkey, "frames": fids})
    pos = {s: i for i, s in enumerate(old.get("ids", ()))}
    at = np.array([pos.get(s, -1) for s in ids], np.int64)
    sources, jobs = df["source"].tolist(), []
    for u, rows in enumerate(units):
        f = chunks / f"{u:06d}.npz"
        if f.is_file():
            continue
        if ((at[rows] >= 0).all() and (old["status"][at[rows]] != UNREADABLE).all()
                and not (retry and any(str(parse_source(sources[i])[0]) in retry for i in rows))):
            _save_npz(str(f), **{k: old[k][at[rows]] for k in FACE_KEYS})
        else:
            jobs.append((u, [sources[i] for i in rows], str(f)))
    _pool_run(_detect_unit, jobs, pol, workers, f"detect {dataset}", sum(len(j[1]) for j in jobs), progress)
    parts = [np.load(chunks / f"{u:06d}.npz") for u in range(len(units))]
    faces = {k: np.concatenate([p[k] for p in parts]) for k in FACE_KEYS}
    if jobs or not old:                         # new detections: the cache holds them beside every frame it had
        kept = ~np.isin(old["ids"], ids) if "ids" in old else np.zeros(0, bool)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "key.json").write_text(json.dumps(fkey, indent=1))
        _save_npz(str(done), ids=np.concatenate([old["ids"][kept], ids]) if kept.any() else ids,
                  **{k: np.concatenate([old[k][kept], faces[k]]) if kept.any() else faces[k] for k in FACE_KEYS})
    shutil.rmtree(chunks.parent)
    return faces


def _retried_in(status: np.ndarray, sources: pd.Series, files: set[str]) -> bool:
    """Whether a frame of one of ``files`` has status UNREADABLE or NO_FACE (detected again)."""
    if not files:
        return False
    return any(str(parse_source(s)[0]) in files for s in sources[status != OK])


def _assemble(df, units, partial: Path, path: Path, pol: AlignPolicy, key: dict, h: str, fp: str, *,
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
    meta = {"hash": h, "key": key, "fingerprint": fp, "frames": int(len(df)), "aligned": n,
            "unreadable_stats": file_stats(df["source"][status == UNREADABLE]),
            # image files where no face was found: one replaced (a re-extracted black frame) rebuilds the store
            "no_face_stats": file_stats(df["source"][(status == NO_FACE) & ~df["source"].str.contains("#")]),
            "wall_s": round(wall, 3), "frames_per_s": round(fps, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (partial / "meta.json").write_text(json.dumps(meta, indent=1))
    stale = path.with_name(path.name + ".stale")
    shutil.rmtree(stale, ignore_errors=True)
    if path.exists():  # a rebuild: the out-of-date store goes only once the new one is complete
        os.rename(path, stale)
    os.rename(partial, path)  # the store becomes visible only now, complete
    shutil.rmtree(stale, ignore_errors=True)
    return FrameStore(path)


def _qa(df: pd.DataFrame, status: np.ndarray, pol: AlignPolicy) -> dict:
    """Counts per subject of the index and of its QA (a subject left with no frame, e.g. an
    unreadable video, keeps its counts), their totals, and the unreadable sources by name."""
    index_qa = df.attrs.get("qa", {})
    counts = dict.fromkeys(QA_COUNTS, 0)
    per = {s: dict(counts) for s in sorted({*df["subject"], *index_qa.get("per_subject", {})})}
    for subj, c in index_qa.get("per_subject", {}).items():
        per[subj].update(c)
    for subj, st in zip(df["subject"], status):
        per[subj]["frames"] += 1
        per[subj][("aligned", "no_face", "unreadable")[int(st)]] += 1
    whole = index_qa.get("overall", {})                 # counted for the dataset, no subject (a stray file)
    keys = dict.fromkeys(k for c in [counts, *per.values(), whole] for k in c)  # QA_COUNTS, then any new ones
    totals = {k: int(sum(c.get(k, 0) for c in [*per.values(), whole])) for k in keys}
    per = {s: {k: int(c.get(k, 0)) for k in keys} for s, c in per.items()}   # one set of keys for every subject
    bad = df["source"][status == UNREADABLE].tolist()
    return {**totals, "policy": pol.name, "per_subject": per, "unreadable_files": bad,
            "unreadable_why": {s: _why_unreadable(s) for s in bad}, "no_face_frames": no_face_frames(df, status),
            "expected": dict(index_qa.get("expected", {})), "notes": index_qa.get("notes", [])}


def no_face_frames(df: pd.DataFrame, status: np.ndarray) -> dict[str, str]:
    """The frames without a face, per sequence ('subject/sequence', or the subject where the two are
    one): frame numbers as runs, '11-13, 20'."""
    miss = df[status == NO_FACE]
    out = {}
    for (subj, seq), g in miss.groupby(["subject", "sequence"], sort=True):
        out[subj if subj == seq else f"{subj}/{seq}"] = ranges(g["frame"], limit=None)
    return out


def _why_unreadable(source: str) -> str:
    """Why a frame could not be read, asked again of the file (the workers only say that it failed):
    read_bgr's reason for an image (missing, permission denied, empty, cut short, damaged JPEG), or
    that a video would not give the frame."""
    path, k = parse_source(source)
    if k is not None:
        return f"frame {k} of the video could not be decoded (cut short or damaged)"
    _, why = read_bgr(path)
    return why or "readable now (it failed while the store was built)"


def print_summary(store: FrameStore, fps: float | None = None, show: int = 5) -> None:
    """One line of every non-zero count, then the unreadable files, subjects left without any
    aligned frame and the index notes (the first `show` of each; all of them are in qa.json)."""
    q = store.qa
    known = q.get("expected", {})        # the dataset's own shortfalls (DISFA SN010's last label): not problems
    counts = [f"{k.replace('_', ' ')} " + (f"{v} expected" if v == known.get(k) else f"{v - known.get(k, 0)}"
                                           + (f" (+{known[k]} expected)" if known.get(k) else ""))
              for k, v in q.items() if k not in ("frames", "aligned") and type(v) is int and v]
    print(f"{store.dataset}/{store.policy.name}: {q['aligned']}/{q['frames']} frames aligned"
          + "".join(f"; {c}" for c in counts) + (f"; {fps:.1f} frames/s" if fps is not None else ""))
    lost = [s for s, c in q.get("per_subject", {}).items() if not c.get("aligned")]
    why = q.get("unreadable_why", {})
    bad = [f"{f}: {why[f]}" if f in why else f for f in q.get("unreadable_files", [])]
    no_face = [f"{k}: frames {v}" for k, v in q.get("no_face_frames", {}).items()]
    for what, items in (("unreadable (missing, cut short or not decodable)", bad),
                        ("frames without a face", no_face),
                        ("subjects without any aligned frame", lost), ("index notes", q.get("notes", []))):
        if items:
            more = f"\n    ... {len(items) - show} more in qa.json" if len(items) > show else ""
            print(f"  {what}:" + "".join(f"\n    {i}" for i in items[:show]) + more)
    print(f"  store {store.path}")
