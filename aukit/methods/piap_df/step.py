"""Step functions for :func:`aukit.train.fit`: PI stages 1-3, AP, PIAP and Encoder P.

Batches are dicts from :class:`aukit.data.loader.BatchLoader`: ``image`` (B, 3, S, S)
normalised RGB plus the targets the experiment attached: ``au`` (B, C) 0/1/NaN,
``pi`` (B, K, S, S) predefined PI maps, ``person`` (B, D) frozen person features,
``identity`` (B,) long, ``landmarks01`` (B, 68, 2) landmarks / image size.
The DF teacher/student step lives in :mod:`.df`.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.train import StepOutput

from .losses import AULoss, PIAPLoss, PIMapLoss


def frozen(module: nn.Module) -> nn.Module:
    """Eval mode, no gradients: PI Generator 1 in stage 3 and Encoder P in AP (§3.1, §3.2)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class PITargets:
    """Ground-truth PI maps M for stage 3 / PIAP: sigmoid(Generator 1(x)), no gradient.

    ``binary=True`` thresholds them at 0.5 (the paper's "binary view"); the default keeps
    Generator 1's soft maps (our choice: §3.1 does not say which view supervises stage 3).
    """

    def __init__(self, generator: nn.Module, binary: bool = False):
        self.generator = frozen(generator)
        self.binary = binary

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.sigmoid(self.generator(x).float())  # (B, K, S, S)
        return (m > 0.5).float() if self.binary else m


def generator_step(model: nn.Module, batch: dict) -> StepOutput:
    """PI stage 1, Eq. 1: DW-UNet logits vs the predefined PI maps ``batch["pi"]``."""
    x = batch["image"]
    loss = PIMapLoss()(model(x), batch["pi"])
    return StepOutput(loss, {"l_pi": loss.detach()}, n_images=x.shape[0])


def pi2_step(model: nn.Module, batch: dict, au_loss: AULoss | None = None) -> StepOutput:
    """PI stage 2, Eq. 2: L_AU through the generator-masked greyscale input (generator trains too).
    ``au_loss``: the L_AU module (None: plain BCE, ``AULoss()``)."""
    x = batch["image"]
    loss = (AULoss() if au_loss is None else au_loss)(model(x)["logits"], batch["au"])
    return StepOutput(loss, {"l_au": loss.detach()}, n_images=x.shape[0])


class PIAPStep:
    """Baseline / PI-3 / AP / PIAP step: ``loss`` is a :class:`PIAPLoss` whose weights pick
    the variant (Eq. 2: (1,0,0); Eq. 3: (a,1-a,0); Eq. 5: (b,0,1-b); Eq. 6: (a,b,g)).

    ``pi_targets`` gives M from the frozen Generator 1 (needed when beta > 0); person
    features v_P are read from ``batch["person"]`` (needed when gamma > 0).
    """

    def __init__(self, loss: PIAPLoss, pi_targets: PITargets | None = None):
        if loss.uses_pi and pi_targets is None:
            raise ValueError("beta > 0 (L_PI) needs pi_targets from PI Generator 1")
        self.loss = loss
        self.pi_targets = pi_targets

    def targets(self, batch: dict) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(M, P) for a batch: PI maps from the frozen generator, person features from the batch."""
        m = self.pi_targets(batch["image"]) if self.loss.uses_pi else None
        if self.loss.uses_ap and "person" not in batch:
            raise KeyError("gamma > 0 (L_AP) needs batch['person']: attach person features as a loader target")
        p = batch["person"] if self.loss.uses_ap else None
        return m, p

    def __call__(self, model: nn.Module, batch: dict) -> StepOutput:
        x = batch["image"]
        m, p = self.targets(batch)
        out = model(x, pi=self.loss.uses_pi)
        total, parts = self.loss(out, batch["au"], m, p)
        return StepOutput(total, parts, n_images=x.shape[0])


def person_step(model: nn.Module, batch: dict) -> StepOutput:
    """Encoder P (§3.2): softmax cross-entropy over training identities (FR loss is our choice)."""
    x = batch["image"]
    logits = model(x)["logits"]
    loss = F.cross_entropy(logits.float(), batch["identity"].long())
    acc = (logits.argmax(1) == batch["identity"]).float().mean()
    return StepOutput(loss, {"acc": acc.detach()}, n_images=x.shape[0])


def landmark_step(model: nn.Module, batch: dict) -> StepOutput:
    """Toy case (§3.2): regress the 68 landmarks ``batch["landmarks01"]`` (B, 68, 2), given as
    fractions of the image size, with MSE."""
    x = batch["image"]
    target = batch["landmarks01"].float().flatten(1)  # (B, 136) in [0, 1]
    loss = F.mse_loss(model(x)["logits"].float(), target)
    return StepOutput(loss, {}, n_images=x.shape[0])
