"""TAS training step for :func:`aukit.train.fit` (Eq. 5) and single-image inference.

A batch is a dict (the experiment module builds it from the data layer):
  image   (B, T, 3, S, S) segments of T frames, or (B, 3, S, S) single frames (T = 1)
  target  (B, T, C) or (B, C) intensities in [0, 1], NaN where unlabelled
  seg_au  (B,) long, the AU index c whose trend the segment follows (-1: none); needed when lambda_rank > 0
  subject (B,) long subject id of each segment (Eq. 4 pairs different ones); needed when sub_pairs='subject'
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn
from torch.profiler import record_function

from aukit.runtime import evaluating, image_layout
from aukit.train import StepOutput

from .config import TASLossConfig
from .losses import RankLoss, RegressionLoss, SpeedLoss, SubjectLoss, intensity_levels, mix_segments


def _as_segments(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    image, target = batch["image"], batch["target"]
    if image.ndim == 4:
        image, target = image.unsqueeze(1), target.unsqueeze(1)
    if image.ndim != 5 or target.ndim != 3 or target.shape[:2] != image.shape[:2]:
        raise ValueError(f"batch image (B, T, 3, S, S) / target (B, T, C) expected, got {tuple(image.shape)}, "
                         f"{tuple(target.shape)}")
    return image, target


def _frames(image: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, S, S) -> (B*T, 3, S, S) in the device's layout."""
    return _layout(image.flatten(0, 1))


def _layout(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=image_layout(x.device))


def _groups(batch: dict, b: int, t: int, device, sub_pairs: str) -> torch.Tensor:
    """(B*T,) pair groups of Eq. 4: each frame's subject, or its segment (``sub_pairs='segment'``)."""
    subject = batch.get("subject")
    if sub_pairs == "subject" and subject is None:              # it fell back to segments without a word
        raise ValueError("sub_pairs 'subject': L_sub (Eq. 4) pairs frames of different subjects and needs the "
                         "batch's subject ids; give them, or set sub_pairs='segment'")
    if sub_pairs == "segment":
        subject = torch.arange(b, device=device)
    return subject.view(b, 1).expand(b, t).reshape(-1)


