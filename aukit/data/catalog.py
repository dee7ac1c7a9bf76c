"""`index(dataset, root=None)`: one row per frame of a dataset, from its files on disk.

Columns: subject, sequence (BP4D task, DISFA video, clip/identity), frame (int, the
dataset's numbering), source (image path, or '<video>#<k>' with k the 0-based decode
position), AUxx (intensity 0..5, NaN = invalid/not coded), occ_AUxx (0/1/NaN).
`df.attrs["qa"]` holds the counts of invalid codes and label/frame mismatches (totals,
per subject) and notes naming the files concerned ('kind: message'; see labelio.QA).

A dataset of the user's own (a manifest entry with ``layout:``) is read by its layout's reader: ``bp4d`` or
``disfa`` with the entry's own patterns, AUs and codes, ``table`` by :mod:`aukit.data.table`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from . import affwild2, auxsets, bp4d, disfa, emotionet, table
from .manifest import base_name, entry, is_custom, manifest_path, reader_of, resolve_root
from .schema import check_patterns

READERS = {
    "bp4d": bp4d.read,
    "bp4d_unlabelled": bp4d.read_unlabelled,   # the images without any label row: manifest part_of bp4d
    "disfa": disfa.read,
    "affwild2": affwild2.read,
    "emotionet": emotionet.read,
    "casia_webface": auxsets.read_casia,
    "afew_va": auxsets.read_afew_va,
}
LAYOUT_READERS = {"bp4d": bp4d.read, "disfa": disfa.read, "table": table.read}   # manifest.LAYOUTS


def index(dataset: str, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Frame index of `dataset` (see module docstring); raises DatasetNotFound with hints."""
    r = resolve_root(dataset, root)
    if is_custom(dataset):
        check_patterns(dataset, entry(dataset), reader_of(dataset), manifest_path())
        return LAYOUT_READERS[reader_of(dataset)](r, dataset)
    return READERS[base_name(dataset)](r, dataset)


def parse_source(source: str) -> tuple[Path, int | None]:
    """'/a/b.jpg' -> (path, None); '/a/v.avi#12' -> (path, 12)."""
    head, sep, tail = source.rpartition("#")
    if sep and tail.isdigit():
        return Path(head), int(tail)
    return Path(source), None


def au_columns(df: pd.DataFrame, occurrence: bool = False) -> list[str]:
    """Intensity ('AU06', ...) or occurrence ('occ_AU01', ...) columns present in `df`."""
    pre = "occ_AU" if occurrence else "AU"
    return [c for c in df.columns if c.startswith(pre) and c[len(pre):].isdigit()]
