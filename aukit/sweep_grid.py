"""A sweep's grid file and its cells: reading and checking the grid (every mistake a ValueError naming
the file, so that ``aukit sweep`` stops with exit 2 before any cell runs), expanding it into cells,
and keeping a rerun from deleting finished cells that ran with other parameters.

Split out of :mod:`aukit.sweep` (which re-exports these names); the running of cells stays there.
"""
from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

TOP_KEYS = ("name", "parameters", "grid", "metrics")
# parameters a sweep sets itself: each cell's out_dir is its folder (a grid value would fail every cell)
SWEEP_OWNED = ("out_dir",)


@dataclass
class Cell:
    key: str
    params: dict
    folder: Path


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping: plain YAML keeps the last silently,
    so ``fold: [1, 2]`` followed by ``fold: [3]`` ran fold 3 alone."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue                                 # the base class names an unhashable key
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {seen[key] + 1}): give it once",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path):
    """The grid file's YAML; a syntax error or a key given twice is a ValueError naming the file and line
    (yaml's own error named "<unicode string>" under a traceback)."""
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ValueError(f"grid file {path}{where}: not a valid grid: {what}") from None


def load_grid(path: str | Path) -> tuple[str, dict, dict]:
    name, fixed, grid, _ = load_spec(path)
    return name, fixed, grid


def load_spec(path: str | Path) -> tuple[str, dict, dict, list | None]:
    """(name, fixed parameters, grid, metrics to aggregate or None) from a grid file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"grid file not found: {path}")
    spec = read_yaml(path)
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise ValueError(f"grid file {path}: must be a mapping with keys {', '.join(TOP_KEYS)}, "
                         f"not a {type(spec).__name__}")
    unknown = set(spec) - set(TOP_KEYS)
    if unknown:
        raise ValueError(f"grid file {path}: unknown top-level key(s) {sorted(map(str, unknown))}; "
                         "expected name, parameters, grid, metrics")
    grid, fixed = spec.get("grid") or {}, spec.get("parameters") or {}
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"grid file {path}: 'grid' must map parameter names to non-empty lists "
                         "(grid: {fold: [1, 2, 3], seeds: [[0], [1]]})")
    if not isinstance(fixed, dict):
        raise ValueError(f"grid file {path}: 'parameters' must map parameter names to values "
                         "(parameters: {smoke: true}), "
                         f"not a {type(fixed).__name__}")
    metrics = spec.get("metrics")
    if metrics is not None and not (isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics)):
        raise ValueError(f"grid file {path}: 'metrics' must be a non-empty list of metrics.json keys")
    name = str(spec.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", name):
        raise ValueError(f"grid file {path}: name {name!r} must be a folder name (letters, digits, '.', '_', '-'), "
                         "not a path: the sweep's folder is reports/<notebook>/sweeps/<name>")
    check_axes(path, dict(fixed), dict(grid))
    return name, dict(fixed), dict(grid), metrics


def check_axes(path, fixed: dict, grid: dict, written: dict | None = None) -> None:
    """Refuse a grid that would run something other than it says: a parameter both fixed and on an axis
    (the axis won silently), a parameter the sweep sets itself (``out_dir``: every cell failed at run
    time), and a value given twice on one axis (the cell ran twice, or two folders with the same
    parameters counted as two replicates). ``written``: each axis's values as the file wrote them,
    when ``grid`` holds them converted (``1e-3`` and ``0.001`` are one number)."""
    both = [k for k in grid if k in fixed]
    if both:
        raise ValueError(f"grid file {path}: {', '.join(map(repr, both))} under both 'parameters' and 'grid': "
                         "give each parameter in one of them")
    owned = [k for k in SWEEP_OWNED if k in grid or k in fixed]
    if owned:
        raise ValueError(f"grid file {path}: {', '.join(map(repr, owned))} is set by the sweep (each cell's "
                         "folder, reports/<notebook>/sweeps/<name>/<cell>): remove it from the grid file")
    for axis, values in grid.items():
        for i, j in itertools.combinations(range(len(values)), 2):
            if _same(values[i], values[j]):
                shown = written[axis] if written else values
                how = f"{shown[i]!r} and {shown[j]!r}" if shown[i] != shown[j] or type(shown[i]) is not \
                    type(shown[j]) else f"{shown[i]!r} twice"
                raise ValueError(f"grid file {path}: axis {axis!r} gives the value {how} (one value, one cell): "
                                 "give each value once")


def _same(a, b) -> bool:
    """One grid value written twice: equal, and not a bool beside a number (``True == 1`` in Python)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def normalise(notebook, path, fixed: dict, grid: dict) -> tuple[dict, dict]:
    """(fixed, grid) with the values the notebook reads as floats converted as ``-p`` converts them
    (:func:`aukit.nb.float_values`) before the cells are named and compared: ``lr: [1e-3, 0.001]`` made
    two folders with the same params.json. A value given twice once converted is refused."""
    from .nb import float_values

    fixed = float_values(notebook, fixed)
    new = {k: [float_values(notebook, {k: v})[k] for v in values] for k, values in grid.items()}
    check_axes(path, fixed, new, written=grid)
    return fixed, new


