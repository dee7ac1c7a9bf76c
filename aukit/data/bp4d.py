"""BP4D-Spontaneous reader (also reads the SynthAU tree written in BP4D format).

Layout (REFERENCE.md; patterns in data_manifest.yaml):
  frames      2D/<subject>/<task>/<frame>.jpg       ('732.jpg' and '0732.jpg')
  occurrence  AUCoding/AU_OCC/<subject>_<task>.csv  header; column 0 = frame; 0/1/9
  intensity   AUCoding/AU_INT/AU06/<subject>_<task>_AU06.csv (or 'AU Intensity Codes3.0')
              no header; rows frame,intensity; 0..5, 9 = invalid
Rows are the frames that have an image and at least one label; frames labelled but
without an image, and images without any label, are excluded and counted. A
sequence with no label file at all (unlabelled copy) keeps all its images, AUs NaN.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import QA, LabelFormatError, au_col, au_number, clean_codes, finish, frame_number, read_table
from .manifest import as_list, entry
from .scan import fill, scan


def _frames(root: Path, pattern: str, qa: QA) -> dict[tuple[str, str], dict[int, Path]]:
    seqs: dict[tuple[str, str], dict[int, Path]] = defaultdict(dict)
    for fields, path in scan(root, pattern):
        n = frame_number(fields["frame"])
        if n is None:
            continue
        seq = seqs[(fields["subject"], fields["task"])]
        if n in seq:  # both 732.jpg and 0732.jpg: keep the first, say so
            qa.notes.append(f"duplicate frame {n}: {seq[n].name} and {path.name} in {path.parent}")
            continue
        seq[n] = path
    return seqs


def _occurrence(path: Path, invalid, qa: QA, subject: str) -> pd.DataFrame:
    names, t = read_table(path, header=True)
    if names is None or len(names) < 2:
        raise LabelFormatError(f"{path}:1: expected a header 'frame,AU1,AU2,...'")
    try:
        aus = [au_number(n) for n in names[1:]]
    except ValueError as e:
        raise LabelFormatError(f"{path}:1: {e}") from None
    out = {"frame": t[:, 0].astype(np.int64)}
    for j, au in enumerate(aus, start=1):
        out[au_col(au, occurrence=True)] = clean_codes(t[:, j], invalid=invalid, lo=0, hi=1,
                                                      qa=qa, subject=subject)
    return pd.DataFrame(out).drop_duplicates("frame", keep="first")


def _intensity(path: Path, au: int, invalid, qa: QA, subject: str) -> pd.DataFrame:
    _, t = read_table(path, header=False, ncols=2)
    v = clean_codes(t[:, 1], invalid=invalid, lo=0, hi=5, qa=qa, subject=subject)
    return pd.DataFrame({"frame": t[:, 0].astype(np.int64), au_col(au): v}).drop_duplicates("frame")


def read(root: Path, dataset: str = "bp4d") -> pd.DataFrame:
    """One row per labelled frame: subject, sequence (task), frame, source, AUxx, occ_AUxx."""
    e = entry(dataset)
    pats = e["patterns"]
    invalid = e.get("invalid_code", 9)
    int_aus = [int(a) for a in e.get("intensity_aus", [])]
    occ_aus = [int(a) for a in e.get("occurrence_aus", [])]
    qa = QA()
    seqs = _frames(root, pats["frames"], qa)
    parts = []
    for (subject, task), frames in sorted(seqs.items()):
        labels = []
        occ_path, _ = fill(root, as_list(pats.get("occurrence")), subject=subject, task=task)
        if occ_path is not None:
            labels.append(_occurrence(occ_path, invalid, qa, subject))
        n_int_files = 0
        for au in int_aus:
            p, _ = fill(root, as_list(pats.get("intensity")), subject=subject, task=task, au=au)
            if p is not None:
                labels.append(_intensity(p, au, invalid, qa, subject))
                n_int_files += 1
        if n_int_files and n_int_files < len(int_aus):
            qa.add(subject, "missing_label_file", len(int_aus) - n_int_files)
        img = pd.DataFrame({"frame": np.fromiter(frames.keys(), np.int64),
                            "source": [str(p) for p in frames.values()]})
        if labels:
            lab = labels[0]
            for other in labels[1:]:
                lab = lab.merge(other, on="frame", how="outer")
            have = set(img["frame"])
            labelled = set(lab["frame"])
            qa.add(subject, "label_without_frame", len(labelled - have))
            qa.add(subject, "frame_without_label", len(have - labelled))
            df = img.merge(lab, on="frame", how="inner")
        else:
            df = img
        df.insert(0, "subject", subject)
        df.insert(1, "sequence", task)
        parts.append(df)
    cols = [au_col(a) for a in int_aus] + [au_col(a, True) for a in occ_aus]
    return finish(parts, qa, dataset, root, cols)
