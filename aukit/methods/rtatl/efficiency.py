"""RTATL's efficiency numbers (§4.2's point: the auxiliary tasks cost nothing at inference): parameters
and forward GFLOPs of the training network (all modules) vs the deployed backbone."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .heads import count_parameters


@torch.no_grad()
def efficiency(net, data, device) -> dict:
    """Parameters (M) and forward GFLOPs for one image: training (all modules) vs inference (backbone only)."""
    net.eval()
    s = net.model_cfg.input_size
    x = torch.zeros(1, 3, s, s, device=device)
    c = torch.from_numpy(data.centres[data.test_rows[:1]]).to(device) * (s / data.store.size)
    c = c if net.model_cfg.roi else None
    with FlopCounterMode(display=False) as fc:
        out = net.backbone(x, c)
    infer = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        if hasattr(net, "generator"):
            fake = net.generator(out["relation"][0, :2])
            p = torch.zeros(4, 3, net.model_cfg.patch, net.model_cfg.patch, device=device)
            net.discriminator(p), net.classifier(p), fake
        if hasattr(net, "flow_head"):
            net.flow_head(out["global_map"])
    aux = fc.get_total_flops()
    return {"params_train_m": count_parameters(net) / 1e6, "params_infer_m": count_parameters(net.backbone) / 1e6,
            "gflops_infer": infer / 1e9, "gflops_train": (infer + aux) / 1e9, "input_size": s}


__all__ = ["efficiency"]
