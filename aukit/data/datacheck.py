"""`aukit data check`: validate every present dataset against its data_manifest.yaml entry.

Per dataset: the root used and where it came from, subject/frame counts against the
manifest and the committed folds (which subjects are missing), problems (counts that
lose frames or labels), information (codes the dataset itself marks invalid, known
properties such as DISFA SN010's short labels) and the reader's notes, a few per kind.
A part of a dataset's copy (bp4d_unlabelled) is checked like a dataset; a copy where it has no frame
(every BP4D image coded) shows it ``empty``, which is an error only when it is named. The datasets of the
user's own (entries with ``layout:``) are listed after aukit's; an entry with an unknown key (or an unknown
notebook in ``notebooks:``) is ``unreadable`` with the manifest's message, and the other datasets are still
checked; one whose ``folds`` leave out a subject of its copy, one whose labels look shifted in some sequences,
or one whose CSVs hold no AU column, is ``unusable`` (read, but every run refuses it or it has no label).
"""
from __future__ import annotations

import pandas as pd

from .bp4d import NoUnlabelledFrames
from .catalog import index
from .labelio import QA_KEYS, LabelFormatError
from .manifest import (DATASETS, DatasetNotFound, RootNotFound, candidate_roots, custom_datasets, entry, is_custom,
                       notebook_names, occurrence_rule, part_of, resolve_root)
from .schema import ManifestError
from .splits import copy_gaps, fold_source, folds, partial_allowed

FRAME_TOLERANCE = 0.10  # expected frame counts are approximate across copies of a dataset
NOTES_PER_KIND = 3
# counted by the readers but not a problem: the dataset's own "not coded" codes (BP4D 9, 999, -1)
INFO_KEYS = ("invalid_codes",)
# reader notes that are problems themselves: a diagnosis, said in full (not only as the counts it explains)
PROBLEM_NOTES = ("no_labels: ", "shifted_labels: ", "label_kind: ", "no_au_column: ")
# reader notes that leave a dataset of the user's own nothing to train on: read, but every run refuses it
UNUSABLE_NOTES = ("no_au_column: ",)
COUNTS = ["subjects", "expected_subjects", "frames", "expected_frames"]


def _row(dataset: str, e: dict) -> dict:
    exp = e.get("expected") or {}
    return {"dataset": dataset, "found": False, "status": "missing", "subjects": None,
            "expected_subjects": exp.get("subjects"), "frames": None, "expected_frames": exp.get("frames"),
            "notebooks": ",".join(notebook_names(e.get("notebooks"))), "root": None, "root_from": None,
            "problems": "", "info": "", "notes": []}


def _fold_findings(dataset: str, subjects: set[str]) -> tuple[list[str], list[str], bool]:
    """(problems, info, unusable) about the copy's subjects and the dataset's folds; a dataset of the user's own
    says where its folds come from, and folds that leave out one of its subjects make it unusable (every run
    refuses it: :func:`aukit.data.splits.fold_subjects`)."""
    problems, info = [], []
    own = is_custom(dataset)
    whose = "the entry's folds" if own else "the committed folds"
    if own:
        info.append(f"a dataset of your own (layout {entry(dataset)['layout']}); folds: {fold_source(dataset)}")
        if occurrence_rule(dataset):     # what RTATL and PIAP-DF detect on it
            info.append(f"occurrence labels (RTATL, PIAP-DF): {occurrence_rule(dataset)}")
    try:
        listed = set().union(*folds(dataset, subjects=sorted(subjects)).values())
    except ManifestError as err:       # a subject of the copy in no part of the entry's folds
        return problems + [str(err)], info, True
    if listed - subjects:
        gone = sorted(listed - subjects)
        if part_of(dataset):            # the whole dataset's check names subjects the copy lacks
            info.append(f"{len(gone)} subjects of {part_of(dataset)}'s folds have no frame here: {', '.join(gone)}")
        else:
            problems.append(f"{len(gone)} subject{'s' if len(gone) > 1 else ''} of {whose} not found: "
                            f"{', '.join(gone)}")
    if subjects - listed:
        info.append(f"subjects outside the committed folds (fold-based notebooks skip them): "
                    f"{', '.join(sorted(subjects - listed))}")
    return problems, info, False


