"""Reader of the ``table`` layout: a lab's own AU dataset, declared in data_manifest.yaml.

Layout (patterns in the entry):
  frames  ``frames: "frames/{subject}/{sequence}/{frame}.jpg"``   ('7.jpg' and '0007.jpg' both read), or
  video   ``video: "videos/{subject}_{sequence}.mp4"``   one video a sequence, decoded as DISFA's are (a row's
          source is '<video>#<k>', k the 0-based decode position); the CSV calls its first frame ``first_frame``
          (default 1, as OpenFace's and DISFA's files count; 0 for a 0-based export), the container's frame count
          says how many there are, and a video OpenCV cannot open is counted (``unreadable_video``) and named
  labels  ``labels: "labels/{subject}_{sequence}.csv"``  one CSV a sequence, a header row: the frame column
          (``frame_column``, default 'frame') and one column an AU ('AU01', 'AU1', 'AU_01', '1', or OpenFace's
          'AU01_r' read under label_kind intensity and 'AU01_c' under occurrence); other columns are not read
``label_kind: intensity`` (0..5; occ_AUxx = value >= ``occurrence_threshold``, default 1) or ``occurrence``
(0/1). The frame and AU columns hold integers (2.0 reads as 2): a fraction is a model's prediction (OpenFace's
output), not a coder's label, and an error naming file, line and column. ``invalid_code`` (one code or a list)
marks a frame or AU not coded: NaN, counted. An empty cell, NaN or NA is an error naming file and line (write the
invalid code there). ``frame_offset``: label frame + offset = image (or video) frame. The AU columns must be the
entry's ``intensity_aus`` (or ``occurrence_aus``) exactly; an entry that lists none takes each CSV's and says so
in the notes (a CSV lacking one of them is counted, and no AU column at all is ``no_au_column``). Rows are the
frames with an image (a video frame) and a label row; frames without a label row, and label rows past a video's
end, are a problem here (counted and named), not a coding convention as in BP4D. A sequence whose label frames
match its frames only after a constant shift is diagnosed ('shifted_labels'; a video's CSV numbered from the other
end of 0/1 gets first_frame's advice).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .bp4d import frame_paths
from .disfa import source_of, video_frame_count
from .labelio import (QA, LabelFormatError, au_col, au_number, clean_codes, finish, intensity_hint, invalid_codes,
                      join_labels, likely_shift, note_ignored, note_shifts, read_table, unique_rows)
from .manifest import entry, manifest_path, occurrence_threshold
from .scan import absent, blocked_note, scan

_MISSING = re.compile(r"empty field|'(?:nan|na|n/a|null|none|-)'", re.I)
_OPENFACE = re.compile(r"(.+)_([rc])", re.I)       # OpenFace's AU06_r (intensity) and AU06_c (presence)
_SUFFIX_READ = {"intensity": "r", "occurrence": "c"}   # the OpenFace column each label_kind reads
AU_NAMES = "AU01, AU1, AU_01, 1, and OpenFace's AU01_r (label_kind: intensity) or AU01_c (label_kind: occurrence)"


class _Spec:
    """What the entry says about its label files."""

    def __init__(self, dataset: str):
        e = entry(dataset)
        self.dataset, self.patterns = dataset, e["patterns"]
        self.kind = e.get("label_kind", "intensity")
        self.frame_column = str(e.get("frame_column", "frame"))
        self.offset = int(e.get("frame_offset", 0))
        self.invalid = e.get("invalid_code")
        self.threshold = occurrence_threshold(dataset)        # None for 0/1 labels
        self.key = "intensity_aus" if self.kind == "intensity" else "occurrence_aus"
        self.aus = [int(a) for a in e.get(self.key) or ()]
        occ = [int(a) for a in e.get("occurrence_aus") or ()] if self.kind == "intensity" else []
        self.occ = occ or None          # intensity: None = every AU gets its occurrence column
        self.where = f"entry {dataset!r} of {manifest_path()}"
        self.video = bool(self.patterns.get("video"))     # one video a sequence, not extracted images
        self.media = self.patterns["video" if self.video else "frames"]
        self.first = int(e.get("first_frame", 1)) if self.video else None   # the CSV's number of frame k=0


def read(root: Path, dataset: str) -> pd.DataFrame:
    """One row per frame with an image and a label row: subject, sequence, frame, source, AUxx, occ_AUxx."""
    spec = _Spec(dataset)
    qa = QA()
    videos = _videos(root, spec, qa) if spec.video else {}
    seqs = ({k: _video_frames(v, spec.first) for k, v in videos.items()} if spec.video
            else frame_paths(root, spec.media, qa, field="sequence"))
    files = _label_files(root, spec.patterns["labels"], qa)
    parts, shifts, got = [], {}, {}
    for subject, sequence in sorted(set(seqs) | set(files)):
        frames, path = seqs.get((subject, sequence), {}), files.get((subject, sequence))
        where = f"{subject}/{sequence}"
        if (subject, sequence) in videos:
            where += f" ({videos[subject, sequence][0].relative_to(root)})"
        img = pd.DataFrame({"frame": np.fromiter(frames.keys(), np.int64, len(frames)),
                            "source": list(frames.values())})
        lab, header = _read_labels(path, spec, qa, subject) if path is not None else (None, None)
        if lab is None:
            _no_label_file(root, spec, qa, subject, sequence, len(img))
            df = img
        elif img.empty:
            _no_images(root, spec, qa, subject, sequence, len(lab), videos.get((subject, sequence)))
            continue
        else:
            got[path] = (subject, header, [c for c in lab.columns if c != "frame"])
            k = likely_shift(lab["frame"].to_numpy(), img["frame"].to_numpy())
            shifts.setdefault(k, []).append(where)      # None: not shifted (note_shifts counts them too)
            df = join_labels(img, [(path, lab)], qa, subject, where, video=spec.video)
        if not df.empty:
            df.insert(0, "subject", subject)
            df.insert(1, "sequence", sequence)
            parts.append(df)
    note_shifts(qa, shifts, spec.offset, spec.where, first_frame=spec.first)
    return finish(parts, qa, dataset, root, _columns(spec, got, qa), pattern=spec.media)


def _videos(root: Path, spec: _Spec, qa: QA) -> dict[tuple[str, str], tuple[Path, int]]:
    """{(subject, sequence): (video, its frame count)} of every file the video pattern matches; a video that
    OpenCV cannot open (or that holds no frame) is counted and named. Other files there are named as ignored."""
    stray: list[tuple[dict, Path]] = []
    found: dict[tuple[str, str], tuple[Path, int]] = {}
    for f, p in scan(root, spec.media, stray):
        key = (f["subject"], f["sequence"])
        if key in found:          # 'P1_S1.mp4' and 'P1_S1.MP4': the first is read, the second named
            note_ignored(qa, [(f, p)], f"second video of {key[0]}/{key[1]} ({found[key][0].name} is read)")
            continue
        n = video_frame_count(p)
        if not n:
            qa.add(f["subject"], "unreadable_video")
            qa.note("unreadable_video", f"{p}: OpenCV cannot open it or finds no frame in it")
        found[key] = (p, n)
    note_ignored(qa, stray, f"not a video name ({spec.media})")
    return found


def _video_frames(video: tuple[Path, int], first: int) -> dict[int, str]:
    """{frame number as the CSV counts it: '<video>#<k>'}: decode position k is frame number k + first."""
    path, n = video
    return {first + k: source_of(path, k) for k in range(n)}


def _label_files(root: Path, pattern: str, qa: QA) -> dict[tuple[str, str], Path]:
    stray: list[tuple[dict, Path]] = []
    found = {(f["subject"], f["sequence"]): p for f, p in scan(root, pattern, stray)}
    note_ignored(qa, stray, f"not a label file name ({pattern})")
    return found


def _no_label_file(root: Path, spec: _Spec, qa: QA, subject: str, sequence: str, n_images: int) -> None:
    """A sequence with images and no label CSV: its images are kept, AUs NaN, and the file is counted."""
    if not n_images:
        return
    rel = Path(spec.patterns["labels"].format(subject=subject, sequence=sequence))
    qa.add(subject, "missing_label_file")
    qa.note("missing_label_file", f"{subject}/{sequence}: {rel} {absent(root, rel)} ({n_images} "
                                  f"{'video frames' if spec.video else 'images'}, AUs NaN)")


def _no_images(root: Path, spec: _Spec, qa: QA, subject: str, sequence: str, n_rows: int,
               video: tuple[Path, int] | None = None) -> None:
    """A label CSV whose sequence has no image, no video, or a video that gives no frame: its rows are counted."""
    qa.add(subject, "label_without_frame", n_rows)
    if video is not None:         # unreadable: counted and named by _videos
        qa.note("label_without_frame", f"{subject}/{sequence}: {n_rows} label rows not read: {video[0]} gives no "
                                       "frame")
        return
    want = re.sub(r"\{frame(:[^}]*)?\}", "*", spec.media).format(subject=subject, sequence=sequence)
    qa.note("label_without_frame", f"{subject}/{sequence}: {n_rows} label rows but no "
                                   f"{'video' if spec.video else 'images'} ({want}{blocked_note(root, want)})")


def _read_labels(path: Path, spec: _Spec, qa: QA, subject: str) -> tuple[pd.DataFrame, list[str]]:
    """One sequence's CSV -> (frame (image numbering), AUxx and/or occ_AUxx; the CSV's header)."""
    names, t, lines = _table(path, spec)
    fcol, aus = _header(path, names, spec, qa)
    _integers(path, t, lines, names, [fcol] + [j for j, _ in aus], spec)
    _not_openface_output(path, t, lines, names, [j for j, _ in aus], spec)
    t = t[:, [fcol] + [j for j, _ in aus]]
    t[:, 0] += spec.offset
    if len(np.unique(t[:, 0])) < len(t):
        d = pd.DataFrame(t)
        keep = unique_rows(d, 0, lines, path, qa, subject, shown=d[0].astype(np.int64))
        t, lines = t[keep], lines[keep]
    out = {"frame": t[:, 0].astype(np.int64)}
    hi = 5 if spec.kind == "intensity" else 1
    if spec.kind == "occurrence":
        intensity_hint(qa, path, t[:, 1:], [names[j] for j, _ in aus], spec.invalid,
                       f"label_kind: intensity ({spec.where})")
    for i, (j, au) in enumerate(aus, start=1):
        v = clean_codes(t[:, i], invalid=spec.invalid, lo=0, hi=hi, qa=qa, subject=subject, path=path,
                        frames=t[:, 0], column=names[j], lines=lines)
        if spec.kind == "occurrence":
            out[au_col(au, occurrence=True)] = v
            continue
        out[au_col(au)] = v
        if spec.occ is None or au in spec.occ:
            out[au_col(au, occurrence=True)] = np.where(np.isnan(v), np.nan, (v >= spec.threshold).astype(float))
    return pd.DataFrame(out), names


def _table(path: Path, spec: _Spec):
    """read_table, whose error on an empty cell, NaN or NA says to write the invalid code there. Only the
    columns read must hold integers (:func:`_integers`): an OpenFace-style CSV's timestamp is a fraction."""
    try:
        return read_table(path, header=True, integers=False)
    except LabelFormatError as err:
        if not _MISSING.search(str(err)):
            raise
        raise LabelFormatError(f"{err}; {_not_coded(spec)}") from None


