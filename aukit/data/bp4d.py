"""BP4D-Spontaneous reader (also reads the SynthAU tree written in BP4D format).

Layout (as the BP4D-Spontaneous release ships it; patterns in data_manifest.yaml):
  frames      2D/<subject>/<task>/<frame>.jpg       ('732.jpg', '0732.jpg', '732.JPG')
  occurrence  AUCoding/AU_OCC/<subject>_<task>.csv  header; column 0 = frame; 0/1/9
  intensity   AUCoding/AU_INT/AU06/<subject>_<task>_AU06.csv (or 'AU Intensity Codes3.0')
              no header; rows frame,intensity; 0..5, 9 = invalid
Rows are the frames that have an image and at least one label; frames labelled but
without an image, and images without any label, are excluded and counted. A sequence
whose label files are missing keeps its images, AUs NaN, and each missing file is
counted; a copy without any intensity (or occurrence) file is noted once instead.
Files in the frame folders that are not '<number>.jpg' are counted and named.

Dataset ``bp4d_unlabelled`` (:func:`read_unlabelled`, the same copy and patterns) holds the other
side: the images with no row in any label file of their sequence, AUs NaN (PIAP-DF's x_u). Its
labels are parsed as bp4d's are (a file that does not parse is the same error) but counted and noted
by the bp4d index only; a copy whose every image has a label row has no such frames
(:class:`NoUnlabelledFrames`).
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import (QA, LabelFormatError, au_col, au_number, clean_codes, finish, intensity_hint, join_labels,
                      likely_shift, note_ignored, note_shifts, read_table, unique_frames)
from .manifest import DatasetNotFound, as_list, base_name, entry, is_custom, manifest_path, part_of
from .scan import absent, blocked_note, scan


def frame_paths(root: Path, pattern: str, qa: QA, field: str = "task") -> dict[tuple[str, str], dict[int, str]]:
    """Frame paths (str) by (subject, sequence: the pattern's ``field``) and frame number."""
    seqs: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)
    stray: list[tuple[dict, Path]] = []
    tail = pattern.rpartition("}")[2]  # '.jpg': of two names for a frame, '732.jpg' wins over '732.JPG'
    for fields, path in sorted(scan(root, pattern, stray, strings=True), key=lambda fp: not fp[1].endswith(tail)):
        n = int(fields["frame"])
        seq = seqs[(fields["subject"], fields[field])]
        if n in seq:  # both 732.jpg and 0732.jpg: keep the first, say so
            note_ignored(qa, [(fields, path)], f"second image of frame {n} ({Path(seq[n]).name} is used)")
            continue
        seq[n] = path
    note_ignored(qa, stray, f"not a frame image ({pattern})")
    return seqs


def _labelled(root: Path, patterns: list[str], qa: QA) -> dict[tuple[str, str, int], Path]:
    """{(subject, task, AU or -1 for an occurrence file): path} of every label file matching `patterns`,
    as found on disk ('F002_T2.CSV' too: the scan ignores the case of the extension); other files there are
    noted, and so are files that a pattern earlier in the list already provides (a copy holding both 'AU_INT'
    and 'AU Intensity Codes3.0' is read from the first: the second is named, not merged)."""
    stray: list[tuple[dict, Path]] = []
    matched, first = set(), {}
    for pat in patterns:
        for f, p in scan(root, pat, stray):
            matched.add(p)
            key = (f["subject"], f["task"], int(f.get("au", -1)))
            if first.setdefault(key, p) is not p:
                note_ignored(qa, [(f, p)], f"second label file for {f['subject']}/{f['task']}"
                                           f"{' AU' + str(key[2]) if key[2] >= 0 else ''} ({first[key]} is read)")
    note_ignored(qa, [(f, p) for f, p in stray if p not in matched],
                 f"not a label file name ({' or '.join(patterns)})")
    return first


