"""PIAP-DF networks (Tang et al., ICCV 2021, §3.1-3.2, Figs. 2 and 4).

* :class:`DWUNet` - PI Generator: U-Net with depthwise-separable convolutions,
  RGB (B, 3, S, S) -> K PI-map logits (B, K, S, S).
* :class:`PI2Net` - PI stage 2: generator maps (sigmoid) x greyscale face -> K-channel
  input to the AU encoder (EfficientNet-B1 with K input channels).
* :class:`PIAPNet` - PI stage 3 / AP / PIAP: Encoder AU on RGB with an AU head and a
  decoder (DWConv + upsampling) from the last feature map to K PI-map logits.
* :class:`AUEncoder` - the deployable export: Encoder AU + AU head, PI/AP/DF removed.
* :class:`PooledHeadNet` - same trunk + one linear head: Encoder P (face recognition)
  and the landmark-regression network of the paper's toy case (§3.2).

Every network returns a dict: ``logits`` (B, C), ``feature`` (B, D) the pooled
vector v_AU (or v_P), and, where it has one, ``pi_logits`` (B, K, S, S).
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.config import from_dict
from aukit.models.backbones import efficientnet_b1
from aukit.registry import register_model

from .config import NetConfig

_GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights for the greyscale face of stage 2
TRUNK_STRIDE = 32              # EfficientNet-B1 and the tiny stand-in both down-sample by 32


def dw_separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3x3 (groups = c_in) + pointwise 1x1, each with BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class TinyDWTrunk(nn.Module):
    """Small depthwise-separable CNN, stride 32, for CPU quick runs (not in the paper).

    (B, C_in, S, S) -> (B, 8 * width, S/32, S/32).
    """

    def __init__(self, in_chans: int = 3, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            dw_separable(w, 2 * w, 2), dw_separable(2 * w, 4 * w, 2), dw_separable(4 * w, 8 * w, 2),
            dw_separable(8 * w, 8 * w, 2))
        self.out_channels = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_trunk(cfg: NetConfig, in_chans: int = 3) -> nn.Module:
    """The AU/person encoder trunk named by ``cfg.trunk``; exposes ``out_channels``."""
    if cfg.trunk == "efficientnet_b1":
        return efficientnet_b1(in_chans=in_chans, weights=cfg.trunk_weights)
    if cfg.trunk == "tiny_dw":
        if cfg.trunk_weights is not None:
            raise ValueError("the tiny_dw trunk has no ImageNet weights; set trunk_weights=None")
        return TinyDWTrunk(in_chans, cfg.tiny_width)
    raise ValueError(f"unknown trunk {cfg.trunk!r}; expected 'efficientnet_b1' or 'tiny_dw'")


def _check_size(x: torch.Tensor, size: int, what: str) -> None:
    if x.dim() != 4 or x.shape[-1] != size or x.shape[-2] != size:
        raise ValueError(f"{what} expects (B, C, {size}, {size}) images, got {tuple(x.shape)}")


class DWUNet(nn.Module):
    """PI Generator (§3.1): U-Net whose convolutions are depthwise separable.

    (B, 3, S, S) normalised RGB -> (B, K, S, S) PI-map logits; S divisible by 2**depth.
    """

    def __init__(self, n_maps: int = 12, width: int = 16, depth: int = 4, in_chans: int = 3):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"DWUNet needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        self.depth = depth
        chans = [width * 2 ** i for i in range(depth + 1)]
        self.inc = nn.Sequential(nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                 nn.ReLU(inplace=True), dw_separable(width, width))
        self.down = nn.ModuleList(nn.Sequential(dw_separable(chans[i], chans[i + 1]), dw_separable(chans[i + 1], chans[i + 1]))
                                  for i in range(depth))
        self.up = nn.ModuleList(nn.Sequential(dw_separable(chans[i + 1] + chans[i], chans[i]), dw_separable(chans[i], chans[i]))
                                for i in reversed(range(depth)))
        self.out = nn.Conv2d(width, n_maps, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"DWUNet of depth {self.depth} needs sizes divisible by {2 ** self.depth}, got {tuple(x.shape)}")
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        h = skips.pop()
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.out(h)


def greyscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) RGB -> (B, 1, S, S) luma (linear, so it commutes with the normalisation)."""
    w = x.new_tensor(_GREY).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


