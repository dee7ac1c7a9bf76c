"""SCC's fused edge BN + ReLU + max (aukit.methods.scc.fused) against autograd over the edge tensor."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.methods.scc.fused import bn_relu_max, neighbour_counts
from aukit.methods.scc.graph import SCC


def _edges_then_bn_max(own, proj, idx, bn):
    """The edge tensor written out: e[b, i, j] = own[b, i] + proj[b, idx[b, i, j]], BN, ReLU, max."""
    b, v, k = idx.shape
    e = own.unsqueeze(2) + torch.stack([proj[s][idx[s]] for s in range(b)])
    return F.relu(bn(e.reshape(-1, e.shape[-1])).view(b, v, k, -1)).amax(2)


def _case(seed, bn_kind, b=3, v=10, length=6, k=4):
    g = torch.Generator().manual_seed(seed)
    own = torch.randn(b, v, length, dtype=torch.float64, generator=g).requires_grad_(True)
    proj = torch.randn(b, v, length, dtype=torch.float64, generator=g).requires_grad_(True)
    idx = torch.stack([torch.stack([torch.randperm(v, generator=g)[:k] for _ in range(v)]) for _ in range(b)])
    if bn_kind == "none":
        return own, proj, idx, nn.Identity()
    bn = nn.BatchNorm1d(length, momentum=None if bn_kind == "cumulative" else 0.1).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=g)
        bn.bias.uniform_(-0.5, 0.5, generator=g)
        bn.running_mean.uniform_(-0.3, 0.3, generator=g)
        bn.running_var.uniform_(0.5, 2.0, generator=g)
        if bn_kind == "negative":                      # gamma < 0: the max of BN is at the min of e
            bn.weight[:3] *= -1
    return own, proj, idx, bn.eval() if bn_kind == "eval" else bn.train()


@pytest.mark.parametrize("bn_kind", ["train", "negative", "cumulative", "eval", "none"])
def test_fused_equals_the_edge_tensor_in_fp64(bn_kind):
    """Output, gradients of both terms and of BN's weight and bias, and BN's running statistics
    (two steps, so momentum and the cumulative average both act) to fp64 rounding."""
    own, proj, idx, bn = _case(0, bn_kind)
    bn_fused = copy.deepcopy(bn)
    for step in range(2):
        w = torch.randn(own.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(10 + step))
        results = []
        for fn, m in ((_edges_then_bn_max, bn), (bn_relu_max, bn_fused)):
            out = fn(own, proj, idx, m)
            grads = torch.autograd.grad((out * w).sum(), [own, proj, *m.parameters()])
            results.append((out, grads, [t.clone() for t in m.buffers()]))
        (out_a, grads_a, bufs_a), (out_b, grads_b, bufs_b) = results
        torch.testing.assert_close(out_b, out_a, rtol=0, atol=1e-12)
        assert len(grads_a) == (2 if bn_kind == "none" else 4)
        for a, b in zip(grads_a, grads_b):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
        for a, b in zip(bufs_a, bufs_b):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    assert (out_a > 0).any() and (out_a == 0).any()      # both sides of the ReLU were exercised


def test_fused_keeps_no_edge_sized_tensor_for_the_backward():
    """What autograd saves for the backward: the fused path keeps (B, V, L)-sized tensors only,
    less than half of what one edge tensor (B, V, k, L) alone would take."""
    own, proj, idx, bn = _case(1, "train", b=2, v=16, length=32, k=7)
    edge_bytes = idx.numel() * own.shape[-1] * own.element_size()

    def saved_bytes(fn):
        seen = {}

        def pack(t):
            seen[(t.data_ptr(), t.dtype, tuple(t.shape))] = t.numel() * t.element_size()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(own, proj, idx, copy.deepcopy(bn))
        return sum(seen.values())
    assert saved_bytes(_edges_then_bn_max) > 2 * edge_bytes
    assert saved_bytes(bn_relu_max) < 0.5 * edge_bytes


def test_fused_under_bf16_autocast_matches_fp32():
    """bf16 inputs (what autocast hands over): statistics in fp32, output within bf16 rounding
    of the fp32 edge-tensor path."""
    own, proj, idx, bn = _case(2, "train", b=2, v=12, length=16, k=5)
    own16, proj16 = own.bfloat16(), proj.bfloat16()
    # the fp32 path on the same bf16-rounded inputs: what is left is the output's own rounding to bf16
    ref = _edges_then_bn_max(own16.float(), proj16.float(), idx, copy.deepcopy(bn).float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bn_relu_max(own16, proj16, idx, copy.deepcopy(bn).float())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=2 ** -8, atol=1e-3)  # statistics summed in bf16 fail this


def test_neighbour_counts_and_bad_bn():
    idx = torch.tensor([[[0, 2], [2, 2], [1, 0]]])
    assert neighbour_counts(idx, 3, torch.float32).tolist() == [[[1, 0, 1], [0, 0, 2], [1, 1, 0]]]
    with pytest.raises(TypeError, match="BatchNorm1d or Identity"):
        bn_relu_max(torch.zeros(1, 3, 2), torch.zeros(1, 3, 2), idx, nn.LayerNorm(2))


@pytest.mark.parametrize("nodes,fused", [("channels", True), ("positions", False)])
def test_scc_auto_fuses_channel_nodes(nodes, fused):
    scc = SCC(map_size=4, k=3, nodes=nodes, channels=8)
    out = scc(torch.randn(2, 8, 4, 4, requires_grad=True))
    names, stack = set(), [out.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and type(fn).__name__ not in names:
            names.add(type(fn).__name__)
            stack.extend(f for f, _ in fn.next_functions)
    assert ("_BNMaxFunctionBackward" in names) == fused
    with pytest.raises(ValueError, match="aggregate"):
        SCC(map_size=4, k=3, aggregate="sparse")


@pytest.mark.gpu
def test_fused_on_cuda_bf16_agrees_and_takes_less_memory():
    """The paper's 64x64 layer (C = 256 channel nodes, k = 7) under bf16 autocast on CUDA: fused and
    autograd outputs and input gradients agree to bf16 precision, and the fused step's peak memory
    is lower."""
    torch.manual_seed(0)
    x = torch.randn(8, 256, 64, 64, device="cuda")
    results, weights = {}, SCC(64, 7).state_dict()
    for agg in ("autograd", "fused"):
        scc = SCC(64, 7, aggregate=agg)
        scc.load_state_dict(weights)
        scc = scc.cuda().train()
        xi = x.clone().requires_grad_(True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = scc(xi)
        out.float().square().mean().backward()
        torch.cuda.synchronize()
        results[agg] = (out.float(), xi.grad, torch.cuda.max_memory_allocated() - base)
    (oa, ga, ma), (ob, gb, mb) = results["autograd"], results["fused"]
    assert mb < 0.6 * ma
    assert ((oa - ob).abs() <= 0.02 * oa.abs() + 0.02).float().mean() > 0.999
    cos = torch.nn.functional.cosine_similarity(ga.flatten().double(), gb.flatten().double(), dim=0)  # fp64 sums
    assert cos > 0.99
