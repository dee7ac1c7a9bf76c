"""SCC's edge BN + ReLU + max over neighbours (Eqs. 3-4) without the (B, V, k, L) edge tensor.

With the edge convolution split in two (``SCC``), edge ``(i, j)`` of sample b is
``e_ij = O_i + P_m`` with ``m = idx[i, j]``: O the centre term, P the neighbour term, both
(B, V, L). The autograd path builds e (k times the size of O), normalises it, takes the max
over j, and keeps e and BN's output for the backward: a dozen passes over the largest
tensor of the step. Here nothing of that size is kept, and the only pass over it is the
gather the max needs:

* BN's batch statistics follow from (B, V, L) tensors and the neighbour-count matrix
  ``A[i, m] = #{j : idx[i, j] = m}``: sum e = k sum O + sum_m indeg_m P_m, and sum e^2 =
  k sum O^2 + 2 sum O (A P) + sum_m indeg_m P_m^2 (centred first, so no cancellation).
* BN is one affine map per feature, ``y = a (e - mu) + beta`` with a = gamma / sigma, so
  max_j y = a (O_i + max_j P_m - mu) + beta where a >= 0, and with min_j P_m where a < 0.
* The backward of BN in training mode (dx = a (dy - mean dy - x_hat mean(dy x_hat))) summed
  over the edges of a node (for O) or over the edges that reach a node (for P) again needs
  only (B, V, L) tensors, A, and dy, which is non-zero at each node's selected edge only.

The results equal the autograd path's (tests: fp64 outputs, every gradient, BN running
statistics; training and eval). Where several neighbours tie for the max, the gradient goes to
one of them (``amax`` splits it among them); both are subgradients of the same function.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from aukit.runtime import full_precision


def index_gather(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """values[b, idx[b, i, j]] as one index_select: (B, V, D), (B, V, k) -> (B, V, k, D)."""
    b, v, d = values.shape
    offset = torch.arange(b, device=idx.device).view(b, 1, 1) * v
    flat = (idx + offset).reshape(-1)                       # (B*V*k,)
    return values.reshape(b * v, d).index_select(0, flat).view(b, v, idx.shape[-1], d)


def neighbour_counts(idx: torch.Tensor, n_nodes: int, dtype: torch.dtype) -> torch.Tensor:
    """A[b, i, m]: how many of node i's neighbours are node m: (B, V, k) -> (B, V, V)."""
    b, v, k = idx.shape
    return torch.zeros(b, v, n_nodes, dtype=dtype, device=idx.device).scatter_add_(
        2, idx, torch.ones(b, v, k, dtype=dtype, device=idx.device))


_OFF = 255          # the selected-edge code of a node feature the ReLU cut off (k <= 254)


