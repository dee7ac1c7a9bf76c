"""RTATL losses (Yan et al., ACM MM 2021), one module each. Logits in, scalars out.

All GAN terms are written with logits (log sigmoid) for numerical safety:
log D(p) = logsigmoid(d), log(1 - D(q)) = logsigmoid(-d).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.runtime import full_precision, mean_denominator


class SupervisedBCELoss(nn.Module):
    """L_sup (Eq. 9, §3.5): BCE on labelled AUs whose regions are intact.

    logits (B, N); labels (B, N) in {0, 1} or NaN (unknown/unlabelled); intact (B, N) bool
    or None. Mean over the selected entries; 0 when none is selected. Under DDP the count is the global
    batch's (:func:`aukit.runtime.mean_denominator`): a rank's own weighed a rank with fewer labels more.
    """

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, intact: torch.Tensor | None = None) -> torch.Tensor:
        if logits.shape != labels.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} differ")
        keep = ~torch.isnan(labels)
        if intact is not None:
            keep = keep & intact
        # A masked mean, no host sync: dropped entries enter the BCE as (0, 0), so neither a NaN label nor a
        # non-finite logit there reaches the value or the gradient; 0 (with a graph) when none is kept.
        z = torch.where(keep, logits.float(), 0.0)
        y = torch.where(keep, labels.float(), 0.0)
        w = keep.float()
        per = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        return (per * w).sum() / mean_denominator(w.sum(), floor=1.0)


class DiscriminatorLoss(nn.Module):
    """L_D = -L_adv (Eq. 2, 7) = -(E[log D(p)] + E[log(1 - D(G(x)))]).

    real_logits (K,) = D(p), fake_logits (K,) = D(G(x)) with G(x) detached by the caller.
    """

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return -(F.logsigmoid(real_logits.float()).mean() + F.logsigmoid(-fake_logits.float()).mean())


class GeneratorLoss(nn.Module):
    """L_G = lambda1 * L_adv^g + (1 - lambda1) * L_rec + lambda2 * L_c^g (Eq. 3, 4, 6, 7).

    L_adv^g = -E[log D(G(x))]; L_rec = E|p - G(x)| (mean over pixels and channels: choice,
    the paper's ||.||_1 without a stated normalisation); L_c^g = E[CE(C(G(x)), y_hat)], binary CE
    on the cropped AU's logit. Inputs: d_fake (K,) = D(G(x)), fake and real (K, 3, s, s),
    c_fake (K,) = C(G(x)) logit of the cropped AU, target (K,) in {0, 1}. Returns
    (total, parts dict of detached terms).
    """

    def __init__(self, lambda1: float = 0.1, lambda2: float = 0.1):
        super().__init__()
        if not 0.0 <= lambda1 <= 1.0:
            raise ValueError(f"lambda1 must lie in [0, 1], got {lambda1}")
        if lambda2 < 0:
            raise ValueError(f"lambda2 must be >= 0, got {lambda2}")
        self.lambda1, self.lambda2 = lambda1, lambda2

    def forward(self, d_fake: torch.Tensor, fake: torch.Tensor, real: torch.Tensor, c_fake: torch.Tensor,
                target: torch.Tensor):
        adv = -F.logsigmoid(d_fake.float()).mean()
        rec = (real.float() - fake.float()).abs().mean()
        sem = F.binary_cross_entropy_with_logits(c_fake.float(), target.float())
        total = self.lambda1 * adv + (1.0 - self.lambda1) * rec + self.lambda2 * sem
        return total, {"adv_g": adv.detach(), "rec": rec.detach(), "sem_g": sem.detach()}


class PatchClassifierLoss(nn.Module):
    """L_C (Eq. 5) = E[CE(C(p), y_hat)]: binary CE of C's cropped-AU logit on real patches.

    c_real (K,) logits, target (K,) in {0, 1} (label, or the backbone's pseudo label).
    """

    def forward(self, c_real: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(c_real.float(), target.float())


class FlowLoss(nn.Module):
    """L_F (Eq. 8) over the images with a flow target: mean absolute error per flow element.

    choice: a per-element mean; Eq. 8's E||f_g - f_p||_1 sums over each (2, h, w) map, 2hw times ours.

    pred, target (B, 2, h, w); valid (B,) bool or None. 0 when no image has a target. Under DDP the
    images with a target are counted over the global batch (:func:`aukit.runtime.mean_denominator`).
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"predicted flow {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        err = (pred.float() - target.float()).abs()
        if valid is None:
            return err.mean()
        w = valid.to(err.dtype)                     # a weighted mean: no host sync, one shape every step
        return (err.mean(dim=(1, 2, 3)) * w).sum() / mean_denominator(w.sum(), floor=1.0)


class PretextCELoss(nn.Module):
    """Cross-entropy of a pretext classifier (rotation: 4 classes; jigsaw: P permutations).

    logits (B, K), target (B,) long.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), target)


class ExemplarLoss(nn.Module):
    """Exemplar baseline as instance discrimination: InfoNCE between two views (choice: the
    paper gives no detail; Dosovitskiy's surrogate classes become one class per image).

    z1, z2 (B, D) embeddings of two augmentations of the same B images:
    L = mean_i -log softmax_j(cos(z1_i, z2_j) / tau)[i], symmetrised.
    """

    def __init__(self, tau: float = 0.1):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = tau

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        with full_precision(a):                                  # cosines near 1 need more than bf16
            sim = a @ b.t() / self.tau
        target = torch.arange(a.shape[0], device=a.device)
        return 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target))
