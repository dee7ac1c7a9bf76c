"""EmotioNet reader: images/<name>.jpg (.jpeg, .png), labels optional.

Each image is its own subject and sequence (frame 0). Every image is kept: RTATL reads
EmotioNet unlabelled. Labels come from `labels.csv` ('image' column + AU columns, 999 = not
annotated), or else from the URL lists EmotioNet is distributed as (`emotioNet_*.txt`: a URL,
a tab, one code per AU, no header; the image is the URL's file name), which name no AU: their
column order is `emotionet.url_list_aus` in data_manifest.yaml, unset by default. Images without
a label row, label rows without an image, repeated rows, other files among the images and
columns that are not AUs are counted and named; these counts are the dataset's (`qa.overall`),
not a subject's. Labels that do not parse are a problem naming file and line, the images read
unlabelled (as Aff-Wild2's, see affwild2.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .labelio import (QA, LabelFormatError, au_col, au_number, clean_codes, finish, note_ignored,
                      read_named_rows, unique_rows)
from .manifest import as_list, entry
from .scan import fill, scan

SHOWN = 3  # names quoted per note


def read(root: Path, dataset: str = "emotionet") -> pd.DataFrame:
    e = entry(dataset)
    qa = QA()
    images = _images(root, as_list(e["patterns"]["images"]), qa)
    names = list(images)
    df = pd.DataFrame({"subject": names, "sequence": names, "frame": np.zeros(len(names), np.int64),
                       "source": [str(p) for p in images.values()]})
    lab, lq = None, QA()
    try:
        lab = _labels(root, e, lq) if len(df) else None
        qa.extend(lq)
    except LabelFormatError as err:          # optional labels: a problem, not an error (see affwild2.py)
        qa.add(None, "unreadable_label_file")
        qa.note("unreadable_label_file", f"{err} (the images are read unlabelled)")
    if lab is not None:
        orphan = ~lab["subject"].isin(df["subject"])
        qa.add(None, "label_without_frame", int(orphan.sum()))
        if orphan.any():
            shown = ", ".join(f"{w} {n!r}" for w, n in zip(lab["_where"][orphan][:SHOWN], lab["_image"][orphan]))
            qa.note("label_without_frame", f"{int(orphan.sum())} label row(s) name an image not among the "
                                           f"images (first: {shown})")
        bare = ~df["subject"].isin(lab["subject"])
        qa.add(None, "frame_without_label", int(bare.sum()))
        if bare.any():
            shown = ", ".join(Path(s).name for s in df["source"][bare][:SHOWN])
            qa.note("frame_without_label", f"{int(bare.sum())} image(s) without a label row, kept unlabelled "
                                           f"(first: {shown})")
        df = df.merge(lab.drop(columns=["_where", "_image"]), on="subject", how="left")
    return finish([df], qa, dataset, root)


def _images(root: Path, patterns: list[str], qa: QA) -> dict[str, Path]:
    """Image path by name (file stem) over `patterns`, in path order. A second file for one name
    ('a.jpg' and 'a.png') and files that fit no pattern are counted and named."""
    found: dict[str, Path] = {}
    stray: list[tuple[dict, Path]] = []
    matched = set()
    for pat in patterns:
        for f, p in scan(root, pat, stray):
            matched.add(p)
            if f["name"] in found:
                note_ignored(qa, [({}, p)], f"second image named {f['name']!r} ({found[f['name']].name} is read)")
            else:
                found[f["name"]] = p
    other = {p: f for f, p in stray if p not in matched}
    note_ignored(qa, [(f, p) for p, f in sorted(other.items())], f"not an image ({' or '.join(patterns)})")
    return dict(sorted(found.items(), key=lambda kv: str(kv[1])))


def _labels(root: Path, e: dict, qa: QA) -> pd.DataFrame | None:
    """subject (image stem) + occ_AUxx, with `_where` ('file:line') and `_image` of each row;
    None when the copy has no labels."""
    invalid = e.get("invalid_code", 999)
    lists = sorted({p for pat in as_list(e["patterns"].get("url_lists")) for p in root.glob(pat)})
    path, _ = fill(root, as_list(e["patterns"].get("labels")))
    if path is not None:
        for p in lists:
            qa.note("not_read", f"{p}: URL list not read ({path.name} is)")
        return _csv(path, invalid, qa)
    if not lists:
        return None
    aus = e.get("url_list_aus")
    if not aus:
        qa.note("no_labels", f"{', '.join(p.name for p in lists)} under {root}: EmotioNet's URL list (URL, a tab, "
                             "one code per AU, no header) not read, as its columns name no AU: set "
                             "emotionet.url_list_aus in data_manifest.yaml to the AU order your copy's readme gives "
                             "(or write labels.csv), and the images are read unlabelled")
        return None
    parts = [_url_list(p, [int(a) for a in aus], invalid, qa) for p in lists]
    lab = pd.concat(parts, ignore_index=True)
    again = lab["subject"].duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(again):     # listed in two files: read once if the codes agree
        j = int(np.flatnonzero(lab["subject"].to_numpy() == lab["subject"].iat[i])[0])
        cols = [c for c in lab.columns if c.startswith("occ_")]
        a, b = lab[cols].iloc[i].to_numpy(np.float64), lab[cols].iloc[j].to_numpy(np.float64)
        if not np.array_equal(a, b, equal_nan=True):
            raise LabelFormatError(f"{lab['_where'].iat[i]}: image {lab['_image'].iat[i]!r} again, with values "
                                   f"different from {lab['_where'].iat[j]}")
    if again.any():
        qa.add(None, "duplicate_label_row", int(again.sum()))
        qa.note("duplicate_label_row", f"{lab['_where'][again].iat[0]}: {int(again.sum())} image(s) listed again "
                                       "with the same codes, read once")
    return lab[~again].reset_index(drop=True)


def _csv(path: Path, invalid, qa: QA) -> pd.DataFrame:
    """labels.csv -> a row per image (line = row index + 2)."""
    try:
        lab = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise LabelFormatError(f"{path}: cannot read as a UTF-8 CSV with a header ({err})") from None
    if "image" not in lab.columns:
        first = ",".join(lab.columns)
        hint = (": this is EmotioNet's URL list (URL, a tab, AU codes, no header); name it emotioNet_1.txt "
                "and set emotionet.url_list_aus in data_manifest.yaml, or add a header 'image,AU1,...'"
                if "\t" in first and first.lower().startswith(("http://", "https://")) else "")
        raise LabelFormatError(f"{path}:1: expected a column 'image'{hint}")
    lines = np.arange(len(lab)) + 2
    out = pd.DataFrame({"subject": lab["image"].map(lambda s: Path(s.strip()).stem)})
    for c in lab.columns.drop("image"):
        try:
            col = au_col(au_number(c), occurrence=True)
        except ValueError:
            qa.note("ignored_column", f"{path}:1: column {c!r} is not an AU column (not read)")
            continue
        raw = lab[c].str.strip()
        v = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(v) | (v != np.round(v))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            why = "empty field" if raw.iat[i] == "" else f"{raw.iat[i]!r}, expected an integer"
            raise LabelFormatError(f"{path}:{lines[i]}: column {c!r}: {why}")
        out[col] = clean_codes(v, invalid=invalid, lo=0, hi=1, qa=qa, subject=None, path=path, column=c,
                               lines=lines)
    keep = unique_rows(out, "subject", lines, path, qa, None, shown=lab["image"].map(repr), what="image")
    out["_where"] = [f"{path}:{n}" for n in lines]
    out["_image"] = lab["image"]
    return out[keep].reset_index(drop=True)


def _url_list(path: Path, aus: list[int], invalid, qa: QA) -> pd.DataFrame:
    """One emotioNet_*.txt: a row per URL; the image is the URL's file name (query cut off)."""
    urls, t, lines = read_named_rows(path, len(aus))
    files = [u.split("?")[0].rstrip("/").rpartition("/")[2] for u in urls]
    out = pd.DataFrame({"subject": [Path(f).stem for f in files]})
    for j, au in enumerate(aus):
        out[au_col(au, occurrence=True)] = clean_codes(t[:, j], invalid=invalid, lo=0, hi=1, qa=qa, subject=None,
                                                      path=path, column=f"AU{au}", lines=lines)
    keep = unique_rows(out, "subject", lines, path, qa, None, shown=pd.Series(files).map(repr), what="image")
    out["_where"] = [f"{path}:{n}" for n in lines]
    out["_image"] = files
    return out[keep].reset_index(drop=True)
