"""TAS at deployment: the single-image network (no segments, no losses) as an ``aukit predict`` model.

    export_deployable(model, data.aus, "runs/tas/deploy.pt", dataset="synthau-bp4d", size=48)
    aukit predict clip.mp4 --model runs/tas/deploy.pt
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch.nn as nn

from aukit.deploy import DeploySpec, export
from aukit.models.input_norm import input_norm

from .config import INTENSITY_MAX
from .model import registry_name


def deploy_spec(model: nn.Module, aus, dataset: str, size: int | None = None) -> DeploySpec:
    """How ``aukit predict`` rebuilds and feeds a trained :class:`TASNet` (registry ``tas_resnet<depth>``,
    :func:`.model.registry_name`); ``size`` is the input side it was trained at (None: the store's 256); its
    inputs are normalised as in training (:func:`aukit.models.input_norm.input_norm` of the trunk's start)."""
    kwargs = {**dataclasses.asdict(model.cfg), "weights": None}          # the trained weights, not the ImageNet file
    norm = input_norm(model.cfg.weights)
    return DeploySpec(model=registry_name(model.cfg), policy="tas", size=int(size or 256), aus=list(aus),
                      output="intensity", scale=INTENSITY_MAX, kwargs=kwargs, mean=norm.mean, std=norm.std,
                      dataset=dataset, method="tas")


def export_deployable(model: nn.Module, aus, path: str | Path, dataset: str, size: int | None = None,
                      config=None) -> Path:
    """Write ``path`` (strict, weights-only checkpoint + spec) for ``aukit predict --model path``;
    ``config``: the :class:`TASConfig` it was trained with, kept in the checkpoint. The arguments come in
    the other methods' order (model, aus, path, dataset)."""
    return export(path, model, deploy_spec(model, aus, dataset, size), config=config)
