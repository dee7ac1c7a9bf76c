"""Auxiliary-task modules, used only during training (RTATL §3.3-3.4 and the Table 1 baselines).

G: R^d -> R^{3 x s x s}, 5 transposed convolutions; D and C: R^{3 x s x s} -> logits, 5
convolutions each (RTATL §4.2). OFE: 2 transposed convolutions on the ResNet-18 output.
``RTATLNet`` bundles the backbone with the heads its switches turn on.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from aukit.config import from_dict
from aukit.models.input_norm import RANDOM_INIT, InputNorm, input_norm
from aukit.registry import register_model

from .config import RTATLModelConfig, RTATLTrainConfig
from .model import RTATLBackbone


def _check_patch(s: int) -> None:
    if s % 16:
        raise ValueError(f"patch side must be a multiple of 16 (four stride-2 layers), got {s}")


class PatchGenerator(nn.Module):
    """G (Eq. 2-4): x (K, d) -> patch (K, 3, s, s); 5 transposed convs 1 -> s/16 -> ... -> s, then tanh.

    The tanh's [-1, 1] stands for pixels 0..1, which enter D, C and the L1 to the real patch normalised
    as the backbone's inputs (``norm``): as they are for mean = std = 0.5, else mapped per channel (with
    ImageNet's statistics the tanh alone would reach red pixels 0.26..0.71 only)."""

    def __init__(self, d: int = 128, s: int = 48, width: int = 64, norm: InputNorm = RANDOM_INIT):
        super().__init__()
        self.to_input = not norm.half
        if self.to_input:   # p = (t + 1) / 2 enters as (p - mean) / std = t * 0.5 / std + (0.5 - mean) / std
            self.register_buffer("scale", torch.tensor([0.5 / v for v in norm.std]).view(1, 3, 1, 1),
                                 persistent=False)
            self.register_buffer("shift", torch.tensor(norm.pixel(0.5)).view(1, 3, 1, 1), persistent=False)
        _check_patch(s)
        w = [width * 8, width * 4, width * 2, width]
        layers = [nn.ConvTranspose2d(d, w[0], s // 16, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(True)]
        for cin, cout in zip(w[:-1], w[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(w[-1], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.net(x[:, :, None, None])
        return t * self.scale.to(t.dtype) + self.shift.to(t.dtype) if self.to_input else t


class PatchCritic(nn.Module):
    """D (out=1) or C (out=N): patch (K, 3, s, s) -> logits (K, out); 4 stride-2 convs + a final one.

    No normalisation layers, so a functional call with frozen weights has no side effects.
    """

    def __init__(self, s: int = 48, width: int = 64, out: int = 1):
        super().__init__()
        _check_patch(s)
        w = [3, width, width * 2, width * 4, width * 8]
        layers = []
        for cin, cout in zip(w[:-1], w[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(w[-1], out, s // 16)]
        self.net = nn.Sequential(*layers)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.net(p).flatten(1)


class FlowHead(nn.Module):
    """OFE (§3.4): ResNet-18 output (B, 512, S/32, S/32) -> flow (B, 2, S/8, S/8), 2 transposed convs."""

    def __init__(self, in_channels: int = 512, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(in_channels, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(True),
                                 nn.ConvTranspose2d(width, 2, 4, 2, 1))

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return self.net(g)


def jigsaw_permutations(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` fixed permutations of the 9 tiles (the identity first), drawn once with ``seed``: (n, 9)."""
    rng = np.random.default_rng(seed)
    perms = [tuple(range(9))]
    while len(perms) < n:
        p = tuple(int(v) for v in rng.permutation(9))
        if p not in perms:
            perms.append(p)
    return torch.tensor(perms)


class RTATLNet(nn.Module):
    """Backbone + the auxiliary heads switched on in ``train_cfg`` (the training-time model)."""

    def __init__(self, model_cfg: RTATLModelConfig, train_cfg: RTATLTrainConfig, adjacency: np.ndarray | None = None):
        super().__init__()
        self.model_cfg, self.train_cfg = model_cfg, train_cfg
        if tuple(model_cfg.aus) != tuple(train_cfg.aus):
            raise ValueError(f"model AUs {model_cfg.aus} differ from training AUs {train_cfg.aus}")
        if train_cfg.roii and not model_cfg.roi:
            raise ValueError("RoII recovers patches from RoI features: it needs roi=True")
        n = len(model_cfg.aus)
        self.norm = input_norm(model_cfg.weights)                # the inputs' normalisation (loaders, G, RoII's fill)
        self.backbone = RTATLBackbone(model_cfg, adjacency)
        g = 512
        if train_cfg.roii:
            self.generator = PatchGenerator(model_cfg.d_model, model_cfg.patch, model_cfg.gan_width, self.norm)
            self.discriminator = PatchCritic(model_cfg.patch, model_cfg.gan_width, 1)
            self.classifier = PatchCritic(model_cfg.patch, model_cfg.gan_width, n)   # one logit per AU; the cut AU's is read
        if train_cfg.ofe:
            self.flow_head = FlowHead(g, model_cfg.flow_width)
        if train_cfg.rotation:
            self.rotation_head = nn.Linear(g, 4)
        if train_cfg.exemplar:
            self.exemplar_head = nn.Sequential(nn.Linear(g, 256), nn.ReLU(True), nn.Linear(256, 128))
        if train_cfg.jigsaw:
            self.register_buffer("perms", jigsaw_permutations(train_cfg.jigsaw_perms))
            self.jigsaw_head = nn.Sequential(nn.Linear(9 * g, 512), nn.ReLU(True), nn.Linear(512, train_cfg.jigsaw_perms))

    def forward(self, image: torch.Tensor, centres: torch.Tensor | None = None) -> dict:
        return self.backbone(image, centres)

    @property
    def mask_fill(self) -> float | tuple:
        """What RoII's cut squares hold: the pixel ``train_cfg.mask_fill`` normalised as the inputs; one value
        when the channels agree (mean = std = 0.5: white is 1.0), else one per channel."""
        fill = self.norm.pixel(self.train_cfg.mask_fill)
        return fill[0] if len(set(fill)) == 1 else fill

    def param_groups(self) -> dict:
        """{"net": backbone + G + task heads, "critic": D + C}: one Adam each (the GAN players)."""
        critic = [p for name in ("discriminator", "classifier") if hasattr(self, name)
                  for p in getattr(self, name).parameters()]
        ids = {id(p) for p in critic}
        net = [p for p in self.parameters() if id(p) not in ids]
        return {"net": net, "critic": critic}

    def optimizers(self) -> dict:
        """Adam, lr 3e-4 (RTATL §4.2) for both players; gradients never cross (see step.py)."""
        t = self.train_cfg
        groups = {k: v for k, v in self.param_groups().items() if v}
        return {k: torch.optim.Adam(v, lr=t.lr, betas=tuple(t.betas), weight_decay=t.weight_decay)
                for k, v in groups.items()}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@register_model
def rtatl(adjacency=None, train=None, **overrides) -> RTATLNet:
    """The RTATL training model (backbone + RoII + OFE modules); ``train`` is a dict of RTATLTrainConfig fields."""
    model_cfg = from_dict(RTATLModelConfig, overrides, where="rtatl")
    train = dict(train or {})
    if tuple(train.get("aus", model_cfg.aus)) != tuple(model_cfg.aus):
        raise ValueError(f"rtatl: train aus {train['aus']} differ from the model's {model_cfg.aus}")
    train_cfg = from_dict(RTATLTrainConfig, {**train, "aus": model_cfg.aus}, where="rtatl train")
    return RTATLNet(model_cfg, train_cfg, adjacency)


__all__ = ["PatchGenerator", "PatchCritic", "FlowHead", "RTATLNet", "rtatl", "count_parameters",
           "jigsaw_permutations"]
