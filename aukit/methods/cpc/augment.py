"""Clip-consistent augmentation on the device (CPC §4): rotation, scale, flip, jitter, colour.

One random transform per clip, shared by its T frames (a per-frame transform would
turn the predictive task into predicting the augmentation). Works on (B, 3, S, S)
frames too. Called as ``aug(x, generator)`` on float images in [0, 1] before
normalisation, the ``BatchLoader.augment`` contract (so a resumed run sees the same
draws). Private to CPC because the shared ``aukit.data.augment`` has no hue, translation
("random jitter") or output resizing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import PretrainConfig

# RGB <-> YIQ: hue jitter is a rotation of the IQ chroma plane.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


@dataclass
class ClipAugment:
    """Callable (B, [T,] 3, S, S) -> (B, [T,] 3, out_size, out_size); ``out_size`` None keeps S.

    The strengths have no defaults here: they are :class:`PretrainConfig`'s (its comments give their
    sources); build the training transform with :meth:`from_config`."""
    rotation: float             # degrees, uniform +-
    scale: float                # uniform +- fraction
    translate: float            # uniform +- fraction of the side ("random jitter")
    flip: bool
    brightness: float           # factor 1 + u, u uniform in [-brightness, brightness]; contrast and saturation alike
    contrast: float
    saturation: float
    hue: float                  # fraction of a full turn, uniform +-
    out_size: int | None = None
    seed: int = 0               # used only when no generator is passed

    @classmethod
    def from_config(cls, pcfg: PretrainConfig, out_size: int | None = None, seed: int = 0) -> "ClipAugment":
        """The augmentation of CPC §4 with ``pcfg``'s strengths (stages 1 and 2 and the R18 baselines)."""
        return cls(rotation=pcfg.rotation, scale=pcfg.scale, translate=pcfg.translate, flip=pcfg.flip,
                   brightness=pcfg.brightness, contrast=pcfg.contrast, saturation=pcfg.saturation, hue=pcfg.hue,
                   out_size=out_size, seed=seed)

    def __post_init__(self):
        for name in ("rotation", "scale", "translate", "brightness", "contrast", "saturation", "hue"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.scale >= 1 or self.hue > 0.5:
            raise ValueError(f"scale must be < 1 and hue <= 0.5, got {self.scale}, {self.hue}")
        self._gen: dict[str, torch.Generator] = {}

    def _u(self, n: int, half: float, g: torch.Generator) -> torch.Tensor:
        """n draws, uniform in [-half, half]."""
        return (torch.rand(n, device=g.device, generator=g) * 2 - 1) * half

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            key = str(x.device)
            if key not in self._gen:
                self._gen[key] = torch.Generator(device=x.device).manual_seed(self.seed)
            generator = self._gen[key]
        g = generator
        clip = x.dim() == 5
        b = x.shape[0]
        t = x.shape[1] if clip else 1
        frames = x.reshape(b * t, *x.shape[-3:]).float()
        dev = x.device
        size = self.out_size or x.shape[-1]
        # geometry: one affine per clip, inverse-mapped by grid_sample
        ang = self._u(b, math.radians(self.rotation), g)
        s = 1 + self._u(b, self.scale, g)
        sx = torch.where(torch.rand(b, device=dev, generator=g) < 0.5, -1.0, 1.0) if self.flip \
            else torch.ones(b, device=dev)
        tx, ty = self._u(b, 2 * self.translate, g), self._u(b, 2 * self.translate, g)
        cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
        theta = torch.stack([torch.stack([cos * sx, -sin, tx], -1), torch.stack([sin * sx, cos, ty], -1)], 1)
        theta = theta.repeat_interleave(t, 0)                                    # (B*T, 2, 3)
        grid = F.affine_grid(theta, (b * t, 3, size, size), align_corners=False)
        img = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = self._colour(img.unflatten(0, (b, t)), b, g).to(x.dtype)         # (B, T, 3, size, size)
        return out if clip else out[:, 0]

    def _colour(self, img: torch.Tensor, b: int, g: torch.Generator) -> torch.Tensor:
        """Brightness, contrast, saturation (factors 1 +- u) and hue (IQ rotation), per clip: (B, T, 3, S, S)."""
        shape, dev = (b, 1, 1, 1, 1), img.device
        img = img * (1 + self._u(b, self.brightness, g)).view(shape)
        grey = (img * _RGB2YIQ[0].to(dev).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
        img = grey.mean((1, 3, 4), keepdim=True) + (img - grey.mean((1, 3, 4), keepdim=True)) * \
            (1 + self._u(b, self.contrast, g)).view(shape)
        grey = (img * _RGB2YIQ[0].to(dev).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
        img = grey + (img - grey) * (1 + self._u(b, self.saturation, g)).view(shape)
        if self.hue > 0:
            m = _RGB2YIQ.to(dev)
            a = self._u(b, 2 * math.pi * self.hue, g)
            rot = torch.zeros(b, 3, 3, device=dev)
            rot[:, 0, 0] = 1
            rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos()
            full = torch.linalg.inv(m) @ rot @ m                                 # (B, 3, 3) in RGB
            img = torch.einsum("bij,btjhw->btihw", full, img)
        return img.clamp(0, 1)


def resize_only(size: int | None) -> ClipAugment | None:
    """The evaluation transform: no augmentation, only resizing to ``size`` (None: nothing)."""
    if size is None:
        return None
    return ClipAugment(rotation=0, scale=0, translate=0, flip=False, brightness=0, contrast=0,
                       saturation=0, hue=0, out_size=size)
