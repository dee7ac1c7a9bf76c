"""TAS training step for :func:`aukit.train.fit` (Eq. 5) and single-image inference.

A batch is a dict (the experiment module builds it from the data layer):
  image   (B, T, 3, S, S) segments of T frames, or (B, 3, S, S) single frames (T = 1)
  target  (B, T, C) or (B, C) intensities in [0, 1], NaN where unlabelled
  seg_au  (B,) long, the AU index c whose trend the segment follows (-1: none); needed when lambda_rank > 0
  subject (B,) long subject id of each segment (Eq. 4 pairs different ones); needed when sub_pairs='subject'

Under DDP (a process group of W ranks, each holding its contiguous share of the global batch) the losses are
those of the global batch: every rank gathers the shares' outputs (:func:`aukit.runtime.gather_rows`, whose
gradient comes back to each rank's rows) and L_sub pairs frames across the shares, L_spd draws the global
batch's mixing coefficients and takes its share's. Only BatchNorm's statistics stay each rank's own.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn
from torch.profiler import record_function

from aukit.runtime import dist_rank_world, evaluating, gather_rows, image_layout, rank_sizes
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


def _groups(batch: dict, b: int, t: int, device, sub_pairs: str, first: int = 0) -> torch.Tensor:
    """(B*T,) pair groups of Eq. 4: each frame's subject, or its segment (``sub_pairs='segment'``), numbered from
    ``first`` (a rank's share: its first segment's place in the global batch)."""
    subject = batch.get("subject")
    if sub_pairs == "subject" and subject is None:              # it fell back to segments without a word
        raise ValueError("sub_pairs 'subject': L_sub (Eq. 4) pairs frames of different subjects and needs the "
                         "batch's subject ids; give them, or set sub_pairs='segment'")
    if sub_pairs == "segment":
        subject = torch.arange(first, first + b, device=device)
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
        seg_au = batch.get("seg_au")
        if cfg.lambda_rank > 0 and t >= 2 and seg_au is None:      # L_rank would drop out without a word
            raise ValueError(f"lambda_rank {cfg.lambda_rank}: L_rank (Eq. 2) needs the batch's seg_au, the AU each "
                             "segment's trend follows (-1: none); give it, or set lambda_rank=0")
        rank, world = dist_rank_world()
        spd = self._speed_mixup(model, image, pred, b * rank, b * world) if cfg.lambda_spd > 0 and t >= 2 else None
        groups = _groups(batch, b, t, image.device, cfg.sub_pairs, b * rank) if cfg.lambda_sub > 0 else None
        # one process's losses on the global batch: every rank's share joined (B = W shares from here on)
        pred, target = gather_rows(pred), gather_rows(target)
        if cfg.lambda_rank > 0 or cfg.lambda_sub > 0:
            feats = gather_rows(feats)
        seg_au, groups = (None if v is None else gather_rows(v) for v in (seg_au, groups))
        n = pred.shape[0]                                                      # the global batch's segments
        l_reg = self.reg(pred, target)
        loss, logs, n_images = l_reg, {"reg": l_reg.detach()}, image.shape[0] * t

        if cfg.lambda_rank > 0 and t >= 2:
            keep = seg_au >= 0                                                 # -1: a segment without an AU trend
            own = feats.gather(
                2, seg_au.clamp_min(0).view(-1, 1, 1, 1).expand(-1, t, 1, feats.shape[-1])).squeeze(2)  # (B, T, d)
            l_rank = self.rank(own, weight=keep)                               # mean over kept segments, no host sync
            loss = loss + cfg.lambda_rank * l_rank
            logs["rank"] = l_rank.detach()

        if spd is not None:
            l_spd = self.spd(gather_rows(spd[0]), pred, *spd[1:])
            loss = loss + cfg.lambda_spd * l_spd
            logs["spd"] = l_spd.detach()
            n_images += image.shape[0] * t

        if cfg.lambda_sub > 0:
            levels = intensity_levels(target).view(n * t, c)                   # (B*T, C), -1 unlabelled: no pair
            l_sub = self.sub(feats.view(n * t, c, -1), levels, groups)
            loss = loss + cfg.lambda_sub * l_sub
            logs["sub"] = l_sub.detach()
        return StepOutput(loss, logs, n_images=n_images)

    def _speed_mixup(self, model: nn.Module, image: torch.Tensor, pred: torch.Tensor, first: int, total: int):
        """L_spd's second forward on this share: (its pred_mixed, the global batch's lam and perm). The
        coefficients are drawn for the ``total`` segments of the global batch, as one process draws them (the
        ranks' generators agree: one seed), and this share's, from segment ``first`` on, mix its images."""
        b, t, c = pred.shape
        lam, perm = self.spd.sample(total, t, device=image.device)
        with record_function("tas.speed_mixup"):
            mixed = mix_segments(image, lam[first:first + b], perm[first:first + b])
            pred_mixed = model(_frames(mixed)).view(b, t, c)
        return pred_mixed, lam, perm

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
        rank, world = dist_rank_world()
        sizes = rank_sizes(x.shape[0], x.device) if world > 1 else None     # the shares' labelled frames differ
        l_reg = self.reg(gather_rows(pred, sizes), gather_rows(y, sizes))
        loss, logs = l_reg, {"reg": l_reg.detach()}
        if self.cfg.lambda_sub > 0:
            groups = _groups(batch, b, t, image.device, self.cfg.sub_pairs, b * rank)[rows]
            feats, y, groups = (gather_rows(v, sizes) for v in (feats, y, groups))
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
