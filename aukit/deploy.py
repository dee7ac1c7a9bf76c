"""Deployable models: the inference-only part of a trained method, with what it needs to run.

A deployable checkpoint is an ordinary aukit checkpoint (strict, ``weights_only``) whose
``extra["deploy"]`` says how to rebuild and feed the model::

    {"model": registry name, "kwargs": {...}, "policy": "tas", "size": 256,
     "aus": ["AU01", ...], "output": "intensity" | "logits" | "probs",
     "scale": 5.0, "mean": [..], "std": [..], "dataset": "synthau-disfa", "method": "tas"}

``output="intensity"`` means the model returns values that times ``scale`` are on the
0-5 scale; ``logits``/``probs`` are occurrence outputs.
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from . import checkpoint as ckpt
from .nb import PAPERS, PRESET_ENV, RUN_LOCK, changes_text, run_changes
from .config import to_dict
from .registry import create_model
from .runtime import _plain, image_layout

OUTPUTS = ("intensity", "logits", "probs")


@dataclass
class DeploySpec:
    model: str                       # registry name of the deployable model
    policy: str                      # alignment policy of its training frames
    size: int                        # input side after alignment (and centre crop)
    aus: list                        # output order, e.g. ["AU01", "AU02"]
    output: str = "intensity"        # intensity | logits | probs
    scale: float = 5.0               # intensity output x scale -> 0..5
    kwargs: dict = field(default_factory=dict)
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    dataset: str = ""                # what it was trained on (SynthAU models are labelled as such)
    method: str = ""
    changed: str = ""                # the notebook parameters its run changed ("steps=2, epochs=1"): not the paper's
    preset: str = ""                 # the notebook run's preset (smoke: a wiring check, no model to use); "" unknown

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")

    @property
    def smoke(self) -> bool:
        """Trained by a smoke run: a few steps at tiny sizes, a wiring check whose outputs mean nothing."""
        return self.preset == "smoke"


def export(path: str | Path, model: nn.Module, spec: DeploySpec, config: Any = None) -> Path:
    """Write the deployable checkpoint (model weights + spec). In a notebook run, the parameters it
    changed away from the defaults (``aukit.nb.changed_parameters``: a 2-step "full" run) go into
    ``spec.changed``, so ``aukit models`` and predict's CSV do not present it as the paper's model.
    ``config``: the method's resolved config (a dataclass or ``asdict(cfg)``), saved as the
    checkpoint's ``config`` (:func:`read_config`); None saves ``{}``. A spec that would not rebuild and
    run this model is refused here (:func:`check_export`), not at the first ``aukit predict``."""
    check_export(path, model, spec)
    if not spec.changed and run_changes():
        spec = replace(spec, changed=changes_text(run_changes()))
    if not spec.preset and os.environ.get(PRESET_ENV):
        spec = replace(spec, preset=os.environ[PRESET_ENV])
    saved = _plain(to_dict(config)) if config is not None else {}   # Paths as str: weights_only reads it back
    return ckpt.save_checkpoint(path, model, epoch=0, config=saved, extra={"deploy": asdict(spec)})


def check_export(path: str | Path, model: nn.Module, spec: DeploySpec) -> None:
    """What :func:`load` and ``aukit predict`` will do with the file, done once before it is written: the
    registry rebuilds ``spec.model`` from ``spec.kwargs`` with this model's tensor shapes, the policy
    exists, and one blank face gives one value per AU of ``spec.aus``. A bad spec was found by the first
    predict ("could not broadcast (1,5) into (1,3)"), or wrote a checkpoint named after the dataset."""
    from .data.align import POLICIES
    where = f"deploy export {path}"
    if Path(path).suffix != ".pt" or spec.dataset.endswith(".pt") or "/" in spec.dataset:
        raise ValueError(f"{where}: the path must end in .pt and dataset name the training data, got dataset "
                         f"{spec.dataset!r} (the method's export_deployable given its arguments in another order?)")
    if spec.policy not in POLICIES:
        raise ValueError(f"{where}: unknown alignment policy {spec.policy!r}; known: {sorted(POLICIES)}")
    try:
        rebuilt = _rebuild(spec, {"model": ckpt.unwrap(model).state_dict()}, "the model exported")
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ValueError(f"{where}: {spec.model}({spec.kwargs}) does not rebuild this model: {e}") from e
    deployed = Deployed(rebuilt, spec)
    frames = torch.zeros(deployed.context + 1, spec.size, spec.size, 3, dtype=torch.uint8)
    out = next(iter(deployed(frames).values()))
    if out.shape[-1] != len(spec.aus):
        raise ValueError(f"{where}: the model gives {out.shape[-1]} values per face, spec.aus names "
                         f"{len(spec.aus)} ({', '.join(map(str, spec.aus))})")


def read_config(path: str | Path) -> dict:
    """The method config a deployable checkpoint was exported with (``{}`` when none was given)."""
    return dict(ckpt.read(path).get("config") or {})


class Deployed(nn.Module):
    """uint8 faces (B, S, S, 3) in (other sizes resized to S), dict of ``intensity`` (0-5) and/or
    ``occurrence`` probs out.

    ``context``: 0 for a frame model; for a sequence model (its ``context`` attribute, e.g. CPC's
    causal window) the frames before t that t's output reads, the batch being one sequence."""

    def __init__(self, model: nn.Module, spec: DeploySpec):
        super().__init__()
        self.model, self.spec = model.eval(), spec
        self.context = int(getattr(model, "context", 0))
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, faces: torch.Tensor) -> dict:
        _check_faces(faces, self.spec.size)
        x = faces.permute(0, 3, 1, 2).float().div_(255)
        if x.shape[-2:] != (self.spec.size, self.spec.size):
            x = nn.functional.interpolate(x, size=(self.spec.size, self.spec.size), mode="bilinear",
                                          align_corners=False, antialias=True)
        x = ((x - self.mean) / self.std).contiguous(memory_format=image_layout(x.device))
        y = self.model(x)
        if isinstance(y, dict):                                   # e.g. PIAP-DF's AU encoder: {"logits", "feature"}
            y = y["logits"] if "logits" in y else y[self.spec.output]
        y = (y[0] if isinstance(y, (tuple, list)) else y).float()
        if self.spec.output == "intensity":
            return {"intensity": (y * self.spec.scale).clamp(0, 5)}
        prob = torch.sigmoid(y) if self.spec.output == "logits" else y
        return {"occurrence": prob}