class PI2Net(nn.Module):
    """PI stage 2 (§3.1): generator maps (x) greyscale face -> K-channel Encoder AU.

    The generator's sigmoid maps (the "PI maps before one-hot encoding") are
    multiplied pixel-wise with the greyscale image; both the generator and the encoder
    are trained by L_AU (Eq. 2), which turns Generator 0 into Generator 1.
    """

    def __init__(self, cfg: NetConfig | None = None, generator: DWUNet | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NetConfig()
        k = len(cfg.aus)
        self.generator = generator or DWUNet(k, cfg.unet_width, cfg.unet_depth)
        self.trunk = make_trunk(cfg, in_chans=k)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(self.trunk.out_channels, k)

    def forward(self, x: torch.Tensor) -> dict:
        _check_size(x, self.cfg.image_size, "PI2Net")
        pi_logits = self.generator(x)                       # (B, K, S, S)
        masked = torch.sigmoid(pi_logits) * greyscale(x)    # (B, K, S, S) Hadamard product
        feature = self.trunk(masked).mean((2, 3))           # (B, D)
        return {"logits": self.fc(self.drop(feature)), "feature": feature, "pi_logits": pi_logits}


class PIDecoder(nn.Module):
    """Stage-3 decoder (§3.1): DWConv + x2 upsampling from (B, D, S/32, S/32) to (B, K, S, S) logits."""

    def __init__(self, in_channels: int, n_maps: int, width: int = 128, image_size: int = 256):
        super().__init__()
        self.image_size = image_size
        n_up = int(round(math.log2(TRUNK_STRIDE)))
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        c = width
        for _ in range(n_up):
            c_next = max(c // 2, 16)
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), dw_separable(c, c_next)]
            c = c_next
        layers.append(nn.Conv2d(c, n_maps, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        out = self.body(fmap)
        if out.shape[-1] != self.image_size or out.shape[-2] != self.image_size:
            out = F.interpolate(out, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return out


class AUEncoder(nn.Module):
    """Deployable model (§4.2): Encoder AU + AU head; (B, 3, S, S) -> dict(logits (B, C), feature (B, D))."""

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NetConfig()
        self.trunk = make_trunk(cfg, in_chans=3)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(self.trunk.out_channels, len(cfg.aus))

    @property
    def feature_dim(self) -> int:
        return self.trunk.out_channels

    def forward(self, x: torch.Tensor) -> dict:
        feature = self.trunk(x).mean((2, 3))
        return {"logits": self.fc(self.drop(feature)), "feature": feature}


class PIAPNet(AUEncoder):
    """Encoder AU with the stage-3 PI decoder (§3.1) and the v_AU output used by AP (§3.2).

    ``forward(x, pi=True)``: ``pi=False`` skips the decoder (Baseline, AP, inference).
    """

    def __init__(self, cfg: NetConfig | None = None):
        super().__init__(cfg)
        self.decoder = PIDecoder(self.trunk.out_channels, len(self.cfg.aus), self.cfg.decoder_width, self.cfg.image_size)

    def forward(self, x: torch.Tensor, pi: bool = True) -> dict:
        _check_size(x, self.cfg.image_size, "PIAPNet")
        fmap = self.trunk(x)                                  # (B, D, S/32, S/32)
        feature = fmap.mean((2, 3))                           # (B, D) = v_AU
        out = {"logits": self.fc(self.drop(feature)), "feature": feature}
        if pi:
            out["pi_logits"] = self.decoder(fmap)             # (B, K, S, S)
        return out

    def export(self) -> AUEncoder:
        """The lightweight inference model: a copy of Encoder AU + head, decoder dropped."""
        enc = AUEncoder(self.cfg)
        enc.load_state_dict({k: v for k, v in self.state_dict().items() if not k.startswith("decoder.")}, strict=True)
        return enc.eval()


class PooledHeadNet(nn.Module):
    """Same trunk as Encoder AU + one linear head: Encoder P (n_out = identities) or the
    toy-case landmark regressor (n_out = 136). ``feature`` (B, D) is v_P."""

    def __init__(self, cfg: NetConfig | None = None, n_out: int = 10):
        super().__init__()
        if n_out < 1:
            raise ValueError(f"n_out must be >= 1, got {n_out}")
        self.cfg = cfg = cfg or NetConfig()
        self.trunk = make_trunk(cfg, in_chans=3)
        self.fc = nn.Linear(self.trunk.out_channels, n_out)

    def forward(self, x: torch.Tensor) -> dict:
        feature = self.trunk(x).mean((2, 3))
        return {"logits": self.fc(feature), "feature": feature}


def lift_projection(d_in: int, d_out: int, seed: int = 0) -> torch.Tensor:
    """Fixed (d_out, d_in) matrix with orthonormal columns: lifts dlib's 128-d descriptor
    into v_AU's space so Eq. 4's cosine is defined (our choice; the paper's Encoder P
    shares Encoder AU's architecture and needs no lift)."""
    if d_out < d_in:
        raise ValueError(f"cannot lift {d_in}-d vectors into {d_out} dimensions")
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d_out, d_in, generator=g))
    return q


def copy_model(model: nn.Module) -> nn.Module:
    """Deep copy (teacher/student initialisation, §3.3)."""
    return copy.deepcopy(model)


# ---- registry: notebooks build these by name -------------------------------------------

def _cfg(kw: dict) -> NetConfig:
    return from_dict(NetConfig, kw, where="piap_df model")


@register_model
def piap_dw_unet(**kw) -> DWUNet:
    """PI Generator (§3.1): depthwise-separable U-Net, face -> K PI-map logits; ``kw``: NetConfig fields."""
    cfg = _cfg(kw)
    return DWUNet(len(cfg.aus), cfg.unet_width, cfg.unet_depth)


@register_model
def piap_pi2_net(**kw) -> PI2Net:
    """PI stage 2 (§3.1): the generator's maps x the greyscale face into Encoder AU; ``kw``: NetConfig."""
    return PI2Net(_cfg(kw))


@register_model
def piap_net(**kw) -> PIAPNet:
    """Encoder AU with the PI decoder (stage 3, AP, PIAP; §3.1-3.2); ``kw``: NetConfig fields."""
    return PIAPNet(_cfg(kw))


@register_model
def piap_au_encoder(**kw) -> AUEncoder:
    """The deployable PIAP-DF network (§4.2): Encoder AU + AU head; ``kw``: NetConfig fields."""
    return AUEncoder(_cfg(kw))


@register_model
def piap_person_encoder(n_identities: int = 10, **kw) -> PooledHeadNet:
    """Encoder P: Encoder AU's trunk + an identity head of ``n_identities``; ``kw``: NetConfig fields."""
    if not isinstance(n_identities, int) or isinstance(n_identities, bool) or n_identities < 1:
        raise ValueError(f"piap_person_encoder: n_identities must be a positive int, got {n_identities!r}")
    return PooledHeadNet(_cfg(kw), n_identities)
