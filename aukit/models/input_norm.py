"""The normalisation a trunk's inputs get, decided once from how the trunk started.

A pixel p in [0, 1] enters a network as (p - mean) / std, per channel, in training (``BatchLoader``),
in evaluation and in a deployed model (``DeploySpec.mean/std``, which ``aukit predict`` applies):

- random init (no ``weights`` file): mean = std = (0.5, 0.5, 0.5), inputs in [-1, 1] (every committed
  report was measured so);
- a local ImageNet state_dict: the statistics its training used. None of the five papers states them;
  torchvision's ImageNet weights (and timm's ResNets, ``efficientnet_b1.ft_in1k``) were trained on
  mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), which a file is taken to expect unless it says
  otherwise: timm's own ``pretrained_cfg``, from a ``config.json`` beside the file or from the Hugging
  Face cache folder it sits in (``models--timm--<name>``), wins. timm's default EfficientNet-B1
  (``efficientnet_b1.ra4_e3600_r240_in1k``) was trained on mean = std = 0.5.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HALF = (0.5, 0.5, 0.5)
IMAGENET_MEAN = (0.485, 0.456, 0.406)   # torchvision's ImageNet weights (transforms of their model cards)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputNorm:
    """Per-channel ``mean`` and ``std`` of the inputs, and ``source``: why these (run.yaml, metrics.json)."""

    mean: tuple = HALF
    std: tuple = HALF
    source: str = "random init"

    @property
    def half(self) -> bool:
        """mean = std = 0.5: pixels 0..1 enter as -1..1 (a tanh output is a pixel already)."""
        return tuple(self.mean) == HALF and tuple(self.std) == HALF

    def pixel(self, value: float) -> tuple:
        """The normalised value of a grey pixel ``value`` (0 black, 1 white), per channel."""
        return tuple((value - m) / s for m, s in zip(self.mean, self.std))

    def record(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "source": self.source}


RANDOM_INIT = InputNorm()
IMAGENET = InputNorm(IMAGENET_MEAN, IMAGENET_STD, "ImageNet statistics (torchvision's)")


def _timm_cfg(path: Path) -> InputNorm | None:
    """timm's statistics for the weights file ``path``: a ``config.json`` beside it (timm's Hugging Face
    layout, ``pretrained_cfg.mean/std``), else the ``models--timm--<name>`` cache folder it lies in."""
    config = path.with_name("config.json")
    if config.is_file():
        try:
            cfg = json.loads(config.read_text(encoding="utf-8")).get("pretrained_cfg") or {}
        except (OSError, ValueError, AttributeError) as e:
            raise ValueError(f"{config} (beside the weights {path.name}) is no readable timm config: {e}") from e
        if "mean" in cfg and "std" in cfg:
            return InputNorm(tuple(map(float, cfg["mean"])), tuple(map(float, cfg["std"])),
                             f"timm's pretrained_cfg in {config}")
    name = next((p[len("models--timm--"):] for p in path.parts if p.startswith("models--timm--")), None)
    if name is None:
        return None
    from timm.models import get_pretrained_cfg
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:                       # a tag this timm does not know
        cfg = None
    if cfg is None:
        return None
    return InputNorm(tuple(map(float, cfg.mean)), tuple(map(float, cfg.std)), f"timm's pretrained_cfg of {name}")


def input_norm(weights: str | Path | None) -> InputNorm:
    """The normalisation of a trunk started from ``weights`` (a method config's ``weights``,
    ``backbone_weights`` or ``trunk_weights``; None or "" for random init). See the module docstring."""
    if not weights:
        return RANDOM_INIT
    return _timm_cfg(Path(weights)) or IMAGENET


__all__ = ["HALF", "IMAGENET", "IMAGENET_MEAN", "IMAGENET_STD", "InputNorm", "RANDOM_INIT", "input_norm"]