def _check_faces(faces, size: int) -> None:
    """The one input a deployable takes: aligned faces as a uint8 tensor (B, H, W, 3), RGB 0..255
    (any H, W: resized to the model's size). Floats are refused rather than guessed at: 0..1 faces
    would be divided by 255 a second time, and predictions would change without an error."""
    if not isinstance(faces, torch.Tensor):
        raise TypeError(f"faces must be a torch.Tensor (B, H, W, 3) of uint8, got {type(faces).__name__} "
                        "(torch.from_numpy(array) for a NumPy array)")
    if faces.dtype != torch.uint8:
        raise TypeError(f"faces must be uint8 RGB 0..255, got {faces.dtype} (for floats in 0..1: "
                        "(faces * 255).round().to(torch.uint8))")
    if faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be (B, H, W, 3), channels last, got shape {tuple(faces.shape)} "
                         f"(this model takes {size}x{size}; other sizes are resized)")


def load(path: str | Path, device: torch.device | str = "cpu") -> Deployed:
    """Rebuild a deployable model strictly from its checkpoint."""
    path = Path(path)
    state = ckpt.read(path)
    spec = _spec(state, path)
    return place(Deployed(_rebuild(spec, state, path), spec), device)   # the file is read once


def _rebuild(spec: DeploySpec, state: dict, where: str | Path) -> nn.Module:
    """``spec.model`` built by the registry from ``spec.kwargs``, holding ``state["model"]`` strictly: what
    :func:`load` does with a file and :func:`check_export` with the weights about to be written."""
    model = create_model(spec.model, **spec.kwargs)
    ckpt.load_model(model, state, where)
    return model


def place(net: Deployed, device: torch.device | str) -> Deployed:
    """``net`` on ``device`` in the layout its inputs take there (:func:`aukit.runtime.image_layout`:
    channels_last on CUDA): faces went in NHWC to an NCHW model, a layout conversion at every conv."""
    device = torch.device(device)
    return net.to(device, memory_format=image_layout(device))


RUN_FOLDERS = ("runs", "reports")  # where the notebooks' ``model_dir`` (runs/<slug>) and older runs put deploy.pt
# inside a run folder: aukit train's and model_dir's own, `aukit run --out DIR`'s DIR/model/, older runs' models/
IN_RUN = ("deploy.pt", "model/deploy.pt", "models/deploy.pt")


