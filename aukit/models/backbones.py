"""Backbones shared by the paper methods: ResNet trunks and EfficientNet-B1.

Nothing is downloaded: initialisation is random (Kaiming, torchvision's default)
unless ``weights`` names a local ImageNet state_dict file (``torch.save``'d, as torchvision
keeps them, or ``.safetensors``, as timm's come from the Hugging Face hub), loaded strictly
except for the classifier head the trunk drops.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from ..checkpoint import read as read_checkpoint

_RESNETS = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34, 50: torchvision.models.resnet50}
_DROPPED_HEAD = ("fc.", "classifier.", "head.", "conv_head.", "bn2.")


def _architecture(state: dict) -> str:
    """What a state_dict's keys say it was saved from: "ResNet-18/34/50", "EfficientNet" or "" (unknown), for the
    error when a file does not fit the trunk (a ResNet-34 file for the quick preset's ResNet-18)."""
    if any(k.startswith("conv_stem.") for k in state):
        return "EfficientNet"
    blocks = {k.split(".")[1] for k in state if k.startswith("layer3.") and k.split(".")[1].isdigit()}
    if not blocks:
        return ""
    if any(k.startswith("layer1.0.conv3.") for k in state):
        return {6: "ResNet-50", 23: "ResNet-101", 36: "ResNet-152"}.get(len(blocks), "a bottleneck ResNet")
    return {2: "ResNet-18", 6: "ResNet-34"}.get(len(blocks), "a ResNet")


def _read_state(path: Path) -> dict:
    """The state_dict in ``path``: a ``torch.save``d dict (bare, or under ``state_dict`` / ``model``) or a
    ``.safetensors`` file; a DataParallel / DDP save's ``module.`` prefix on every key is taken off."""
    if path.suffix == ".safetensors":          # timm's weights as the Hugging Face hub stores them
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            state = load_file(path)
        except SafetensorError as e:
            raise ValueError(f"{path} is not a readable safetensors file ({e})") from e
    else:
        state = read_checkpoint(path)
        state = state.get("state_dict", state.get("model", state))
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _load_local(module: nn.Module, weights: str | Path, drop_prefixes=("fc.",), what: str = "the backbone") -> None:
    """Load a local ImageNet file into ``module`` (``what``: its name for the errors), its classifier head
    (``drop_prefixes``) left out; every other weight must fit, or a KeyError names the file, what it holds and
    what the trunk is."""
    path = Path(weights)
    if not path.exists():
        raise FileNotFoundError(f"ImageNet weights file not found: {path} (aukit never downloads weights; "
                                "pass the path of a local state_dict or leave weights=None)")
    state = {k: v for k, v in _read_state(path).items() if not k.startswith(tuple(drop_prefixes))}
    held = _architecture(state)
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as e:                  # same names, other shapes (another ResNet family)
        shapes = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        raise KeyError(f"{path}: weights do not match {what}" + (f": the file holds {held} weights" if held else "")
                       + f"; {len(shapes)} shape(s) differ, first: {shapes[0] if shapes else e}") from None
    missing = [k for k in missing if not k.startswith(tuple(drop_prefixes))]
    if missing or unexpected:
        raise KeyError(f"{path}: weights do not match {what}" + (f": the file holds {held} weights" if held else "")
                       + f"; missing {missing[:8]}, unexpected {unexpected[:8]}")


def _adapt_in_chans(conv: nn.Conv2d, in_chans: int) -> nn.Conv2d:
    """Replace a 3-channel stem conv by one with ``in_chans`` inputs (weights averaged then tiled)."""
    if in_chans == conv.in_channels:
        return conv
    new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
    with torch.no_grad():
        mean = conv.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(mean.repeat(1, in_chans, 1, 1) * (3.0 / in_chans))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def resnet_stages(depth: int, *, in_chans: int = 3, weights: str | None = None) -> nn.ModuleDict:
    """ResNet split into ``stem`` (conv1-bn-relu-maxpool) and ``layer1``..``layer4``.

    Output strides 4, 4, 8, 16, 32; channels (64, 64|256, 128|512, 256|1024, 512|2048).
    """
    if depth not in _RESNETS:
        raise ValueError(f"ResNet depth must be one of {sorted(_RESNETS)}, got {depth}")
    net = _RESNETS[depth](weights=None)
    if weights:                                  # None or "" (the notebooks' none): random initialisation
        _load_local(net, weights, what=f"ResNet-{depth}")
    net.conv1 = _adapt_in_chans(net.conv1, in_chans)
    return nn.ModuleDict({
        "stem": nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
        "layer1": net.layer1, "layer2": net.layer2, "layer3": net.layer3, "layer4": net.layer4,
    })


class ResNetTrunk(nn.Module):
    """ResNet without average pooling and fc: (B, C, H, W) -> (B, C', H/32, W/32)."""

    def __init__(self, depth: int, *, in_chans: int = 3, weights: str | None = None, out_channels: int | None = None):
        super().__init__()
        stages = resnet_stages(depth, in_chans=in_chans, weights=weights)
        self.body = nn.Sequential(*stages.values())
        c = 512 if depth < 50 else 2048
        self.proj = nn.Identity() if out_channels in (None, c) else nn.Sequential(
            nn.Conv2d(c, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.out_channels = out_channels or c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.body(x))


def resnet_trunk(depth: int, *, in_chans: int = 3, weights: str | None = None,
                 out_channels: int | None = None) -> ResNetTrunk:
    return ResNetTrunk(depth, in_chans=in_chans, weights=weights, out_channels=out_channels)


class EfficientNetTrunk(nn.Module):
    """EfficientNet-B1 (timm) up to ``conv_head``: (B, C, 240, 240) -> (B, 1280, 8, 8)."""

    def __init__(self, in_chans: int = 3, weights: str | None = None):
        super().__init__()
        import timm
        net = timm.create_model("efficientnet_b1", pretrained=False, in_chans=3, num_classes=0, global_pool="")
        if weights:
            _load_local(net, weights, drop_prefixes=("classifier.",), what="EfficientNet-B1")
        net.conv_stem = _adapt_in_chans(net.conv_stem, in_chans)
        self.net = net
        self.out_channels = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)


def efficientnet_b1(in_chans: int = 3, weights: str | None = None) -> EfficientNetTrunk:
    return EfficientNetTrunk(in_chans=in_chans, weights=weights)


def feature_dim(module: nn.Module) -> int:
    """Channels of the map a trunk returns."""
    if hasattr(module, "out_channels"):
        return int(module.out_channels)
    raise AttributeError(f"{type(module).__name__} does not expose out_channels")
