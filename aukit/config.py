"""Dataclass configs: paper values as defaults, strict YAML round trips.

Unknown keys are an error (a typo in a sweep grid must not silently train the default), and so
is a value of the wrong kind for a field annotated int, float, bool, str, tuple, list or dict
(``epochs: "two"`` in a job file stopped deep in the training loop). Nested dataclasses are
rebuilt recursively.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def to_dict(cfg: Any) -> dict:
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    if isinstance(cfg, dict):
        return dict(cfg)
    raise TypeError(f"expected a dataclass instance or dict, got {type(cfg).__name__}")


def from_dict(cls: type[T], d: dict | None, *, where: str = "config") -> T:
    """Build ``cls`` from ``d``; unknown keys raise ``ValueError`` naming them."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    d = dict(d or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}{did_you_mean(unknown, fields)} for {cls.__name__}; "
                         f"valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in d.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, where=f"{where}.{name}")
        elif isinstance(value, list) and _is_tuple(hint):
            value = tuple(value)
        if hint is not None and not fits(value, hint):
            raise ValueError(f"{where}.{name}: expected {_show(hint)}, got {value!r} ({type(value).__name__})")
        kwargs[name] = value
    return cls(**kwargs)


def did_you_mean(unknown, valid) -> str:
    """`` (did you mean 'backbone_weights'?)`` for the valid keys closest to ``unknown`` ones, else "": SCC's
    ``backbone_weights`` is TAS's ``weights``, and a list of 15 valid keys hides the one meant."""
    close = [m for key in unknown for m in difflib.get_close_matches(str(key), sorted(map(str, valid)), n=1)]
    return f" (did you mean {', '.join(map(repr, dict.fromkeys(close)))}?)" if close else ""


def closest(name: str, candidates) -> str | None:
    """The candidate ``name`` most likely means: equal ignoring case ('rtatl' -> 'RTATL', 's4' -> 'S4'), else
    difflib's closest in lower case ('P01' -> 'P1'); None when none is close."""
    low = {str(c).lower(): c for c in candidates}
    if name.lower() in low:
        return low[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(low), n=1)
    return low[close[0]] if close else None


_KINDS = {bool: (bool,), int: (int,), float: (int, float), str: (str,), tuple: (tuple, list), list: (list, tuple),
          dict: (dict,)}


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the kind ``hint`` names; hints it does not know (Any, Literal,
    callables, classes) accept anything. A bool is not an int here, an int is a float."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(fits(value, h) for h in typing.get_args(hint))
    base = origin or hint
    if dataclasses.is_dataclass(base):
        return isinstance(value, (base, dict))
    if base not in _KINDS:
        return True
    return isinstance(value, _KINDS[base]) and not (isinstance(value, bool) and base in (int, float))


def _show(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _is_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


def replace(cfg: T, **overrides: Any) -> T:
    """``dataclasses.replace`` with the same unknown-key check as :func:`from_dict`."""
    merged = {**to_dict(cfg), **overrides}
    return from_dict(type(cfg), merged)


def fill_missing(obj: Any, source: Any, names) -> None:
    """Set each field in ``names`` that is None on ``obj`` to ``source``'s value: an experiment's
    override defaults to the config dataclass that holds the paper's number."""
    for name in names:
        if getattr(obj, name) is None:
            setattr(obj, name, getattr(source, name))


def load_yaml(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return from_dict(cls, data, where=str(path))


def save_yaml(cfg: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = to_dict(cfg)
    path.write_text(yaml.safe_dump(_listify(data), sort_keys=False))
    return path


def _listify(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _listify(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_listify(v) for v in x]
    return x
