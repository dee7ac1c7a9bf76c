"""Committed subject splits (FERA2015; JAA-Net's / ME-GraphAU's 3 folds), SynthAU folds from its meta.json.

BP4D: the JAA-Net / ME-GraphAU subject-exclusive 3-fold split (fold k tests on part k,
trains on the other two) and the FERA2015 intensity split (train = odd subject numbers,
test = even). DISFA: the JAA-Net / ME-GraphAU 3-fold split.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ..config import closest
from .manifest import base_name, check_name, entry, is_custom, manifest_path, part_of, synthau_root
from .schema import ManifestError

ALLOW_PARTIAL = "AUKIT_ALLOW_PARTIAL"   # env: run a fold on the subjects a copy has (or on labels that look shifted)
PARTIAL: list[str] = []   # this process's folds run on an incomplete copy (every report table names them)
USED: dict[str, int | str] = {}   # dataset -> the fold this process's data loaders split it by (report labels)
SUBJECTS: dict[str, dict] = {}    # dataset -> that fold's train/test subjects and their source (run.yaml)


class IncompleteCopy(ValueError):
    """A real dataset's fold has subjects the copy lacks: scores on part of a fold are not the paper's protocol
    (for a dataset of the user's own, not the fold its entry defines)."""


class ShiftedLabels(ValueError):
    """A copy of the user's own whose labels look shifted against their frames in some sequences."""

BP4D_PARTS = {
    "part1": "F001 M007 F018 F008 F002 M004 F010 F009 M012 M001 F016 M014 F023 M008".split(),
    "part2": "M011 F003 M010 M002 F005 F022 M018 M017 F013 M016 F020 F011 M013 M005".split(),
    "part3": "F007 F015 F006 F019 M006 M009 F012 M003 F004 F021 F017 M015 F014".split(),
}
# FERA2015: odd-numbered subjects train (21), even-numbered test (20)
FERA_TRAIN = [f"F{i:03d}" for i in range(1, 24, 2)] + [f"M{i:03d}" for i in range(1, 18, 2)]
FERA_TEST = [f"F{i:03d}" for i in range(2, 23, 2)] + [f"M{i:03d}" for i in range(2, 19, 2)]
DISFA_PARTS = {
    "part1": "SN002 SN010 SN001 SN026 SN027 SN032 SN030 SN009 SN016".split(),
    "part2": "SN013 SN018 SN011 SN028 SN012 SN006 SN031 SN021 SN024".split(),
    "part3": "SN003 SN029 SN023 SN025 SN008 SN005 SN007 SN017 SN004".split(),
}


def split3(subjects) -> dict[str, list[str]]:
    """Deterministic 3-way split of the sorted subjects (round robin)."""
    s = sorted(set(subjects))
    return {f"part{k + 1}": s[k::3] for k in range(3)}


def folds(dataset: str, subjects=None) -> dict[str, list[str]]:
    """Subject lists per part: {"part1", "part2", "part3"} (+ "fera_train"/"fera_test" for BP4D).

    For synthau-* the folds come from `<synthau tree>/meta.json["folds"][<base>]`; when
    absent, and for the other auxiliary sets, a deterministic 3-way split of the sorted
    subjects (taken from `index(dataset)` unless `subjects` is given). A part of a dataset's copy
    (``part_of`` in the manifest: bp4d_unlabelled) has that dataset's folds. A dataset of the user's own
    takes its entry's ``folds:`` when it gives them (given ``subjects``, each must be in one part), else the
    round robin (:func:`describe_fold` says which).
    """
    check_name(dataset)
    if part_of(dataset):
        return folds(part_of(dataset), subjects)
    base = base_name(dataset)
    if dataset == "bp4d":
        return {**{k: list(v) for k, v in BP4D_PARTS.items()},
                "fera_train": list(FERA_TRAIN), "fera_test": list(FERA_TEST)}
    if dataset == "disfa":
        return {k: list(v) for k, v in DISFA_PARTS.items()}
    if _entry_folds(dataset):
        return _own_folds(dataset, subjects)
    if dataset.startswith("synthau-"):
        meta = synthau_root() / "meta.json"
        if not meta.is_file() and meta.parent.is_dir():
            # generation writes meta.json last: a split of the subjects present so far trained on 9 of 12
            raise ValueError(f"{dataset}: {meta.parent} has no meta.json: the SynthAU tree is being generated or its "
                             "generation was interrupted; wait for it, or run `aukit synth` again")
        _warn_stale(meta.parent)
        got = json.loads(meta.read_text()).get("folds", {}).get(base) if meta.is_file() else None
        if got:
            return {k: list(v) for k, v in got.items()}
    if subjects is None:
        from .catalog import index
        subjects = index(dataset)["subject"].unique()
    return split3(subjects)


def _own_folds(dataset: str, subjects=None) -> dict[str, list[str]]:
    """A user's entry's ``folds`` (checked by the schema: three parts, no subject twice); every subject of
    ``subjects`` (the copy's, when given) must be in one of them: one left out would never be trained or
    tested on. A part's subject the copy lacks that is close to one left out is named as the typo it is."""
    f = {k: [str(s) for s in v] for k, v in entry(dataset)["folds"].items()}
    if subjects is not None:
        have = {str(s) for s in subjects}
        listed = set().union(*f.values())
        left = sorted(have - listed)
        if left:
            typos = [f"{s!r} (did you mean {m!r}?)" for s in sorted(listed - have) if (m := closest(s, left))]
            raise ManifestError(f"{manifest_path()}: entry {dataset!r}: every subject must be in exactly one part of "
                                f"folds; in none: {', '.join(left)} (no fold would train or test on "
                                f"{'it' if len(left) == 1 else 'them'})"
                                + (f"; folds name subjects the copy does not have: {', '.join(typos)}" if typos else
                                   f"; add {'it' if len(left) == 1 else 'each'} to one part"))
    return f


def _entry_folds(dataset: str) -> bool:
    """Whether ``dataset`` is one of the user's own whose entry gives its ``folds``."""
    return is_custom(dataset) and bool(entry(dataset).get("folds"))


def fold_source(dataset: str) -> str:
    """Where :func:`folds` takes ``dataset``'s parts from, in words."""
    if part_of(dataset):
        return f"{part_of(dataset)}'s folds ({fold_source(part_of(dataset))})"
    if dataset in ("bp4d", "disfa"):
        return "the committed JAA-Net / ME-GraphAU split (aukit.data.splits)"
    if _entry_folds(dataset):
        return f"entry {dataset!r}'s folds in {manifest_path()}"
    if dataset.startswith("synthau-") and (synthau_root() / "meta.json").is_file():
        return f"{synthau_root() / 'meta.json'} folds"
    return "round robin over the sorted subject ids of the copy (no folds in the manifest)"


def describe_fold(dataset: str, fold: int | str, subjects=None) -> dict:
    """What a run on ``fold`` trains and tests on, for a notebook to record: {dataset, fold, source (where the
    parts come from), train, test (subject ids), parts ({part: subjects})}. Plain lists and strings (JSON)."""
    if subjects is None and _entry_folds(dataset):     # an entry's folds are checked against the copy
        from .catalog import index
        subjects = index(dataset)["subject"].astype(str).unique()
    train, test = fold_subjects(dataset, fold, subjects)
    parts = folds(dataset, subjects)
    return {"dataset": dataset, "fold": fold, "source": fold_source(dataset), "train": [str(s) for s in train],
            "test": [str(s) for s in test], "parts": {k: [str(s) for s in v] for k, v in parts.items()}}


def _warn_stale(root: Path) -> None:
    """Warn (once per tree and process) when the SynthAU tree is another version than this code
    renders: it still reads, but its results are not the committed reports' (``aukit synth``)."""
    from .synthau import stale
    why = stale(root)
    if why and str(root) not in _WARNED:
        _WARNED.add(str(root))
        warnings.warn(f"{why}. Its frames differ from what `make reproduce` measures and the committed reports "
                      "show; regenerate it with `aukit synth` (about 3 minutes).", stacklevel=3)


_WARNED: set[str] = set()


def notebook_fold(paper: str, dataset: str, fold: int) -> int | str:
    """A TAS or CPC notebook's ``-p fold`` as :func:`fold_subjects` takes it: 1..3 test on part<fold>,
    0 BP4D's FERA2015 split, -1 (the default) the split the paper reports ``dataset`` on
    (``aukit.reported.PROTOCOLS``: FERA2015 for BP4D and SynthAU's BP4D tree, fold 1 otherwise).
    A real BP4D run with fold 1 trained hours on a split whose table could not be compared."""
    if fold == -1:
        from ..reported import PROTOCOLS
        return "fera" if PROTOCOLS.get(paper, {}).get(base_name(dataset)) == "fera" else 1
    return "fera" if fold == 0 else fold


def fold_subjects(dataset: str, fold: int | str, subjects=None, *, present=None,
                  gaps: dict | None = None) -> tuple[list[str], list[str]]:
    """(train_subjects, test_subjects) for fold 1, 2 or 3 (test on part<fold>), or 'fera'.
    ``present``: the subjects the copy has (a store's index column), or the index itself (its
    :func:`copy_gaps` are then checked too, and a copy of the user's own whose labels look shifted is refused:
    :func:`check_shifts`); ``gaps``: what :func:`copy_gaps` found; see :func:`check_present`."""
    if subjects is None and present is not None and _entry_folds(dataset):   # the copy's subjects in the folds
        subjects = sorted({str(s) for s in (present["subject"] if hasattr(present, "columns") else present)})
    f = folds(dataset, subjects)
    if fold == "fera":
        if "fera_train" not in f:
            raise ValueError(f"{dataset} has no FERA2015 split; folds: {sorted(f)}")
        train, test = list(f["fera_train"]), list(f["fera_test"])
    elif fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3 (test on part<fold>) or 'fera', got {fold!r}"
                         + (" (the notebooks' -p fold 0 is 'fera', -1 the paper's split: "
                            "aukit.data.splits.notebook_fold maps them)" if fold in (0, -1) else ""))
    else:
        test = list(f[f"part{fold}"])
        train = [s for k in ("part1", "part2", "part3") if k != f"part{fold}" for s in f[k]]
    if present is not None:                 # a loader splitting its data: the reports say which fold
        if hasattr(present, "columns") and is_custom(dataset):   # a notebook run by hand checks it here too
            check_shifts(dataset, present)
        if hasattr(present, "columns"):     # an index: what it lacks inside its subjects counts too
            if gaps is None and not dataset.startswith("synthau-") and not part_of(dataset):
                gaps = copy_gaps(dataset, present)
            present = present["subject"].astype(str).unique()
        check_present(dataset, fold, train, test, present, gaps)
        USED[dataset] = fold
        SUBJECTS[dataset] = {"fold": fold, "source": fold_source(dataset), "train": sorted(map(str, train)),
                             "test": sorted(map(str, test))}
    return train, test


