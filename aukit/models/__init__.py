"""Shared network parts used by several paper methods."""
from .backbones import efficientnet_b1, feature_dim, resnet_stages, resnet_trunk

__all__ = ["efficientnet_b1", "feature_dim", "resnet_stages", "resnet_trunk"]