def _not_coded(spec: _Spec) -> str:
    """What to write for a frame or AU that is not coded, where a CSV holds an empty cell, NaN or NA."""
    codes = invalid_codes(spec.invalid)
    fix = (f"write the invalid code ({', '.join(f'{c:g}' for c in codes)}) there" if codes else
           "write a code there and declare it as invalid_code")
    return f"a frame or AU that is not coded: {fix} ({spec.where})"


def _integers(path: Path, t: np.ndarray, lines: np.ndarray, names: list[str], cols: list[int], spec: _Spec) -> None:
    """The frame column and the AU columns read (``cols``, the frame's first) must hold integers: 2.0 reads as
    2; a fraction in an AU column is no coder's label but a model's predicted intensity (OpenFace's AU06_r
    output), which aukit must not train on as ground truth, so it is an error naming file, line and column."""
    sub = t[:, cols]
    bad = ~np.isfinite(sub) | (sub != np.round(sub))
    if not bad.any():
        return
    i, k = np.argwhere(bad)[0]
    x = sub[i, k]
    at = f"{path}:{lines[i]}: field {cols[k] + 1} ({names[cols[k]]}) is {str(float(x))!r}"
    if np.isnan(x):
        raise LabelFormatError(f"{at}; {_not_coded(spec)}")
    if k == 0:
        raise LabelFormatError(f"{at}, expected an integer frame number ({spec.where})")
    codes = "0-5" if spec.kind == "intensity" else "0/1"
    model = (": a fraction looks like a model's predicted intensity (such as OpenFace's AU_r output), not coders' "
             "labels" if np.isfinite(x) else "")
    raise LabelFormatError(f"{at}, expected an integer: AU labels are coders' integer codes ({codes}){model} "
                           f"({spec.where})")