def copy_gaps(dataset: str, idx) -> dict:
    """What a real copy's index lacks inside its subjects (:mod:`aukit.data.completeness`): ``unlabelled``,
    subjects of an AU-coded dataset whose frames carry no label (they do not count as present);
    ``sequences``, ``subject/task`` gone while the copy's other subjects have it; ``short``, what the copy
    lacks when it has too few task names."""
    from .completeness import labelled_subjects, missing_sequences
    gone, short = missing_sequences(dataset, idx)
    unlabelled = []
    e = entry(dataset)     # an AU-coded dataset (bp4d, disfa, the user's own), not a side set read without labels
    if "intensity_aus" in e or "occurrence_aus" in e or is_custom(dataset):
        unlabelled = sorted(set(idx["subject"].astype(str)) - labelled_subjects(idx))
    return {"unlabelled": unlabelled, "sequences": gone, "short": short}


def check_copy(dataset: str, fold: int | str) -> tuple[list[str], list[str]]:
    """:func:`fold_subjects`, checked against the copy's subjects (one index of the copy, no face
    prepared) on a real dataset: ``aukit run`` and ``aukit train`` call it before any work, where the
    loaders' own check came after every face of the copy had been prepared. A subject whose frames carry
    no label, or a BP4D task a subject lacks, makes the copy incomplete too; a copy of the user's own whose labels
    look shifted is refused too (:func:`check_shifts`)."""
    present = None
    if not dataset.startswith("synthau-"):
        from .catalog import index
        present = index(dataset)            # its gaps are read too (not bp4d_unlabelled's: unlabelled by definition)
    return fold_subjects(dataset, fold, present=present)     # an own copy's shifted labels: checked there


