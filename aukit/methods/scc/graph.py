"""Semantic correspondence convolution (SCC, Eqs. 3-4): dynamic k-NN graph over channels.

Each channel's M x M map is a node vector f_i in R^L (L = M*M). In every forward pass
(dynamic graph) the k nearest channels by Euclidean distance form each node's
neighbourhood; the edge feature is a 1x1 convolution on concat[f_i, f_j - f_i] over the
L-dimensional node features, followed by BN (authors' TF code) and ReLU (Eq. 3), and the
node's output is the max over its k edges (Eq. 4). The output node has L' = L features,
so it reshapes back into an M x M map and the next deconvolution can follow.

Everything is batched on the device: one (B, C, C) distance matrix, one top-k, one
gather; no Python loop over samples or nodes. The gather's backward (summing each node's
gradient over the edges that used it) is one batched matmul with the one-hot neighbour
matrix where that matrix is no larger than the gathered tensor (channel nodes), instead of
index_select's index_add: one bf16 atomic add per gathered element, in no fixed order.
For channel nodes, edge BN + ReLU + max run fused (``fused.py``): the (B, C, k, L) edge
tensor is neither normalised nor kept for the backward, only gathered once for the max.

``nodes="channels"`` (default) follows the paper and the authors' TF code
(k-NN over channel nodes). ``nodes="positions"`` is an alternative of ours, not the paper's:
the M*M positions are the nodes, each with its C channel values as features, the k-NN runs
between positions and the 1x1 convolution acts on channels (DGCNN's EdgeConv on a grid of
points), which keeps each output map spatially aligned with its input.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import record_function

from aukit.runtime import full_precision

from .config import AGGREGATES, EDGE_FEATURES, GATHER_BACKWARDS, NODE_KINDS
from .fused import bn_relu_max, index_gather


def pairwise_sq_dist(nodes: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between node vectors: (B, C, L) -> (B, C, C), fp32."""
    x = nodes.float()
    sq = (x * x).sum(-1)                                    # (B, C)
    gram = torch.bmm(x, x.transpose(1, 2))                  # (B, C, C)
    return (sq[:, :, None] + sq[:, None, :] - 2.0 * gram).clamp_min_(0.0)


def knn_channels(nodes: torch.Tensor, k: int, include_self: bool = True) -> torch.Tensor:
    """Indices of each node's k nearest nodes: (B, C, L) -> LongTensor (B, C, k).

    The graph is rebuilt from the current features on every call (dynamic graph update);
    indices are not differentiable, so the distances are computed without autograd and
    in fp32 (bf16 distances would reorder near ties).
    """
    c = nodes.shape[1]
    if not 1 <= k <= (c if include_self else c - 1):
        raise ValueError(f"k={k} neighbours impossible with {c} nodes (include_self={include_self})")
    with torch.no_grad(), full_precision(nodes), record_function("scc.knn"):
        d = pairwise_sq_dist(nodes.detach())
        if not include_self:
            d.diagonal(dim1=1, dim2=2).fill_(float("inf"))
        else:
            d.diagonal(dim1=1, dim2=2).fill_(-1.0)          # self first even when two channels coincide
        return d.topk(k, dim=-1, largest=False).indices