def _occurrence(path: Path, invalid, expected_aus: list[int], qa: QA, subject: str, where: str,
                left: set[int] | None = None) -> pd.DataFrame:
    """One occurrence CSV -> frame, occ_AUxx (0/1, NaN where invalid or out of range); ``where`` names the
    entry for the note on a file of intensities. ``left`` (an entry of the user's own): the columns of AUs
    ``expected_aus`` does not list are not read, their AUs added to ``left``."""
    names, t, lines = read_table(path, header=True)
    if len(names) < 2:
        raise LabelFormatError(f"{path}:1: expected a header 'frame,AU1,AU2,...'")
    if _is_au(names[0]):   # a file without its frame column: the first AU's codes would be read as frame numbers
        raise LabelFormatError(f"{path}:1: column 1 is {names[0]!r}, an AU: expected the frame number first "
                               f"(header 'frame,AU1,AU2,...'), got {','.join(names)}")
    try:
        aus = [au_number(n) for n in names[1:]]
    except ValueError as e:
        raise LabelFormatError(f"{path}:1: {e}") from None
    if len(set(aus)) < len(aus):
        raise LabelFormatError(f"{path}:1: an AU column appears twice: {','.join(names)}")
    missing = sorted(set(expected_aus) - set(aus))
    if missing:
        qa.add(subject, "missing_au_column", len(missing))
        qa.note("missing_au_column", f"{path}:1: no column for AU {', '.join(map(str, missing))} (left NaN)")
    t = unique_frames(t, lines, path, qa, subject)
    if left is not None:                # the entry's AUs only: the others are neither read nor counted
        keep = [j for j, au in enumerate(aus, start=1) if au in expected_aus]
        left.update(au for au in aus if au not in expected_aus)
        t, names, aus = t[:, [0] + keep], [names[0]] + [names[j] for j in keep], [aus[j - 1] for j in keep]
    intensity_hint(qa, path, t[:, 1:], names[1:], invalid, f"this layout reads intensities from patterns.intensity, "
                                                           f"one file an AU of rows frame,intensity ({where})")
    out = {"frame": t[:, 0].astype(np.int64)}
    for j, au in enumerate(aus, start=1):
        out[au_col(au, occurrence=True)] = clean_codes(t[:, j], invalid=invalid, lo=0, hi=1, qa=qa, subject=subject,
                                                      path=path, frames=t[:, 0], column=f"AU{au}")
    return pd.DataFrame(out)


def _intensity(path: Path, au: int, invalid, qa: QA, subject: str) -> pd.DataFrame:
    _, t, lines = read_table(path, header=False, ncols=2)
    t = unique_frames(t, lines, path, qa, subject)
    v = clean_codes(t[:, 1], invalid=invalid, lo=0, hi=5, qa=qa, subject=subject, path=path, frames=t[:, 0])
    return pd.DataFrame({"frame": t[:, 0].astype(np.int64), au_col(au): v})


def _is_au(name: str) -> bool:
    """Whether a header name reads as an AU (BP4D's frame column is headed '0' or left blank)."""
    try:
        return au_number(name) > 0
    except ValueError:
        return False


class NoUnlabelledFrames(DatasetNotFound):
    """Every image of the BP4D copy has a label row: dataset bp4d_unlabelled has no frame there."""


