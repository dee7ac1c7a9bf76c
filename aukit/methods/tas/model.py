"""TAS network (Fig. 2): ResNet trunk -> C spatial attention maps -> AU features -> C MLPs.

Single-image model: (B, 3, S, S) -> intensities (B, C) in [0, 1] and, on request,
the L2-normalised AU features (B, C, d) that the trend-aware losses supervise.
"""
from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.config import from_dict
from aukit.models.backbones import feature_dim, resnet_trunk
from aukit.registry import register_model

from .config import TASModelConfig


class SpatialAttention(nn.Module):
    """C separate Pyramid-Feature-Attention spatial attention layers, computed together.

    Each of the C layers has two branches, summed and squashed by a sigmoid:
      a: conv(1xk, d -> hidden) -> BN -> ReLU -> conv(kx1, hidden -> 1) -> BN
      b: conv(kx1, d -> hidden) -> BN -> ReLU -> conv(1xk, hidden -> 1) -> BN
    The TAS authors' public code gives branch a without the last BN and branch b as a bare
    conv(kx1) -> conv(1xk). Ours departs in two ways (a choice, kept: every trained model has
    it): branch b mirrors branch a (BN and ReLU between its convs), and both branches end in a
    BatchNorm before the sum. The C layers share no weights: their first convs
    are stacked along the output channels and their second convs are grouped (groups=C),
    which computes exactly C independent layers in one call.

    (B, d, H, W) -> attention maps (B, C, H, W) in (0, 1).
    """

    def __init__(self, channels: int, n_maps: int, kernel: int = 9, hidden: int = 64):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"attention kernel must be a positive odd integer, got {kernel}")
        if n_maps < 1 or hidden < 1:
            raise ValueError(f"n_maps and hidden must be >= 1, got {n_maps}, {hidden}")
        p = kernel // 2
        c, h = n_maps, hidden
        self.n_maps = n_maps
        self.branch_a = nn.Sequential(
            nn.Conv2d(channels, c * h, (1, kernel), padding=(0, p)), nn.BatchNorm2d(c * h), nn.ReLU(inplace=True),
            nn.Conv2d(c * h, c, (kernel, 1), padding=(p, 0), groups=c), nn.BatchNorm2d(c))
        self.branch_b = nn.Sequential(
            nn.Conv2d(channels, c * h, (kernel, 1), padding=(p, 0)), nn.BatchNorm2d(c * h), nn.ReLU(inplace=True),
            nn.Conv2d(c * h, c, (1, kernel), padding=(0, p), groups=c), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.branch_a(x) + self.branch_b(x))


class AUHeads(nn.Module):
    """C separate MLPs d -> hidden -> LeakyReLU -> 1, as batched weights: (B, C, d) -> (B, C)."""

    def __init__(self, n_aus: int, dim: int, hidden: int = 64, slope: float = 0.01):
        super().__init__()
        self.slope = slope
        self.w1 = nn.Parameter(torch.empty(n_aus, dim, hidden))
        self.b1 = nn.Parameter(torch.empty(n_aus, hidden))
        self.w2 = nn.Parameter(torch.empty(n_aus, hidden))
        self.b2 = nn.Parameter(torch.empty(n_aus))
        for w, b, fan_in in ((self.w1, self.b1, dim), (self.w2, self.b2, hidden)):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialisation
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(torch.einsum("bcd,cdh->bch", f, self.w1) + self.b1, self.slope)  # (B, C, hidden)
        return torch.einsum("bch,ch->bc", h, self.w2) + self.b2                          # (B, C)


class TASNet(nn.Module):
    """TAS model of Fig. 2; ``separate_attention=False`` gives A0 (pooled trunk feature for every AU)."""

    def __init__(self, cfg: TASModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TASModelConfig()
        if cfg.n_aus < 1:
            raise ValueError(f"n_aus must be >= 1, got {cfg.n_aus}")
        self.trunk = resnet_trunk(cfg.depth, weights=cfg.weights)
        self.dim = feature_dim(self.trunk)
        self.attention = (SpatialAttention(self.dim, cfg.n_aus, cfg.attention_kernel, cfg.attention_hidden)
                          if cfg.separate_attention else None)
        self.heads = AUHeads(cfg.n_aus, self.dim, cfg.mlp_hidden, cfg.leaky_slope)

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, 3, S, S) -> (B, C, S/32, S/32) attention maps, or None for A0."""
        return None if self.attention is None else self.attention(self.trunk(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> L2-normalised AU features f_c, (B, C, d)."""
        g = self.trunk(x)                                                   # (B, d, h, w)
        if self.attention is None:
            f = g.mean(dim=(2, 3)).unsqueeze(1).expand(-1, self.cfg.n_aus, -1)
        else:
            a = self.attention(g)                                           # (B, C, h, w)
            f = torch.einsum("bchw,bdhw->bcd", a, g) / (g.shape[2] * g.shape[3])  # attention-weighted average pool
        return F.normalize(f.float(), dim=-1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """(B, 3, S, S) -> intensities (B, C) in [0, 1] (and features (B, C, d) if asked)."""
        f = self.features(x)
        v = self.heads(f)
        if self.cfg.clip_output:
            # Forward clipped to [0, 1] (TAS §Overview); in training the gradient passes straight
            # through, so a head pushed outside [0, 1] is not frozen by clamp's zero gradient (our choice).
            v = v + (v.clamp(0.0, 1.0) - v).detach() if self.training else v.clamp(0.0, 1.0)
        return (v, f) if return_features else v


def _tas_net(name: str, depth: int, overrides: dict) -> TASNet:
    return TASNet(from_dict(TASModelConfig, {**dataclasses.asdict(TASModelConfig()), "depth": depth, **overrides},
                            where=name))


def registry_name(cfg: TASModelConfig) -> str:
    """The registered factory named after ``cfg``'s trunk (``tas_resnet18`` for depth 18): what a deploy.pt
    records (a depth-18 job's model was recorded as ``tas_resnet34``)."""
    return f"tas_resnet{cfg.depth}"


@register_model
def tas_resnet34(**overrides) -> TASNet:
    """TAS model with the paper's defaults (a ResNet-34 trunk); ``overrides`` are :class:`TASModelConfig`
    fields (a ``depth`` among them wins: deploy.pt files written before :func:`registry_name` hold one)."""
    return _tas_net("tas_resnet34", 34, overrides)


@register_model
def tas_resnet18(**overrides) -> TASNet:
    """:func:`tas_resnet34` with a ResNet-18 trunk (the CPU presets, smaller jobs)."""
    return _tas_net("tas_resnet18", 18, overrides)


@register_model
def tas_resnet50(**overrides) -> TASNet:
    """:func:`tas_resnet34` with a ResNet-50 trunk."""
    return _tas_net("tas_resnet50", 50, overrides)
