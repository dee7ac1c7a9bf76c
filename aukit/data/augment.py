"""Batched augmentation on the device: one random draw per sample, from a torch.Generator.

Each op is called as `op(x, generator)` on float images in [0, 1], shaped (B, C, H, W) or
clips (B, T, C, H, W); a clip gets the same parameters for all its T frames. The loader
applies ops before normalisation. Geometric ops do not move point targets (AU centres):
use them only where the targets are image-level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _flat(x: torch.Tensor):
    """(B,T,C,H,W) -> ((B*T,C,H,W), B, T); (B,C,H,W) -> (x, B, 1)."""
    if x.ndim == 5:
        b, t = x.shape[:2]
        return x.flatten(0, 1), b, t
    if x.ndim == 4:
        return x, x.shape[0], 1
    raise ValueError(f"expected (B,C,H,W) or (B,T,C,H,W), got {tuple(x.shape)}")


def _unflat(x: torch.Tensor, b: int, t: int, five_d: bool) -> torch.Tensor:
    return x.reshape(b, t, *x.shape[1:]) if five_d else x


def _per_sample(v: torch.Tensor, t: int) -> torch.Tensor:
    """(B, ...) parameters -> (B*T, ...) so every frame of a clip shares them."""
    return v.repeat_interleave(t, dim=0) if t > 1 else v


def _rand(b: int, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(b, generator=g, device=device)


@dataclass
class Flip:
    """Horizontal flip with probability p."""
    p: float = 0.5

    def __call__(self, x, g):
        y, b, t = _flat(x)
        m = _per_sample(_rand(b, g, x.device) < self.p, t).view(-1, 1, 1, 1)
        return _unflat(torch.where(m, y.flip(-1), y), b, t, x.ndim == 5)


@dataclass
class RandomCrop:
    """Random size x size crop (RTATL: 200 -> 192); offsets uniform per sample."""
    size: int

    def __call__(self, x, g):
        y, b, t = _flat(x)
        h, w = y.shape[-2:]
        if self.size > min(h, w):
            raise ValueError(f"crop {self.size} larger than image {h}x{w}")
        oy = (_rand(b, g, x.device) * (h - self.size + 1)).long().clamp_max(h - self.size)
        ox = (_rand(b, g, x.device) * (w - self.size + 1)).long().clamp_max(w - self.size)
        return _unflat(_crop(y, _per_sample(oy, t), _per_sample(ox, t), self.size), b, t, x.ndim == 5)


@dataclass
class CenterCrop:
    """Deterministic centre crop (evaluation counterpart of RandomCrop)."""
    size: int

    def __call__(self, x, g=None):
        y, b, t = _flat(x)
        h, w = y.shape[-2:]
        oy = torch.full((y.shape[0],), (h - self.size) // 2, device=x.device)
        ox = torch.full((y.shape[0],), (w - self.size) // 2, device=x.device)
        return _unflat(_crop(y, oy, ox, self.size), b, t, x.ndim == 5)


def _crop(y: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, size: int) -> torch.Tensor:
    ar = torch.arange(size, device=y.device)
    ys = (oy[:, None] + ar)[:, :, None]  # (N, size, 1)
    xs = (ox[:, None] + ar)[:, None, :]  # (N, 1, size)
    n = torch.arange(y.shape[0], device=y.device)[:, None, None]
    return y.permute(0, 2, 3, 1)[n, ys, xs].permute(0, 3, 1, 2)  # (N, C, size, size), channels_last


@dataclass
class ColorJitter:
    """Brightness, contrast, saturation factors uniform in [1 - v, 1 + v] per sample."""
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, x, g):
        y, b, t = _flat(x)
        def factor(v):
            return _per_sample(1 + (2 * _rand(b, g, x.device) - 1) * v, t).view(-1, 1, 1, 1)
        y = y * factor(self.brightness)
        gray = (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
        mean = gray.mean(dim=(2, 3), keepdim=True)
        y = (y - mean) * factor(self.contrast) + mean
        gray = (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
        y = (y - gray) * factor(self.saturation) + gray
        return _unflat(y.clamp(0, 1), b, t, x.ndim == 5)


@dataclass
class Affine:
    """Rotation uniform in +-degrees and scale in [1 - scale, 1 + scale] (CPC: 20 deg, 10 %)."""
    degrees: float = 20.0
    scale: float = 0.1

    def __call__(self, x, g):
        y, b, t = _flat(x)
        ang = _per_sample((2 * _rand(b, g, x.device) - 1) * math.radians(self.degrees), t)
        sc = _per_sample(1 + (2 * _rand(b, g, x.device) - 1) * self.scale, t)
        cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(y.dtype), list(y.shape), align_corners=False)
        out = F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return _unflat(out, b, t, x.ndim == 5)


class Compose:
    """Apply ops in order with one generator."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, x, g):
        for op in self.ops:
            x = op(x, g)
        return x

    def __repr__(self):
        return f"Compose({self.ops})"


def flip(p: float = 0.5) -> Flip:
    return Flip(p)


def random_crop(size: int) -> RandomCrop:
    return RandomCrop(size)


def center_crop(size: int) -> CenterCrop:
    return CenterCrop(size)


def color_jitter(brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2) -> ColorJitter:
    return ColorJitter(brightness, contrast, saturation)


def affine(degrees: float = 20.0, scale: float = 0.1) -> Affine:
    return Affine(degrees, scale)


__all__ = ["Affine", "CenterCrop", "ColorJitter", "Compose", "Flip", "RandomCrop", "affine", "center_crop",
           "color_jitter", "flip", "random_crop"]
