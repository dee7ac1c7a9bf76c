"""The deployable (inference-only) model of each method, wrapped in :class:`aukit.deploy.Deployed`
so that inference is timed the way ``aukit predict`` runs it: uint8 faces (B, S, S, 3) in,
AU outputs out (normalisation and the model's forward included).

    model, size = deployable("tas", size="default")
    time_inference(model, faces(size), device, batch_sizes=(1, 256))
"""
from __future__ import annotations

import torch
import torch.nn as nn

from aukit.deploy import Deployed, DeploySpec


class _Logits(nn.Module):
    """Pick ``out[key]`` from a model that returns a dict (PIAP-DF's AU encoder)."""

    def __init__(self, model: nn.Module, key: str = "logits"):
        super().__init__()
        self.model, self.key = model, key

    def forward(self, x):
        return self.model(x)[self.key]


class _FixedCentres(nn.Module):
    """RTATL's backbone with the RoI centres of a mean face: (B, 3, S, S) -> AU logits (B, N).
    At deployment the centres come from each face's landmarks; their cost is not the network's."""

    def __init__(self, backbone: nn.Module, centres: torch.Tensor):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("centres", centres)                 # (1, N, 2, 2) input pixels

    def forward(self, x):
        c = self.centres.expand(x.shape[0], -1, -1, -1).to(x.dtype)
        return self.backbone(x, c)["logits"]


class _Streaming(nn.Module):
    """CPC at deployment: one new frame per stream, encoder + one ConvGRU step + head.
    (B, 3, S, S) -> intensities (B, N); the recurrent state is reset (a fresh stream each call)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x.unsqueeze(1))[:, 0]


class _Decode(nn.Module):
    """SCC heatmaps (B, 2A, R, R) -> AU intensities (B, A) on 0..5 (max per map, mean per AU)."""

    def __init__(self, model: nn.Module, sigma: float, eq1_normalised: bool):
        super().__init__()
        self.model, self.sigma, self.eq1 = model, sigma, eq1_normalised

    def forward(self, x):
        from aukit.methods.scc import decode
        return decode(self.model(x).float(), 2, self.sigma, self.eq1)[0]


def deployable(method: str, size: str = "default") -> tuple[Deployed, int]:
    """(Deployed model with random weights, face side it takes) for ``method`` at ``size``."""
    tiny = size == "tiny"
    if method == "tas":
        from aukit.methods.tas import TASModelConfig, TASNet
        mc = TASModelConfig(depth=18, attention_hidden=16, mlp_hidden=16) if tiny else TASModelConfig()
        s = 32 if tiny else 256                               # TAS: 256x256 faces
        spec = DeploySpec("tas_resnet34", "tas", s, [f"AU{a:02d}" for a in (6, 10, 12, 14, 17)], "intensity", 5.0)
        return Deployed(TASNet(mc), spec), s
    if method == "cpc":
        from aukit.methods.cpc import CPCModelConfig, CPCNet
        mc = CPCModelConfig(image_size=32) if tiny else CPCModelConfig()
        spec = DeploySpec("cpc_r18_gru", "cpc", mc.image_size, [f"AU{i}" for i in range(mc.num_aus)], "intensity", 1.0)
        return Deployed(_Streaming(CPCNet(mc)), spec), mc.image_size
    if method == "rtatl":
        from aukit.methods.rtatl import RTATLBackbone, RTATLModelConfig
        s = 64 if tiny else 192                               # RTATL §4.2: 192x192 input
        mc = RTATLModelConfig(input_size=s)
        n = len(mc.aus)
        centres = (0.3 + 0.4 * torch.rand(1, n, 2, 2, generator=torch.Generator().manual_seed(0))) * s
        spec = DeploySpec("rtatl_backbone", "rtatl", s, [f"AU{a:02d}" for a in mc.aus], "logits")
        return Deployed(_FixedCentres(RTATLBackbone(mc), centres), spec), s
    if method == "piap_df":
        from aukit.methods.piap_df import NetConfig
        from aukit.methods.piap_df.model import AUEncoder
        net = NetConfig(trunk="tiny_dw", image_size=32, tiny_width=8) if tiny else NetConfig()
        spec = DeploySpec("piap_au_encoder", "piap", net.image_size, [f"AU{a:02d}" for a in net.aus], "logits")
        return Deployed(_Logits(AUEncoder(net)), spec), net.image_size
    if method == "scc":
        from aukit.methods.scc import SCCModelConfig, SCCTrainConfig, build
        from aukit.methods.scc.config import DISFA_AUS
        mc = SCCModelConfig(depth=18, input_size=64, deconv_channels=32) if tiny else SCCModelConfig()
        tc = SCCTrainConfig()
        spec = DeploySpec("scc_heatmap", "scc", mc.input_size, list(DISFA_AUS), "intensity", 1.0)
        return Deployed(_Decode(build(mc), tc.sigma, tc.eq1_normalised), spec), mc.input_size
    raise ValueError(f"unknown method {method!r}")


def faces(size: int, seed: int = 0):
    """make_input for time_inference: random uint8 faces (B, size, size, 3)."""
    def make(bs: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 256, (bs, size, size, 3), dtype=torch.uint8, generator=g)
    return make
