"""Label-file parsing shared by the dataset readers, and the QA counters of `index()`.

Rules (issue #3): a line that does not parse (not UTF-8, an empty field, a value that
is not an integer) is an error naming file and line; a value the dataset marks invalid
(BP4D 9, Aff-Wild2 -1, EmotioNet 999) becomes NaN and is counted per subject; frames
present on one side only (labels without an image or video frame, images without
labels) are excluded and counted; a repeated label row is counted and read once, a
frame listed twice with different values is an error naming both lines. `QA.notes`
holds 'kind: message' lines (which file, which frames) for `aukit data check`.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from .scan import deeper

INDEX_COLUMNS = ["subject", "sequence", "frame", "source"]
QA_KEYS = ("invalid_codes", "out_of_range", "label_without_frame", "frame_without_label",
           "missing_label_file", "missing_au_column", "frame_missing_label", "duplicate_label_row",
           "ignored_file", "unreadable_label_file", "empty_folder", "missing_value", "bad_landmarks",
           "unreadable_video")
# frame_missing_label: a kept frame that has no row in one of its label files (that AU is NaN)
# ignored_file: a file next to the data whose name does not fit the manifest pattern
# unreadable_label_file: an optional label file that does not parse (Aff-Wild2, EmotioNet): its frames
#   are read unlabelled; empty_folder: a sequence folder without any frame image
# missing_value: a label null or absent in its entry (AFEW-VA); bad_landmarks: annotated landmarks
#   that are not 68 x 2 points (AFEW-VA; read as absent); unreadable_video: a video OpenCV cannot open or
#   that holds no frame (DISFA's layout, the table layout's videos)


SHIFT_REACH = 50          # frames a label file may be shifted by and still be diagnosed
SHIFT_LEFT = 0.10         # at most this share of its label rows may still mismatch after the shift
SHIFT_NAMED = 12          # sequences a shift note names when only some are shifted (each file is to be fixed)


class LabelFormatError(ValueError):
    """A label file line that cannot be parsed (message: file:line: reason)."""


class QA:
    """Per-subject counters, exported as `df.attrs['qa']`."""

    def __init__(self):
        self.per_subject: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(QA_KEYS, 0))
        self.notes: list[str] = []
        self.overall: dict[str, int] = dict.fromkeys(QA_KEYS, 0)
        self.expected: dict[str, int] = defaultdict(int)

    def add(self, subject: str | None, key: str, n: int = 1) -> None:
        """Count under `subject`, or for the dataset as a whole when the subject is unknown (None)."""
        if n:
            (self.per_subject[subject] if subject is not None else self.overall)[key] += int(n)

    def note(self, kind: str, message: str) -> None:
        self.notes.append(f"{kind}: {message}")

    def extend(self, other: "QA") -> None:
        """Add the counts and notes of `other` (labels parsed apart, kept only when all of them parse)."""
        for subject, counts in [*other.per_subject.items(), (None, other.overall)]:
            for k, v in counts.items():
                self.add(subject, k, v)
        self.notes += other.notes

    def expect(self, subject: str, key: str, n: int, why: str) -> None:
        """Mark `n` of the counts already under `key` as a known property of the dataset."""
        self.expected[key] += int(n)
        self.note("expected", f"{subject}: {key}={n} ({why})")

    def as_dict(self) -> dict:
        totals = dict.fromkeys(QA_KEYS, 0)
        for counts in [self.overall, *self.per_subject.values()]:
            for k, v in counts.items():
                totals[k] += v
        return {**totals, "per_subject": {s: dict(c) for s, c in sorted(self.per_subject.items())},
                "overall": {k: v for k, v in self.overall.items() if v}, "notes": list(self.notes),
                "expected": dict(self.expected)}


def au_col(au: int, occurrence: bool = False) -> str:
    return ("occ_" if occurrence else "") + f"AU{int(au):02d}"


def au_number(name) -> int:
    """'AU12', 'occ_AU12', 'AU 12', 'AU_12', 'AU012', '12', 12 -> 12."""
    if isinstance(name, (int, np.integer)):
        return int(name)
    m = re.fullmatch(r"\s*(?:occ_)?(?:AU)?[\s_]*0*(\d+)\s*", str(name), flags=re.I)
    if not m:
        raise ValueError(f"not an AU name: {name!r}")
    return int(m.group(1))


def _text_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        utf16 = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise LabelFormatError(f"{path}:{line}: not UTF-8 text{utf16}: byte {raw[e.start]:#04x} at offset "
                               f"{e.start}; save it as UTF-8 or ASCII") from None
    if "\r" in text:   # CRLF (Windows) and a lone CR (old Mac, some Excel exports) end lines too
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def _clean_rows(lines: list[str], width: int) -> np.ndarray | None:
    """The rows of ``lines`` (no blank ones) when every line is ``width`` numbers separated by a
    comma (spaces around it allowed) or by spaces: one regex match over the whole text and one
    numpy conversion instead of a regex split per line.
    None when a line is not of that form: the line-by-line reader then names it."""
    sep = r"(?:[ \t]*,[ \t]*|[ \t]+)"
    row = rf"[ \t]*{_NUM}(?:{sep}{_NUM}){{{width - 1}}}[ \t\r]*"
    text = "\n".join(lines)
    if width < 1 or not re.fullmatch(rf"{row}(?:\n{row})*", text):
        return None
    return np.array(text.replace(",", " ").split(), dtype=np.float64).reshape(-1, width)  # numbers and blanks only


_FIELDS = re.compile(r"\s*,\s*|\s+")   # sep=None: a comma (spaces around it allowed) or whitespace


def _tokens(line: str, sep: str | None) -> list[str]:
    """The stripped fields of one stripped line."""
    return [t.strip() for t in (_FIELDS.split(line) if sep is None else line.split(sep))]


def _line_rows(path: Path, numbered: list[tuple[int, str]], width: int | None,
               sep: str | None) -> np.ndarray:
    """The table read line by line, naming the first bad line: an empty field, a wrong width,
    a token that is not a number."""
    rows = []
    for lineno, line in numbered:
        line = line.strip()
        toks = _tokens(line, sep)
        if "" in toks:
            raise LabelFormatError(f"{path}:{lineno}: empty field {toks.index('') + 1}: {line!r}")
        if width is not None and len(toks) != width:
            raise LabelFormatError(f"{path}:{lineno}: expected {width} fields, got {len(toks)}: {line!r}")
        rows.append(toks)
    try:
        return np.asarray(rows, dtype=np.float64).reshape(-1, width or 0)
    except ValueError:  # find the token for the message (rare path)
        for toks, (lineno, _) in zip(rows, numbered):
            for tok in toks:
                try:
                    float(tok)
                except ValueError:
                    raise LabelFormatError(f"{path}:{lineno}: cannot parse {tok!r} as a number") from None
        raise


def read_table(path: Path, *, header: bool, ncols: int | None = None, sep: str | None = None,
               integers: bool = True) -> tuple[list[str] | None, np.ndarray, np.ndarray]:
    """Integer table (rows, cols) as float64 from a small text file, with file:line errors.

    Returns (header names or None, table, the 1-based line number of each row).
    `sep=None` accepts a comma (spaces around it allowed) or whitespace; an empty field
    ('730,,1') is an error. Blank lines and CRLF endings are fine. A clean file goes through
    :func:`_clean_rows` in one pass; any other through :func:`_line_rows`, which names the line.
    ``integers=False`` leaves the integer check to the caller, which knows the columns it reads: the others
    may hold any number (an OpenFace-style CSV's timestamp and confidence).
    """
    path = Path(path)
    names = None
    numbered = [(i, line) for i, line in enumerate(_text_lines(path), start=1) if line.strip()]
    if not numbered:   # a label file with no rows is damage (a failed copy), not a sequence without labels
        raise LabelFormatError(f"{path}:1: empty file, expected " + ("a header" if header else "rows of numbers"))
    if header:
        names, numbered = _tokens(numbered[0][1].strip(), sep), numbered[1:]
    width = ncols or (len(names) if names else None)
    t = _clean_rows([line for _, line in numbered], width) if sep is None and width and numbered else None
    if t is None:
        t = _line_rows(path, numbered, width, sep)
    lines = np.fromiter((i for i, _ in numbered), np.int64, len(numbered))
    bad = ~np.isfinite(t) | (t != np.round(t))
    if integers and bad.any():
        i, j = np.argwhere(bad)[0]
        shown = _tokens(numbered[i][1].strip(), sep)[j]
        raise LabelFormatError(f"{path}:{lines[i]}: field {j + 1} is {shown!r}, expected an integer")
    return names, t, lines


def read_named_rows(path: Path, width: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rows 'NAME v1 ... v<width>' (a tab, spaces or commas between fields; no header) ->
    (names, integer table as float64, 1-based line of each row); errors name file and line."""
    path = Path(path)
    names, numbered = [], []
    for lineno, line in enumerate(_text_lines(path), start=1):
        if line.strip():
            name, _, rest = line.strip().partition("\t") if "\t" in line else line.strip().partition(" ")
            names.append(name.strip())
            numbered.append((lineno, rest))
    if not numbered:
        raise LabelFormatError(f"{path}:1: empty file, expected rows of a name and {width} numbers")
    t = _line_rows(path, numbered, width, None)
    bad = ~np.isfinite(t) | (t != np.round(t))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise LabelFormatError(f"{path}:{numbered[i][0]}: field {j + 2} is {t[i, j]:g}, expected an integer")
    return names, t, np.array([n for n, _ in numbered], np.int64)


def unique_rows(d: pd.DataFrame, key, lines: np.ndarray, path: Path, qa: QA, subject: str | None,
                shown: pd.Series | None = None, what: str = "frame") -> np.ndarray:
    """Mask of the rows of `d` to keep: exact repeats are dropped (counted, noted); a `key` value
    listed again with different values is an error naming both lines (no value is guessed).
    `lines[i]` is row i's line in `path`; `shown` how the message writes a key (default `d[key]`)."""
    same = d.duplicated(keep="first").to_numpy()
    k = d[key].to_numpy()
    clash = d[key].duplicated(keep="first").to_numpy() & ~same
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        j = int(np.flatnonzero(k == k[i])[0])
        raise LabelFormatError(f"{path}:{lines[i]}: {what} {(d[key] if shown is None else shown).iat[i]} again, "
                               f"with values different from line {lines[j]}")
    if same.any():
        qa.add(subject, "duplicate_label_row", int(same.sum()))
        qa.note("duplicate_label_row", f"{path}:{lines[same][0]}: {int(same.sum())} repeated row(s), "
                                       "read once")
    return ~same


def unique_frames(t: np.ndarray, lines: np.ndarray, path: Path, qa: QA, subject: str) -> np.ndarray:
    """:func:`unique_rows` of a numeric label table whose column 0 is the frame number."""
    if len(np.unique(t[:, 0])) == len(t):   # every frame once, the usual case: no table needed
        return t
    d = pd.DataFrame(t)
    return t[unique_rows(d, 0, lines, path, qa, subject, shown=d[0].astype(np.int64))]


def invalid_codes(invalid) -> list[float]:
    """A manifest's ``invalid_code``: one number, a list of them, or None (no code) -> a list."""
    if invalid is None:
        return []
    return [float(c) for c in (invalid if isinstance(invalid, (list, tuple)) else [invalid])]


def clean_codes(values: np.ndarray, *, invalid, lo: float, hi: float,
                qa: QA, subject: str | None, path: Path | None = None, frames: np.ndarray | None = None,
                column: str = "", lines: np.ndarray | None = None) -> np.ndarray:
    """Invalid codes and out-of-range values -> NaN (both counted); out-of-range values are also
    noted, naming ``path`` (and ``column``) and the first such value's line (``lines``) and
    ``frames`` entry. ``invalid``: one code, a list of codes (``invalid_code: [9, 99]``) or None."""
    v = values.astype(np.float64, copy=True)
    if invalid is not None:
        bad = np.isin(v, invalid_codes(invalid))
        qa.add(subject, "invalid_codes", int(bad.sum()))
        v[bad] = np.nan
    out = np.isfinite(v) & ((v < lo) | (v > hi))
    if out.any():
        qa.add(subject, "out_of_range", int(out.sum()))
        i = int(np.flatnonzero(out)[0])
        at = ([f"line {int(lines[i])}"] if lines is not None else []) + (
            [f"frame {int(frames[i])}"] if frames is not None else [])
        first = f"{', '.join(at)}: {v[i]:g}" if at else f"{v[i]:g}"
        qa.note("out_of_range", f"{path or subject}{f' {column}' if column else ''}: {int(out.sum())} "
                                f"value(s) outside {lo:g}..{hi:g}, read as not labelled (first: {first})")
    v[out] = np.nan
    return v


def intensity_hint(qa: QA, path: Path, values: np.ndarray, names: list[str], invalid, advice: str) -> None:
    """Notes (kind 'label_kind') an occurrence file whose coded nonzero values are mostly 2..5: a file of
    intensities read as 0/1, whose 2-5 would each be counted out of range and read as not labelled.
    ``values`` (rows, AU columns) as read, before :func:`clean_codes`; ``names`` the columns' headers;
    ``invalid`` the entry's invalid code(s), left out; ``advice`` how to read it as intensities."""
    v = values[~np.isin(values, invalid_codes(invalid)) & (values != 0)]
    high = int(((v >= 2) & (v <= 5)).sum())
    if high and high >= len(v) / 2:
        cols = [n for n, c in zip(names, values.T) if ((c >= 2) & (c <= 5)).any()]
        qa.note("label_kind", f"{path}: {high} of {len(v)} nonzero values ({', '.join(cols)}) are 2-5: these look "
                              f"like intensities: {advice}")


def ranges(numbers, limit: int | None = 8) -> str:
    """Frame numbers as runs: [1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8'; past ``limit`` runs (None: no
    limit), '..., and N more runs'."""
    n = np.unique(np.asarray(numbers, np.int64))
    if not len(n):
        return ""
    cut = np.flatnonzero(np.diff(n) != 1) + 1
    runs = [f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in np.split(n, cut)]
    limit = len(runs) if limit is None else limit
    more = f", and {len(runs) - limit} more runs" if len(runs) > limit else ""
    return ", ".join(runs[:limit]) + more


def frame_number(stem: str) -> int | None:
    """'732' and '0732' -> 732; names that are not integers -> None."""
    return int(stem) if stem.isdigit() else None


def note_ignored(qa: QA, files: list[tuple[dict, Path]], why: str, subject: str = "subject") -> None:
    """Count and name files among the data that do not fit the manifest pattern (`scan`'s
    `unmatched`); counted under the folder's `subject` field when it has one."""
    for fields, p in files:
        qa.add(fields.get(subject), "ignored_file")
        qa.note("ignored_file", f"{p}: {why}")


def join_labels(frames: pd.DataFrame, sources: list[tuple[Path, pd.DataFrame]], qa: QA,
                subject: str, where: str = "", known_tail: int = 0, video: bool = False) -> pd.DataFrame:
    """Frames (column `frame`, ...) that have a row in at least one label source, in their order,
    with every source's columns (NaN where a source has no row for the frame).

    Counted: label rows without a frame, frames without any label row, and kept frames
    that lack a row in some source (`frame_missing_label`; each such file is noted). The first
    two are noted per sequence (``where``, e.g. 'F001/T1'), with the first frame of each, unless
    the frames without a label are exactly the last ``known_tail`` (a known property the caller
    notes, DISFA SN010's). ``video``: the frames are a video's (the notes say 'video frame', not 'image').
    Each source lists a frame once (:func:`unique_frames`). Plain numpy: an
    index read joins a few files per sequence, thousands on BP4D, where pandas merges cost about
    1 ms each.
    """
    where = where or subject
    img = frames["frame"].to_numpy(np.int64)
    keys = [d["frame"].to_numpy(np.int64) for _, d in sources]
    labelled = np.unique(np.concatenate(keys))
    orphans = labelled[~np.isin(labelled, img)]
    qa.add(subject, "label_without_frame", len(orphans))
    if len(orphans) and len(img):      # no image at all is noted by the reader, once per sequence
        one, many = ("a video frame", "video frames") if video else ("an image", "images")
        qa.note("label_without_frame", f"{where}: {len(orphans)} labelled frame(s) without {one} "
                                       f"(first: frame {orphans[0]}; {many} {img.min()}..{img.max()})")
    keep = np.isin(img, labelled)
    bare = img[~keep]
    qa.add(subject, "frame_without_label", len(bare))
    if len(bare) and not (len(bare) == known_tail and (bare > img[keep].max(initial=-1)).all()):
        qa.note("frame_without_label", f"{where}: {len(bare)} frame(s) without any label row, left out "
                                       f"(first: frame {bare[0]}; labelled {labelled.min()}..{labelled.max()})")
    df = frames[keep].reset_index(drop=True)
    kept = img[keep]
    miss = np.ones((len(df), len(sources)), bool)
    for i, ((path, d), k) in enumerate(zip(sources, keys)):
        pos = pd.Index(k).get_indexer(kept)           # each kept frame's row in this source, -1: none
        hit = pos >= 0
        miss[:, i] = ~hit
        for c in d.columns.drop("frame"):
            v = np.full(len(df), np.nan)
            v[hit] = d[c].to_numpy(np.float64)[pos[hit]]
            df[c] = v
    qa.add(subject, "frame_missing_label", int(miss.any(axis=1).sum()))
    for (path, _), m in zip(sources, miss.T):
        if m.any():
            qa.note("frame_missing_label", f"{path}: no row for {int(m.sum())} frame(s) that have other "
                                           f"labels (first: frame {kept[m][0]})")
    return df


def likely_shift(label_frames, image_frames, reach: int = SHIFT_REACH) -> int | None:
    """k when label frame + k matches the image frames much better than the labels as written (at most
    :data:`SHIFT_LEFT` of the label rows still mismatched, on either side); None when nothing is off or no
    shift explains it."""
    lab, img = np.unique(label_frames), np.unique(image_frames)
    if not len(lab) or not len(img):
        return None

    def mismatch(k: int) -> int:
        return int((~np.isin(lab + k, img)).sum() + (~np.isin(img, lab + k)).sum())

    here = mismatch(0)
    if not here:
        return None
    best = min(range(-reach, reach + 1), key=lambda k: (mismatch(k), abs(k)))
    if best and mismatch(best) < here and mismatch(best) <= SHIFT_LEFT * len(lab):
        return best
    return None


def note_shifts(qa: QA, shifts: dict[int | None, list[str]], offset: int, entry_name: str,
                first_frame: int | None = None) -> None:
    """One note per shift found by :func:`likely_shift` ({k: sequences}; k None: the sequences compared that do
    not look shifted). When every sequence compared is shifted by the same k, the note says which ``frame_offset``
    to set (the entry's ``offset`` + k) in ``entry_name`` ('entry X of <manifest>'); videos numbered from
    ``first_frame`` (0 or 1) whose CSVs count from the other one (k = first_frame - other, no offset set) are told
    to set ``first_frame`` instead: the same fix, said as what the files are. When only some are shifted (or by
    different k), an entry-wide offset would shift the others: the note names the sequences whose files to renumber."""
    found = {k: w for k, w in shifts.items() if k is not None}
    compared = sum(len(w) for w in shifts.values())
    whole = len(found) == 1 and not shifts.get(None)
    for k, where in sorted(found.items()):
        if whole:
            seqs = ", ".join(where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
            fix = f"frame_offset: {offset + k}"
            if first_frame is not None and not offset and first_frame - k in (0, 1):
                fix = f"first_frame: {first_frame - k} (the CSVs call the video's first frame {first_frame - k})"
            qa.note("shifted_labels", f"{len(where)} sequence(s) ({seqs}): labels look shifted by {k} frames; set "
                                      f"{fix} in {entry_name}")
            continue
        seqs = ", ".join(where[:SHIFT_NAMED]) + (f" and {len(where) - SHIFT_NAMED} more"
                                                 if len(where) > SHIFT_NAMED else "")
        qa.note("shifted_labels", f"{len(where)} of the {compared} sequences ({seqs}): labels look shifted by {k} "
                                  f"frames, the other {compared - len(where)} do not: renumber the label files of "
                                  f"these (label frame + {k} = frame); a frame_offset in {entry_name} would shift "
                                  "every sequence's labels")


def deeper_hint(root: Path, pattern: str) -> str:
    """A line naming the subfolders where `pattern` matches (`scan.deeper`), or ''."""
    hits = deeper(root, pattern)
    if not hits:
        return ""
    rel = [h.relative_to(root) for h in hits]
    where = ", ".join(f"{r}/" for r in rel[:3]) + (f" and {len(rel) - 3} more" if len(rel) > 3 else "")
    fix = (f"point the root at {hits[0]} (--root, or env AUKIT_DATA_<NAME>), or move its contents up"
           if len(hits) == 1 else f"move their contents up into {root}")
    return (f"\n  the pattern {pattern} matches {len(rel[0].parts)} folder level(s) further down, in {where} "
            f"(did an unzip add a folder?): {fix}")


def no_frames_message(dataset: str, root: Path, qa: QA, pattern: str | None) -> str:
    """Why a copy gave no frame: the frames' pattern, what the root holds (a copy's ``2D+3D/`` where the
    manifest says ``2D/``, ``Videos_RightCamera/`` only), the reader's first notes, and the manifest line
    to edit. A pattern that matches further down gets :func:`deeper_hint`'s advice instead."""
    from .manifest import base_name, entry, manifest_path
    lines = [f"{dataset}: no frames found under {root}"]
    hint = deeper_hint(root, pattern) if pattern else ""
    if hint:
        return lines[0] + hint
    patterns = entry(dataset).get("patterns", {})
    key = next((k for k in ("frames", "video", "images") if k in patterns), None)
    shown = pattern or (patterns.get(key) if key else None)
    if shown:
        lines.append(f"  the frames' pattern is {shown}")
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir()) if root.is_dir() else []
    if top:
        lines.append(f"  {root} holds: {', '.join(top[:12])}{', ...' if len(top) > 12 else ''}")
    lines += [f"  {n}" for n in qa.notes[:3]]
    if key:
        lines.append(f"  if this copy names its folders otherwise, edit {base_name(dataset)}.patterns.{key} in "
                     f"{manifest_path()}")
    return "\n".join(lines)


def finish(frames: list[pd.DataFrame], qa: QA, dataset: str, root: Path,
           columns: tuple[str, ...] | list[str] = (), pattern: str | None = None) -> pd.DataFrame:
    """Concatenate per-sequence frames, add missing label `columns` (NaN), order, attach QA.
    No frame at all is an error; with the frames' `pattern`, it names the subfolders where the
    pattern matches (a copy unzipped with an extra folder level)."""
    if not sum(len(f) for f in frames):
        raise FileNotFoundError(no_frames_message(dataset, root, qa, pattern))
    df = pd.concat(frames, ignore_index=True)
    for c in columns:
        if c not in df:
            df[c] = np.nan
    au = sorted([c for c in df.columns if c.startswith("AU")])
    occ = sorted([c for c in df.columns if c.startswith("occ_AU")])
    rest = [c for c in df.columns if c not in INDEX_COLUMNS and c not in au and c not in occ]
    df = df[INDEX_COLUMNS + au + occ + rest]
    df["frame"] = df["frame"].astype(np.int64)
    for c in au + occ:
        df[c] = df[c].astype(np.float32)
    df = df.sort_values(["subject", "sequence", "frame"], kind="stable").reset_index(drop=True)
    df.attrs["qa"] = qa.as_dict()
    df.attrs["dataset"] = dataset
    df.attrs["root"] = str(root)
    return df
