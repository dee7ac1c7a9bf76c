"""TAS: Trend-Aware Supervision for keyframe-based semi-supervised AU intensity (AAAI 2024).

``import aukit.methods.tas`` registers the ``tas_resnet34`` model.
"""
from .config import ABLATIONS, TASConfig, TASLossConfig, TASModelConfig, TASTrainConfig, ablation_config
from .model import TASNet, tas_resnet34

__all__ = ["ABLATIONS", "TASConfig", "TASLossConfig", "TASModelConfig", "TASTrainConfig", "TASNet",
           "ablation_config", "tas_resnet34"]
