"""Losses of the SCC-Heatmap method: the heatmap MSE of Eq. 2."""
from __future__ import annotations

import torch
import torch.nn as nn

from aukit.runtime import dist_rank_world, mean_denominator

_REDUCTIONS = ("mean", "sum")


def _mask(valid, per_map: torch.Tensor) -> torch.Tensor:
    """The (B, N) bool mask of valid maps; a 0/1 mask of another dtype is read as one (torch.where
    refused it with 'where expected condition to be a boolean tensor')."""
    if valid is None:
        return torch.ones(per_map.shape, dtype=torch.bool, device=per_map.device)
    valid = torch.as_tensor(valid, device=per_map.device)
    if valid.shape != per_map.shape:
        raise ValueError(f"valid mask {tuple(valid.shape)} must be (B, N) = {tuple(per_map.shape)}")
    if valid.dtype == torch.bool:
        return valid
    if not bool(((valid == 0) | (valid == 1)).all()):
        raise ValueError(f"valid must be a bool or 0/1 mask, got {valid.dtype} values {valid.unique().tolist()[:6]}")
    return valid != 0


class HeatmapMSELoss(nn.Module):
    """Eq. 2: L = sum_i sum_x || h_i(x) - g_i(x) ||^2 over the N maps of each image.

    pred, target: (B, N, R, R); valid: optional (B, N) mask, bool or 0/1 of any dtype, False (0)
    for maps whose AU has no label in this frame (those maps are left out, never trained towards zero).
    ``reduction="sum"`` is Eq. 2 summed over the batch; ``"mean"`` (default, the TF code's
    ``mean_squared_error``) divides by the number of valid pixels: the valid maps of the whole
    batch (``valid.sum()``, not the images that have one) times R * R. Under DDP (W ranks) the count is the
    global batch's (:func:`aukit.runtime.mean_denominator`: a rank's own count made DDP weigh the maps of a
    rank with fewer labelled AUs more) and a sum is W times the rank's (DDP averages the ranks' sums).
    Returns a scalar; 0 when no map is valid.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if pred.shape != target.shape or pred.dim() != 4:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, N, R, R)")
        sq = (pred.float() - target.float()) ** 2                  # (B, N, R, R)
        per_map = sq.flatten(2).sum(-1)                            # (B, N)
        valid = _mask(valid, per_map)
        total = torch.where(valid, per_map, torch.zeros_like(per_map)).sum()
        if self.reduction == "sum":
            _, world = dist_rank_world()
            return total * world if world > 1 and torch.is_grad_enabled() else total
        return total / mean_denominator(valid.sum() * sq.shape[-1] * sq.shape[-2], floor=1)
