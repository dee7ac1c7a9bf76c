"""Flagged per-AU scores in the tables: :mod:`aukit.metrics`' degenerate cases, one convention for all five papers.

Two kinds (:data:`aukit.metrics.UNDEFINED`):

* undefined: the test labels cannot score the AU (no positive label for F1, a constant label for ICC, one class
  for AUC). Its cell reads ``n/a†`` (the CSV has no value) and the row's Avg leaves it out, as
  :func:`aukit.metrics.per_au` does; the note names the AUs and gives the Avg with them counted as 0, so both
  readings are on the page.
* the model's own zero (no frame predicted present, a constant prediction): a genuine score. Its cell keeps its
  value, marked ``‡``, and counts in Avg.

A flag arrives as the metric's name (``"no_positives"``) or, over several seeds, as
``"no_positives in 2 of 3 seeds"`` (:func:`over_seeds`).
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics import UNDEFINED

__all__ = ["FLAG_WORDS", "UNDEFINED_MARK", "ZERO_MARK", "over_seeds", "parse", "is_undefined", "undefined_aus",
           "figure_note", "split", "flagged_cells", "words"]

FLAG_WORDS = {"no_positives": "no positive label among the test frames (F1 undefined)",
              "constant_label": "the label is constant on the test frames (ICC undefined)",
              "one_class": "the test frames hold one class only (AUC undefined)",
              "never_predicted": "no test frame predicted present (F1 = 0)",
              "constant_prediction": "the prediction is constant (ICC = 0)"}
UNDEFINED_MARK, ZERO_MARK = "†", "‡"
_SEEDS = re.compile(r"(\w+) in (\d+) of (\d+) seeds")


def over_seeds(per_seed: Sequence[Mapping[str, str]], keys: Sequence[str]) -> dict[str, str]:
    """``{key: flag}`` of one run's flags, or over several runs ``{key: "flag in k of n seeds"}``; a key whose
    runs raised two flags keeps the last one seen (flag dicts: ``aukit.metrics.per_au``'s ``flags``)."""
    n, out = len(per_seed), {}
    for key in keys:
        seen = [fl.get(key) for fl in per_seed]
        for flag in dict.fromkeys(f for f in seen if f):
            out[key] = flag if n == 1 else f"{flag} in {seen.count(flag)} of {n} seeds"
    return out


def parse(text: str) -> tuple[str, int | None, int | None]:
    """``"never_predicted in 1 of 3 seeds"`` -> ``("never_predicted", 1, 3)``; a bare flag -> ``(flag, None, None)``."""
    m = _SEEDS.fullmatch(text)
    return (m.group(1), int(m.group(2)), int(m.group(3))) if m else (text, None, None)


def is_undefined(text: str) -> bool:
    """An undefined score in every seed: no value to show, none in Avg. (Undefined in some seeds only, the seeds'
    test frames differ: the mean over the others is shown, marked.)"""
    flag, k, n = parse(text)
    return flag in UNDEFINED and k == n


def undefined_aus(flags: Mapping[str, str] | None) -> set[str]:
    """The AUs of ``{au: flag}`` (one method's) whose score is undefined in every seed: metrics.json writes their
    per-AU keys as null, as the tables show ``n/a†`` (a 0.0 there read as a measured score of zero)."""
    return {au for au, text in (flags or {}).items() if is_undefined(text)}


def words(text: str) -> str:
    """The flag in a table note's words, with its seed count: "no test frame predicted present (F1 = 0) in 1 of 3
    seeds" (an undefined score in every seed has none: the seeds share their test frames)."""
    flag, k, n = parse(text)
    return FLAG_WORDS.get(flag, flag) + (f" in {k} of {n} seeds" if k is not None and not is_undefined(text) else "")


def split(flags: Mapping[str, Mapping[str, str]] | None) -> tuple[dict, dict]:
    """``{method: {au: flag}}`` -> (the undefined scores, the model's zeros), each in the same form."""
    undefined: dict = {}
    zero: dict = {}
    for method, fl in (flags or {}).items():
        for au, text in fl.items():
            (undefined if parse(text)[0] in UNDEFINED else zero).setdefault(str(method), {})[str(au)] = text
    return undefined, zero


def _listing(by_method: Mapping[str, Mapping[str, str]], rows: Sequence[str]) -> str:
    """'AU01, AU17' when every row of the table has the same AUs flagged, else 'RTATL AU01; OFE AU01, AU17'."""
    sets = {m: tuple(aus) for m, aus in by_method.items()}
    same = len(set(sets.values())) == 1 and set(sets) >= set(rows)
    if same:
        return ", ".join(next(iter(sets.values())))
    return "; ".join(f"{m} {', '.join(aus)}" for m, aus in sets.items())


def figure_note(points: Mapping[str, Mapping[str, str]] | None) -> str:
    """The line under a figure whose points average over AUs (a sweep: ``{point: {au: flag}}`` for every point
    drawn, flagged or not): the undefined scores its averages leave out and the model's zeros they count, each AU
    with the number of points it holds for when not all; "" when nothing is flagged."""
    n = len(points or {})
    found: dict[tuple[bool, str], dict[str, list]] = {}
    for fl in (points or {}).values():
        for au, text in fl.items():
            flag, k, of = parse(text)
            found.setdefault((flag not in UNDEFINED, flag), {}).setdefault(au, []).append(
                None if k == of else f"{k} of {of} seeds")
    parts = []
    for (zero, flag), aus in sorted(found.items()):          # the undefined scores first
        listing = ", ".join(au + _where(seeds, n) for au, seeds in sorted(aus.items()))
        lead, tail = ("The averages count", ", the model's score") if zero else ("The averages leave out", "")
        parts.append(f"{lead} {listing}: {FLAG_WORDS.get(flag, flag)}{tail}.")
    return " ".join(parts)


def _where(seeds: list, n: int) -> str:
    """' (2 of 3 points; in 1 of 3 seeds there)' for an AU flagged at ``len(seeds)`` of ``n`` points, with the seeds
    it holds in where not every seed (``seeds``: one entry per point, None for every seed)."""
    parts = [] if len(seeds) == n else [f"{len(seeds)} of {n} points"]
    some = {x for x in seeds if x}
    if some:
        parts.append(f"in {some.pop()} there" if len(some) == 1 and None not in seeds else "in some seeds only")
    return f" ({'; '.join(parts)})" if parts else ""


def _grouped(by_method: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, list[str]]]:
    """{words: {method: [au, ...]}}: the flags in their note's words."""
    out: dict = {}
    for m, fl in by_method.items():
        for au, text in fl.items():
            out.setdefault(words(text), {}).setdefault(m, []).append(au)
    return out


