"""Step functions for ``aukit.train.fit``: pre-training (Eq. 1), sparse BPTT (Eq. 2), per-frame R18.

Batch contracts (dicts, tensors already on the device):

* pre-training: ``image`` (B, T, 3, S, S) clips.
* sparse: ``image`` (B, T, 3, S, S), ``au`` (B, T, N) float intensities (NaN where
  unknown) and ``mask`` (B, T) bool: the frames whose output is supervised (one per
  window in the paper's setting, at a random position).
* frame: ``image`` (B, 3, S, S), ``au`` (B, N).

An optional ``augment`` callable, called as ``augment(x)``, maps the batch's image tensor (already
normalised by the loader) to an augmented one of the same shape, inside the step, on the device.
Loader ops (``aukit.data.augment``, :class:`ClipAugment`: ``op(x, generator)`` on [0, 1] images,
the CPC experiment's augmentation) belong to the loader, ``BatchLoader(..., augment=op)``: given to
a step they raise a TypeError.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn as nn

from aukit.runtime import gather_rows
from aukit.train import StepOutput

from .infer import topk_rates
from .losses import InfoNCELoss, SparseLabelLoss

Augment = Callable[[torch.Tensor], torch.Tensor] | None
_LOADER_OPS = ("aukit.data.augment", "aukit.methods.cpc.augment")   # op(x, generator) on [0, 1] images


def _one_argument(fn) -> bool:
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        return False
    except ValueError:                       # no signature to read (a builtin): take it at its word
        return True
    return True


def _check_augment(augment: Augment) -> Augment:
    """``augment`` as the steps call it, ``augment(x)``; a loader op (``aukit.data.augment``'s
    ``op(x, generator)``) raised a bare TypeError at the first batch, and its colour ops would clamp
    the normalised images the step sees to [0, 1]."""
    if augment is None:
        return None
    if not callable(augment):
        raise TypeError(f"augment must be a callable augment(x) -> x, got {type(augment).__name__}")
    if type(augment).__module__ in _LOADER_OPS or not _one_argument(augment):
        raise TypeError(f"the CPC steps call augment(x) on the loader's normalised images; {augment!r} is a "
                        "loader op, op(x, generator) on [0, 1] images (aukit.data.augment, ClipAugment): pass it "
                        "to the loader, BatchLoader(..., augment=op), as the CPC experiment does")
    return augment


def make_pretrain_step(context: int, loss_fn: InfoNCELoss | None = None, augment: Augment = None,
                       ks=(1, 3, 5)) -> Callable[[nn.Module, dict], StepOutput]:
    """Stage 1 (§3.3): context C frames -> recursive prediction of the other T - C feature maps, Eq. 1.

    With batch negatives, under DDP every rank scores the global batch's predictions against all its targets
    (:func:`aukit.runtime.gather_rows`): one process's Eq. 1 and Top-n on that batch; a rank's share alone gave
    B / W sequences' classes (3200 of 6400 over 2 ranks). The paper's 8 GPUs x 20 sequences scored each GPU's
    20 alone (§3.3: B = 20, 6400 classes); ours: the global batch's, 20 (PretrainConfig.batch_size) by default."""
    loss_fn = loss_fn or InfoNCELoss()
    augment = _check_augment(augment)

    def step(model: nn.Module, batch: dict) -> StepOutput:
        x = batch["image"]
        if x.dim() != 5:
            raise ValueError(f"pre-training expects clips (B, T, 3, S, S), got {tuple(x.shape)}")
        if augment is not None:
            x = augment(x)
        pred, target = model.pretext(x, context)             # (B, P, C, h, w) each
        if loss_fn.batch_negatives:                          # DDP: every rank's sequences (B = W shares)
            pred, target = gather_rows(pred), gather_rows(target)
        logits = loss_fn.logits(pred, target)
        loss = loss_fn.from_logits(logits)
        with torch.no_grad():
            acc = topk_rates(logits.detach(), ks)          # 0-d tensors: no host sync
        return StepOutput(loss=loss, logs=acc, n_images=x.shape[0] * x.shape[1])

    return step


def sparse_forward(model: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Outputs at the supervised frames only: (B, T, 3, S, S), mask (B, T) -> (K, N), K = mask.sum().

    Frames after the last supervised position of the batch are not run: a causal GRU's
    output at t depends on frames <= t only, so BPTT reaches back from each labelled
    frame to the start of its window and nothing flows from unlabelled outputs (§3.4).
    The head's BatchNorm sees the labelled frames' states only.
    """
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match the clip's (B, T) = {tuple(x.shape[:2])}")
    if not bool(mask.any()):
        raise ValueError("no supervised frame in the batch")
    t_end = int(mask.any(0).nonzero().max()) + 1
    hidden = model.aggregate(model.encode(x[:, :t_end]))     # (B, t_end, C, h, w)
    return model.head(hidden[mask[:, :t_end]])                # (K, N)


def make_sparse_step(loss_fn: SparseLabelLoss | None = None,
                     augment: Augment = None) -> Callable[[nn.Module, dict], StepOutput]:
    """Stage 2 (§3.4): L2 loss (Eq. 2) at the labelled frames, back-propagated through time."""
    loss_fn = loss_fn or SparseLabelLoss()
    augment = _check_augment(augment)

    def step(model: nn.Module, batch: dict) -> StepOutput:
        x, au, mask = batch["image"], batch["au"], batch["mask"].bool()
        if augment is not None:
            x = augment(x)
        pred = sparse_forward(model, x, mask)
        loss = loss_fn(pred, au[mask])
        return StepOutput(loss=loss, logs={"n_labelled": mask.sum().float()}, n_images=x.shape[0] * x.shape[1])

    return step


def make_frame_step(loss_fn: SparseLabelLoss | None = None,
                    augment: Augment = None) -> Callable[[nn.Module, dict], StepOutput]:
    """Per-frame R18 baselines (§4.1): L2 loss between labels and the frame's prediction."""
    loss_fn = loss_fn or SparseLabelLoss()
    augment = _check_augment(augment)

    def step(model: nn.Module, batch: dict) -> StepOutput:
        x, au = batch["image"], batch["au"]
        if x.dim() != 4:
            raise ValueError(f"the frame step expects images (B, 3, S, S), got {tuple(x.shape)}")
        if augment is not None:
            x = augment(x)
        loss = loss_fn(model(x), au)
        return StepOutput(loss=loss, n_images=x.shape[0])

    return step