def _not_openface_output(path: Path, t: np.ndarray, lines: np.ndarray, names: list[str], read: list[int],
                         spec: _Spec) -> None:
    """OpenFace's own output under label_kind occurrence: its AUxx_c presence columns are 0/1 and pass for labels,
    but its AUxx_r beside them hold fractions (predicted intensities). A CSV whose read columns are OpenFace's _c
    and whose _r columns hold a fraction is a model's predictions, refused (the README: coders' labels only)."""
    if spec.kind != "occurrence" or not any(_OPENFACE.fullmatch(names[j].strip()) for j in read):
        return
    for j, n in enumerate(names):
        m = _OPENFACE.fullmatch(n.strip())
        col = t[:, j]
        frac = np.isfinite(col) & (col != np.round(col))
        if m and m.group(2).lower() == "r" and frac.any():
            i = int(np.argmax(frac))
            raise LabelFormatError(f"{path}:{lines[i]}: {n} is {col[i]:g}, a fraction: with its _c columns this "
                                   "looks like OpenFace's output (predicted presence and intensity), not coders' "
                                   f"labels ({spec.where})")


def _header(path: Path, names: list[str], spec: _Spec, qa: QA) -> tuple[int, list[tuple[int, int]]]:
    """(the frame column's position, [(position, AU number)] of the AU columns), checked against the entry."""
    low = [n.lower() for n in names]
    if spec.frame_column.lower() not in low:
        raise LabelFormatError(f"{path}:1: no frame column {spec.frame_column!r} in the header {','.join(names)}; "
                               f"name the column that holds the frame number in frame_column ({spec.where})")
    fcol = low.index(spec.frame_column.lower())
    aus, other, unread, twins = _split_columns(names, fcol, spec.kind)
    ignored = (([f"not an AU column, not read: {', '.join(other)}"] if other else [])
               + ([f"{_unread_why(spec.kind)}: {', '.join(unread)}"] if unread else [])
               + ([f"OpenFace-named columns of AUs that have a plain column too, not read: {', '.join(twins)}"]
                  if twins else []))
    if ignored:
        qa.note("ignored_column", f"{path}:1: {'; '.join(ignored)}")
    nums = [a for _, a in aus]
    if len(set(nums)) < len(nums):
        raise LabelFormatError(f"{path}:1: an AU column appears twice: {','.join(names)}")
    if spec.aus and set(nums) != set(spec.aus):
        lack, extra = sorted(set(spec.aus) - set(nums)), sorted(set(nums) - set(spec.aus))
        why = "; ".join(([f"no column for AU {', '.join(map(str, lack))}"] if lack else [])
                        + ([f"AU {', '.join(map(str, extra))} not in the entry's list"] if extra else [])
                        + ([f"{_unread_why(spec.kind)}: {', '.join(unread)}"] if unread else []))
        raise LabelFormatError(f"{path}:1: the AU columns differ from {spec.key} {spec.aus}: {why} "
                               f"({spec.where}; list exactly the AUs the CSVs code)")
    if spec.occ is not None and set(spec.occ) - set(nums):
        raise LabelFormatError(f"{path}:1: occurrence_aus {sorted(spec.occ)} has AUs without an intensity column "
                               f"({', '.join(map(str, sorted(set(spec.occ) - set(nums))))}; {spec.where})")
    return fcol, aus