def find(name_or_path: str, runs: str | Path | tuple = RUN_FOLDERS) -> Path:
    """A checkpoint path, or the name of a run folder holding ``deploy.pt`` (e.g. ``tas`` finds
    ``runs/tas/deploy.pt``, written by the TAS notebook)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    roots = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    cands = [p / sub for sub in IN_RUN] + [r / name_or_path / sub for r in roots for sub in IN_RUN]
    for cand in cands:
        if cand.is_file():
            also = [q for n, q in available(tuple(roots), shadowed=True) if n == name_or_path and q != cand]
            if also and not p.is_dir():   # one name in two run folders: say which one is used
                print(f"[aukit] model {name_or_path!r}: using {cand}; also found {', '.join(map(str, also))} "
                      "(pass its path to use it)", file=sys.stderr)
            return cand
    names = [n for n, _ in available(tuple(roots))]
    there = (f"the run folders hold {', '.join(names)}" if names
             else f"no run folder under {' or '.join(map(str, roots))} holds one")
    if p.is_absolute() or p.suffix == ".pt" or len(p.parts) > 1:   # a path: the run folders do not apply
        inside = f" (nor {', '.join(str(p / sub) for sub in IN_RUN)})" if p.is_dir() else ""
        raise FileNotFoundError(f"no deployable model at {p}: no such file{inside}; {there}")
    import difflib
    close = difflib.get_close_matches(name_or_path, sorted({*names, *PAPERS} - {name_or_path}), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if name_or_path in PAPERS:      # a paper's model not trained yet, or run folders elsewhere
        hint = f"train it first (aukit run {name_or_path}) or name the folder that holds it (--runs DIR); "
    tried = list(dict.fromkeys(map(str, cands)))
    raise FileNotFoundError(f"no deployable model {name_or_path!r}: {hint}none of {', '.join(tried)} exists "
                            f"({there}); run the paper notebook first or pass a path")


def available(runs: str | Path | tuple = RUN_FOLDERS, shadowed: bool = False) -> list[tuple[str, Path]]:
    """``(name, path)`` of each deployable model :func:`find` reaches by name, in ``runs`` order
    (a name in two roots: the one ``find`` picks). ``shadowed``: also those of a name found
    again in a later root, which ``--model NAME`` does not reach (after the one it does)."""
    roots = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    found: list[tuple[str, Path]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for d in sorted(p for p in root.iterdir() if p.is_dir()):
            if (d / RUN_LOCK).exists():   # a run into d is going on, or was killed: model/ may be stale
                continue
            for cand in (d / sub for sub in IN_RUN):
                if cand.is_file():
                    if shadowed or all(n != d.name for n, _ in found):
                        found.append((d.name, cand))
                    break
    return found


def read_spec(path: str | Path) -> DeploySpec:
    """The :class:`DeploySpec` of a deployable checkpoint, without building its model."""
    return _spec(ckpt.read(path), path)


def _spec(state: dict, path: str | Path) -> DeploySpec:
    spec_d = (state.get("extra") or {}).get("deploy")
    if not spec_d:
        raise ValueError(f"{path} is not a deployable aukit checkpoint (no extra['deploy']); "
                         "export one with aukit.deploy.export")
    spec = DeploySpec(**{**spec_d, "mean": tuple(spec_d["mean"]), "std": tuple(spec_d["std"])})
    if not spec.preset:
        spec = replace(spec, preset=saved_preset(state.get("config")))
    return spec


def saved_preset(config) -> str:
    """The preset in a checkpoint's saved method config (``config["preset"]`` or one level down, as
    SCC's and RTATL's ``config["experiment"]["preset"]``), "" where it names none. Models exported before
    ``DeploySpec.preset`` existed carry it only there, and a smoke run's model went unflagged in the CSV
    and in ``aukit models``. CPC's, PIAP-DF's and TAS's exports save no preset: theirs stay unknown."""
    if not isinstance(config, dict):
        return ""
    if isinstance(config.get("preset"), str):
        return config["preset"]
    found = {v["preset"] for v in config.values() if isinstance(v, dict) and isinstance(v.get("preset"), str)}
    return found.pop() if len(found) == 1 else ""


__all__ = ["Deployed", "DeploySpec", "IN_RUN", "OUTPUTS", "RUN_FOLDERS", "available", "check_export", "export",
           "find", "load", "place", "read_config", "read_spec", "saved_preset"]