def flagged_cells(flags: Mapping[str, Mapping[str, str]] | None, measured: pd.DataFrame,
                  std: pd.DataFrame | None, *, scale: float = 1.0, decimals: int = 2):
    """What a table shows for ``flags`` (``{method: {au: flag}}``): ``(measured, std, marks, notes)``, the frames
    with every undefined cell emptied (NaN: an undefined Avg too, when no AU of its row is defined), ``marks``
    ``{(method, column): mark}`` for :func:`aukit.report.tables.to_markdown`, and the notes naming the AUs and
    saying whether Avg counts them. A flag about an AU that is no column (the Avg-only tables) becomes a note
    only. ``scale`` and ``decimals``: the table's, for the Avg with the undefined AUs counted."""
    rows = [str(m) for m in measured.index]
    undefined, zero = split({m: f for m, f in (flags or {}).items() if str(m) in rows})   # a row not shown: no note
    measured = measured.copy()
    std = None if std is None else std.copy()
    marks: dict[tuple[str, str], str] = {}
    au_cols = [c for c in measured.columns if str(c).lower() not in ("avg", "avg.", "average")]
    avg_col = next((c for c in measured.columns if c not in au_cols), None)
    counted: dict[str, float] = {}
    for method, fl in undefined.items():
        shown = [au for au, text in fl.items() if au in au_cols]
        if shown and avg_col is not None:        # the row's mean with the placeholders, before they are emptied
            counted[method] = float(measured.loc[method, au_cols].mean()) * scale
        for au in shown:
            marks[(method, au)] = UNDEFINED_MARK
            if is_undefined(fl[au]):
                measured.loc[method, au] = np.nan
                if std is not None and method in std.index:
                    std.loc[method, au] = np.nan
        if avg_col is not None and au_cols and all(is_undefined(fl.get(au, "")) for au in au_cols):
            measured.loc[method, avg_col] = np.nan
            marks[(method, avg_col)] = UNDEFINED_MARK
    for method, fl in zero.items():
        for au in fl:
            if au in au_cols:
                marks[(method, au)] = ZERO_MARK
    notes = []
    for what, by_method in _grouped(undefined).items():
        aus = _listing(by_method, rows)
        if any(au in au_cols for m in by_method.values() for au in m):
            both = ", ".join(f"{m} {v:.{decimals}f}" for m, v in counted.items() if m in by_method)
            notes.append(f"n/a{UNDEFINED_MARK}: {aus}: {what}; left out of Avg, the mean over the AUs scored here"
                         + (f" (with them counted as 0 it would read {both})" if both else "") + ".")
        else:
            notes.append(f"The averages leave out {aus}: {what}.")
    for what, by_method in _grouped(zero).items():
        if any(au in au_cols for m in by_method.values() for au in m):
            notes.append(f"{ZERO_MARK} {_listing(by_method, rows)}: {what}, the model's score, counted in Avg.")
        else:
            notes.append(f"{_listing(by_method, rows)}: {what}, the model's score, counted in the averages.")
    return measured, std, marks, notes
