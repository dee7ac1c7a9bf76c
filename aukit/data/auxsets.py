"""Readers for CASIA-WebFace and AFEW-VA (the other side sets: affwild2.py, emotionet.py).

- CASIA-WebFace: <identity>/<image>.jpg; subject = sequence = identity.
- AFEW-VA: <clip>/<frame>.png + <clip>/<clip>.json; columns arousal, valence; the 68
  annotated landmarks per frame come from `afew_va_landmarks(df)`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import QA, LabelFormatError, finish, frame_number, note_ignored, ranges
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
            df["arousal"] = [ann.get(n, {}).get("arousal", np.nan) for n in df["frame"]]
            df["valence"] = [ann.get(n, {}).get("valence", np.nan) for n in df["frame"]]
            bare = [n for n in df["frame"] if n not in ann]
            qa.add(clip, "frame_without_label", len(bare))
            if bare:
                qa.note("frame_without_label", f"{root / rel}: no entry for {len(bare)} frame(s) with an image, "
                                               f"kept without valence, arousal, landmarks (frames {ranges(bare)})")
        else:
            qa.add(clip, "missing_label_file")
            qa.note("missing_label_file", f"{clip}: {rel} {absent(root, rel)} (its {len(df)} frames are read "
                                          "without valence, arousal, landmarks)")
        parts.append(df)
    return finish(parts, qa, dataset, root, pattern=e["patterns"]["frames"])


def _afew_annotation(root: Path, e: dict, clip: str) -> dict[int, dict] | None:
    p = root / e["patterns"]["annotation"].format(clip=clip)
    if not p.is_file():
        return None
    try:
        frames = json.loads(p.read_text())["frames"]
    except (json.JSONDecodeError, KeyError) as err:
        raise LabelFormatError(f"{p}: not an AFEW-VA annotation ({err})") from None
    return {int(k): v for k, v in frames.items()}


def afew_va_landmarks(df: pd.DataFrame, dataset: str = "afew_va") -> np.ndarray:
    """Annotated 68 landmarks (N, 68, 2) float32 in source-image pixels; NaN where absent."""
    root = Path(df.attrs["root"])
    e = entry(dataset)
    out = np.full((len(df), 68, 2), np.nan, np.float32)
    cache: dict[str, dict | None] = {}
    for i, (clip, frame) in enumerate(zip(df["sequence"], df["frame"])):
        if clip not in cache:
            cache[clip] = _afew_annotation(root, e, clip)
        lm = (cache[clip] or {}).get(int(frame), {}).get("landmarks")
        if lm is not None:
            out[i] = np.asarray(lm, np.float32).reshape(68, 2)
    return out
