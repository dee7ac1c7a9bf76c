"""CPC networks (§3.2): f (ResNet-18 to 256x8x8), g (ConvGRU), p (predictor), c (head).

Shapes for the paper's sizes: a clip (B, T, 3, 128, 128) -> features (B, T, 256, 8, 8)
-> hidden states (B, T, 256, 8, 8) -> intensities (B, T, N).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.profiler import record_function

from aukit.models.backbones import resnet_stages
from aukit.registry import register_model

from .config import ENCODERS, CPCModelConfig


def _kaiming_(module: nn.Module) -> None:
    """Kaiming-normal convs/linears (ReLU gain), BN at (1, 0): CPC §4 from-scratch init."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # fan_out for convs (torchvision's ResNet rule), fan_in for the 256 -> N linear (keeps outputs O(1))
            mode = "fan_out" if isinstance(m, nn.Conv2d) else "fan_in"
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """f: ResNet-18 stem + layer1..layer3 (no layer4, avgpool, fc): (B, 3, S, S) -> (B, 256, S/16, S/16).

    ResNet-18's third block has 256 channels, so "last block with 256 channels" (§3.2)
    is the trunk cut after layer3: a 128x128 face gives 256x8x8. ``kind="layer4_256"`` reads it
    as a fourth stage narrowed to 256 channels at stride 1 (two basic blocks; same output shape).
    """

    def __init__(self, depth: int = 18, kind: str = "layer3"):
        super().__init__()
        if depth not in (18, 34):
            raise ValueError(f"the 256-channel CPC trunk needs a basic-block ResNet (18 or 34), got {depth}")
        if kind not in ENCODERS:
            raise ValueError(f"CPC encoder must be one of {ENCODERS}, got {kind!r}")
        s = resnet_stages(depth)
        stages = [s["stem"], s["layer1"], s["layer2"], s["layer3"]]
        if kind == "layer4_256":
            from torchvision.models.resnet import BasicBlock
            stages.append(nn.Sequential(BasicBlock(256, 256), BasicBlock(256, 256)))
        self.body = nn.Sequential(*stages)
        self.out_channels = 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ConvGRUCell(nn.Module):
    """g: GRU whose gates are ``kernel``x``kernel`` convolutions over (B, C, H, W) tensors (§3.2).

    z = s(W_z[x, h]), r = s(W_r[x, h]), n = tanh(W_n[x, r*h]), h' = (1 - z) h + z n.
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 1):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"ConvGRU kernel must be a positive odd size, got {kernel}")
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 2 * hidden, kernel, padding=kernel // 2)
        self.cand = nn.Conv2d(in_channels + hidden, hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        n = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * n


class RegressorHead(nn.Module):
    """c: average pool -> BatchNorm -> linear (§3.2): (B, C, H, W) -> (B, N)."""

    def __init__(self, channels: int, num_aus: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)
        self.fc = nn.Linear(channels, num_aus)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(h.mean(dim=(2, 3))))


class CPCNet(nn.Module):
    """The spatio-temporal model M = c(g(f(x))) plus the pretext predictor p (§3.2-3.3)."""

    def __init__(self, cfg: CPCModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CPCModelConfig()
        if cfg.feat_channels != 256:
            raise ValueError(f"the ResNet-18 layer3 trunk gives 256 channels, got feat_channels={cfg.feat_channels}")
        if cfg.init not in ("kaiming", "torchvision"):
            raise ValueError(f"init must be 'kaiming' or 'torchvision', got {cfg.init!r}")
        c = cfg.feat_channels
        self.encoder = Encoder(cfg.depth, cfg.encoder)
        self.gru = ConvGRUCell(c, c, cfg.gru_kernel)
        self.predictor = nn.Sequential(nn.Conv2d(c, cfg.pred_hidden, 1), nn.ReLU(inplace=True),
                                       nn.Conv2d(cfg.pred_hidden, c, 1))
        self.head = RegressorHead(c, cfg.num_aus)
        if cfg.init == "kaiming":
            _kaiming_(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """f on every frame: (B, T, 3, S, S) -> (B, T, C, h, w)."""
        b, t = x.shape[:2]
        f = self.encoder(x.flatten(0, 1))
        return f.unflatten(0, (b, t))

    def aggregate(self, feats: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """g over time: (B, T, C, h, w) -> hidden states (B, T, C, h, w), h_t = g(f_t, h_{t-1})."""
        out = []
        with record_function("cpc.gru"):                                  # the recurrence (bench profile label)
            for t in range(feats.shape[1]):
                h = self.gru(feats[:, t], h)
                out.append(h)
        return torch.stack(out, 1)

    def predict_future(self, h: torch.Tensor, steps: int) -> torch.Tensor:
        """Recursive prediction (§3.3): p_{C+1} = p(h_C), h_{C+k} = g(p_{C+k}, h_{C+k-1}), p_{C+k+1} = p(h_{C+k}).

        h: (B, C, h, w) hidden state after the context -> (B, steps, C, h, w).
        """
        preds = []
        with record_function("cpc.gru"):
            for k in range(steps):
                p = self.predictor(h)
                preds.append(p)
                if k + 1 < steps:
                    h = self.gru(p, h)
        return torch.stack(preds, 1)

    def pretext(self, x: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage-1 forward: clip (B, T, 3, S, S) -> (predictions, targets), each (B, T - context, C, h, w)."""
        if not 0 < context < x.shape[1]:
            raise ValueError(f"context must be in [1, T-1] for T={x.shape[1]}, got {context}")
        feats = self.encode(x)                                     # (B, T, C, h, w)
        hidden = self.aggregate(feats[:, :context])[:, -1]          # h_C: (B, C, h, w)
        preds = self.predict_future(hidden, x.shape[1] - context)   # (B, P, C, h, w)
        return preds, feats[:, context:]

    def regress(self, hidden: torch.Tensor) -> torch.Tensor:
        """c on hidden states (..., C, h, w) -> (..., N)."""
        lead = hidden.shape[:-3]
        return self.head(hidden.reshape(-1, *hidden.shape[-3:])).reshape(*lead, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame intensities of a clip: (B, T, 3, S, S) -> (B, T, N); frame t sees frames <= t."""
        return self.regress(self.aggregate(self.encode(x)))


class FrameRegressor(nn.Module):
    """The R18 baselines of §4.1: c(f(x)) per frame, no temporal block: (B, 3, S, S) -> (B, N)."""

    def __init__(self, cfg: CPCModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CPCModelConfig()
        self.encoder = Encoder(cfg.depth, cfg.encoder)
        self.head = RegressorHead(self.encoder.out_channels, cfg.num_aus)
        if cfg.init == "kaiming":
            _kaiming_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def _cfg(**overrides) -> CPCModelConfig:
    from aukit.config import from_dict
    return from_dict(CPCModelConfig, overrides, where="cpc model")


@register_model
def cpc_r18_gru(**overrides) -> CPCNet:
    """CPC model (ResNet-18 to 256x8x8 + ConvGRU + head); overrides are CPCModelConfig fields."""
    return CPCNet(_cfg(**overrides))


@register_model
def cpc_r18_frame(**overrides) -> FrameRegressor:
    """Per-frame R18 baseline of CPC §4.1 (same trunk and head, no GRU)."""
    return FrameRegressor(_cfg(**overrides))
