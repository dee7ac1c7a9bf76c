"""Aff-Wild2 reader: cropped_aligned/<video>/<frame>.jpg, AU labels optional.

CPC pre-trains on Aff-Wild2 unlabelled, so labels never decide which frames are read: every
frame image is a row, its occ_AUxx NaN where no label row covers it. Label files
AU_Detection_Challenge/<split>/<video>.txt: a header of AU names, row i = video frame i+1,
-1 = invalid (the frames missing from cropped_aligned, where no face was found, are all -1).
A label file that does not parse is a problem (`unreadable_label_file`, named with its line),
not an error: its video is read unlabelled, because the labels are optional here (on BP4D and
DISFA, whose labels the notebooks train on, it is an error). Named: labelled rows without a
frame image, frames past the end of their label file, a label file whose video has no frame
folder, an empty frame folder, videos without a label file, and a copy without any.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .auxsets import seq_frames
from .labelio import (QA, LabelFormatError, au_col, au_number, clean_codes, finish, note_ignored, ranges,
                      read_table)
from .manifest import as_list, base_name, entry
from .scan import scan

SHOWN = 3  # videos quoted per note


def read(root: Path, dataset: str = "affwild2") -> pd.DataFrame:
    e = entry(dataset)
    pats = e["patterns"]
    invalid = e.get("invalid_code", -1)
    qa = QA()
    videos = seq_frames(root, pats["frames"], "video", qa)
    folder = re.sub(r"/[^/]*\{frame(:[^}]*)?\}.*$", "", pats["frames"])          # cropped_aligned/{video}
    for f, p in scan(root, folder):
        if p.is_dir() and f["video"] not in videos:
            qa.add(f["video"], "empty_folder")
            qa.note("empty_folder", f"{p}: no frame images (a video without any face found, or a failed copy)")
    label_pats = as_list(pats.get("labels"))
    files = _label_files(root, label_pats, qa)
    if label_pats and not files:
        qa.note("info", f"no AU label files found under {root} (pattern {' or '.join(label_pats)}): the frames are "
                        f"read unlabelled, as CPC uses them (if the copy keeps labels elsewhere, edit "
                        f"{base_name(dataset)}.patterns.labels in data_manifest.yaml)")
    bare = sorted(set(videos) - set(files))
    if files and bare:
        qa.note("info", f"{len(bare)} video(s) without a label file, read unlabelled as test-set videos are "
                        f"(first: {', '.join(bare[:SHOWN])})")
    parts = []
    for video in sorted(set(videos) | set(files)):
        frames = videos.get(video, [])
        df = pd.DataFrame({"subject": video, "sequence": video, "frame": [n for n, _ in frames],
                           "source": [str(p) for _, p in frames]})
        if video in files:
            lab = _labels(files[video], invalid, qa, video)
            if lab is not None:
                df = _join(df, lab, files[video], folder.format(video=video), qa, video)
        if len(df):
            parts.append(df)
    return finish(parts, qa, dataset, root)


def _label_files(root: Path, patterns: list[str], qa: QA) -> dict[str, Path]:
    """Label file by video over `patterns` (the first pattern wins for a video listed twice, the
    second is named); other files in the label folders are named."""
    files: dict[str, Path] = {}
    stray: list[tuple[dict, Path]] = []
    matched = set()
    for pat in patterns:
        for f, p in scan(root, pat, stray):
            matched.add(p)
            if f["video"] in files:
                note_ignored(qa, [(f, p)], f"second label file for video {f['video']} ({files[f['video']]} is read)",
                             subject="video")
            else:
                files[f["video"]] = p
    note_ignored(qa, [(f, p) for f, p in stray if p not in matched], f"not a label file ({' or '.join(patterns)})",
                 subject="video")
    return files


def _labels(path: Path, invalid, qa: QA, video: str) -> pd.DataFrame | None:
    """frame + occ_AUxx of one label file, or None (counted, named) when it does not parse."""
    try:
        names, t, lines = read_table(path, header=True)
        try:
            cols = [au_col(au_number(n), occurrence=True) for n in names]
        except ValueError as err:
            raise LabelFormatError(f"{path}:1: {err}") from None
    except LabelFormatError as err:
        qa.add(video, "unreadable_label_file")
        qa.note("unreadable_label_file", f"{err} (video {video} is read unlabelled)")
        return None
    frames = np.arange(1, len(t) + 1)
    lab = pd.DataFrame({c: clean_codes(t[:, j], invalid=invalid, lo=0, hi=1, qa=qa, subject=video, path=path,
                                       frames=frames, column=names[j], lines=lines)
                        for j, c in enumerate(cols)})
    lab.insert(0, "frame", frames)
    return lab


def _join(df: pd.DataFrame, lab: pd.DataFrame, path: Path, folder: str, qa: QA, video: str) -> pd.DataFrame:
    """Every frame of `df` with its label row (NaN past the file's end); labelled rows without a
    frame image and frames without a row are counted and named."""
    img, rows = df["frame"].to_numpy(np.int64), lab["frame"].to_numpy(np.int64)
    labelled = lab.drop(columns="frame").notna().any(axis=1).to_numpy()  # all -1: no face, no image expected
    orphan = rows[~np.isin(rows, img) & labelled]
    qa.add(video, "label_without_frame", len(orphan))
    if len(orphan) and len(img):
        qa.note("label_without_frame", f"{path}: {len(orphan)} labelled row(s) without a frame image in {folder}/ "
                                       f"(frames {ranges(orphan)})")
    elif len(orphan):
        qa.note("label_without_frame", f"{path}: {len(orphan)} labelled row(s), but no frame folder {folder}/")
    past = img[~np.isin(img, rows)]
    qa.add(video, "frame_without_label", len(past))
    if len(past):
        qa.note("frame_without_label", f"{video}: {len(past)} frame(s) without a row in {path} ({len(rows)} rows), "
                                       f"kept unlabelled (frames {ranges(past)})")
    return df.merge(lab, on="frame", how="left")
