"""AU relation modules on the 2N RoI tokens (RTATL §3.2 and the Backbone^G row of Table 1).

Tokens are laid out AU-major: token 2i is AU i's left RoI, token 2i + 1 its right RoI.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


class AURelationTransformer(nn.Module):
    """One encoder + one decoder, 8 heads, d = 128 (RTATL §3.2, Fig. 3, Eq. 1).

    No positional encoding in the encoder (AUs have no order); N learned AU indicators
    (an N x d matrix) are added to the decoder input so each output matches its AU.
    choice: the decoder input is the RoI tokens plus their AU's indicator (the paper:
    "added to the input of the decoder"); memory = encoder output.

    forward: tokens (B, 2N, d) -> (B, 2N, d).
    """

    def __init__(self, n_aus: int, d_model: int = 128, n_heads: int = 8, n_encoder: int = 1, n_decoder: int = 1,
                 ff_dim: int = 512, dropout: float = 0.1):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        enc = nn.TransformerEncoderLayer(d_model, n_heads, ff_dim, dropout, batch_first=True)
        dec = nn.TransformerDecoderLayer(d_model, n_heads, ff_dim, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc, n_encoder, enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, n_decoder)
        self.indicators = nn.Parameter(torch.randn(n_aus, d_model) * 0.02)  # (N, d): Fig. 7 plots their cosine similarity

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        memory = self.encoder(tokens)
        tgt = tokens + self.indicators.repeat_interleave(2, dim=0)[None].to(tokens.dtype)
        return self.decoder(tgt, memory)


def cooccurrence_graph(labels: np.ndarray, threshold: float = 0.4) -> np.ndarray:
    """Fixed AU relation graph from training labels (B, N) 0/1/NaN: A_ij = 1 if P(AU_j | AU_i) > threshold.

    choice: the ML-GCN style conditional-probability graph with self-loops (the paper's
    Backbone^G uses "a fixed prior AU relation graph" without saying which).
    """
    y = np.asarray(labels, dtype=float)
    n = y.shape[1]
    a = np.eye(n)
    for i in range(n):
        on = y[:, i] == 1
        for j in range(n):
            if i == j:
                continue
            both = on & ~np.isnan(y[:, j])
            if both.sum() > 0 and np.mean(y[both, j] == 1) > threshold:
                a[i, j] = 1.0
    return a


class AURelationGCN(nn.Module):
    """Two-layer residual GCN on a fixed AU graph, lifted to the 2N RoI tokens (Table 1, Backbone^G).

    The AU graph A (N, N) becomes A kron 1_{2x2}: each RoI token talks to both RoIs of
    every related AU; rows are normalised D^-1/2 A D^-1/2. forward: (B, 2N, d) -> (B, 2N, d).
    """

    def __init__(self, adjacency: np.ndarray | torch.Tensor, d_model: int = 128, n_layers: int = 2):
        super().__init__()
        a = torch.as_tensor(np.kron(np.asarray(adjacency, dtype=np.float32), np.ones((2, 2), np.float32)))
        deg = a.sum(1).rsqrt()
        self.register_buffer("adj", deg[:, None] * a * deg[None, :])
        self.layers = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = tokens
        for layer in self.layers:
            h = torch.relu(layer(torch.einsum("ij,bjd->bid", self.adj.to(h.dtype), h)))
        return self.norm(tokens + h)