def _split_columns(names: list[str], fcol: int, kind: str):
    """([(position, AU number)] of the AU columns a CSV's ``kind`` of labels reads, the columns that name no AU,
    the AU columns of the other kind (OpenFace's AU06_c under label_kind intensity, AU06_r under occurrence), and
    OpenFace-named columns of an AU that has a plain column too (the coders' AU06 beside AU06_c: the plain one
    is read, as before OpenFace's names were)."""
    found, other = [], []
    for j, n in enumerate(names):
        if j == fcol:
            continue
        try:
            found.append((j, n, *_au_column(n)))
        except ValueError:
            other.append(n)
    plain = {au for _, _, au, suffix in found if not suffix}
    aus, unread, twins = [], [], []
    for j, n, au, suffix in found:
        if suffix and suffix != _SUFFIX_READ[kind]:
            unread.append(n)
        elif suffix and au in plain:
            twins.append(n)
        else:
            aus.append((j, au))
    return aus, other, unread, twins


def _au_column(name: str) -> tuple[int, str]:
    """(AU number, suffix) of an AU column's name: 'AU06', 'AU6', 'AU_06', '6' (suffix ''), and OpenFace's
    'AU06_r' (its intensity, 'r') and 'AU06_c' (its presence, 'c'); ValueError for any other name."""
    m = _OPENFACE.fullmatch(name.strip())
    return (au_number(m.group(1)), m.group(2).lower()) if m else (au_number(name), "")


