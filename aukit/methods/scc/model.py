"""SCC-Heatmap network (Fig. 3) and its ResNet-Deconv baseline (SCC off).

ResNet trunk (B, 3, S, S) -> (B, 2048, S/32, S/32) -> ``deconv_layers`` x
[4x4 stride-2 transposed conv -> BN -> ReLU -> SCC] -> 1x1 conv -> (B, N, R, R),
R = S/32 * 2^deconv_layers (64 for S = 256 and three layers).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ...config import from_dict, replace
from ...models.backbones import feature_dim, resnet_trunk
from ...registry import register_model
from .config import SCCModelConfig
from .graph import SCC


class DeconvBlock(nn.Module):
    """Transposed conv (kernel 4, stride 2) -> BN -> ReLU [-> SCC]: (B, Cin, M, M) -> (B, C, 2M, 2M)."""

    def __init__(self, c_in: int, c_out: int, out_size: int, cfg: SCCModelConfig):
        super().__init__()
        pad, out_pad = {4: (1, 0), 3: (1, 1), 2: (0, 0)}.get(cfg.deconv_kernel, (None, None))
        if pad is None:
            raise ValueError(f"deconv_kernel must be 2, 3 or 4, got {cfg.deconv_kernel}")
        self.deconv = nn.ConvTranspose2d(c_in, c_out, cfg.deconv_kernel, stride=2, padding=pad,
                                         output_padding=out_pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.scc = SCC(out_size, cfg.k, edge=cfg.edge, bn=cfg.edge_bn, include_self=cfg.include_self,
                       nodes=cfg.nodes, channels=c_out, gather_backward=cfg.gather_backward,
                       aggregate=cfg.aggregate) if cfg.use_scc else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scc(self.relu(self.bn(self.deconv(x))))


class SCCHeatmapNet(nn.Module):
    """Heatmap regression with SCC modules; ``forward`` returns (B, n_points, R, R)."""

    def __init__(self, cfg: SCCModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or SCCModelConfig()
        self.trunk = resnet_trunk(cfg.depth, weights=cfg.backbone_weights)
        c, size = feature_dim(self.trunk), cfg.input_size // 32
        blocks = []
        for _ in range(cfg.deconv_layers):
            size *= 2
            blocks.append(DeconvBlock(c, cfg.deconv_channels, size, cfg))
            c = cfg.deconv_channels
        self.deconv = nn.Sequential(*blocks)
        self.head = nn.Conv2d(c, cfg.n_points, kernel_size=1)  # Eq. 5: h_i = F^L (x) W_i^L
        for m in self.deconv.modules():                         # Xiao et al. 2018 init for the deconv head
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """F^L, the last deconv/SCC block's maps: (B, 3, S, S) -> (B, C, R, R)."""
        if x.shape[-1] != self.cfg.input_size or x.shape[-2] != self.cfg.input_size:
            raise ValueError(f"model built for {self.cfg.input_size}px inputs, got {tuple(x.shape)}")
        return self.deconv(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(cfg: SCCModelConfig | dict | None = None, **overrides) -> SCCHeatmapNet:
    """Network from a config (dataclass or dict) plus field overrides."""
    if isinstance(cfg, dict):
        cfg = from_dict(SCCModelConfig, cfg)
    cfg = replace(cfg or SCCModelConfig(), **overrides) if overrides else (cfg or SCCModelConfig())
    return SCCHeatmapNet(cfg)


@register_model
def scc_heatmap(**overrides) -> SCCHeatmapNet:
    """SCC-Heatmap (the paper's model): three deconv + SCC blocks, 64x64 heatmaps."""
    return build(**overrides)


@register_model
def resnet_deconv(**overrides) -> SCCHeatmapNet:
    """ResNet-Deconv baseline (Xiao et al. 2018; SCC Table 1): the same network without SCC."""
    return build(**{"use_scc": False, **overrides})
