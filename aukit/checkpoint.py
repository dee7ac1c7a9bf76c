"""Checkpoints: atomic writes, strict ``weights_only`` loads.

A checkpoint is a plain dict of tensors and primitives so that
``torch.load(weights_only=True)`` accepts it: model/optimizer/scheduler state,
RNG states (NumPy's converted to a tensor), the method config, epoch and history.
"""
from __future__ import annotations

import os
import pickle
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn


def unwrap(model: nn.Module) -> nn.Module:
    """The module whose ``state_dict`` we save (strip ``torch.compile`` and DDP wrappers)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def _rng_state() -> dict:
    st = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [st[0], list(st[1]), st[2]],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    v, keys, g = state["python"]
    random.setstate((v, tuple(keys), g))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _opt_state(optimizer: Any) -> Any:
    if isinstance(optimizer, dict):
        return {k: o.state_dict() for k, o in optimizer.items()}
    return optimizer.state_dict()


def _load_opt_state(optimizer: Any, state: Any) -> None:
    if isinstance(optimizer, dict):
        missing = set(optimizer) ^ set(state)
        if missing:
            raise KeyError(f"checkpoint optimizers {sorted(state)} do not match {sorted(optimizer)}")
        for k, o in optimizer.items():
            o.load_state_dict(state[k])
    else:
        optimizer.load_state_dict(state)


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, then rename: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: Any = None, scheduler: Any = None,
                    *, epoch: int, config: dict | None = None, extra: dict | None = None) -> Path:
    state = {
        "model": unwrap(model).state_dict(),
        "epoch": int(epoch),
        "config": config or {},
        "rng": _rng_state(),
        "extra": extra or {},
    }
    if optimizer is not None:
        state["optimizer"] = _opt_state(optimizer)
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    return atomic_save(state, path)


def read(path: str | Path, map_location: Any = "cpu") -> dict:
    """``torch.load(path, weights_only=True)``, with a file that is not a whole PyTorch checkpoint
    named in a ValueError: torch says ``KeyError: 174812789`` for a text file, ``EOFError`` for an
    empty one and "failed finding central directory" for one cut short. A file that pickles a
    class (a whole ``nn.Module``, say) is refused too: loading it would run code from the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is an empty file (0 bytes), not a PyTorch checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, KeyError, EOFError, RuntimeError, pickle.UnpicklingError) as e:
        cls = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if cls:
            raise ValueError(f"{path} pickles {cls.group(1)}, not only tensors; aukit loads weights_only and runs "
                             "no code from a file: save the model's state_dict() instead") from e
        why = str(e).split(". ")[0] or type(e).__name__
        raise ValueError(f"{path} is not a readable PyTorch checkpoint (empty, cut short, or another kind of "
                         f"file; {type(e).__name__}: {why})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not an aukit checkpoint (a dict)")
    return state


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        return {k: v for key, val in d.items() for k, v in _flat(val, f"{prefix}{key}.").items()}
    return {prefix[:-1]: list(d) if isinstance(d, tuple) else d}


def config_changes(saved: dict, current: dict, free: tuple[str, ...] = ("epochs",)) -> list[str]:
    """Dotted keys whose values differ between two nested configs, as ``key: old -> new``; keys whose
    last part is in ``free`` may differ (training a run further)."""
    a, b = _flat(saved), _flat(current)
    return [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}" for k in sorted(set(a) | set(b))
            if k.rsplit(".", 1)[-1] not in free and a.get(k, "(absent)") != b.get(k, "(absent)")]


def changes_text(changed: list[str], show: int = 5) -> str:
    """:func:`config_changes`'s list as one clause for a message: the first ``show``, then '...'."""
    return "; ".join(changed[:show]) + ("; ..." if len(changed) > show else "")


class ConfigMismatchError(ValueError):
    """A checkpoint to resume from was written by another configuration."""


def load_checkpoint(path: str | Path, model: nn.Module | None = None, optimizer: Any = None,
                    scheduler: Any = None, *, restore_rng: bool = False,
                    map_location: Any = "cpu", expect_config: dict | None = None) -> dict:
    """Load strictly (missing/unexpected keys raise) with ``weights_only=True``. ``expect_config``:
    raise :class:`ConfigMismatchError` (before loading anything) when the checkpoint's recorded config
    differs from it in more than the number of epochs; a checkpoint without one is not checked."""
    path = Path(path)
    state = read(path, map_location)
    if expect_config is not None and state.get("config"):
        changed = config_changes(state["config"], expect_config)
        if changed:
            run = path.parent.parent        # a notebook run's trainings share a folder (aukit.ckptdir.run_root)
            advice = (f"delete {run} to train the run afresh, give another --out (or -p model_dir), or run with "
                      "-p checkpoints 0" if (run / "run.json").exists() else
                      f"use another output folder, or delete {path} to start afresh")
            raise ConfigMismatchError(
                f"{path} was written by another configuration ({len(changed)} change(s): {changes_text(changed)}): "
                f"resuming would mix the two: {advice}")
    if model is not None:
        load_model(model, state, path)
    if optimizer is not None and "optimizer" in state:
        _load_opt_state(optimizer, state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        _set_rng_state(state["rng"])
    return state


def load_model(model: nn.Module, state: dict, path: str | Path) -> None:
    """Put ``state["model"]`` (read from ``path``) into ``model``; any key missing or extra raises a
    KeyError, a tensor of another shape (another architecture's file) a ValueError."""
    target = unwrap(model)
    if not isinstance(state.get("model"), dict):
        raise KeyError(f"{path}: no model weights (keys {sorted(state)[:10]})")
    mine = target.state_dict()
    missing, unexpected = _key_diff(mine, state["model"])
    if missing or unexpected:
        raise KeyError(f"{path}: checkpoint does not match {type(target).__name__}: "
                       f"missing keys {missing[:10]}, unexpected keys {unexpected[:10]}")
    differ = _shape_diff(mine, state["model"])
    if differ:
        shown = "; ".join(f"{k}: {got} in the file, {want} in the model" for k, got, want in differ[:5])
        raise ValueError(f"{path} holds weights of other shapes than this {type(target).__name__} "
                         f"({len(differ)} tensor(s): {shown}{'; ...' if len(differ) > 5 else ''}): "
                         "it was written by another architecture or model size")
    target.load_state_dict(state["model"], strict=True)


def _key_diff(expected: dict, got: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


def _shape_diff(expected: dict, got: dict) -> list[tuple[str, tuple, tuple]]:
    """(key, shape in ``got``, shape in ``expected``) of the tensors whose shapes differ, in ``expected``'s order."""
    return [(k, tuple(got[k].shape), tuple(v.shape)) for k, v in expected.items()
            if torch.is_tensor(v) and torch.is_tensor(got[k]) and v.shape != got[k].shape]


__all__ = ["ConfigMismatchError", "atomic_save", "changes_text", "config_changes", "load_checkpoint", "load_model",
           "read", "save_checkpoint", "unwrap"]
