"""`aukit data check`: validate every present dataset against its data_manifest.yaml entry."""
from __future__ import annotations

import pandas as pd

from .catalog import index
from .labelio import LabelFormatError
from .manifest import DATASETS, DatasetNotFound, entry, resolve_root

FRAME_TOLERANCE = 0.10  # expected frame counts are approximate across copies of a dataset


def _check_one(dataset: str, root=None) -> dict:
    e = entry(dataset)
    exp = e.get("expected") or {}
    row = {"dataset": dataset, "found": False, "root": None, "subjects": None,
           "expected_subjects": exp.get("subjects"), "frames": None,
           "expected_frames": exp.get("frames"), "notebooks": ",".join(e.get("notebooks", [])),
           "problems": ""}
    try:
        row["root"] = str(resolve_root(dataset, root))
    except DatasetNotFound:
        row["problems"] = "missing"
        return row
    row["found"] = True
    problems = []
    try:
        df = index(dataset, row["root"])
    except (LabelFormatError, FileNotFoundError, KeyError) as err:
        row["problems"] = f"unreadable: {err}"
        return row
    row["subjects"] = int(df["subject"].nunique())
    row["frames"] = int(len(df))
    if exp.get("subjects") is not None and row["subjects"] != exp["subjects"]:
        problems.append(f"{row['subjects']} subjects, expected {exp['subjects']}")
    if exp.get("frames") and abs(row["frames"] - exp["frames"]) > FRAME_TOLERANCE * exp["frames"]:
        problems.append(f"{row['frames']} frames, expected ~{exp['frames']}")
    qa = df.attrs.get("qa", {})
    for k in ("invalid_codes", "out_of_range", "label_without_frame", "frame_without_label",
              "missing_label_file"):
        if qa.get(k):
            problems.append(f"{k}={qa[k]}")
    row["problems"] = "; ".join(problems)
    return row


def check(datasets=None, roots: dict | None = None) -> pd.DataFrame:
    """One row per dataset: found, root, subject/frame counts vs expected, problems."""
    roots = roots or {}
    return pd.DataFrame([_check_one(d, roots.get(d)) for d in (datasets or DATASETS)])


def print_check(datasets=None, roots: dict | None = None) -> pd.DataFrame:
    """Print the check table (what `aukit data check` shows) and return it."""
    df = check(datasets, roots)
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(df.drop(columns=["root"]).to_string(index=False))
    missing = df[~df["found"]]["dataset"].tolist()
    if missing:
        print(f"\nmissing: {', '.join(missing)} (set roots in data_manifest.yaml or env AUKIT_DATA; "
              f"no licensed copy: `aukit synth` and use the synthau-* datasets)")
    return df
