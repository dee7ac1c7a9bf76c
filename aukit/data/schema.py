"""The keys a data_manifest.yaml entry may have, per reader, and the check of one entry.

An entry is read by one reader (its own name's, a ``synthau-`` entry's real set's, a ``part_of`` entry's whole
dataset's, or a dataset of the user's own by its ``layout:``); every key it holds must be one that reader
(or the manifest machinery: root, folder_names, expected, ...) reads. A typo ('intesity_aus') is an error
naming the manifest, the entry and the key, with the closest known key, where it was silently ignored.
:func:`check_entry` runs when an entry is used (``manifest.entry``), not at import.
"""
from __future__ import annotations

import difflib
import re

# read for every entry by the manifest, data check, the notebooks' runner and the provenance record
COMMON = ("description", "licence", "notebooks", "folder_names", "root", "expected")
EXPECTED = ("subjects", "sequences", "frames")
# reader -> (entry keys it reads, its `patterns:` keys, the pattern keys it cannot do without)
READERS = {
    "bp4d": (("patterns", "intensity_aus", "occurrence_aus", "invalid_code", "frame_offset"),
             ("frames", "occurrence", "intensity"), ("frames",)),
    "disfa": (("patterns", "intensity_aus", "occurrence_threshold", "frame_offset"), ("video", "labels"),
              ("video", "labels")),
    "affwild2": (("patterns", "invalid_code"), ("frames", "labels"), ("frames",)),
    "emotionet": (("patterns", "invalid_code", "url_list_aus"), ("images", "labels", "url_lists"), ("images",)),
    "casia_webface": (("patterns",), ("images",), ("images",)),
    "afew_va": (("patterns",), ("frames", "annotation"), ("frames", "annotation")),
    "table": (("patterns", "intensity_aus", "occurrence_aus", "invalid_code", "label_kind", "occurrence_threshold",
               "frame_column", "frame_offset", "first_frame"), ("frames", "video", "labels"), ("labels",)),
}
# a layout's pattern keys of which it needs exactly one: the table layout's images or its videos
ONE_OF = {"table": ("frames", "video")}
# the fields each pattern of the table layout must hold
TABLE_FIELDS = {"frames": ("subject", "sequence", "frame"), "video": ("subject", "sequence"),
                "labels": ("subject", "sequence")}
FIRST_FRAMES = (0, 1)
CUSTOM = ("layout", "folds")          # a dataset of the user's own
LABEL_KINDS = ("intensity", "occurrence")
FOLD_PARTS = ("part1", "part2", "part3")


class ManifestError(ValueError):
    """A manifest entry with a key no reader reads, or a value of the wrong form."""


def _where(path, name: str) -> str:
    return f"{path}: entry {name!r}"


