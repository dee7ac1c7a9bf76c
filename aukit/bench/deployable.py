"""The deployable (inference-only) model of each method, built by the method's own ``deploy``
module and wrapped in :class:`aukit.deploy.Deployed`, so that inference is timed the way
``aukit predict`` runs it: uint8 faces (B, S, S, 3) in, AU outputs out (normalisation, the
model's forward and its decoding included). Weights are random: speed does not depend on them.

    model, size = deployable("tas", size="default")
    time_inference(model, faces(size), device, batch_sizes=(1, 256))
"""
from __future__ import annotations

import dataclasses

import torch

from aukit.deploy import Deployed, DeploySpec


def deployable(method: str, size: str = "default") -> tuple[Deployed, int]:
    """(Deployed model with random weights, face side it takes) for ``method`` at ``size``."""
    tiny = size == "tiny"
    if method == "tas":
        from aukit.methods.tas import TASModelConfig, TASNet
        from aukit.methods.tas.deploy import deploy_spec
        mc = TASModelConfig(depth=18, attention_hidden=16, mlp_hidden=16) if tiny else TASModelConfig()
        s = 32 if tiny else 256                               # TAS: 256x256 faces
        net = TASNet(mc)
        return Deployed(net, deploy_spec(net, [f"AU{a:02d}" for a in (6, 10, 12, 14, 17)], "none", s)), s
    if method == "cpc":
        from aukit.methods.cpc import CPCModelConfig
        from aukit.methods.cpc.deploy import CPCDeploy
        mc = CPCModelConfig(image_size=32) if tiny else CPCModelConfig()
        spec = DeploySpec("cpc_deploy", "cpc", mc.image_size, [f"AU{i}" for i in range(mc.num_aus)], "intensity", 1.0)
        return Deployed(CPCDeploy(mc), spec), mc.image_size
    if method == "rtatl":
        from aukit.methods.rtatl import RTATLModelConfig
        from aukit.methods.rtatl.deploy import RTATLDeploy
        s = 64 if tiny else 200                               # RTATL §4.2: 200x200 faces, 192x192 centre crop
        mc = RTATLModelConfig(input_size=64 if tiny else 192)
        net = RTATLDeploy(dataclasses.asdict(mc), store_size=s)
        g = torch.Generator().manual_seed(0)
        net.centres.copy_((0.3 + 0.4 * torch.rand(net.centres.shape, generator=g)) * s)
        spec = DeploySpec("rtatl_deploy", "rtatl", s, [f"AU{a:02d}" for a in mc.aus], "probs")
        return Deployed(net, spec), s
    if method == "piap_df":
        from aukit.methods.piap_df import NetConfig
        from aukit.methods.piap_df.model import AUEncoder
        net = NetConfig(trunk="tiny_dw", image_size=32, tiny_width=8) if tiny else NetConfig()
        spec = DeploySpec("piap_au_encoder", "piap", net.image_size, [f"AU{a:02d}" for a in net.aus], "logits")
        return Deployed(AUEncoder(net), spec), net.image_size
    if method == "scc":
        from aukit.methods.scc import SCCModelConfig, SCCTrainConfig
        from aukit.methods.scc.config import DISFA_AUS
        from aukit.methods.scc.deploy import SCCDeploy
        mc = SCCModelConfig(depth=18, input_size=64, deconv_channels=32) if tiny else SCCModelConfig()
        tc = SCCTrainConfig()
        net = SCCDeploy(dataclasses.asdict(mc), mc.n_points // len(DISFA_AUS), tc.sigma, tc.eq1_normalised)
        spec = DeploySpec("scc_deploy", "scc", mc.input_size, list(DISFA_AUS), "intensity", 1.0)
        return Deployed(net, spec), mc.input_size
    raise ValueError(f"unknown method {method!r}")


def faces(size: int, seed: int = 0):
    """make_input for time_inference: random uint8 faces (B, size, size, 3)."""
    def make(bs: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 256, (bs, size, size, 3), dtype=torch.uint8, generator=g)
    return make
