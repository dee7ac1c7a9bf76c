"""SCC at deployment: the heatmap network plus the decoding of Eq. 1 (the maximum of each map,
averaged over an AU's points, is its intensity) as an ``aukit predict`` model.

    export_deployable(model, aus, "runs/scc/deploy.pt", dataset="synthau-disfa", train=tc)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn as nn

from aukit.deploy import DeploySpec, export
from aukit.config import from_dict
from aukit.models.input_norm import input_norm
from aukit.registry import register_model

from .config import SCCModelConfig, SCCTrainConfig
from .heatmaps import decode
from .model import SCCHeatmapNet


class SCCDeploy(nn.Module):
    """Faces (B, 3, S, S) -> AU intensities (B, A) on 0..5 from the heatmaps' maxima."""

    def __init__(self, model: dict, points_per_au: int = 2, sigma: float = 2.0, eq1_normalised: bool = False):
        super().__init__()
        self.model = SCCHeatmapNet(from_dict(SCCModelConfig, model, where="scc_deploy model"))
        self.points_per_au, self.sigma, self.eq1 = points_per_au, sigma, eq1_normalised

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return decode(self.model(x).float(), self.points_per_au, self.sigma, self.eq1)[0]


@register_model
def scc_deploy(model: dict | None = None, points_per_au: int = 2, sigma: float = 2.0,
               eq1_normalised: bool = False) -> SCCDeploy:
    """The deployable SCC network (``aukit predict``): heatmaps decoded to AU intensities (their maxima)."""
    return SCCDeploy(model or {}, points_per_au, sigma, eq1_normalised)


def export_deployable(model: SCCHeatmapNet, aus, path: str | Path, dataset: str,
                      train: SCCTrainConfig | None = None, config=None) -> Path:
    """Write a trained :class:`SCCHeatmapNet` with its decoding settings for ``aukit predict``;
    ``config``: the run's configs (default: the model's and ``train``), kept in the checkpoint. Its inputs are
    normalised as in training (:func:`aukit.models.input_norm.input_norm` of the trunk's start)."""
    tc = train or SCCTrainConfig()
    mc = {**dataclasses.asdict(model.cfg), "backbone_weights": None}   # the trained weights replace the ImageNet file
    kwargs = {"model": mc, "points_per_au": mc["n_points"] // len(aus), "sigma": tc.sigma,
              "eq1_normalised": tc.eq1_normalised}
    dep = SCCDeploy(**kwargs)
    dep.model.load_state_dict(model.state_dict())
    norm = input_norm(model.cfg.backbone_weights)
    spec = DeploySpec(model="scc_deploy", policy="scc", size=mc["input_size"], aus=list(aus), output="intensity",
                      scale=1.0, kwargs=kwargs, mean=norm.mean, std=norm.std, dataset=dataset, method="scc")
    if config is None:
        config = {"model": dataclasses.asdict(model.cfg), "train": dataclasses.asdict(tc)}
    return export(path, dep, spec, config=config)
