"""PIAP-DF losses (Tang et al., ICCV 2021): Eqs. 1, 2, 4 and their weighted sums 3, 5, 6.

Every loss takes logits (not probabilities) and applies the sigmoid inside, through
``binary_cross_entropy_with_logits``: the same value as the paper's ``log Y_hat`` form,
without its overflow at saturated pixels.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.runtime import mean_denominator, require


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: prediction {tuple(a.shape)} and target {tuple(b.shape)} differ in shape")


class PIMapLoss(nn.Module):
    """Eq. 1: per-pixel binary cross-entropy between predicted and target PI maps.

    ``L_PI = -1/(HW) sum_hw [Y log Y_hat + (1 - Y) log(1 - Y_hat)]``, averaged over the
    K maps and the batch. logits, target: (B, K, H, W); target values in [0, 1]
    (binary predefined maps or Generator 1's soft maps). Returns a scalar.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_same_shape(logits, target, "PIMapLoss")
        if logits.dim() != 4:
            raise ValueError(f"PIMapLoss expects (B, K, H, W) maps, got {tuple(logits.shape)}")
        return F.binary_cross_entropy_with_logits(logits.float(), target.float())


class AULoss(nn.Module):
    """Eq. 2: multi-label binary cross-entropy over the C AUs.

    ``L_AU = -1/C sum_c [Y_c log Y_hat_c + (1 - Y_c) log(1 - Y_hat_c)]``, averaged over
    the batch. logits, target: (B, C); target in {0, 1} (or soft pseudo-labels in
    [0, 1]); NaN marks an unlabelled AU (BP4D code 9) and is left out of the mean.
    ``pos_weight`` (C,) optionally up-weights positives (not in the paper; off by default). Under DDP the
    labelled entries are counted over the global batch (:func:`aukit.runtime.mean_denominator`): a rank's own
    count weighed a rank with more NaN labels more.
    """

    def __init__(self, pos_weight: torch.Tensor | None = None):
        super().__init__()
        if pos_weight is not None:
            pos_weight = torch.as_tensor(pos_weight, dtype=torch.float32)
            if pos_weight.dim() != 1 or not torch.all(pos_weight > 0):
                raise ValueError("pos_weight must be a 1-d tensor of positive weights, one per AU")
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_same_shape(logits, target, "AULoss")
        if logits.dim() != 2:
            raise ValueError(f"AULoss expects (B, C) logits, got {tuple(logits.shape)}")
        valid = ~torch.isnan(target)
        count = mean_denominator(valid.sum())                  # DDP: the global batch's, so a share may have none
        # load_au_data rules it out
        require(count > 0, "AULoss: every label in the batch is NaN (nothing to learn from)")
        y = torch.where(valid, target, torch.zeros_like(target)).float()
        per = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none",
                                                 pos_weight=self.pos_weight)  # (B, C)
        return (per * valid).sum() / count


class APLoss(nn.Module):
    """Eq. 4: anti person-specific loss, pushing v_AU orthogonal to v_P.

    ``L_AP = -1/N sum_n log(1 - |<v_P, v_AU>| / (||v_P|| ||v_AU||))``.
    v_au, v_p: (N, D). ``eps`` keeps ``1 - |cos|`` away from 0 (log of 0 when the two
    vectors are parallel) and the norms away from 0. Returns a scalar >= 0.
    """

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        if not 0 < eps < 0.5:
            raise ValueError(f"eps must lie in (0, 0.5), got {eps}")
        self.eps = eps

    def forward(self, v_au: torch.Tensor, v_p: torch.Tensor) -> torch.Tensor:
        _check_same_shape(v_au, v_p, "APLoss")
        if v_au.dim() != 2:
            raise ValueError(f"APLoss expects (N, D) vectors, got {tuple(v_au.shape)}")
        cos = F.cosine_similarity(v_au.float(), v_p.float(), dim=1, eps=self.eps)  # (N,)
        return -torch.log((1.0 - cos.abs()).clamp_min(self.eps)).mean()


class PIAPLoss(nn.Module):
    """Eq. 6: ``L_PIAP = alpha L_AU + beta L_PI + gamma L_AP`` with alpha + beta + gamma = 1.

    Eq. 3 (PI-3) is ``(alpha, 1 - alpha, 0)``; Eq. 5 (AP) is ``(beta, 0, 1 - beta)``;
    the baseline is ``(1, 0, 0)``. A term whose weight is 0 is neither required nor
    computed. Inputs: ``out`` = model outputs {"logits" (B, C), "pi_logits" (B, K, H, W),
    "feature" (B, D)}; ``au`` (B, C) labels or pseudo-labels; ``pi_target`` (B, K, H, W);
    ``person`` (B, D). Returns ``(total, parts)`` where parts holds the detached terms.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.0, gamma: float = 0.0,
                 pos_weight: torch.Tensor | None = None, eps: float = 1e-6):
        super().__init__()
        for name, w in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            if not 0.0 <= w <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {w}")
        if abs(alpha + beta + gamma - 1.0) > 1e-6:
            raise ValueError(f"Eq. 6 needs alpha + beta + gamma = 1, got {alpha} + {beta} + {gamma}")
        if alpha == 0.0:
            raise ValueError("alpha = 0 would train no AU classifier")
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.au = AULoss(pos_weight)
        self.pi = PIMapLoss()
        self.ap = APLoss(eps)

    @property
    def uses_pi(self) -> bool:
        return self.beta > 0

    @property
    def uses_ap(self) -> bool:
        return self.gamma > 0

    def forward(self, out: dict, au: torch.Tensor, pi_target: torch.Tensor | None = None,
                person: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        l_au = self.au(out["logits"], au)
        total = self.alpha * l_au
        parts = {"l_au": l_au.detach()}
        if self.uses_pi:
            if pi_target is None or "pi_logits" not in out:
                raise ValueError("beta > 0 needs the model's pi_logits and a pi_target")
            l_pi = self.pi(out["pi_logits"], pi_target)
            total = total + self.beta * l_pi
            parts["l_pi"] = l_pi.detach()
        if self.uses_ap:
            if person is None:
                raise ValueError("gamma > 0 needs person-specific features")
            l_ap = self.ap(out["feature"], person)
            total = total + self.gamma * l_ap
            parts["l_ap"] = l_ap.detach()
        return total, parts