def _unknown(keys, known, where: str, what: str = "key") -> None:
    """Every key not in ``known``, each with the closest known one: one error naming them all."""
    bad = []
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            bad.append(f"unknown {what} {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if bad:
        raise ManifestError(f"{where}: {', '.join(bad)}; known: {', '.join(sorted(known))}")


def allowed(reader: str, custom: bool = False, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys an entry read by ``reader`` may hold."""
    return COMMON + READERS[reader][0] + (CUSTOM if custom else ()) + extra


def check_entry(name: str, e: dict, reader: str, path, *, custom: bool = False,
                extra: tuple[str, ...] = ()) -> None:
    """Raise :class:`ManifestError` when entry ``name`` (as written in ``path``) holds a key the reader
    ``reader`` does not read, a pattern key it does not know, or values of the wrong form."""
    where = _where(path, name)
    if not isinstance(e, dict):
        raise ManifestError(f"{where}: expected a mapping of keys, got {e!r}")
    _unknown(e, allowed(reader, custom, extra), where)
    _unknown(e.get("expected") or {}, EXPECTED, where, "key of 'expected'")
    pats = e.get("patterns") or {}
    if not isinstance(pats, dict):
        raise ManifestError(f"{where}: 'patterns' must be a mapping ({', '.join(READERS[reader][1])})")
    _unknown(pats, READERS[reader][1], where, "key of 'patterns'")
    if custom:
        _check_custom(e, reader, where)
    _check_codes(e, where)


def _check_custom(e: dict, layout: str, where: str) -> None:
    """A user's entry: the patterns its reader needs, AU lists it can read, its label kind and folds."""
    pats = e.get("patterns") or {}
    kind = e.get("label_kind", "intensity")
    if kind not in LABEL_KINDS:
        raise ManifestError(f"{where}: label_kind is {kind!r}; one of {', '.join(LABEL_KINDS)}")
    if e.get("intensity_aus"):
        no_file = {"bp4d": not pats.get("intensity"), "table": kind == "occurrence"}.get(layout, False)
        if no_file:
            why = ("no patterns.intensity to read them from" if layout == "bp4d"
                   else "label_kind: occurrence (the CSVs hold 0/1); list them in occurrence_aus")
            raise ManifestError(f"{where}: intensity_aus {list(e['intensity_aus'])} but {why}")
    if layout == "bp4d" and e.get("occurrence_aus") and not pats.get("occurrence"):
        raise ManifestError(f"{where}: occurrence_aus listed but no patterns.occurrence to read them from")
    for key in ("intensity_aus", "occurrence_aus"):
        if not all(isinstance(a, int) for a in e.get(key) or ()):
            raise ManifestError(f"{where}: {key} must be a list of AU numbers, got {e[key]!r}")
    if not isinstance(e.get("frame_offset", 0), int):
        raise ManifestError(f"{where}: frame_offset must be an integer, got {e['frame_offset']!r}")
    if layout == "table":
        _check_table(e, where)
    if "folds" in e:
        check_folds(e["folds"], where)


def _check_table(e: dict, where: str) -> None:
    """The table layout: frame images or videos (not both), the fields its patterns need, ``first_frame``."""
    pats = e.get("patterns") or {}
    if pats.get("frames") and pats.get("video"):
        raise ManifestError(f"{where}: patterns has both frames and video; keep one (frames: the extracted images, "
                            "video: one video a sequence)")
    for key, fields in TABLE_FIELDS.items():
        lack = [f for f in fields if pats.get(key) and not re.search(r"\{" + f + r"(:[^}]*)?\}", str(pats[key]))]
        if lack:
            raise ManifestError(f"{where}: patterns.{key} {pats[key]!r} has no {', '.join('{' + f + '}' for f in lack)}"
                                f" field; the table layout's {key} pattern names {', '.join(fields)}")
    if "first_frame" in e:
        if not pats.get("video") and pats.get("frames"):
            raise ManifestError(f"{where}: first_frame numbers a video's frames; with patterns.frames each image's "
                                "name gives its number (frame_offset shifts the labels)")
        if e["first_frame"] not in FIRST_FRAMES or isinstance(e["first_frame"], bool):
            raise ManifestError(f"{where}: first_frame is {e['first_frame']!r}; 1 (the CSV calls the video's first "
                                "frame 1) or 0 (it calls it 0); another shift is frame_offset")


def check_patterns(name: str, e: dict, layout: str, path) -> None:
    """Before a user's dataset is read: the patterns its layout cannot do without (an entry that only
    declares its AUs, for the methods, needs none until its files are read)."""
    pats = e.get("patterns") or {}
    gone = [k for k in READERS[layout][2] if not pats.get(k)]
    if gone:
        raise ManifestError(f"{_where(path, name)}: layout {layout} needs patterns.{', patterns.'.join(gone)} "
                            "to read the files")
    one = ONE_OF.get(layout, ())
    if one and not any(pats.get(k) for k in one):
        raise ManifestError(f"{_where(path, name)}: layout {layout} needs patterns.{' or patterns.'.join(one)} "
                            "(the frame images, or one video a sequence) to read the files")


def _check_codes(e: dict, where: str) -> None:
    codes = e.get("invalid_code")
    if codes is None:
        return
    listed = codes if isinstance(codes, list) else [codes]
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in listed):
        raise ManifestError(f"{where}: invalid_code must be an integer or a list of integers, got {codes!r}")


def check_folds(folds, where: str) -> None:
    """``folds: {part1: [...], part2: [...], part3: [...]}``, every subject in one part only."""
    if not isinstance(folds, dict) or sorted(folds) != list(FOLD_PARTS):
        got = sorted(folds) if isinstance(folds, dict) else repr(folds)
        raise ManifestError(f"{where}: folds must have exactly the keys {', '.join(FOLD_PARTS)} (lists of "
                            f"subject ids); got {got}")
    seen: dict[str, str] = {}
    twice = []
    for part in FOLD_PARTS:
        if not isinstance(folds[part], list) or not folds[part]:
            raise ManifestError(f"{where}: folds.{part} must be a non-empty list of subject ids")
        for s in map(str, folds[part]):
            if s in seen:
                twice.append(f"{s} ({seen[s]} and {part})")
            seen.setdefault(s, part)
    if twice:
        raise ManifestError(f"{where}: every subject must be in exactly one part of folds; in two: {', '.join(twice)}")