def read(root: Path, dataset: str = "bp4d", *, unlabelled: bool = False) -> pd.DataFrame:
    """One row per labelled frame: subject, sequence (task), frame, source, AUxx, occ_AUxx.
    ``unlabelled``: one row per image without any label row instead, AUs NaN (:func:`read_unlabelled`)."""
    e = entry(dataset)
    pats = e["patterns"]
    invalid = e.get("invalid_code", 9)
    int_aus = [int(a) for a in e.get("intensity_aus", [])]
    occ_aus = [int(a) for a in e.get("occurrence_aus", [])]
    occ_pats, int_pats = as_list(pats.get("occurrence")), as_list(pats.get("intensity"))
    qa = QA()
    seqs = frame_paths(root, pats["frames"], qa)
    lqa = QA() if unlabelled else qa   # label problems: the bp4d index counts and names them, not its other part
    has_occ, has_int = _labelled(root, occ_pats, lqa), _labelled(root, int_pats, lqa)
    for kind, pl, found in (("occurrence", occ_pats, has_occ), ("intensity", int_pats, has_int)):
        if pl and not found:  # a whole kind absent: one note, not one count per sequence
            lqa.note("no_labels", f"no {kind} labels found under {root} (pattern {' or '.join(pl)}): "
                                  f"notebooks that need {kind} labels cannot use this copy (if it keeps them "
                                  f"elsewhere, edit {part_of(dataset) or base_name(dataset)}.patterns.{kind} in "
                                  "data_manifest.yaml)")
    parts, n_whole, shifts = [], 0, {}
    offset = int(e.get("frame_offset", 0))
    where_entry = f"entry {part_of(dataset) or base_name(dataset)!r} of {manifest_path()}"
    left = set() if is_custom(dataset) and occ_aus else None    # an own entry's unlisted AU columns: not read
    for subject, task in sorted(set(seqs) | {k[:2] for k in (*has_occ, *has_int)}):
        frames = seqs.get((subject, task), {})
        wanted = ([(occ_pats, None)] if has_occ else []) + [(int_pats, a) for a in int_aus if has_int]
        labels = []
        for pl, au in wanted:  # au None: the occurrence file
            p = (has_occ if au is None else has_int).get((subject, task, -1 if au is None else au))
            if p is not None:
                d = (_occurrence(p, invalid, occ_aus, lqa, subject, where_entry, left) if au is None
                     else _intensity(p, au, invalid, lqa, subject))
                if offset:                      # a custom copy's frame_offset: label frame + offset = image
                    d["frame"] += offset
                labels.append((p, d))
            elif frames:
                lqa.add(subject, "missing_label_file")
                rel = Path(pl[0].format(subject=subject, task=task, au=au))
                lqa.note("missing_label_file", f"{subject}/{task}: {rel} {absent(root, rel)}")
        if not frames:
            where = re.sub(r"\{frame(:[^}]*)?\}", "*", pats["frames"]).format(subject=subject, task=task)
            lqa.note("label_without_frame", f"{subject}/{task}: label files but no images "
                                            f"({where}{blocked_note(root, where)})")
        img = pd.DataFrame({"frame": np.fromiter(frames.keys(), np.int64, len(frames)),
                            "source": list(frames.values())})
        if unlabelled:   # the images join_labels leaves out of the bp4d index ("without any label row")
            # a sequence without any label file keeps its images in the bp4d index (AUs NaN): none here
            keep = (~img["frame"].isin(np.concatenate([d["frame"].to_numpy(np.int64) for _, d in labels]))
                    if labels else np.zeros(len(img), bool))
            n_whole += int((~keep).sum())
            df = img[keep].reset_index(drop=True)
        else:
            if labels and is_custom(dataset):   # BP4D itself codes a part of each task: no shift to find there
                k = likely_shift(np.concatenate([d["frame"].to_numpy() for _, d in labels]), img["frame"].to_numpy())
                shifts.setdefault(k, []).append(f"{subject}/{task}")      # None: not shifted
            df = join_labels(img, labels, qa, subject, f"{subject}/{task}") if labels else img
        if df.empty:
            continue
        df.insert(0, "subject", subject)
        df.insert(1, "sequence", task)
        parts.append(df)
    cols = [au_col(a) for a in int_aus] + [au_col(a, True) for a in occ_aus]
    note_shifts(qa, shifts, offset, where_entry)
    if left:
        lqa.note("info", f"the occurrence CSVs' columns of AU {', '.join(map(str, sorted(left)))} are not read: "
                         f"{where_entry} lists occurrence_aus {occ_aus}")
    unlisted = sorted({k[2] for k in has_int} - set(int_aus))
    if unlisted and is_custom(dataset):
        lqa.note("info", f"the intensity files of AU {', '.join(map(str, unlisted))} are not read: {where_entry} "
                         f"lists intensity_aus {int_aus}")
    if unlabelled:
        whole = part_of(dataset) or "bp4d"
        if not parts and seqs:
            raise NoUnlabelledFrames(f"{dataset}: every image under {root} has a label row ({n_whole} images, all "
                                     f"in dataset {whole}'s index): this copy holds no unlabelled BP4D frames")
        qa.note("info", f"{n_whole} images are in dataset {whole}'s index (a label row, or a sequence without "
                        "label files), not read here")
    elif not is_custom(dataset):  # BP4D codes a part of each task: the rest is bp4d_unlabelled, not a fault
        bare = qa.as_dict()["frame_without_label"]
        if bare:
            qa.expected["frame_without_label"] += bare
            qa.note("info", f"{bare} images without any label row are left out of this index: BP4D codes a part "
                            "of each task, the rest is dataset bp4d_unlabelled (PIAP-DF's x_u)")
    return finish(parts, qa, dataset, root, cols)


def read_unlabelled(root: Path, dataset: str = "bp4d_unlabelled") -> pd.DataFrame:
    """One row per image of the copy without a row in any label file of its sequence (the images the
    bp4d index leaves out and counts as ``frame_without_label``): subject, sequence (task), frame,
    source, and bp4d's AU columns, all NaN. Raises :class:`NoUnlabelledFrames` when every image has one."""
    return read(root, dataset, unlabelled=True)