class TASStep:
    """Step function of Eq. 5: L_reg + λ_rank L_rank + λ_spd L_spd + λ_sub L_sub.

    A loss whose λ is 0 is not computed (A1..A5 of Table 3). ``__call__(model, batch)``
    returns a :class:`StepOutput` with the weighted total and each term in ``logs``.
    """

    def __init__(self, cfg: TASLossConfig | None = None):
        self.cfg = cfg = cfg or TASLossConfig()
        for name in ("lambda_rank", "lambda_spd", "lambda_sub"):
            if getattr(cfg, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
        if cfg.sub_pairs not in ("subject", "segment"):
            raise ValueError(f"sub_pairs must be 'subject' or 'segment', got {cfg.sub_pairs!r}")
        self.reg, self.rank = RegressionLoss(cfg.reduction), RankLoss(cfg.rank_margin, cfg.reduction)
        self.spd, self.sub = SpeedLoss(cfg.alpha, cfg.reduction), SubjectLoss()

    def __call__(self, model: nn.Module, batch: dict) -> StepOutput:
        cfg = self.cfg
        image, target = _as_segments(batch)
        b, t = image.shape[:2]
        if cfg.lambda_rank == 0 and cfg.lambda_spd == 0 and t > 1:
            return self._labelled_only(model, image, target, batch)
        pred, feats = model(_frames(image), return_features=True)
        c = pred.shape[-1]
        pred, feats = pred.view(b, t, c), feats.view(b, t, c, -1)             # (B, T, C), (B, T, C, d)
        if target.shape[-1] != c:
            raise ValueError(f"target has {target.shape[-1]} AUs but the model predicts {c}")
        l_reg = self.reg(pred, target)
        loss, logs, n_images = l_reg, {"reg": l_reg.detach()}, b * t

        seg_au = batch.get("seg_au")
        if cfg.lambda_rank > 0 and t >= 2 and seg_au is None:      # L_rank would drop out without a word
            raise ValueError(f"lambda_rank {cfg.lambda_rank}: L_rank (Eq. 2) needs the batch's seg_au, the AU each "
                             "segment's trend follows (-1: none); give it, or set lambda_rank=0")
        if cfg.lambda_rank > 0 and t >= 2:
            keep = seg_au >= 0                                                 # -1: a segment without an AU trend
            own = feats.gather(
                2, seg_au.clamp_min(0).view(-1, 1, 1, 1).expand(-1, t, 1, feats.shape[-1])).squeeze(2)  # (B, T, d)
            l_rank = self.rank(own, weight=keep)                               # mean over kept segments, no host sync
            loss = loss + cfg.lambda_rank * l_rank
            logs["rank"] = l_rank.detach()

        if cfg.lambda_spd > 0 and t >= 2:
            lam, perm = self.spd.sample(b, t, device=image.device)
            with record_function("tas.speed_mixup"):                           # L_spd's second forward
                pred_mixed = model(_frames(mix_segments(image, lam, perm))).view(b, t, c)
            l_spd = self.spd(pred_mixed, pred, lam, perm)
            loss = loss + cfg.lambda_spd * l_spd
            logs["spd"] = l_spd.detach()
            n_images += b * t

        if cfg.lambda_sub > 0:
            groups = _groups(batch, b, t, image.device, cfg.sub_pairs)         # (B*T,)
            levels = intensity_levels(target).view(b * t, c)                   # (B*T, C), -1 unlabelled: no pair
            l_sub = self.sub(feats.view(b * t, c, -1), levels, groups)
            loss = loss + cfg.lambda_sub * l_sub
            logs["sub"] = l_sub.detach()
        return StepOutput(loss, logs, n_images=n_images)

    def _labelled_only(self, model: nn.Module, image: torch.Tensor, target: torch.Tensor, batch: dict) -> StepOutput:
        """A0, A1, A4: with L_rank and L_spd off, an unlabelled frame of a segment feeds no loss, so
        only the labelled frames are forwarded (the keyframe setting: 2 of T). The losses and their
        gradients are those of the full forward; only BatchNorm's batch statistics see fewer frames."""
        b, t, c = target.shape
        rows = (~torch.isnan(target)).any(-1).view(-1)                       # (B*T,) frames with a label
        x, y = image.flatten(0, 1)[rows], target.view(b * t, c)[rows]        # boolean indexing: one host sync
        if x.shape[0] == 0:
            raise ValueError("a TAS batch without any labelled frame: L_reg has nothing to fit")
        pred, feats = model(_layout(x), return_features=True)
        if pred.shape[-1] != c:
            raise ValueError(f"target has {c} AUs but the model predicts {pred.shape[-1]}")
        l_reg = self.reg(pred, y)
        loss, logs = l_reg, {"reg": l_reg.detach()}
        if self.cfg.lambda_sub > 0:
            groups = _groups(batch, b, t, image.device, self.cfg.sub_pairs)[rows]
            l_sub = self.sub(feats, intensity_levels(y), groups)
            loss = loss + self.cfg.lambda_sub * l_sub
            logs["sub"] = l_sub.detach()
        return StepOutput(loss, logs, n_images=int(x.shape[0]))


def predict(model: nn.Module, batches: Iterable[dict], *, features: bool = False,
            on_batch: Callable[[dict], None] | None = None):
    """Single-image inference (TAS §Overview): intensities (N, C) in [0, 1] as NumPy, plus
    features (N, C, d) when ``features``. ``batches`` yield dicts with ``image`` (B, 3, S, S).
    Runs in training's precision (:func:`aukit.runtime.evaluating`)."""
    preds, feats = [], []
    with evaluating(model):
        for batch in batches:
            x = batch["image"]
            x = x.flatten(0, 1) if x.ndim == 5 else x
            v, f = model(x, return_features=True)
            preds.append(v.float().cpu().numpy())
            if features:
                feats.append(f.float().cpu().numpy())
            if on_batch is not None:
                on_batch(batch)
    pred = np.concatenate(preds) if preds else np.zeros((0, 0), np.float32)
    return (pred, np.concatenate(feats)) if features else pred
