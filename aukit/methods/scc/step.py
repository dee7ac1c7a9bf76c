"""Training step and inference for ``aukit.train.fit``.

A batch is a dict from ``aukit.data.loader.BatchLoader``::

    {"image": (B, 3, S, S), "centres": (B, A, 2, 2) aligned pixels, "intensity": (B, A) 0..5 / NaN}

Targets are drawn on the device from the centres and intensities (Eq. 1) at the
resolution the model outputs (sigma in heatmap pixels, as in the TF code), so the
same step serves 64x64 and 32x32 heatmaps. When the
model takes smaller inputs than the stored faces (CPU presets), the batch is resized on
the device; centres stay in stored-face pixels and map straight to heatmap pixels.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...runtime import evaluating
from ...train import StepOutput
from .config import SCCTrainConfig
from .heatmaps import decode, flatten_points, gaussian_targets, to_heatmap_coords
from .losses import HeatmapMSELoss


def model_input(images: torch.Tensor, input_size: int | None) -> torch.Tensor:
    """Resize (B, 3, S, S) faces to the model's input side (antialiased); a no-op when equal."""
    if input_size is None or images.shape[-1] == input_size:
        return images
    return F.interpolate(images, size=(input_size, input_size), mode="bilinear", align_corners=False,
                         antialias=True)


def batch_targets(batch: dict, heatmap_size: int, cfg: SCCTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Target heatmaps (B, N, R, R) and the valid-map mask (B, N) for one batch."""
    image_size = batch["image"].shape[-1]
    points = to_heatmap_coords(batch["centres"].float(), image_size, heatmap_size)
    points, peaks = flatten_points(points, batch["intensity"].float())
    valid = torch.isfinite(peaks) & torch.isfinite(points).all(-1)
    points = torch.nan_to_num(points, nan=-1e4)   # a missing centre draws nothing (its map is masked anyway)
    target = gaussian_targets(points, peaks, heatmap_size, cfg.sigma, cfg.eq1_normalised)
    return target, valid


def make_step(cfg: SCCTrainConfig | None = None,
              input_size: int | None = None) -> Callable[[nn.Module, dict], StepOutput]:
    """Return ``step_fn(model, batch) -> StepOutput`` minimising the heatmap MSE (Eq. 2).

    ``input_size``: side the model expects (None: the batch's own size)."""
    cfg = cfg or SCCTrainConfig()
    loss_fn = HeatmapMSELoss()

    def step_fn(model: nn.Module, batch: dict) -> StepOutput:
        pred = model(model_input(batch["image"], input_size))  # (B, N, R, R)
        target, valid = batch_targets(batch, pred.shape[-1], cfg)
        loss = loss_fn(pred, target, valid)
        return StepOutput(loss=loss, logs={"mse": loss.detach()}, n_images=int(pred.shape[0]))

    return step_fn


def predict(model: nn.Module, loader: Iterable, cfg: SCCTrainConfig | None = None,
            points_per_au: int = 2, input_size: int | None = None) -> dict[str, np.ndarray]:
    """Run ``model`` over ``loader`` in training's precision (:func:`aukit.runtime.evaluating`; the
    heatmaps are decoded in fp32); return NumPy arrays keyed ``rows`` (n,), ``pred`` (n, A)
    intensities, ``label`` (n, A) and ``loc`` (n, N, 2) heatmap argmaxes."""
    cfg = cfg or SCCTrainConfig()
    out: dict[str, list] = {"rows": [], "pred": [], "label": [], "loc": []}
    with evaluating(model):
        for batch in loader:
            hm = model(model_input(batch["image"], input_size))
            intensity, loc = decode(hm, points_per_au, cfg.sigma, cfg.eq1_normalised)   # in fp32
            out["rows"].append(batch["rows"].cpu().numpy())
            out["pred"].append(intensity.cpu().numpy())
            out["label"].append(batch["intensity"].float().cpu().numpy())
            out["loc"].append(loc.cpu().numpy())
    if not out["rows"]:
        raise RuntimeError("predict(): the loader yielded no batches")
    return {k: np.concatenate(v) for k, v in out.items()}
