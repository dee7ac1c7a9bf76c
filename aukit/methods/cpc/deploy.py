"""CPC at deployment: f, the ConvGRU g and the regressor c (the predictor p removed) as an
``aukit predict`` model.

``CPCDeploy`` reads a batch as one sequence and gives frame t the causal window the notebooks
evaluate with (``eval_window`` frames at ``stride``, zero state before the batch's first
frame). Its ``context`` tells ``aukit predict`` how many earlier faces frame t reads, so that
predict cuts a video into runs of one face's consecutive frames and puts the faces before
each batch in front of it (``aukit.predict.infer``); photos are read one by one.

    export_deployable(model, aus, "runs/cpc/deploy.pt", dataset="synthau-disfa", window=15, stride=2, size=128)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from aukit.deploy import DeploySpec, export
from aukit.registry import register_model

from .config import CPCModelConfig
from .infer import predict_from_features
from .model import CPCNet


class CPCDeploy(CPCNet):
    """Faces of consecutive frames (L, 3, S, S) -> intensities (L, N) on 0..5 (same weights as CPCNet)."""

    def __init__(self, cfg: CPCModelConfig, window: int = 15, stride: int = 2):
        super().__init__(cfg)
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        self.window, self.stride = window, stride

    @property
    def context(self) -> int:
        """Frames before t in t's causal window."""
        return (self.window - 1) * self.stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:                                      # (B, T, 3, S, S) clips: CPCNet's own forward
            return super().forward(x)
        return predict_from_features(self, self.encoder(x), self.window, self.stride)


@register_model
def cpc_deploy(window: int = 15, stride: int = 2, **model) -> CPCDeploy:
    """The deployable CPC network (``aukit predict``): f, g and c over a causal window of earlier frames."""
    from aukit.config import from_dict
    return CPCDeploy(from_dict(CPCModelConfig, model, where="cpc_deploy"), window, stride)


def export_deployable(model: CPCNet, aus, path: str | Path, dataset: str, window: int = 15, stride: int = 2,
                      size: int | None = None, config=None) -> Path:
    """Write a trained :class:`CPCNet` for ``aukit predict`` (its state loads into :class:`CPCDeploy`);
    ``size`` is the face side it was trained at (the quick preset's Plan.image_size; None: the config's);
    ``config``: the stages' configs it was trained with, kept in the checkpoint."""
    kwargs = {**dataclasses.asdict(model.cfg), "window": int(window), "stride": int(stride)}
    spec = DeploySpec(model="cpc_deploy", policy="cpc", size=int(size or model.cfg.image_size), aus=list(aus), output="intensity",
                      scale=1.0, kwargs=kwargs, dataset=dataset, method="cpc")
    return export(path, model, spec, config=config)
