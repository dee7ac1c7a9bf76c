"""DISFA reader (also reads the SynthAU tree written in DISFA format).

Layout (REFERENCE.md; patterns in data_manifest.yaml):
  video   Videos_LeftCamera/LeftVideoSN001_comp.avi
  labels  ActionUnit_Labels/SN001/SN001_au1.txt   lines 'frame,intensity', frames from 1
The `source` of a row is '<video path>#<k>' with k = frame - 1 the decode position.
Frames beyond the shorter of (labels, video) are excluded and counted (SN010 has 4844
labels for 4845 video frames). `occ_AUxx` = intensity >= 2 (detection convention).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .labelio import QA, au_col, clean_codes, finish, read_table
from .manifest import entry
from .scan import scan


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
    thr = float(e.get("occurrence_threshold", 2))
    qa = QA()
    videos = {f["subject"]: p for f, p in scan(root, pats["video"])}
    label_files: dict[str, dict[int, Path]] = {}
    for f, p in scan(root, pats["labels"]):
        if f.get("subject") and f["subject"] in p.name:
            label_files.setdefault(f["subject"], {})[int(f["au"])] = p
    parts = []
    for subject in sorted(set(videos) | set(label_files)):
        video = videos.get(subject)
        files = label_files.get(subject, {})
        n_video = video_frame_count(video) if video is not None else 0
        if video is not None and n_video == 0:
            qa.notes.append(f"{subject}: cannot open video {video}")
        lab = None
        for au in aus:
            p = files.get(au)
            if p is None:
                if files:
                    qa.add(subject, "missing_label_file")
                continue
            _, t = read_table(p, header=False, ncols=2)
            d = pd.DataFrame({"frame": t[:, 0].astype(np.int64),
                              au_col(au): clean_codes(t[:, 1], invalid=None, lo=0, hi=5, qa=qa,
                                                      subject=subject)}).drop_duplicates("frame")
            lab = d if lab is None else lab.merge(d, on="frame", how="outer")
        if lab is None:  # unlabelled: every video frame, AUs NaN
            lab = pd.DataFrame({"frame": np.arange(1, n_video + 1, dtype=np.int64)})
        inside = (lab["frame"] >= 1) & (lab["frame"] <= n_video)
        qa.add(subject, "label_without_frame", int((~inside).sum()))
        if files:
            qa.add(subject, "frame_without_label", max(0, n_video - int(inside.sum())))
        lab = lab[inside].sort_values("frame")
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
    cols = [au_col(a) for a in aus] + [au_col(a, True) for a in aus]
    return finish(parts, qa, dataset, root, cols)