def _slug(value) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"[^A-Za-z0-9.,_-]+", "-", text)


def _key(point: dict) -> str:
    """A grid point's cell folder name: ``fold=1__seeds=0``."""
    return "__".join(f"{k}={_slug(v)}" for k, v in point.items())


def expand(fixed: dict, grid: dict, sweep_dir: Path) -> list[Cell]:
    """One cell per point of the grid, its folder named by the point; two values whose names would
    share a folder (``"a b"`` and ``"a-b"``) are a ValueError (one cell would overwrite the other)."""
    keys = list(grid)
    cells, seen = [], {}
    for values in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, values))
        key = _key(point)
        if key in seen and seen[key] != point:
            raise ValueError(f"grid points {seen[key]} and {point} would share the cell folder {key!r}: "
                             "make the values differ in letters, digits or '.,_-'")
        seen[key] = point
        cells.append(Cell(key, {**fixed, **point}, sweep_dir / key))
    return cells


def read_params(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "params.json").read_text())
    except (OSError, ValueError):
        return None


def changed_finished(cells: list[Cell]) -> dict[str, list[str]]:
    """{cell key: its changes, ``name old -> new``} of the finished cells (``metrics.json`` there) whose
    ``params.json`` differs from what the grid would run in them now. Rerunning such a cell deletes its
    result: a grid whose fixed parameters changed under the same name overwrote every finished cell."""
    changed = {}
    for c in cells:
        if not (c.folder / "metrics.json").exists():
            continue
        old = read_params(c.folder)
        if old is None:
            changed[c.key] = ["params.json missing or unreadable"]
        elif old != c.params:
            changed[c.key] = [f"{k} {_show(old, k)} -> {_show(c.params, k)}"
                              for k in dict.fromkeys([*old, *c.params]) if old.get(k, _NONE) != c.params.get(k, _NONE)]
    return changed


_NONE = object()


def _show(params: dict, key: str) -> str:
    return json.dumps(params[key]) if key in params else "(not set)"


def refuse_changed(grid_file, sweep_dir: Path, cells: list[Cell]) -> None:
    """A ValueError, before any cell runs, when finished cells ran with other parameters than the grid
    gives them now (:func:`changed_finished`): naming the grid file, the changes and what to do."""
    changed = changed_finished(cells)
    if not changed:
        return
    changes = sorted({ch for v in changed.values() for ch in v})
    keys = list(changed)
    raise ValueError(
        f"grid file {grid_file}: {len(changed)} finished cell(s) of sweep {sweep_dir} ran with other parameters "
        f"than the grid gives them now ({'; '.join(changes)}), in {', '.join(keys[:5])}"
        f"{', ...' if len(keys) > 5 else ''}. Running them again would delete their results, so nothing ran: "
        f"give the grid another 'name' (a new sweep folder, this one kept), or delete {sweep_dir} "
        "(or those cells' folders) to rerun them")