class _BNMaxFunction(torch.autograd.Function):
    """relu(max_j BN(O_i + P_idx[i, j])) with BN in training mode (batch statistics) when
    ``batch_stats``, else the fixed affine (``mean``, ``var``); the BN buffers are updated by
    the caller from the returned statistics.

    Kept for the backward: O and P as they came (bf16 under autocast), the selected edge of
    every node feature as one byte (``_OFF`` where the ReLU is inactive) and per-feature
    vectors: about a third of one bf16 edge tensor at k = 7.
    """

    @staticmethod
    def forward(ctx, own, proj, idx, gamma, beta, mean, var, eps, batch_stats):
        if idx.shape[-1] >= _OFF:
            raise ValueError(f"the fused SCC aggregate takes k < {_OFF} neighbours, got {idx.shape[-1]}")
        with full_precision(own):                                     # statistics and sums in fp32
            return _BNMaxFunction._forward(ctx, own, proj, idx, gamma, beta, mean, var, eps, batch_stats)

    @staticmethod
    def _forward(ctx, own, proj, idx, gamma, beta, mean, var, eps, batch_stats):
        b, v, k = idx.shape
        f32 = torch.promote_types(own.dtype, torch.float32)          # fp32 (fp64 stays fp64)
        o, p = own.to(f32), proj.to(f32)
        if batch_stats:
            counts = neighbour_counts(idx, v, f32)                    # (B, V, V)
            indeg = counts.sum(1).unsqueeze(-1)                       # (B, V, 1)
            n = b * v * k
            o_mean = o.mean((0, 1))                                   # (L,)
            p_mean = (indeg * p).sum((0, 1)) / n
            oc, pc = o - o_mean, p - p_mean                           # e - mu = oc_i + pc_m
            ss = (k * (oc * oc).sum((0, 1)) + 2 * (oc * torch.bmm(counts, pc)).sum((0, 1))
                  + (indeg * pc * pc).sum((0, 1)))
            mu, var_b = o_mean + p_mean, ss / n
        else:
            mu, var_b = mean.to(f32).clone(), var.to(f32).clone()
            o_mean, p_mean = mu, torch.zeros_like(mu)
        sigma = torch.sqrt(var_b + eps)
        g = torch.ones_like(sigma) if gamma is None else gamma.to(f32)
        sign = torch.where(g < 0, -1.0, 1.0)                          # a = g / sigma has g's sign
        # max over j of sign * P at the neighbours: the one pass of the (B, V, k, L) size, in P's dtype
        picked, jstar = index_gather(proj * sign.to(proj.dtype), idx).max(2)
        x_sel = ((o - o_mean) + (picked.to(f32) * sign - p_mean)) / sigma  # x_hat at each selected edge
        z = g * x_sel + (0.0 if beta is None else beta.to(f32))
        jsel = torch.where(z > 0, jstar, _OFF).to(torch.uint8)
        ctx.save_for_backward(own, proj, idx, jsel, o_mean, p_mean, sigma, g)
        ctx.batch_stats, ctx.has_gamma, ctx.has_beta = batch_stats, gamma is not None, beta is not None
        ctx.mark_non_differentiable(mu, var_b)
        return torch.relu(z).to(own.dtype), mu, var_b

    @staticmethod
    def backward(ctx, grad_out, _gm, _gv):
        with full_precision(grad_out):
            return _BNMaxFunction._backward(ctx, grad_out)

    @staticmethod
    def _backward(ctx, grad_out):
        own, proj, idx, jsel, o_mean, p_mean, sigma, g = ctx.saved_tensors
        b, v, k = idx.shape
        f32 = o_mean.dtype
        oc, pc = own.to(f32) - o_mean, proj.to(f32) - p_mean
        on = jsel != _OFF
        m_star = torch.gather(idx, 2, jsel.clamp(max=k - 1).long())   # each feature's selected neighbour
        x_sel = (oc + torch.gather(pc, 1, m_star)) / sigma
        dz = grad_out.to(f32) * on                                    # dy: at the selected edges only
        d_sum = dz.sum((0, 1))                                        # sum of dy over all edges
        e_sum = (dz * x_sel).sum((0, 1))                              # sum of dy * x_hat
        r = g / sigma
        s = torch.zeros_like(dz).scatter_add_(1, m_star, dz)          # dy summed at the neighbour it came from
        if ctx.batch_stats:
            n = b * v * k
            counts = neighbour_counts(idx, v, f32)
            indeg = counts.sum(1).unsqueeze(-1)
            x_own = (k * oc + torch.bmm(counts, pc)) / sigma          # x_hat summed over a node's edges
            x_nbr = (torch.bmm(counts.transpose(1, 2), oc) + indeg * pc) / sigma  # over the edges reaching it
            d_own = r * (dz - k * d_sum / n - x_own * e_sum / n)
            d_proj = r * (s - indeg * d_sum / n - x_nbr * e_sum / n)
        else:
            d_own, d_proj = r * dz, r * s
        return (d_own.to(own.dtype), d_proj.to(proj.dtype), None,
                e_sum if ctx.has_gamma else None, d_sum if ctx.has_beta else None, None, None, None, None)


def bn_relu_max(own: torch.Tensor, proj: torch.Tensor, idx: torch.Tensor, bn: nn.Module) -> torch.Tensor:
    """relu(max_j bn(own_i + proj_idx[i, j])) for (B, V, L), (B, V, L), (B, V, k); ``bn`` a
    BatchNorm1d over L features (its running statistics updated as BatchNorm1d would) or
    an Identity (no normalisation)."""
    if isinstance(bn, nn.Identity):                          # no normalisation: mean 0, variance 1, eps 0
        zero, one = torch.zeros(own.shape[-1], device=own.device), torch.ones(own.shape[-1], device=own.device)
        return _BNMaxFunction.apply(own, proj, idx, None, None, zero, one, 0.0, False)[0]
    if not isinstance(bn, nn.BatchNorm1d):
        raise TypeError(f"bn must be BatchNorm1d or Identity, got {type(bn).__name__}")
    batch_stats = bn.training or bn.running_mean is None
    out, mu, var_b = _BNMaxFunction.apply(own, proj, idx, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                          bn.eps, batch_stats)
    if bn.training and bn.track_running_stats:
        with torch.no_grad():
            bn.num_batches_tracked += 1
            f = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            n = idx.numel()
            bn.running_mean.lerp_(mu.to(bn.running_mean.dtype), f)
            bn.running_var.lerp_((var_b * n / max(n - 1, 1)).to(bn.running_var.dtype), f)
    return out
