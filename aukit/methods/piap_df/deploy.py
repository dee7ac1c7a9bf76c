"""PIAP-DF at deployment: the student's AU encoder alone (PI decoder, Encoder P and the DF teacher
removed, PIAP-DF §3.4) as an ``aukit predict`` model.

    export_deployable(final.student.export(), net_cfg, "runs/piap_df/deploy.pt", dataset="synthau-bp4d")
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch.nn as nn

from aukit.deploy import DeploySpec, export
from aukit.models.input_norm import input_norm

from .config import NetConfig


def export_deployable(encoder: nn.Module, net: NetConfig, path: str | Path, dataset: str, config=None) -> Path:
    """Write an :class:`AUEncoder` (registry ``piap_au_encoder``; it returns a dict whose ``logits``
    ``aukit predict`` reads) for ``aukit predict``; ``config``: the run's settings, kept in the checkpoint.
    Its inputs are normalised as in training (:func:`aukit.models.input_norm.input_norm` of the trunk's start)."""
    kw = {**dataclasses.asdict(net), "trunk_weights": None}       # the trained weights replace the ImageNet file
    kw["aus"] = list(kw["aus"])
    norm = input_norm(net.trunk_weights)
    spec = DeploySpec(model="piap_au_encoder", policy="piap", size=net.image_size,
                      aus=[f"AU{int(a):02d}" for a in net.aus], output="logits", kwargs=kw, mean=norm.mean,
                      std=norm.std, dataset=dataset, method="piap_df")
    return export(path, encoder, spec, config=config)
