"""Label-file parsing shared by the dataset readers, and the QA counters of `index()`.

Rules (issue #3): a line that does not parse is an error naming file and line; a
value the dataset marks invalid (BP4D 9, Aff-Wild2 -1, EmotioNet 999) becomes NaN and
is counted per subject; frames present on one side only (labels without an image or
video frame, images without labels) are excluded and counted.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

INDEX_COLUMNS = ["subject", "sequence", "frame", "source"]
QA_KEYS = ("invalid_codes", "out_of_range", "label_without_frame", "frame_without_label",
           "missing_label_file")


class LabelFormatError(ValueError):
    """A label file line that cannot be parsed (message: file:line: reason)."""


class QA:
    """Per-subject counters, exported as `df.attrs['qa']`."""

    def __init__(self):
        self.per_subject: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(QA_KEYS, 0))
        self.notes: list[str] = []

    def add(self, subject: str, key: str, n: int = 1) -> None:
        if n:
            self.per_subject[subject][key] += int(n)

    def as_dict(self) -> dict:
        totals = dict.fromkeys(QA_KEYS, 0)
        for counts in self.per_subject.values():
            for k, v in counts.items():
                totals[k] += v
        return {**totals, "per_subject": {s: dict(c) for s, c in sorted(self.per_subject.items())},
                "notes": list(self.notes)}


def au_col(au: int, occurrence: bool = False) -> str:
    return ("occ_" if occurrence else "") + f"AU{int(au):02d}"


def au_number(name) -> int:
    """'AU12', 'occ_AU12', 'AU 12', '12', 12 -> 12."""
    if isinstance(name, (int, np.integer)):
        return int(name)
    m = re.fullmatch(r"\s*(?:occ_)?(?:AU)?\s*0*(\d+)\s*", str(name), flags=re.I)
    if not m:
        raise ValueError(f"not an AU name: {name!r}")
    return int(m.group(1))


def _number(tok: str, path: Path, lineno: int) -> float:
    try:
        return float(tok)
    except ValueError:
        raise LabelFormatError(f"{path}:{lineno}: cannot parse {tok!r} as a number") from None


def read_table(path: Path, *, header: bool, ncols: int | None = None,
               sep: str | None = None) -> tuple[list[str] | None, np.ndarray]:
    """Numeric table (rows, cols) from a small text file, with file:line errors.

    `sep=None` accepts commas or whitespace. Blank lines are skipped.
    """
    path = Path(path)
    rows: list[list[float]] = []
    names = None
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            toks = [t.strip() for t in (re.split(r"[,\s]+", line) if sep is None else line.split(sep))]
            if header and names is None:
                names = toks
                continue
            width = ncols or (len(names) if names else None)
            if width is not None and len(toks) != width:
                raise LabelFormatError(f"{path}:{lineno}: expected {width} fields, got {len(toks)}: {line!r}")
            rows.append([_number(t, path, lineno) for t in toks])
    width = ncols or (len(names) if names else 0)
    return names, np.asarray(rows, dtype=np.float64).reshape(-1, width)


def clean_codes(values: np.ndarray, *, invalid: float | None, lo: float, hi: float,
                qa: QA, subject: str) -> np.ndarray:
    """Invalid codes and out-of-range values -> NaN (both counted)."""
    v = values.astype(np.float64, copy=True)
    if invalid is not None:
        bad = v == invalid
        qa.add(subject, "invalid_codes", int(bad.sum()))
        v[bad] = np.nan
    out = np.isfinite(v) & ((v < lo) | (v > hi))
    qa.add(subject, "out_of_range", int(out.sum()))
    v[out] = np.nan
    return v


def frame_number(stem: str) -> int | None:
    """'732' and '0732' -> 732; names that are not integers -> None."""
    return int(stem) if stem.isdigit() else None


def finish(frames: list[pd.DataFrame], qa: QA, dataset: str, root: Path,
           columns: tuple[str, ...] | list[str] = ()) -> pd.DataFrame:
    """Concatenate per-sequence frames, add missing label `columns` (NaN), order, attach QA."""
    if not frames:
        raise FileNotFoundError(f"{dataset}: no frames found under {root}")
    df = pd.concat(frames, ignore_index=True)
    for c in columns:
        if c not in df:
            df[c] = np.nan
    au = sorted([c for c in df.columns if c.startswith("AU")])
    occ = sorted([c for c in df.columns if c.startswith("occ_AU")])
    rest = [c for c in df.columns if c not in INDEX_COLUMNS and c not in au and c not in occ]
    df = df[INDEX_COLUMNS + au + occ + rest]
    df["frame"] = df["frame"].astype(np.int64)
    for c in au + occ:
        df[c] = df[c].astype(np.float32)
    df = df.sort_values(["subject", "sequence", "frame"], kind="stable").reset_index(drop=True)
    df.attrs["qa"] = qa.as_dict()
    df.attrs["dataset"] = dataset
    df.attrs["root"] = str(root)
    return df