def partial_allowed() -> bool:
    """env AUKIT_ALLOW_PARTIAL=1 (or true, yes): run on an incomplete or shifted copy as it is, with a warning."""
    return os.environ.get(ALLOW_PARTIAL, "").lower() in ("1", "true", "yes")


def check_shifts(dataset: str, idx) -> None:
    """A copy of the user's own whose index diagnoses labels shifted against their frames (``shifted_labels``
    notes of :func:`aukit.data.labelio.note_shifts`): a run would train and score every label of those sequences
    on another frame. :class:`ShiftedLabels` naming them, unless env AUKIT_ALLOW_PARTIAL=1, which prints a
    warning and runs on the labels as written."""
    notes = [n.partition(": ")[2] for n in idx.attrs.get("qa", {}).get("notes", [])
             if n.startswith("shifted_labels: ")]
    if not notes:
        return
    msg = f"{dataset}: {'; '.join(notes)}"
    if not partial_allowed():
        raise ShiftedLabels(f"{msg}. A run would train and score those labels on frames they do not belong to. "
                            f"Fix them (`aukit data check {base_name(dataset)}` names them), or set {ALLOW_PARTIAL}=1 "
                            "to run on the labels as written.")
    print(f"[aukit] WARNING: {msg}; running on the labels as written ({ALLOW_PARTIAL}=1)", flush=True)


