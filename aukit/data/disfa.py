"""DISFA reader (also reads the SynthAU tree written in DISFA format).

Layout (as the DISFA release ships it; patterns in data_manifest.yaml):
  video   Videos_LeftCamera/LeftVideoSN001_comp.avi
  labels  ActionUnit_Labels/SN001/SN001_au1.txt   lines 'frame,intensity', frames from 1
The `source` of a row is '<video path>#<k>' with k = frame - 1 the decode position.
Frames beyond the shorter of (labels, video) are excluded and counted (SN010 has 4844
labels for 4845 video frames: counted, and marked expected). `occ_AUxx` = intensity >= 2
(detection convention). A subject without some label file keeps its frames (that AU
NaN) and each missing file is counted; files in the label folders that do not fit the
pattern ('SN001_au1_old.txt') are counted, named and not read, as are DISFA's files of an AU it does
not list (a copy of the user's own in this layout leaves such AUs out on purpose: not read, said once as
information). A video OpenCV cannot open is
counted (``unreadable_video``) and named. ``frame_offset`` (a copy of the user's own in this
layout): label frame + offset = video frame (from 1); a subject whose labels match its video only
after a constant shift is diagnosed ('shifted_labels', with the frame_offset that reads it).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .labelio import (QA, LabelFormatError, au_col, clean_codes, finish, join_labels, likely_shift, note_ignored,
                      note_shifts, read_table, unique_frames)
from .manifest import entry, is_custom, manifest_path, occurrence_threshold
from .scan import absent, blocked_note, scan

# DISFA as released: SN010's label files stop one frame before the end of its 4845-frame video
KNOWN_SHORT = {"SN010": 1}


def video_frame_count(path: Path) -> int:
    """Frames in a video according to its container (0 if it cannot be opened)."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def source_of(video: Path, k: int) -> str:
    return f"{video}#{k}"


def read(root: Path, dataset: str = "disfa") -> pd.DataFrame:
    e = entry(dataset)
    pats = e["patterns"]
    aus = [int(a) for a in e.get("intensity_aus", [])]
    thr = occurrence_threshold(dataset)
    offset = int(e.get("frame_offset", 0))
    where_entry = f"entry {dataset!r} of {manifest_path()}"
    qa = QA()
    stray_videos: list[tuple[dict, Path]] = []
    videos = {f["subject"]: p for f, p in scan(root, pats["video"], stray_videos)}
    note_ignored(qa, stray_videos, f"not a video name ({pats['video']})")   # 'LeftVideoSN009.avi' without _comp
    label_files: dict[str, dict[int, Path]] = {}
    stray: list[tuple[dict, Path]] = []
    unlisted: dict[int, int] = {}           # AU -> its files, that an entry of the user's own leaves out on purpose
    for f, p in scan(root, pats["labels"], stray):
        if int(f["au"]) in aus:
            label_files.setdefault(f["subject"], {})[int(f["au"])] = p
        elif is_custom(dataset):
            unlisted[int(f["au"])] = unlisted.get(int(f["au"]), 0) + 1
        else:                               # DISFA codes 12 AUs: a file of another is out of place
            stray.append((f, p))
    note_ignored(qa, [(f, p) for f, p in stray if "au" not in f],
                 f"not a label file name ({pats['labels']})")
    note_ignored(qa, [(f, p) for f, p in stray if "au" in f],
                 f"an AU the manifest's intensity_aus does not list ({', '.join(map(str, aus))})")
    if unlisted:
        qa.note("info", f"the label files of AU {', '.join(map(str, sorted(unlisted)))} ({sum(unlisted.values())} "
                        f"files) are not read: {where_entry} lists intensity_aus {aus}")
    if not label_files:
        qa.note("no_labels", f"no label files found under {root} (pattern {pats['labels']}): "
                             "AU columns are NaN")
    parts, shifts = [], {}
    for subject in sorted(set(videos) | set(label_files)):
        video = videos.get(subject)
        files = label_files.get(subject, {})
        n_video = video_frame_count(video) if video is not None else 0
        if video is None:
            want = pats["video"].format(subject=subject)
            qa.note("label_without_frame", f"{subject}: label files but no video ({want}{blocked_note(root, want)})")
        elif n_video == 0:
            qa.add(subject, "unreadable_video")
            qa.note("unreadable_video", f"{subject}: cannot open video {video}")
        sources = []
        for au in aus:
            p = files.get(au)
            if p is None or not p.is_file():
                if label_files and video is not None:
                    qa.add(subject, "missing_label_file")
                    want = pats["labels"].format(subject=subject, au=au)
                    why = absent(root, want) if p is None else "is not a file"
                    qa.note("missing_label_file", f"{subject}: {want} {why}")
                continue
            _, t, lines = read_table(p, header=False, ncols=2)
            t[:, 0] += offset
            if len(t) and t[:, 0].min() < 1:    # a copy re-numbered from 0 would put every label on the next frame
                k = int(np.argmin(t[:, 0]))
                raise LabelFormatError(f"{p}:{lines[k]}: frame {t[k, 0] - offset:g}"
                                       f"{f' (+ frame_offset {offset})' if offset else ''}: DISFA numbers its "
                                       f"frames from 1 (the video's first frame is frame 1); a file numbered "
                                       f"from {t[k, 0] - offset:g} shifts every label by {1 - t[k, 0]:g} frame(s): "
                                       f"renumber it, or set frame_offset: {offset + 1 - t[k, 0]:g} in {where_entry}")
            t = unique_frames(t, lines, p, qa, subject)
            v = clean_codes(t[:, 1], invalid=None, lo=0, hi=5, qa=qa, subject=subject, path=p, frames=t[:, 0])
            sources.append((p, pd.DataFrame({"frame": t[:, 0].astype(np.int64), au_col(au): v})))
        lab = pd.DataFrame({"frame": np.arange(1, n_video + 1, dtype=np.int64)})
        if sources and n_video:
            k = likely_shift(np.concatenate([d["frame"].to_numpy() for _, d in sources]), lab["frame"].to_numpy())
            shifts.setdefault(k, []).append(f"{subject} ({video.name})")      # None: not shifted
        if sources:  # else unlabelled: every video frame, AUs NaN
            lab = join_labels(lab, sources, qa, subject, f"{subject} ({video.name if video else 'no video'})",
                              known_tail=KNOWN_SHORT.get(subject, 0) if dataset == "disfa" else 0)
            short = n_video - len(lab)  # frames without any label; the known shortfall is at the end
            if dataset == "disfa" and KNOWN_SHORT.get(subject) == short == n_video - lab["frame"].max():
                qa.expect(subject, "frame_without_label", short,
                          f"expected: DISFA {subject} has no labels for its last {short} video frame(s), "
                          "as released")
        if video is None or lab.empty:
            continue
        lab.insert(0, "subject", subject)
        lab.insert(1, "sequence", video.stem)
        lab.insert(3, "source", [source_of(video, k - 1) for k in lab["frame"]])
        for au in aus:
            if au_col(au) in lab:
                v = lab[au_col(au)].to_numpy()
                lab[au_col(au, True)] = np.where(np.isnan(v), np.nan, (v >= thr).astype(np.float64))
        parts.append(lab)
    note_shifts(qa, shifts, offset, where_entry)
    cols = [au_col(a) for a in aus] + [au_col(a, True) for a in aus]
    return finish(parts, qa, dataset, root, cols)
