"""TAS: Trend-Aware Supervision for keyframe-based semi-supervised AU intensity (AAAI 2024).

``import aukit.methods.tas`` registers the ``tas_resnet34`` model (and its ResNet-18 and -50 variants).
"""
from .config import ABLATIONS, TASConfig, TASLossConfig, TASModelConfig, TASTrainConfig, ablation_config
from .model import TASNet, tas_resnet18, tas_resnet34, tas_resnet50


def notebook_in_effect(preset: str) -> dict:
    """The values the notebook's "the preset's" defaults stand for (:func:`.presets.notebook_in_effect`)."""
    from .presets import notebook_in_effect as values
    return values(preset)


__all__ = ["ABLATIONS", "TASConfig", "TASLossConfig", "TASModelConfig", "TASTrainConfig", "TASNet",
           "ablation_config", "notebook_in_effect", "tas_resnet18", "tas_resnet34", "tas_resnet50"]