def check_present(dataset: str, fold, train: list[str], test: list[str], present, gaps: dict | None = None) -> None:
    """A real dataset's copy must hold every subject of the fold: a run on 2 of 27 training subjects
    printed its scores beside the paper's as a BP4D result. Missing subjects (and, given ``gaps`` from
    :func:`copy_gaps`, subjects without any label and the fold's subjects' missing tasks) are an
    :class:`IncompleteCopy` error, unless env AUKIT_ALLOW_PARTIAL=1, which runs on what is there,
    prints a warning and adds the message to :data:`PARTIAL` (each report table and metrics.json
    then say so). SynthAU trees are whatever size they were generated at: not checked."""
    if dataset.startswith("synthau-"):
        return
    gaps = gaps or {}
    bare = set(gaps.get("unlabelled", ()))
    have = {str(s) for s in present} - bare
    gone_tr, gone_te = [s for s in train if s not in have], [s for s in test if s not in have]
    fold_set = set(train) | set(test)
    seqs = [q for q in gaps.get("sequences", ()) if q.partition("/")[0] in fold_set and q.partition("/")[0] in have]
    short = gaps.get("short")
    if not gone_tr and not gone_te and not seqs and not short:
        return
    gone = gone_tr + gone_te
    split = "the FERA2015 split" if fold == "fera" else f"fold {fold}"
    parts = []
    faceless = _faceless(dataset, [s for s in gone if s not in bare]) if gone else {}
    if gone:
        unl = [s for s in gone if s in bare]
        parts.append(f"{len(gone_tr)} of {len(train)} training and {len(gone_te)} of {len(test)} test subjects "
                     f"({', '.join(gone[:8])}{', ...' if len(gone) > 8 else ''})"
                     + (f"; {', '.join(unl[:8])}{', ...' if len(unl) > 8 else ''}: frames without any label file"
                        if unl else "")
                     + "".join(f"; {s}: the copy has its {n} frames but no face was aligned in any"
                               for s, n in list(faceless.items())[:8]))
    if seqs:
        parts.append(f"{len(seqs)} sequence{'s' if len(seqs) > 1 else ''} of the fold's subjects "
                     f"({', '.join(seqs[:8])}{', ...' if len(seqs) > 8 else ''})")
    if short:
        parts.append(short)
    msg = f"{dataset} {split}: this copy lacks " + " and ".join(parts)
    if not partial_allowed():
        own = is_custom(dataset)        # no paper protocol: the fold the entry (or the round robin) defines
        fix = (f"Complete the copy (`aukit data check {base_name(dataset)}` names what is missing)"
               + (f" or take the missing subjects out of the entry's folds in {manifest_path()}"
                  if own and entry(dataset).get("folds") and gone else "")
               if set(gone) - set(faceless) or seqs or short else
               f"Look at those frames (a blank or unreadable video?): `aukit prepare {base_name(dataset)}` "
               "counts the frames without a face per subject in its summary and the store's qa.json")
        why = (f"it would train and test on part of the fold its parts define ({fold_source(dataset)})" if own
               else "its scores would not be the paper's protocol")
        raise IncompleteCopy(f"{msg}: {why}. {fix}, or set {ALLOW_PARTIAL}=1 to run on what it has (the tables "
                             "then say so).")
    print(f"[aukit] WARNING: {msg}; running on the rest ({ALLOW_PARTIAL}=1)", flush=True)
    if msg not in PARTIAL:
        PARTIAL.append(msg)


def _faceless(dataset: str, gone: list[str]) -> dict[str, int]:
    """Of the subjects a loader's aligned-face store lacks, those the copy has frames of ({subject: frames}):
    no face was aligned in any (a blank or unreadable video), where "lacks" alone sent the user to complete
    a copy that is whole. One index of the copy, read only when a subject is missing."""
    from .catalog import index
    try:
        counts = index(dataset)["subject"].astype(str).value_counts()
    except FileNotFoundError:       # no copy to ask (DatasetNotFound): worded as missing
        return {}
    return {s: int(counts[s]) for s in gone if s in counts.index}


def subset_rows(rows, n: int | None, seed: int):
    """A sorted seeded random subset of ``n`` rows (all rows when ``n`` is None or larger)."""
    import numpy as np
    rows = np.asarray(rows)
    if n is None or len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def labelled_fold_rows(index, labels, train_subjects, test_subjects, *, where: str = "",
                       max_train: int | None = None, max_test: int | None = None, seed: int = 0):
    """(train, test) store rows of a subject split that carry at least one label; ``max_*``
    subsample them (seeds ``seed`` and ``seed + 1``). ``labels`` is (N, A) with NaN = unlabelled."""
    import numpy as np
    known = ~np.isnan(labels).all(1)
    subject = index["subject"]
    train = np.flatnonzero(subject.isin(train_subjects).to_numpy() & known)
    test = np.flatnonzero(subject.isin(test_subjects).to_numpy() & known)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"{where}: {len(train)} training and {len(test)} test frames with labels")
    return subset_rows(train, max_train, seed), subset_rows(test, max_test, seed + 1)
