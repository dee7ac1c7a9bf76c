"""Inference: dense per-frame intensities over whole sequences, and the pretext task's Top-n metrics (Table 1).

Test-time context (the paper is silent): frame t's prediction comes from the GRU run
over a causal window of ``window`` frames at ``stride`` ending at t (the training
window), starting from a zero hidden state; at the start of a sequence the window is
shorter. Features f(x) are computed once per frame and shared by all windows.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn as nn

from aukit.runtime import evaluating

from .losses import InfoNCELoss


def causal_window_index(n: int, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Index (n, window) of the frames in frame t's window, oldest first, and a validity mask.

    Entry [t, j] = t - stride * (window - 1 - j); invalid (< 0) entries are clamped to 0 and
    flagged False so the GRU skips them.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    t = np.arange(n)[:, None]
    idx = t - stride * (window - 1 - np.arange(window))[None, :]
    return np.clip(idx, 0, None), idx >= 0


@torch.no_grad()
def predict_from_features(model: nn.Module, feats: torch.Tensor, window: int, stride: int,
                          chunk: int = 256) -> torch.Tensor:
    """Per-frame intensities of one sequence from its features (L, C, h, w) -> (L, N)."""
    idx, valid = causal_window_index(feats.shape[0], window, stride)
    idx = torch.as_tensor(idx, device=feats.device)
    valid = torch.as_tensor(valid, device=feats.device)
    out = []
    for s in range(0, feats.shape[0], chunk):
        ii, vv = idx[s:s + chunk], valid[s:s + chunk]         # (b, W)
        h = feats.new_zeros(len(ii), model.gru.hidden, *feats.shape[2:])
        for j in range(window):  # a window cut by the sequence start keeps h = 0 until its first frame
            h = torch.where(vv[:, j, None, None, None], model.gru(feats[ii[:, j]], h), h)
        out.append(model.head(h))
    return torch.cat(out).float()


@torch.no_grad()
def encode_frames(model: nn.Module, batches: Iterable[dict]) -> tuple[torch.Tensor, np.ndarray]:
    """f(x) for every frame of an (unshuffled) frame loader: -> (N, C, h, w), store rows (N,)."""
    feats, rows = [], []
    for batch in batches:
        feats.append(model.encoder(batch["image"]))
        rows.append(batch["rows"].cpu().numpy())
    return torch.cat(feats), np.concatenate(rows)


def predict_sequences(model: nn.Module, batches: Iterable[dict], sequence_ids: np.ndarray,
                      window: int, stride: int, precision: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Dense predictions for the frames of an unshuffled loader: -> (pred (N, n_aus), rows (N,)).

    ``sequence_ids[r]`` is the sequence of store row r; the loader must yield each
    sequence's frames in temporal order (they need not be contiguous). Runs in training's precision
    (``precision``, the run's: :func:`aukit.runtime.evaluating`).
    """
    with evaluating(model, precision):
        feats, rows = encode_frames(model, batches)
        seq = np.asarray(sequence_ids)[rows]
        preds = np.zeros((len(rows), model.head.fc.out_features), dtype=np.float32)
        for s in dict.fromkeys(seq.tolist()):
            sel = np.flatnonzero(seq == s)
            p = predict_from_features(model, feats[torch.as_tensor(sel, device=feats.device)], window, stride)
            preds[sel] = p.cpu().numpy()
    return preds, rows


def predict_frames(model: nn.Module, batches: Iterable[dict],
                   precision: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Per-frame model (R18 baselines): -> (pred (N, n_aus), rows (N,)), in training's ``precision``."""
    preds, rows = [], []
    with evaluating(model, precision):
        for batch in batches:
            preds.append(model(batch["image"]).float().cpu().numpy())
            rows.append(batch["rows"].cpu().numpy())
    return np.concatenate(preds), np.concatenate(rows)


def topk_rates(logits: torch.Tensor, ks=(1, 3, 5)) -> dict[str, torch.Tensor]:
    """Top-n accuracy of the predictive task (CPC Table 1): the fraction of predictions whose
    positive score (the diagonal of ``logits`` (G, M, M)) is among the n highest of its row,
    as 0-d tensors on the logits' device (the training step logs them without a host sync).

    A tie with the positive counts against it (rank = number of scores >= the positive, minus 1).
    """
    pos = torch.diagonal(logits, dim1=1, dim2=2).unsqueeze(-1)               # (G, M, 1)
    rank = (logits >= pos).sum(-1) - 1                                       # (G, M): 0 = best
    return {f"top{n}": (rank < n).float().mean() for n in ks}


def topk_accuracy(logits: torch.Tensor, ks=(1, 3, 5)) -> dict[str, float]:
    """:func:`topk_rates` as Python floats (evaluation)."""
    return {k: float(v) for k, v in topk_rates(logits, ks).items()}


def pretext_accuracy(model: nn.Module, batches: Iterable[dict], context: int,
                     loss_fn: InfoNCELoss | None = None, ks=(1, 3, 5), precision: str = "auto") -> dict[str, float]:
    """Mean InfoNCE loss and Top-n accuracy of the predictive task over validation clips (Table 1),
    in training's ``precision`` (the scores themselves in fp32, as in the loss)."""
    loss_fn = loss_fn or InfoNCELoss()
    sums: dict[str, float] = {}
    n = 0
    with evaluating(model, precision):
        for batch in batches:
            pred, target = model.pretext(batch["image"], context)
            logits = loss_fn.logits(pred, target)
            vals = {"loss": float(loss_fn.from_logits(logits)), **topk_accuracy(logits, ks)}
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    if n == 0:
        raise ValueError("no validation clip to measure the pretext accuracy on")
    return {k: v / n for k, v in sums.items()}
