"""Readers for CASIA-WebFace and AFEW-VA (the other side sets: affwild2.py, emotionet.py).

- CASIA-WebFace: <identity>/<image>.jpg; subject = sequence = identity.
- AFEW-VA: <clip>/<frame>.png + <clip>/<clip>.json; columns arousal, valence (-10..10); the
  68 annotated landmarks per frame come from `afew_va_landmarks(df)`. Checked, counted and
  named (read as absent): values null or outside -10..10, landmarks not 68 x 2 points, frames
  without an entry and entries without an image. An annotation file that does not parse is an
  error naming it (the annotations are what PIAP-DF reads AFEW-VA for).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import QA, LabelFormatError, clean_codes, finish, frame_number, note_ignored, ranges
from .manifest import entry
from .scan import absent, scan


def seq_frames(root: Path, pattern: str, group: str, qa: QA | None = None, belong: set[Path] = frozenset()
               ) -> dict[str, list[tuple[int, Path]]]:
    """Frames per `group` value; with `qa`, other files in the frame folders (but those in
    `belong`, such as AFEW-VA's annotations), and a second file for one frame number ('1.jpg'
    beside '001.jpg': the first in path order is read), are counted and named."""
    seqs: dict[str, dict[int, Path]] = {}
    stray: list[tuple[dict, Path]] = []
    for f, p in scan(root, pattern, stray):
        seq, n = seqs.setdefault(f[group], {}), int(f["frame"])
        if n in seq:
            if qa is not None:
                note_ignored(qa, [(f, p)], f"second image of frame {n} ({seq[n].name} is read)", subject=group)
            continue
        seq[n] = p
    if qa is not None:
        note_ignored(qa, [(f, p) for f, p in stray if p not in belong], f"not a frame image ({pattern})",
                     subject=group)
    return {k: sorted(v.items()) for k, v in seqs.items()}


def read_casia(root: Path, dataset: str = "casia_webface") -> pd.DataFrame:
    e = entry(dataset)
    pattern = e["patterns"]["images"]
    qa = QA()
    stray: list[tuple[dict, Path]] = []
    files = scan(root, pattern, stray)
    note_ignored(qa, stray, f"not an image ({pattern})", subject="identity")
    rows, seen = [], {}
    for f, p in files:          # path order: '001.jpg' before '1.jpg'
        n = frame_number(f["name"])
        if n is not None and (f["identity"], n) in seen:
            note_ignored(qa, [(f, p)], f"second image of frame {n} ({seen[f['identity'], n].name} is read)",
                         subject="identity")
            continue
        if n is not None:
            seen[f["identity"], n] = p
        rows.append((f["identity"], -1 if n is None else n, str(p)))
    df = pd.DataFrame(rows, columns=["subject", "frame", "source"])
    df.insert(1, "sequence", df["subject"])
    # non-numeric names ('face.jpg'): numbered within the identity after its numbered images, in path order
    unnamed = df["frame"] < 0
    if unnamed.any():
        last = df[~unnamed].groupby("subject")["frame"].max()
        start = df.loc[unnamed, "subject"].map(last).fillna(-1).astype(np.int64) + 1
        df.loc[unnamed, "frame"] = start + df[unnamed].groupby("subject").cumcount()
    return finish([df], qa, dataset, root, pattern=pattern)


def read_afew_va(root: Path, dataset: str = "afew_va") -> pd.DataFrame:
    e = entry(dataset)
    qa = QA()
    parts = []
    notes = {p for _, p in scan(root, e["patterns"]["annotation"])}
    for clip, frames in sorted(seq_frames(root, e["patterns"]["frames"], "clip", qa, notes).items()):
        df = pd.DataFrame({"subject": clip, "sequence": clip, "frame": [n for n, _ in frames],
                           "source": [str(p) for _, p in frames]})
        rel = e["patterns"]["annotation"].format(clip=clip)
        ann = _afew_annotation(root, e, clip)
        if ann is not None:
            _afew_check(root / rel, ann, df, qa, clip)
        else:
            qa.add(clip, "missing_label_file")
            qa.note("missing_label_file", f"{clip}: {rel} {absent(root, rel)} (its {len(df)} frames are read "
                                          "without valence, arousal, landmarks)")
        parts.append(df)
    return finish(parts, qa, dataset, root, pattern=e["patterns"]["frames"])


def _afew_check(path: Path, ann: dict[int, dict], df: pd.DataFrame, qa: QA, clip: str) -> None:
    """Add arousal and valence to `df` (one clip's frames) from its annotation `ann`, counting and
    naming frames without an entry, entries without an image, null or absent values, values
    outside -10..10 and landmarks that are not 68 x 2 points (all read as absent)."""
    img = df["frame"].to_numpy(np.int64)
    bare = [n for n in img if n not in ann]
    qa.add(clip, "frame_without_label", len(bare))
    if bare:
        qa.note("frame_without_label", f"{path}: no entry for {len(bare)} frame(s) with an image, "
                                       f"kept without valence, arousal, landmarks (frames {ranges(bare)})")
    orphan = sorted(set(ann) - set(img))
    qa.add(clip, "label_without_frame", len(orphan))
    if orphan:
        qa.note("label_without_frame", f"{path}: {len(orphan)} annotated frame(s) without an image "
                                       f"(frames {ranges(orphan)})")
    entries = [ann[n] for n in img if n in ann]
    have = img[np.isin(img, list(ann))]
    for field in ("arousal", "valence"):
        raw = [x.get(field) for x in entries]
        null = [n for n, v in zip(have, raw) if v is None]
        wrong = [(n, v) for n, v in zip(have, raw) if v is not None and (isinstance(v, bool)
                                                                         or not isinstance(v, (int, float)))]
        if wrong:
            raise LabelFormatError(f"{path}: frame {wrong[0][0]}: {field} is {wrong[0][1]!r}, expected a number")
        qa.add(clip, "missing_value", len(null))
        if null:
            qa.note("missing_value", f"{path}: {field} null or absent in {len(null)} frame(s) (frames {ranges(null)})")
        v = np.array([np.nan if x is None else x for x in raw], np.float64)
        v = clean_codes(v, invalid=None, lo=-10, hi=10, qa=qa, subject=clip, path=path, frames=have, column=field)
        col = np.full(len(df), np.nan)
        col[np.isin(img, have)] = v
        df[field] = col
    bad = [(n, why) for n, x in zip(have, entries) for _, why in [_points(x.get("landmarks"))] if why]
    null = [n for n, why in bad if why == "null or absent"]
    shape = [(n, why) for n, why in bad if why != "null or absent"]
    qa.add(clip, "missing_value", len(null))
    if null:
        qa.note("missing_value", f"{path}: landmarks null or absent in {len(null)} frame(s) (frames {ranges(null)})")
    qa.add(clip, "bad_landmarks", len(shape))
    if shape:
        qa.note("bad_landmarks", f"{path}: landmarks of {len(shape)} frame(s) are not 68 x 2 points, read as absent "
                                 f"(frames {ranges([n for n, _ in shape])}; first: {shape[0][1]})")


def _points(v) -> tuple[np.ndarray | None, str]:
    """An annotation's landmarks as (68, 2) float32, or None and why not."""
    if v is None:
        return None, "null or absent"
    try:
        a = np.asarray(v, np.float32)
    except (TypeError, ValueError):
        return None, "not a list of [x, y] numbers"
    if a.shape != (68, 2):
        return None, f"shape {' x '.join(map(str, a.shape)) or 'scalar'}"
    if not np.isfinite(a).all():
        return None, "not finite"
    return a, ""


def _afew_annotation(root: Path, e: dict, clip: str) -> dict[int, dict] | None:
    p = root / e["patterns"]["annotation"].format(clip=clip)
    if not p.is_file():
        return None
    try:
        frames = json.loads(p.read_text())["frames"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise LabelFormatError(f"{p}: not an AFEW-VA annotation ({type(err).__name__}: {err})") from None
    if not isinstance(frames, dict):
        raise LabelFormatError(f"{p}: 'frames' is a {type(frames).__name__}, expected an object of frame entries")
    out = {}
    for k, v in frames.items():
        if not str(k).isdigit() or not isinstance(v, dict):
            raise LabelFormatError(f"{p}: frame entry {k!r} is not '<frame number>': {{...}}")
        out[int(k)] = v
    return out


def afew_va_landmarks(df: pd.DataFrame, dataset: str = "afew_va") -> np.ndarray:
    """Annotated 68 landmarks (N, 68, 2) float32 in source-image pixels; NaN where absent or not
    68 x 2 points (the index counts and names those: `aukit data check afew_va`)."""
    root = Path(df.attrs["root"])
    e = entry(dataset)
    out = np.full((len(df), 68, 2), np.nan, np.float32)
    cache: dict[str, dict | None] = {}
    for i, (clip, frame) in enumerate(zip(df["sequence"], df["frame"])):
        if clip not in cache:
            cache[clip] = _afew_annotation(root, e, clip)
        lm, _ = _points((cache[clip] or {}).get(int(frame), {}).get("landmarks"))
        if lm is not None:
            out[i] = lm
    return out
