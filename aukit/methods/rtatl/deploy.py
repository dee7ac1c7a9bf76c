"""RTATL at deployment: the backbone alone (RoII, OFE, D, G and C removed) as an ``aukit predict`` model.

At inference RTATL needs the AU centres of each face. ``aukit predict`` feeds aligned faces
only, so the deployable model carries the mean AU centres of its training store (the faces
are aligned, so the centres move little); ``RTATLDeploy.forward`` then applies the test-time
centre crop (RTATL §4.2) exactly as ``experiment.predict_rows`` does.

    export_deployable(net, data, "runs/rtatl/deploy.pt", dataset="synthau-bp4d")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from aukit.deploy import DeploySpec, export
from aukit.config import from_dict
from aukit.models.input_norm import input_norm
from aukit.registry import register_model

from .config import RTATLModelConfig, crop_side
from .model import RTATLBackbone
from .step import predict


class RTATLDeploy(nn.Module):
    """Aligned faces (B, 3, S, S) at the store side S -> AU probabilities (B, N)."""

    def __init__(self, model: dict, store_size: int = 200):
        super().__init__()
        mc = from_dict(RTATLModelConfig, model, where="rtatl_deploy model")
        self.backbone = RTATLBackbone(mc)                        # a GCN's graph is a buffer: the checkpoint restores it
        self.store_size = store_size
        self.register_buffer("centres", torch.zeros(1, len(mc.aus), 2, 2))  # (1, N, 2 RoIs, xy) store pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.centres.expand(x.shape[0], -1, -1, -1)
        return predict(self.backbone, x, c, crop=crop_side(self.store_size), input_size=self.backbone.cfg.input_size)


@register_model
def rtatl_deploy(model: dict | None = None, store_size: int = 200) -> RTATLDeploy:
    """The deployable RTATL network (``aukit predict``): the backbone with its training store's mean AU centres."""
    return RTATLDeploy(model or {}, store_size)


def export_deployable(net: nn.Module, data, path: str | Path, dataset: str, config=None, *,
                      centres=None, store_size: int | None = None) -> Path:
    """Write the backbone of a trained :class:`RTATLNet` (or a bare backbone) with the mean training
    AU centres of ``data`` (an :class:`RTATLData`); ``config``: the run's resolved config, kept in the checkpoint.
    Outside the experiment code: ``data=None`` with ``centres`` (N AUs, 2, 2) in aligned-store pixels (e.g.
    ``np.nanmean(store.au_centres(aus)[train_rows], 0)``) and ``store_size`` (the store's side, 200)."""
    if data is not None:
        centres, store_size = np.nanmean(data.centres[data.train_rows], axis=0), data.store.size
    elif centres is None or store_size is None:
        raise ValueError("export_deployable: give data (an RTATLData), or centres (N, 2, 2) and store_size")
    backbone = getattr(net, "backbone", net)
    mc = dataclasses.asdict(backbone.cfg)
    norm = input_norm(mc["weights"])                            # the inputs as training normalised them
    mc["aus"], mc["weights"] = list(mc["aus"]), None            # the trained weights replace any ImageNet file
    kwargs = {"model": mc, "store_size": int(store_size)}
    dep = RTATLDeploy(**kwargs)
    dep.backbone.load_state_dict(backbone.state_dict())
    centres = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
    if centres.shape != dep.centres.shape[1:]:
        raise ValueError(f"centres must be ({len(mc['aus'])} AUs, 2, 2), got {tuple(centres.shape)}")
    dep.centres.copy_(centres[None])
    spec = DeploySpec(model="rtatl_deploy", policy="rtatl", size=int(store_size),
                      aus=[f"AU{int(a):02d}" for a in mc["aus"]], output="probs", kwargs=kwargs,
                      mean=norm.mean, std=norm.std, dataset=dataset, method="rtatl")
    return export(path, dep, spec, config=config)