class _GatherMatmulBackward(torch.autograd.Function):
    """The gather, with the gradient of ``values`` as onehot(idx)^T @ grad: (B, V, V*k) @ (B, V*k, D).

    The same sums as index_add, on tensor cores with fp32 accumulation and in a fixed order
    (deterministic). The one-hot matrix has B*V*k*V elements: no more than the gathered
    tensor's B*V*k*D when V <= D.
    """

    @staticmethod
    def forward(ctx, values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(idx)
        ctx.n_nodes = values.shape[1]
        return index_gather(values, idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (idx,) = ctx.saved_tensors
        b, d = grad.shape[0], grad.shape[-1]
        flat = idx.reshape(b, -1, 1)                        # (B, V*k, 1)
        onehot = grad.new_zeros(b, flat.shape[1], ctx.n_nodes).scatter_(2, flat, 1.0)
        return torch.bmm(onehot.transpose(1, 2), grad.reshape(b, -1, d)), None


def gather_nodes(values: torch.Tensor, idx: torch.Tensor, backward: str = "index") -> torch.Tensor:
    """values[b, idx[b, i, j]] for all b, i, j: (B, C, D), (B, C, k) -> (B, C, k, D).

    ``backward``: "index" (index_select's index_add) or "matmul" (:class:`_GatherMatmulBackward`);
    the forward is the same index_select either way.
    """
    if backward not in ("index", "matmul"):
        raise ValueError(f"backward must be 'index' or 'matmul', got {backward!r}")
    if backward == "matmul" and values.requires_grad and torch.is_grad_enabled():
        return _GatherMatmulBackward.apply(values, idx)
    return index_gather(values, idx)


class SCC(nn.Module):
    """One SCC module on (B, C, M, M) feature maps -> (B, C, M, M).

    ``edge``: "both" = Eq. 3, phi . f_i + omega . (f_j - f_i) (Table 3 e);
    "pair" = phi . f_i + omega . f_j (Table 3 f); "diff" = omega . (f_j - f_i) (Table 3 g).

    The 1x1 convolution ``self.edge_conv`` (weight (L', 2L, 1, 1)) acts on the edge tensor
    concat[f_i, g_ij] of shape (B, 2L, C, k). Being linear, it is applied to f_i and f_j
    separately (phi . f_i + omega . (f_j - f_i) = (phi - omega) . f_i + omega . f_j),
    which gives the same numbers k times cheaper; ``forward_reference`` builds the edge
    tensor literally and is kept for the tests.
    """

    def __init__(self, map_size: int, k: int, *, edge: str = "both", bn: bool = True,
                 include_self: bool = True, nodes: str = "channels", channels: int | None = None,
                 gather_backward: str = "auto", aggregate: str = "auto"):
        super().__init__()
        if edge not in EDGE_FEATURES:
            raise ValueError(f"edge must be one of {EDGE_FEATURES}, got {edge!r}")
        if nodes not in NODE_KINDS:
            raise ValueError(f"nodes must be one of {NODE_KINDS}, got {nodes!r}")
        if gather_backward not in GATHER_BACKWARDS:
            raise ValueError(f"gather_backward must be one of {GATHER_BACKWARDS}, got {gather_backward!r}")
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        if map_size < 1 or k < 1:
            raise ValueError(f"map_size and k must be positive, got {map_size}, {k}")
        if nodes == "positions" and not channels:
            raise ValueError("nodes='positions' needs the number of channels (their feature length)")
        self.map_size, self.k, self.edge, self.include_self, self.nodes = map_size, k, edge, include_self, nodes
        n = map_size * map_size if nodes == "channels" else channels  # L = L': feature length of a node
        self.dim = n
        self.gather_backward, self.aggregate = gather_backward, aggregate
        in_feats = n if edge == "diff" else 2 * n
        self.edge_conv = nn.Conv2d(in_feats, n, kernel_size=1, bias=not bn)  # Theta = (phi, omega)
        self.bn = nn.BatchNorm1d(n) if bn else nn.Identity()

    def _split_weights(self) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(weight on f_i, weight on f_j), each (L', L); None when f_i has no own term."""
        w = self.edge_conv.weight.flatten(1)                 # (L', 2L) or (L', L)
        n = self.dim
        if self.edge == "diff":                              # omega . (f_j - f_i)
            return -w, w
        phi, omega = w[:, :n], w[:, n:]
        if self.edge == "both":                              # phi . f_i + omega . (f_j - f_i)
            return phi - omega, omega
        return phi, omega                                    # "pair": phi . f_i + omega . f_j

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[-1] != self.map_size or x.shape[-2] != self.map_size:
            raise ValueError(f"SCC built for {self.map_size}x{self.map_size} maps, got input {tuple(x.shape)}")
        if self.nodes == "positions" and x.shape[1] != self.dim:
            raise ValueError(f"SCC built for {self.dim} channels, got input {tuple(x.shape)}")

    def _nodes(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, M, M) -> node features: (B, C, M*M) for channel nodes, (B, M*M, C) for positions."""
        return x.flatten(2) if self.nodes == "channels" else x.flatten(2).transpose(1, 2)

    def _maps(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Node outputs back to (B, C, M, M)."""
        return (out if self.nodes == "channels" else out.transpose(1, 2)).reshape(x.shape)

    def _aggregate(self, edges: torch.Tensor, literal: bool = False) -> torch.Tensor:
        """BN + ReLU (Eq. 3) then max over neighbours (Eq. 4): (B, C, k, L') -> (B, C, L').

        ReLU is monotone, so max_j ReLU(e_ij) = ReLU(max_j e_ij): the fast path applies it after
        the max, on a k times smaller tensor (one pass less over the largest tensor of the step,
        forward and backward; the gradients are the same). ``literal`` keeps Eq. 3's order.
        """
        b, c, k, n = edges.shape
        edges = self.bn(edges.reshape(b * c * k, n)).view(b, c, k, n)
        if literal:
            return F.relu(edges).amax(dim=2)
        return F.relu(edges.amax(dim=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        nodes = self._nodes(x)                               # (B, V, L): V nodes (channels or positions)
        idx = knn_channels(nodes, self.k, self.include_self)  # (B, V, k)
        w_i, w_j = self._split_weights()
        own = F.linear(nodes, w_i, self.edge_conv.bias)      # (B, V, L'): term of the centre f_i
        proj = F.linear(nodes, w_j)                          # (B, V, L'): term of each f_j, before the gather
        small = nodes.shape[1] <= self.dim                   # V <= L' (channel nodes): V x V matrices are small
        if self.aggregate == "fused" or (self.aggregate == "auto" and small):
            return self._maps(bn_relu_max(own, proj, idx, self.bn), x)
        mode = self.gather_backward
        if mode == "auto":                                   # matmul while its one-hot matrix is no larger
            mode = "matmul" if small else "index"
        nbr = gather_nodes(proj, idx, mode)                  # (B, V, k, L')
        return self._maps(self._aggregate(own.unsqueeze(2) + nbr), x)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """Literal Eq. 3-4: build concat[f_i, g_ij] (B, 2L, C, k), 1x1 conv, BN, ReLU, max."""
        self._check(x)
        nodes = self._nodes(x)
        idx = knn_channels(nodes, self.k, self.include_self)
        f_j = gather_nodes(nodes, idx)                       # (B, C, k, L)
        f_i = nodes.unsqueeze(2).expand_as(f_j)
        parts = {"both": (f_i, f_j - f_i), "pair": (f_i, f_j), "diff": (f_j - f_i,)}[self.edge]
        edge = torch.cat(parts, dim=-1).permute(0, 3, 1, 2)  # (B, 2L, C, k)
        e = self.edge_conv(edge).permute(0, 2, 3, 1)         # (B, V, k, L')
        return self._maps(self._aggregate(e, literal=True), x)

    def extra_repr(self) -> str:
        return (f"map_size={self.map_size}, k={self.k}, edge={self.edge!r}, include_self={self.include_self}, "
                f"nodes={self.nodes!r}, gather_backward={self.gather_backward!r}, aggregate={self.aggregate!r}")
