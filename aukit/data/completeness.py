"""What a real dataset's copy lacks inside the subjects it has.

A subject counts for a fold only when some of its frames carry a label: DISFA's SN002 with its video
but no ``ActionUnit_Labels/SN002/`` folder is in the index (its frames, AUs NaN) and gave a fold no
test frame from it while the tables read as the whole fold. A BP4D subject without one of the tasks
its copy's other subjects have (F001 without T2) is a sequence gone: the manifest's ``expected``
gives the sequences per subject (BP4D 328 / 41 = 8 tasks; DISFA 27 / 27 = one video each, whose names
differ per subject, so nothing is compared there).
"""
from __future__ import annotations

import pandas as pd

from .catalog import au_columns
from .manifest import entry


def labelled_subjects(idx: pd.DataFrame) -> set[str]:
    """Subjects with at least one frame that carries an intensity or occurrence label."""
    cols = au_columns(idx) + au_columns(idx, occurrence=True)
    subject = idx["subject"].astype(str)
    if not cols:
        return set(subject)
    return set(subject[idx[cols].notna().any(axis=1).to_numpy()])


def tasks_per_subject(dataset: str) -> int | None:
    """The manifest's ``expected`` sequences per subject when it is a whole number above 1 (BP4D: 8)."""
    if dataset.startswith("synthau-"):     # generated at any size
        return None
    exp = entry(dataset).get("expected") or {}
    seq, subj = exp.get("sequences"), exp.get("subjects")
    if not seq or not subj or seq % subj or seq // subj < 2:
        return None
    return seq // subj


def missing_sequences(dataset: str, idx: pd.DataFrame) -> tuple[list[str], str | None]:
    """(``subject/sequence`` for each sequence a subject lacks that others in the copy have, what the copy
    lacks, worded to follow "lacks", when it holds fewer sequence names than each subject should have);
    ([], None) where the dataset's sequences are not shared names (DISFA's one video per subject) or the copy
    lacks nothing."""
    per = tasks_per_subject(dataset)
    if per is None or "sequence" not in idx.columns or idx.empty:
        return [], None
    seq = idx["sequence"].astype(str)
    names = sorted(set(seq))
    have = seq.groupby(idx["subject"].astype(str).to_numpy()).agg(set)
    gone = [f"{s}/{t}" for s in sorted(have.index) for t in names if t not in have[s]]
    short = None
    if len(names) < per:
        short = (f"{per - len(names)} of the {per} sequences of every subject (manifest expected: sequences / "
                 f"subjects; it has only {', '.join(names)})")
    return gone, short
