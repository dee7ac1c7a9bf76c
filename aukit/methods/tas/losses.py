"""TAS losses (Eqs. 1-4), one ``nn.Module`` each; Eq. 5 weighs them in ``step.py``.

Conventions: intensities are in [0, 1] (label / 5); an unlabelled entry is NaN. The
paper writes Eqs. 1-3 as sums over segments; by default we average over segments (and over the
elements Eq. 1 and Eq. 3 compare) so that the weights do not depend on the batch size.
``reduction="sum"`` takes Eqs. 1-3 as printed (``TASLossConfig.reduction``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.runtime import full_precision


REDUCTIONS = ("mean", "sum")


def _check(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


class RegressionLoss(nn.Module):
    """Eq. 1, L_reg: squared error on the labelled entries only.

    pred (..., C) and target (..., C) of the same shape, target NaN where unlabelled.
    In the keyframe setting only target[i, 0, c_i] and target[i, T-1, c_i] are labelled;
    the same module serves the other settings of Table 4 (S1: every frame and AU, S3:
    random frames). Returns the mean over labelled entries (0 when none is labelled), or with
    ``reduction="sum"`` their sum (Eq. 1 as printed).
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _check(reduction)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        mask = ~torch.isnan(target)
        err = torch.where(mask, pred.float() - torch.nan_to_num(target.float()), torch.zeros((), device=pred.device))
        if self.reduction == "sum":
            return err.pow(2).sum()
        return err.pow(2).sum() / mask.sum().clamp_min(1)                     # no host sync (masked mean)