def check_cells(notebook, grid_file, grid: dict, cells: list[Cell]) -> None:
    """Every cell's parameters checked as ``-p`` values are (:func:`aukit.nb.check_parameters`: names,
    kinds, preset and schedule, dataset, fold, side sets) before any cell runs; each cell's problem is named
    at once, with the cells it stops, in one ValueError naming the grid file (``aukit sweep`` exits 2).
    A fold 7 was found only when its cell came to run, after the cells before it had run for an hour."""
    from .nb import check_parameters

    problems: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        try:
            check_parameters(notebook, c.params, files=False)     # piap.pt: a BP4D cell's, maybe not yet written
        except (ValueError, FileNotFoundError) as e:       # name where the parameter sits in the grid file
            bad = [k for k in c.params if repr(k) in str(e)]
            where = " (under grid)" if any(k in grid for k in bad) else " (under parameters)" if bad else ""
            problems.setdefault((where, str(e)), []).append(c.key)
    if len(problems) == 1:
        (where, text), keys = next(iter(problems.items()))
        raise ValueError(f"grid file {grid_file}{where}: {text}{_which(keys, len(cells))}")
    if problems:
        raise ValueError(f"grid file {grid_file}: {len(problems)} problems, so no cell ran:\n" + "\n".join(
            f"  -{where} {text}{_which(keys, len(cells))}" for (where, text), keys in problems.items()))


def _which(keys: list[str], total: int) -> str:
    """`` (the first problem of 2 of 6 cells: fold=7__seeds=0, fold=7__seeds=1)``; nothing when it is every
    cell's (a cell's check stops at its first problem: a cell with two shows the other one when it is fixed)."""
    if len(keys) == total:
        return ""
    shown = f"{', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
    return f" (the first problem of {len(keys)} of {total} cells: {shown})"


def as_run(notebook, params: dict) -> dict:
    """``params`` with each value that stands for another on its run replaced by that value: a notebook
    default "the preset's" or "the dataset's" (:func:`aukit.nb._in_effect`, declared by each method
    package: SCC's k 0 is 7 on DISFA, TAS's T 0 is 16 on the full preset)."""
    from .nb import _in_effect, _literal, declared_parameters

    records = declared_parameters(notebook)

    def value(name):
        return params[name] if name in params else _literal(records[name]["default"]) if name in records else None
    preset = "smoke" if value("smoke") else value("preset")
    stands = _in_effect(Path(str(notebook)).stem, preset, value("dataset"))
    return {k: stands[k] if k in stands and k in records and _same(v, _literal(records[k]["default"])) else v
            for k, v in params.items()}


def refuse_aliases(notebook, path, cells: list[Cell]) -> None:
    """A ValueError naming the grid file when two cells run the same once a value standing for another is
    read as it (:func:`as_run`): SCC's ``k: [0, 7]`` on DISFA gave two rows with the same numbers, as
    ``lr: [1e-3, 0.001]`` did before :func:`normalise` read both as one number."""
    seen: dict[str, Cell] = {}
    twins = []
    for c in cells:
        run = as_run(notebook, c.params)
        first = seen.setdefault(json.dumps(run, sort_keys=True, default=str), c)
        if first is not c:
            twins.append((first, c, run))
    if not twins:
        return
    a, b, run = twins[0]
    said = [f"{k} {json.dumps(c.params[k])} stands for {json.dumps(run[k])}" for k in a.params
            if a.params[k] != b.params.get(k) for c in (a, b) if c.params[k] != run[k]]
    more = f" (and {len(twins) - 1} more such pair(s))" if len(twins) > 1 else ""
    raise ValueError(f"grid file {path}: cells {a.key} and {b.key} run the same ({'; '.join(said)} on their "
                     f"preset and dataset){more}: give one of the values")


def adopt_old_names(cells: list[Cell], written: dict) -> None:
    """Rename the finished cell folders named the older way to their name now, saying so: before float
    values were read as numbers (:func:`normalise`), a cell was named by the value's text as the grid file
    wrote it (``lr=1e-5``, now ``lr=1e-05``), and those finished cells were left out and run again.
    ``written``: the grid as the file wrote it (``cells`` expanded from it once normalised, in its order)."""
    import os

    for cell, values in zip(cells, itertools.product(*written.values())):
        old = cell.folder.parent / _key(dict(zip(written, values)))
        if old == cell.folder or cell.folder.exists() or not (old / "metrics.json").is_file():
            continue
        if (old / ".lock").exists():
            print(f"[sweep] {old.name}: named the older way ({cell.key} now), but locked: left as it is")
            continue
        os.rename(old, cell.folder)
        print(f"[sweep] {old.name}: a finished cell named the older way, renamed {cell.key}")
