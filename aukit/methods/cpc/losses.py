"""CPC losses: InfoNCE over every predicted position (Eq. 1) and the sparse-label L2 loss (Eq. 2)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.runtime import full_precision, require


class InfoNCELoss(nn.Module):
    """Contrastive predictive loss of CPC Eq. 1.

    For predictions p and targets f, both (B, P, C, H, W), every prediction
    p_{t+k}^{(i,j)} of sequence b must pick its own target f_{t+k}^{(i,j)} among all
    targets f_{t+k'}^{(i',j')} of the same sequence (P*H*W classes) or, with
    ``batch_negatives`` (§3.3, the paper's setting), of every sequence in the batch
    (B*P*H*W classes: 6400 at B=20, P=5, H=W=8)::

        L = - sum_{k,i,j} log( exp(<f_{t+k}^{ij}, p_{t+k}^{ij}> / tau)
                               / sum_{k',i',j'} exp(<f_{t+k'}^{i'j'}, p_{t+k}^{ij}> / tau) )

    ``tau`` = ``temperature`` (1 in the paper). ``reduction="mean"`` averages over the
    B*P*H*W predictions instead of summing (a constant factor; keeps the lr scale-free).
    Scores are computed in fp32 even under bf16 autocast.
    """

    def __init__(self, batch_negatives: bool = True, temperature: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.batch_negatives = bool(batch_negatives)
        self.temperature = float(temperature)
        self.reduction = reduction

    def logits(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Pairwise scores (G, M, M): row m = one prediction, column n = one target, positive on the diagonal.

        G = 1, M = B*P*H*W with batch negatives; G = B, M = P*H*W without.
        """
        if pred.shape != target.shape or pred.dim() != 5:
            raise ValueError(f"pred and target must both be (B, P, C, H, W), got {tuple(pred.shape)} "
                             f"and {tuple(target.shape)}")
        b, p, c, h, w = pred.shape
        q = pred.float().permute(0, 1, 3, 4, 2).reshape(b, p * h * w, c)     # (B, P*H*W, C)
        k = target.float().permute(0, 1, 3, 4, 2).reshape(b, p * h * w, c)
        if self.batch_negatives:
            q, k = q.reshape(1, -1, c), k.reshape(1, -1, c)                   # (1, B*P*H*W, C)
        with full_precision(q):
            return torch.bmm(q, k.transpose(1, 2)) / self.temperature

    def from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with the diagonal as the class of each row."""
        g, m, _ = logits.shape
        labels = torch.arange(m, device=logits.device).repeat(g)
        return F.cross_entropy(logits.reshape(g * m, m), labels, reduction=self.reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.from_logits(self.logits(pred, target))


class SparseLabelLoss(nn.Module):
    """Supervised loss of CPC Eq. 2 on the labelled frames only: ||y_t - c(g(f(x_t)))||^2.

    pred, target: (B, N) — the head's output at each window's labelled frame t and its
    label. The squared norm sums over the N AUs (``au_reduction="sum"``, Eq. 2) or
    averages over them (``"mean"``); the result is the mean over the B windows. NaN labels
    (an AU not coded on that frame) are left out of the norm; a window with no coded AU
    is an error, as is a non-finite prediction.
    """

    def __init__(self, au_reduction: str = "sum"):
        super().__init__()
        if au_reduction not in ("sum", "mean"):
            raise ValueError(f"au_reduction must be 'sum' or 'mean', got {au_reduction!r}")
        self.au_reduction = au_reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.dim() != 2:
            raise ValueError(f"pred and target must both be (B, N), got {tuple(pred.shape)} and {tuple(target.shape)}")
        target = target.to(pred.dtype)
        valid = ~torch.isnan(target)                                         # (B, N)
        n_valid = valid.sum(-1)
        require((n_valid > 0).all(), "a labelled frame in the batch has no coded AU")
        sq = torch.where(valid, pred - torch.nan_to_num(target), torch.zeros_like(pred)).pow(2)
        per_window = sq.sum(-1)
        if self.au_reduction == "mean":
            per_window = per_window / n_valid
        return per_window.mean()
