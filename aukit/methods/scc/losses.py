"""Losses of the SCC-Heatmap method: the heatmap MSE of Eq. 2."""
from __future__ import annotations

import torch
import torch.nn as nn

_REDUCTIONS = ("mean", "sum")


class HeatmapMSELoss(nn.Module):
    """Eq. 2: L = sum_i sum_x || h_i(x) - g_i(x) ||^2 over the N maps of each image.

    pred, target: (B, N, R, R); valid: optional bool (B, N), False for maps whose AU has
    no label in this frame (those maps are left out, never trained towards zero).
    ``reduction="sum"`` is Eq. 2 summed over the batch; ``"mean"`` (default, the TF
    code's ``mean_squared_error``) divides by the number of valid pixels, B_valid * R * R.
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
        if valid is None:
            valid = torch.ones(per_map.shape, dtype=torch.bool, device=pred.device)
        elif valid.shape != per_map.shape:
            raise ValueError(f"valid mask {tuple(valid.shape)} must be (B, N) = {tuple(per_map.shape)}")
        total = torch.where(valid, per_map, torch.zeros_like(per_map)).sum()
        if self.reduction == "sum":
            return total
        n_pix = valid.sum() * sq.shape[-1] * sq.shape[-2]
        return total / n_pix.clamp_min(1)