def _unread_why(kind: str) -> str:
    """Why a CSV's AU columns of the other kind are not read (and which label_kind reads them)."""
    if kind == "intensity":
        return ("occurrence columns (_c), not read under label_kind: intensity (occurrence is the intensity at "
                "occurrence_threshold; label_kind: occurrence reads them)")
    return "intensity columns (_r), not read under label_kind: occurrence (label_kind: intensity reads them)"


def _columns(spec: _Spec, got: dict[Path, tuple[str, list[str], list[str]]], qa: QA) -> list[str]:
    """The AU columns of the index: the entry's, or (when it lists none) every CSV's, said in the notes.
    ``got``: {CSV: (subject, header, the index columns it gave)} of the CSVs read."""
    if spec.aus:
        occ = spec.aus if spec.kind == "occurrence" else (spec.occ or spec.aus)
        return ([au_col(a) for a in spec.aus] if spec.kind == "intensity" else []) + [au_col(a, True) for a in occ]
    seen = set().union(*(cols for _, _, cols in got.values()))
    if got and not seen:
        _no_au_column(spec, got, qa)
    if seen:
        _lacking_columns(seen, got, qa)
        shown = sorted(c for c in seen if not c.startswith("occ_")) or sorted(seen)
        qa.note("aus_from_csv", f"{spec.key} lists no AU: read the CSVs' columns ({', '.join(shown)}); list them "
                                f"as {spec.key} in {spec.where} so that the methods train on them")
    return sorted(seen)


def _lacking_columns(seen: set[str], got: dict[Path, tuple[str, list[str], list[str]]], qa: QA) -> None:
    """An entry that lists no AU takes every CSV's AU columns: a CSV without one of them leaves that AU NaN in
    its frames, which is counted and named (``missing_au_column``), not filled in unsaid."""
    for path, (subject, _, cols) in got.items():
        lack = sorted(c for c in seen - set(cols) if not c.startswith("occ_")) or sorted(seen - set(cols))
        if lack:
            qa.add(subject, "missing_au_column", len(lack))
            qa.note("missing_au_column", f"{path}:1: no column for {', '.join(lack)}, which other CSVs have "
                                         "(NaN in its frames)")


def _no_au_column(spec: _Spec, got: dict[Path, tuple[str, list[str], list[str]]], qa: QA) -> None:
    """No CSV read gives an AU column: the entry has no label, which data check says (``no_au_column``, the
    entry unusable) naming a CSV, its header and the names read, where it showed the entry ok."""
    path, (_, header, _) = next(iter(got.items()))
    unread = _split_columns(header, -1, spec.kind)[2]
    hint = f"; {_unread_why(spec.kind)}: {', '.join(unread)}" if unread else ""
    qa.note("no_au_column", f"{spec.where} lists no {spec.key} and none of the {len(got)} CSVs read has an AU "
                            f"column (e.g. {path}:1: {','.join(header)}){hint}. AU columns are read by their names: "
                            f"{AU_NAMES}; name the CSVs' AU columns so")
