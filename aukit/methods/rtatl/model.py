"""The RTATL backbone network (RTATL §3.1-3.2, Fig. 2 middle): the only part that runs at inference.

ResNet-18 -> top-down fusion (upsample high-level maps, add to low-level ones) ->
two RoI features per AU cropped around the AU centres -> per-AU RoI module (two
convolutions) -> average pooling -> AU relation (transformer) -> the two enhanced RoI
features of an AU averaged -> per-AU FC; a global FC on the ResNet-18 output; the two
predictions are fused by max.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align

from aukit.models.backbones import resnet_stages
from aukit.config import from_dict
from aukit.registry import register_model

from .config import RTATLModelConfig
from .geometry import boxes_around
from .relation import AURelationGCN, AURelationTransformer

_STAGE_CHANNELS = {18: (64, 128, 256, 512), 34: (64, 128, 256, 512)}
_STAGE_STRIDES = (4, 8, 16, 32)


class TopDownFusion(nn.Module):
    """FPN-style fusion: lateral 1x1 convs, nearest upsampling, addition, a 3x3 smoothing conv.

    feats: layer1..layer4 maps -> (B, C, H/stride, W/stride) at ``stride`` (4, 8 or 16).
    """

    def __init__(self, in_channels: tuple, out_channels: int, stride: int):
        super().__init__()
        if stride not in _STAGE_STRIDES[:3]:
            raise ValueError(f"fuse_stride must be one of {_STAGE_STRIDES[:3]}, got {stride}")
        self.first = _STAGE_STRIDES.index(stride)
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels[self.first:])
        self.smooth = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, feats: list) -> torch.Tensor:
        feats = feats[self.first:]
        y = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            y = F.interpolate(y, size=f.shape[-2:], mode="nearest") + lat(f)
        return self.smooth(y)


class RoIModules(nn.Module):
    """Individual RoI feature learning per AU: two 3x3 conv-BN-ReLU, shared by the AU's two RoIs.

    Run as grouped convolutions (one group per AU). rois (B, N, 2, C, h, w) -> tokens (B, 2N, C).
    """

    def __init__(self, n_aus: int, channels: int):
        super().__init__()
        nc = n_aus * channels
        self.n, self.c = n_aus, channels
        self.body = nn.Sequential(
            nn.Conv2d(nc, nc, 3, padding=1, groups=n_aus, bias=False), nn.BatchNorm2d(nc), nn.ReLU(inplace=True),
            nn.Conv2d(nc, nc, 3, padding=1, groups=n_aus, bias=False), nn.BatchNorm2d(nc), nn.ReLU(inplace=True))

    def forward(self, rois: torch.Tensor) -> torch.Tensor:
        b, n, two, c, h, w = rois.shape
        x = rois.permute(0, 2, 1, 3, 4, 5).reshape(b * two, n * c, h, w)   # AUs as channel groups
        x = self.body(x).mean(dim=(-2, -1)).reshape(b, two, n, c)           # average pooling
        return x.permute(0, 2, 1, 3).reshape(b, n * two, c)                 # AU-major tokens


class RTATLBackbone(nn.Module):
    """forward(image (B, 3, S, S), centres (B, N, 2, 2) in input pixels) -> dict with

    ``logits`` (B, N) fused by max; ``local_logits``/``global_logits`` (B, N); ``tokens``
    (B, 2N, d) RoI features before and ``relation`` (B, 2N, d) after the relation module;
    ``global_map`` (B, 512, S/32, S/32), the ResNet-18 output used by OFE.
    With ``roi=False`` (plain ResNet-18) only the global branch exists and centres may be None.
    """

    def __init__(self, cfg: RTATLModelConfig, adjacency: np.ndarray | None = None):
        super().__init__()
        if cfg.depth not in _STAGE_CHANNELS:
            raise ValueError(f"RTATL uses ResNet-18/34 (512-channel output), got depth {cfg.depth}")
        if cfg.relation not in ("transformer", "gcn", "none"):
            raise ValueError(f"relation must be transformer|gcn|none, got {cfg.relation!r}")
        self.cfg = cfg
        n = len(cfg.aus)
        self.stages = resnet_stages(cfg.depth, weights=cfg.weights)
        chans = _STAGE_CHANNELS[cfg.depth]
        self.global_fc = nn.Linear(chans[-1], n)
        if not cfg.roi:
            return
        if cfg.roi_channels != cfg.d_model:
            raise ValueError(f"roi_channels ({cfg.roi_channels}) must equal d_model ({cfg.d_model}): RoI features are the tokens")
        self.fusion = TopDownFusion(chans, cfg.roi_channels, cfg.fuse_stride)
        self.roi_cells = max(1, round(self.roi_box_px / cfg.fuse_stride))
        self.roi_modules = RoIModules(n, cfg.roi_channels)
        if cfg.relation == "transformer":
            self.relation = AURelationTransformer(n, cfg.d_model, cfg.n_heads, cfg.n_encoder, cfg.n_decoder,
                                                  cfg.ff_dim, cfg.dropout)
        elif cfg.relation == "gcn":
            self.relation = AURelationGCN(np.eye(n) if adjacency is None else adjacency, cfg.d_model)
        else:
            self.relation = nn.Identity()
        self.local_w = nn.Parameter(torch.randn(n, cfg.d_model) * cfg.d_model ** -0.5)  # one FC per AU
        self.local_b = nn.Parameter(torch.zeros(n))

    @property
    def roi_box_px(self) -> float:
        """RoI side in input pixels: ``roi_box`` at the paper's input size, scaled with the input size."""
        return self.cfg.roi_box * self.cfg.input_size / RTATLModelConfig.input_size

    def features(self, image: torch.Tensor) -> list:
        x = self.stages["stem"](image)
        out = []
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = self.stages[name](x)
            out.append(x)
        return out

    def forward(self, image: torch.Tensor, centres: torch.Tensor | None = None) -> dict:
        feats = self.features(image)
        g = feats[-1]
        out = {"global_map": g, "global_logits": self.global_fc(g.mean(dim=(-2, -1)))}
        if not self.cfg.roi:
            out["logits"] = out["global_logits"]
            return out
        if centres is None:
            raise ValueError("RTATL's RoI branch needs AU centres (B, N, 2, 2) in input pixels")
        fmap = self.fusion(feats)                                          # (B, C, S/s, S/s)
        b, n = centres.shape[:2]
        idx = torch.arange(b, device=image.device).repeat_interleave(2 * n)[:, None].to(fmap.dtype)
        boxes = torch.cat([idx, boxes_around(centres.reshape(-1, 2).to(fmap.dtype), self.roi_box_px)], 1)
        rois = roi_align(fmap, boxes, (self.roi_cells, self.roi_cells), spatial_scale=1.0 / self.cfg.fuse_stride,
                         sampling_ratio=2, aligned=True)                   # (B*N*2, C, h, w)
        rois = rois.reshape(b, n, 2, *rois.shape[1:])
        tokens = self.roi_modules(rois)                                    # (B, 2N, d)
        rel = self.relation(tokens)                                        # (B, 2N, d)
        au_feat = rel.reshape(b, n, 2, -1).mean(dim=2)                     # average the two RoIs: (B, N, d)
        local = (au_feat * self.local_w.to(au_feat.dtype)).sum(-1) + self.local_b.to(au_feat.dtype)
        out.update(tokens=tokens, relation=rel, au_features=au_feat, local_logits=local,
                   logits=torch.maximum(local, out["global_logits"]))    # fusion by max (§3.1)
        return out


@register_model
def rtatl_backbone(adjacency=None, **overrides) -> RTATLBackbone:
    """RTATL without its training modules (RoII, OFE, D, G, C); with the RoI branch it needs AU centres
    (B, N, 2, 2) per face, so the deployable model is ``rtatl_deploy``. ``overrides``: RTATLModelConfig fields."""
    return RTATLBackbone(from_dict(RTATLModelConfig, overrides, where="rtatl_backbone"), adjacency=adjacency)