def _check_one(dataset: str, root=None) -> dict:
    try:
        e = entry(dataset)
    except ManifestError as err:        # a typo in the entry: said, and the other datasets still checked
        return {**_row(dataset, {}), "status": "unreadable", "problems": str(err)}
    row = _row(dataset, e)
    exp = e.get("expected") or {}
    try:
        row["root"] = str(resolve_root(dataset, root))
    except RootNotFound as err:  # a root set for this dataset that points nowhere: an error
        row["status"], row["problems"] = "unreadable", str(err)
        return row
    except DatasetNotFound as err:
        row["problems"] = str(err)          # what was tried: shown when the dataset was asked for by name
        return row
    row["root_from"] = next(src for src, p in candidate_roots(dataset, root) if p.is_dir())
    row["found"] = True
    try:
        df = index(dataset, row["root"])
    except NoUnlabelledFrames as err:   # found, but no frame of this part of the copy
        row["status"], row["subjects"], row["frames"], row["info"] = "empty", 0, 0, str(err)
        return row
    except (OSError, ValueError, KeyError) as err:
        kind = "" if isinstance(err, (LabelFormatError, OSError)) else f"{type(err).__name__}: "
        row["status"], row["problems"] = "unreadable", f"unreadable: {kind}{err}"
        return row
    subjects = set(df["subject"])
    row["subjects"], row["frames"] = len(subjects), len(df)
    problems, info, unusable = _fold_findings(dataset, subjects)
    if exp.get("subjects") is not None and row["subjects"] != exp["subjects"]:
        problems.append(f"{row['subjects']} subjects, expected {exp['subjects']}")
    if not part_of(dataset):           # bp4d_unlabelled: unlabelled, and a part of the copy's sequences
        gaps = copy_gaps(dataset, df)
        if gaps["unlabelled"]:
            n = len(gaps["unlabelled"])
            problems.append(f"{n} subject{' has' if n == 1 else 's have'} frames but no label: "
                            f"{', '.join(gaps['unlabelled'])} (a run's fold counts {'it' if n == 1 else 'them'} "
                            "as missing)")
        if gaps["sequences"]:
            seqs = gaps["sequences"]
            problems.append(f"{len(seqs)} sequence{'s' if len(seqs) > 1 else ''} missing from subjects that have "
                            f"others: {', '.join(seqs[:12])}"
                            f"{', ...' if len(seqs) > 12 else ''}")
        if gaps["short"]:
            problems.append(f"the copy lacks {gaps['short']}")
    if exp.get("frames") and abs(row["frames"] - exp["frames"]) > FRAME_TOLERANCE * exp["frames"]:
        problems.append(f"{row['frames']} frames, expected ~{exp['frames']}")
    qa = df.attrs.get("qa", {})
    expected = qa.get("expected", {})
    for k in QA_KEYS:
        n = qa.get(k, 0) - expected.get(k, 0)
        if n and k in INFO_KEYS:
            info.append(f"{k}={n} (codes the dataset itself marks not coded or invalid, NaN in the index)")
        elif n:
            problems.append(f"{k}={n}")
    notes = qa.get("notes", [])
    problems += [n.partition(": ")[2] for n in notes if n.startswith(PROBLEM_NOTES)]
    info += [n.partition(": ")[2] for n in notes if n.startswith(("expected: ", "info: "))]
    row["notes"] = [n for n in notes if not n.startswith((*PROBLEM_NOTES, "expected: ", "info: "))]
    if is_custom(dataset) and any(n.startswith("shifted_labels: ") for n in notes) and not partial_allowed():
        unusable = True                     # every run refuses it (splits.check_shifts): data check says so too
    unusable |= any(n.startswith(UNUSABLE_NOTES) for n in notes)
    row["status"] = "unusable" if unusable else "problems" if problems else "ok"
    # one line each: a message may hold '; ' itself (the manifest's advice)
    row["problems"], row["info"] = "\n".join(problems), "\n".join(info)
    return row


def check(datasets=None, roots: dict | None = None) -> pd.DataFrame:
    """One row per dataset: found, status, root, subject/frame counts vs expected, problems, info, notes."""
    roots = roots or {}
    df = pd.DataFrame([_check_one(d, roots.get(d)) for d in (datasets or DATASETS + custom_datasets())])
    df[COUNTS] = df[COUNTS].astype("Int64")
    return df


def _details(row) -> list[str]:
    """The text under a dataset's table row: root, problems, information, notes (a few per kind)."""
    out = [f"{row['dataset']}: root {row['root']} (from {row['root_from']})" if row["found"]
           else row["dataset"]]
    if row["status"] == "unreadable":
        return out + ["  " + line for line in row["problems"].splitlines()]
    if row["status"] == "empty":
        return out + ["  " + line for line in row["info"].splitlines()]
    out += [f"  problem: {p}" for p in row["problems"].splitlines() if p]
    out += [f"  info: {p}" for p in row["info"].splitlines() if p]
    kinds: dict[str, list[str]] = {}
    for n in row["notes"]:
        kind, _, msg = n.partition(": ")
        kinds.setdefault(kind, []).append(msg)
    for kind, msgs in kinds.items():
        out.append(f"  {kind} ({len(msgs)}):")
        out += [f"    {m}" for m in msgs[:NOTES_PER_KIND]]
        if len(msgs) > NOTES_PER_KIND:
            out.append(f"    ... and {len(msgs) - NOTES_PER_KIND} more")
    return out


def print_check(datasets=None, roots: dict | None = None) -> pd.DataFrame:
    """Print the check table (what `aukit data check` shows) and the details of every dataset found."""
    df = check(datasets, roots)
    cols = ["dataset", "found", "status", *COUNTS, "notebooks"]
    with pd.option_context("display.width", 200):
        print(df[cols].to_string(index=False))
    for _, row in df[df["status"] != "missing"].iterrows():
        print("\n" + "\n".join(_details(row)))
    missing = df[df["status"] == "missing"]["dataset"].tolist()
    if datasets:                            # named: say where each was looked for
        for _, row in df[df["status"] == "missing"].iterrows():
            print("\n" + row["problems"])
    elif missing:
        print(f"\nmissing: {', '.join(missing)} (set roots in data_manifest.yaml or env AUKIT_DATA; "
              f"no licensed copy: `aukit synth` and use the synthau-* datasets)")
    return df
