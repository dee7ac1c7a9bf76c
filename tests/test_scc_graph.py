"""SCC module (Eqs. 3-4): k-NN over channel nodes, edge features, max aggregation."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from aukit.methods.scc.graph import SCC, gather_nodes, knn_channels, pairwise_sq_dist


def _knn_loop(x: np.ndarray, k: int, include_self: bool) -> list[list[set]]:
    """Plain k-NN per sample and node: the sets of neighbours (ties broken arbitrarily)."""
    out = []
    for sample in x:                                    # (C, L)
        rows = []
        for i, fi in enumerate(sample):
            d = [(float(((fi - fj) ** 2).sum()), j) for j, fj in enumerate(sample) if include_self or j != i]
            d.sort(key=lambda t: (t[1] != i, t[0]) if include_self else t[0])
            rows.append({j for _, j in d[:k]})
        out.append(rows)
    return out


def _eq34_loop(x: torch.Tensor, idx: torch.Tensor, phi: torch.Tensor, omega: torch.Tensor, edge: str):
    """Eqs. 3-4 written per sample, node, neighbour and filter (no BN)."""
    b, c, m, _ = x.shape
    f = x.reshape(b, c, m * m)
    out = torch.empty(b, c, m * m)
    for s, i, kk in itertools.product(range(b), range(c), range(m * m)):
        vals = []
        for j in idx[s, i].tolist():
            fi, fj = f[s, i], f[s, j]
            if edge == "both":
                v = phi[kk] @ fi + omega[kk] @ (fj - fi)
            elif edge == "pair":
                v = phi[kk] @ fi + omega[kk] @ fj
            else:
                v = omega[kk] @ (fj - fi)
            vals.append(torch.relu(v))
        out[s, i, kk] = max(vals)
    return out.view(b, c, m, m)


def test_pairwise_distance_matches_cdist():
    x = torch.randn(3, 6, 10)
    assert torch.allclose(pairwise_sq_dist(x), torch.cdist(x, x) ** 2, atol=1e-4)


@pytest.mark.parametrize("include_self", [True, False])
def test_knn_matches_plain_loop(include_self):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 9, 5, generator=g)
    idx = knn_channels(x, 3, include_self)
    assert idx.shape == (4, 9, 3) and idx.dtype == torch.long
    expected = _knn_loop(x.numpy(), 3, include_self)
    got = [[set(row) for row in sample] for sample in idx.tolist()]
    assert got == expected
    if include_self:
        assert (idx[..., 0] == torch.arange(9)).all()   # each node is its own nearest neighbour


def test_knn_hand_made():
    # channels on a line at 0, 1, 3, 10: nearest other neighbour of each is known.
    x = torch.tensor([[[0.0], [1.0], [3.0], [10.0]]])
    idx = knn_channels(x, 1, include_self=False)
    assert idx[0, :, 0].tolist() == [1, 0, 1, 2]
    idx2 = knn_channels(x, 2, include_self=True)
    assert idx2[0, :, 1].tolist() == [1, 0, 1, 2]


def test_knn_rejects_impossible_k():
    with pytest.raises(ValueError, match="neighbours"):
        knn_channels(torch.randn(1, 3, 4), 3, include_self=False)


def test_gather_nodes_batched():
    v = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    idx = torch.tensor([[[2, 0]] * 3, [[1, 1]] * 3])
    out = gather_nodes(v, idx)
    assert out.shape == (2, 3, 2, 2)
    assert torch.equal(out[0, 0, 0], v[0, 2]) and torch.equal(out[1, 2, 1], v[1, 1])


def _grad_names(out: torch.Tensor) -> set:
    seen, todo = set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            todo.extend(f for f, _ in fn.next_functions)
    return {type(fn).__name__ for fn in seen}


def test_gather_backward_by_matmul_sums_what_index_add_sums():
    """Hubs (node 0 is everyone's neighbour) and unused nodes: the one-hot matmul's gradient is
    index_add's in fp64, and in bf16 it stays within bf16 rounding of the fp64 sums."""
    g = torch.Generator().manual_seed(0)
    b, c, k, d = 2, 16, 5, 32
    idx = torch.randint(0, c // 2, (b, c, k), generator=g)
    idx[..., 0] = 0
    vals = torch.randn(b, c, d, generator=g, dtype=torch.float64)
    w = torch.randn(b, c, k, d, generator=g, dtype=torch.float64)
    grads = {}
    for mode in ("index", "matmul"):
        v = vals.clone().requires_grad_(True)
        out = gather_nodes(v, idx, mode)
        assert torch.equal(out, gather_nodes(vals, idx))
        (out * w).sum().backward()
        grads[mode] = v.grad
    torch.testing.assert_close(grads["matmul"], grads["index"], rtol=1e-12, atol=1e-12)
    assert (grads["index"][:, c // 2:] == 0).all() and grads["index"][:, 0].abs().sum() > 0
    v16 = vals.to(torch.bfloat16).requires_grad_(True)
    (gather_nodes(v16, idx, "matmul") * w.to(torch.bfloat16)).sum().backward()
    exact = grads["index"].new_zeros(b, c, d)
    w16 = w.to(torch.bfloat16).double()
    for bi in range(b):
        for i in range(c):
            for j in range(k):
                exact[bi, idx[bi, i, j]] += w16[bi, i, j]
    err = (v16.grad.double() - exact).abs()
    assert (err <= 2 ** -8 * exact.abs() + 1e-6).all()     # one bf16 rounding of an fp32-accumulated sum
    with pytest.raises(ValueError, match="backward must be"):
        gather_nodes(vals, idx, "scatter")


@pytest.mark.parametrize("nodes,mode,used", [("channels", "auto", True), ("channels", "index", False),
                                             ("positions", "auto", False), ("positions", "matmul", True)])
def test_scc_picks_the_gather_backward(nodes, mode, used):
    """auto: the matmul while its one-hot matrix (V x V per edge slot) is no larger than the gathered
    features (V x L'): channel nodes (V = 8 <= L' = 16); positions (V = 16 > L' = 8) keep index_add."""
    scc = SCC(map_size=4, k=3, nodes=nodes, channels=8, gather_backward=mode, aggregate="autograd")
    out = scc(torch.randn(2, 8, 4, 4, requires_grad=True))
    assert ("_GatherMatmulBackwardBackward" in _grad_names(out)) == used
    with pytest.raises(ValueError, match="gather_backward"):
        SCC(map_size=4, k=3, gather_backward="atomic")


@pytest.mark.parametrize("edge,aggregate", [(e, a) for e in ("both", "pair", "diff") for a in ("fused", "autograd")])
def test_scc_equals_eq34_loop(edge, aggregate):
    torch.manual_seed(1)
    scc = SCC(map_size=2, k=2, edge=edge, bn=False, aggregate=aggregate)
    with torch.no_grad():
        scc.edge_conv.bias.zero_()
    x = torch.randn(2, 5, 2, 2)
    w = scc.edge_conv.weight.detach().flatten(1)        # (L', 2L) or (L', L)
    phi, omega = (None, w) if edge == "diff" else (w[:, :4], w[:, 4:])
    idx = knn_channels(x.reshape(2, 5, 4), 2)
    assert torch.allclose(scc(x), _eq34_loop(x, idx, phi, omega, edge), atol=1e-5)


@pytest.mark.parametrize("edge", ["both", "pair", "diff"])
def test_fast_path_equals_literal_concat_conv(edge):
    torch.manual_seed(2)
    scc = SCC(map_size=4, k=3, edge=edge, bn=True)
    x = torch.randn(3, 8, 4, 4)
    scc.train()
    assert torch.allclose(scc(x), scc.forward_reference(x), atol=1e-5)
    scc.eval()
    assert torch.allclose(scc(x), scc.forward_reference(x), atol=1e-5)


@pytest.mark.parametrize("nodes,aggregate", [("channels", "fused"), ("channels", "autograd"),
                                              ("positions", "fused"), ("positions", "autograd")])
def test_fast_path_gradients_equal_the_literal_ones(nodes, aggregate):
    """The fast paths (split 1x1 conv; ReLU after the max, or the fused BN + max) have the
    literal Eq. 3-4's gradients for the input, the edge conv and BN, in training mode."""
    torch.manual_seed(3)
    scc = SCC(map_size=4, k=3, edge="both", bn=True, nodes=nodes, channels=8, aggregate=aggregate).train()
    x = torch.randn(3, 8, 4, 4)
    w = torch.randn(3, 8, 4, 4)
    grads = []
    for fn in (scc, scc.forward_reference):
        xi = x.clone().requires_grad_(True)
        scc.zero_grad()
        (fn(xi) * w).sum().backward()
        grads.append([xi.grad] + [p.grad.clone() for p in scc.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_scc_known_answer_max_of_neighbours():
    # pair edges with phi = 0, omega = I: f'_i = max_{j in kNN(i)} ReLU(f_j) elementwise.
    scc = SCC(map_size=1, k=2, edge="pair", bn=False)
    with torch.no_grad():
        scc.edge_conv.weight.copy_(torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
        scc.edge_conv.bias.zero_()
    x = torch.tensor([0.0, 1.0, 3.0, 10.0, -5.0]).view(1, 5, 1, 1)
    # neighbours (self + nearest): 0->{0,1}, 1->{1,0}, 2->{2,1}, 3->{3,2}, 4->{4,0}
    assert scc(x).flatten().tolist() == [1.0, 1.0, 3.0, 10.0, 0.0]


def test_graph_is_dynamic():
    # The neighbourhoods follow the input: permuting channel values permutes the graph.
    x = torch.randn(1, 6, 3)
    perm = torch.randperm(6)
    a, b = knn_channels(x, 3), knn_channels(x[:, perm], 3)
    # node p of the permuted input is node perm[p] of the original; map its neighbours back
    assert [set(r) for r in perm[b[0]].tolist()] == [set(r) for r in a[0, perm].tolist()]
    # and changing the features changes the graph (it is rebuilt on every call)
    y = x.clone()
    y[0, 0] = y[0, 5] + 1e-3
    assert knn_channels(y, 2)[0, 0, 1].item() == 5


def test_scc_gradients_reach_weights_and_input():
    scc = SCC(map_size=3, k=2)
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    scc(x).pow(2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert scc.edge_conv.weight.grad.abs().sum() > 0


def test_scc_validates():
    with pytest.raises(ValueError, match="edge"):
        SCC(4, 2, edge="sum")
    with pytest.raises(ValueError, match="built for"):
        SCC(4, 2)(torch.randn(1, 3, 5, 5))


def test_position_nodes_equal_a_per_position_loop():
    # nodes="positions": each of the M*M positions is a node with its C channel values; the
    # output at position p is max_j ReLU(phi . x_p + omega . (x_j - x_p)) over p's k nearest positions.
    torch.manual_seed(3)
    scc = SCC(map_size=3, k=3, edge="both", bn=False, nodes="positions", channels=4)
    x = torch.randn(2, 4, 3, 3)
    w = scc.edge_conv.weight.detach().flatten(1)                # (C, 2C)
    phi, omega, bias = w[:, :4], w[:, 4:], scc.edge_conv.bias.detach()
    want = torch.empty_like(x)
    for b in range(2):
        pts = x[b].reshape(4, 9).T                              # (9 positions, 4 channels)
        d = torch.cdist(pts, pts)
        d.fill_diagonal_(-1.0)
        for p in range(9):
            nbrs = d[p].topk(3, largest=False).indices
            edges = [torch.relu(phi @ pts[p] + omega @ (pts[j] - pts[p]) + bias) for j in nbrs]
            want[b, :, p // 3, p % 3] = torch.stack(edges).amax(0)
    assert torch.allclose(scc(x), want, atol=1e-5)
    assert torch.allclose(scc.forward_reference(x), want, atol=1e-5)


def test_position_nodes_ignore_where_a_pixel_is():
    # no spatial kernel: shuffling the pixels of every channel the same way shuffles the output
    torch.manual_seed(4)
    scc = SCC(map_size=4, k=3, nodes="positions", channels=6).eval()
    x = torch.randn(2, 6, 4, 4)
    perm = torch.randperm(16)
    shuffled = x.flatten(2)[:, :, perm].view_as(x)
    assert torch.allclose(scc(shuffled).flatten(2), scc(x).flatten(2)[:, :, perm], atol=1e-5)


def test_position_nodes_validate():
    with pytest.raises(ValueError, match="channels"):
        SCC(4, 2, nodes="positions")
    with pytest.raises(ValueError, match="nodes"):
        SCC(4, 2, nodes="pixels", channels=3)
    with pytest.raises(ValueError, match="channels"):
        SCC(4, 2, nodes="positions", channels=3)(torch.randn(1, 5, 4, 4))
