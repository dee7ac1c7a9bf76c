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

from .labelio import QA, LabelFormatError, finish, frame_number, note_ignored
from .manifest import entry
from .scan import scan


def seq_frames(root: Path, pattern: str, group: str, qa: QA | None = None
                ) -> dict[str, list[tuple[int, Path]]]:
    """Frames per `group` value; with `qa`, other files in the frame folders are counted and named."""
    seqs: dict[str, list[tuple[int, Path]]] = {}
    stray: list[tuple[dict, Path]] = []
    for f, p in scan(root, pattern, stray):
        seqs.setdefault(f[group], []).append((int(f["frame"]), p))
    if qa is not None:
        note_ignored(qa, stray, f"not a frame image ({pattern})", subject=group)
    return {k: sorted(v) for k, v in seqs.items()}


def read_casia(root: Path, dataset: str = "casia_webface") -> pd.DataFrame:
    e = entry(dataset)
    files = scan(root, e["patterns"]["images"])
    ident = [f["identity"] for f, _ in files]
    names = [f["name"] for f, _ in files]
    frame = [frame_number(n) if frame_number(n) is not None else -1 for n in names]
    df = pd.DataFrame({"subject": ident, "sequence": ident, "frame": frame,
                       "source": [str(p) for _, p in files]})
    # non-numeric names: number them within the identity, in path order
    unnamed = df["frame"] < 0
    if unnamed.any():
        df.loc[unnamed, "frame"] = df[unnamed].groupby("subject").cumcount()
    return finish([df], QA(), dataset, root)


def read_afew_va(root: Path, dataset: str = "afew_va") -> pd.DataFrame:
    e = entry(dataset)
    qa = QA()
    parts = []
    for clip, frames in sorted(seq_frames(root, e["patterns"]["frames"], "clip").items()):
        df = pd.DataFrame({"subject": clip, "sequence": clip, "frame": [n for n, _ in frames],
                           "source": [str(p) for _, p in frames]})
        ann = _afew_annotation(root, e, clip)
        if ann is not None:
            df["arousal"] = [ann.get(n, {}).get("arousal", np.nan) for n in df["frame"]]
            df["valence"] = [ann.get(n, {}).get("valence", np.nan) for n in df["frame"]]
            qa.add(clip, "frame_without_label", int(sum(n not in ann for n in df["frame"])))
        else:
            qa.add(clip, "missing_label_file")
        parts.append(df)
    return finish(parts, qa, dataset, root)


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