class RankLoss(nn.Module):
    """Eq. 2, L_rank: the distance of each frame's AU feature from the first frame's must grow.

    feats (N, T, d): the features f_c^t of the segment's own AU c. With
    Δf^t = ||f^t - f^1||_2, the loss is mean_i sum_{t=1}^{T-1} max(0, Δf^t - Δf^{t+1} + margin),
    i.e. the hinge on the first-order differences A Δf (a_tt = 1, a_t,t+1 = -1); with
    ``reduction="sum"`` the sum over segments (Eq. 2 as printed).
    """

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__()
        if margin < 0:
            raise ValueError(f"rank margin must be >= 0, got {margin}")
        self.margin, self.reduction = margin, _check(reduction)

    def forward(self, feats: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """``weight`` (N,) in {0, 1} averages over the segments it keeps (0 when it keeps none)."""
        if feats.ndim != 3 or feats.shape[1] < 2:
            raise ValueError(f"feats must be (N, T>=2, d), got {tuple(feats.shape)}")
        f = feats.float()
        delta = (f - f[:, :1]).pow(2).sum(-1).clamp_min(1e-12).sqrt()  # (N, T); clamp keeps d/dx finite at t = 1
        delta = torch.cat([torch.zeros_like(delta[:, :1]), delta[:, 1:]], dim=1)  # Δf^1 is exactly 0
        per_segment = F.relu(delta[:, :-1] - delta[:, 1:] + self.margin).sum(1)   # (N,)
        w = torch.ones_like(per_segment) if weight is None else weight.to(per_segment.dtype)
        if self.reduction == "sum":
            return (per_segment * w).sum()
        return (per_segment * w).sum() / w.sum().clamp_min(1)


def mix_segments(images: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """M_lambda(I^i, I^j) inside each segment: images (N, T, ...), lam (N,), perm (N, T) -> (N, T, ...).

    Frame t of segment n is mixed with frame perm[n, t] of the same segment.
    """
    partner = torch.gather(images, 1, perm.view(*perm.shape, *([1] * (images.ndim - 2))).expand_as(images))
    lam = lam.view(-1, *([1] * (images.ndim - 1))).to(images.dtype)
    return lam * images + (1 - lam) * partner


class SpeedLoss(nn.Module):
    """Eq. 3, L_spd: on a mixed image the model regresses to the mix of its own predictions.

    pred_mixed (N, T, C) = f(M_lam(I^t, I^perm(t))); pred (N, T, C) = f(I^t), detached here
    (the targets carry no gradient); lam (N,) ~ Beta(alpha, alpha); perm (N, T) a
    shuffle of the frame indexes of each segment (T pairs per segment). Returns the mean
    squared error over the N*T*C entries, or with ``reduction="sum"`` the sum (Eq. 3 as printed:
    over segments and pairs, the squared L2 norm over the C AUs).
    """

    def __init__(self, alpha: float = 0.5, reduction: str = "mean"):
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"mixup alpha must be > 0, got {alpha}")
        self.alpha, self.reduction = alpha, _check(reduction)

    def sample(self, n: int, t: int, *, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Draw lam (n,) ~ Beta(alpha, alpha) and perm (n, t) (an independent shuffle per segment).
        choice: one lam per segment; Eq. 3 writes a single lam ~ Beta(alpha, alpha)."""
        # Drawn where ``generator`` lives (so a seeded CPU generator reproduces), else on ``device`` itself:
        # the GPU step then copies nothing from the host.
        where = generator.device if generator is not None else torch.device(device)
        a = torch.full((n,), float(self.alpha), device=where)
        g1, g2 = (torch._standard_gamma(a, generator=generator) for _ in range(2))
        lam = g1 / (g1 + g2).clamp_min(1e-12)  # Beta(a, a) as a ratio of Gammas
        perm = torch.argsort(torch.rand(n, t, generator=generator, device=where), dim=1)
        return lam.to(device), perm.to(device)

    def forward(self, pred_mixed: torch.Tensor, pred: torch.Tensor, lam: torch.Tensor,
                perm: torch.Tensor) -> torch.Tensor:
        if pred_mixed.shape != pred.shape or pred.ndim != 3:
            raise ValueError(f"pred_mixed {tuple(pred_mixed.shape)} and pred {tuple(pred.shape)} must both be (N, T, C)")
        target = mix_segments(pred.detach().float(), lam.float(), perm)
        sq = (pred_mixed.float() - target).pow(2)
        return sq.sum() if self.reduction == "sum" else sq.mean()


class SubjectLoss(nn.Module):
    """Eq. 4, L_sub: AU features with the same intensity label but from different groups align.

    feats (M, C, d) L2-normalised AU features of labelled frames; levels (M, C) integer
    intensity 0..5, -1 where unlabelled; groups (M,) subject (or segment) ids. For each AU
    c, over all pairs (i, j), i < j, with levels[i, c] == levels[j, c] >= 0 and
    groups[i] != groups[j]: mean of 1 - f_ic . f_jc. The result averages over the AUs
    that have at least one such pair (the paper's 1/C sum over AUs; an AU with no pair
    in the batch has no expectation to average). 0 when no AU has a pair.
    """

    def forward(self, feats: torch.Tensor, levels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        if feats.ndim != 3 or levels.shape != feats.shape[:2] or groups.shape != feats.shape[:1]:
            raise ValueError(f"expected feats (M, C, d), levels (M, C), groups (M,); got {tuple(feats.shape)}, "
                             f"{tuple(levels.shape)}, {tuple(groups.shape)}")
        f = F.normalize(feats.float(), dim=-1)
        with full_precision(f):                                                      # 1 - cos needs fp32 near 1
            sim = torch.einsum("icd,jcd->cij", f, f)                                 # (C, M, M) cosine
        m = feats.shape[0]
        same = (levels.T.unsqueeze(2) == levels.T.unsqueeze(1)) & (levels.T.unsqueeze(2) >= 0)  # (C, M, M)
        other = (groups.view(1, m, 1) != groups.view(1, 1, m))
        upper = torch.ones(m, m, dtype=torch.bool, device=feats.device).triu(1).unsqueeze(0)
        pairs = same & other & upper
        count = pairs.sum(dim=(1, 2))                                                # (C,)
        per_au = ((1 - sim) * pairs).sum(dim=(1, 2)) / count.clamp_min(1)
        has = (count > 0).to(per_au.dtype)                                           # no host sync: masked mean
        return (per_au * has).sum() / has.sum().clamp_min(1)


def intensity_levels(target: torch.Tensor, scale: float = 5.0) -> torch.Tensor:
    """[0, 1] labels (NaN = unlabelled) -> integer levels 0..5, -1 where unlabelled."""
    lv = torch.round(torch.nan_to_num(target.float(), nan=-1.0) * scale).long()
    return torch.where(torch.isnan(target), torch.full_like(lv, -1), lv)
