"""The GPU's numerics and layout checked on the CPU: every method's tiny training step under
bf16 autocast gives the fp32 step's loss and gradients within bf16's precision, and in
channels_last (the layout CUDA trains in) the NCHW step's.

CUDA runs bf16 and channels_last by default and CI has no GPU; the CPU runs the same autocast
rules and memory formats, so a step that casts wrongly, keeps a stale bf16 weight, loses a loss
term in bf16 or assumes NCHW strides shows here.
"""
from __future__ import annotations

import pytest
import torch

from aukit.bench.cases import METHODS, as_loaded, build_case
from aukit.runtime import autocast
from _deploycheck import check_bf16_agrees


def _channels_last(batch: dict) -> dict:
    return {k: _channels_last(v) if isinstance(v, dict) else as_loaded(v, torch.channels_last) if k == "image" else v
            for k, v in batch.items()}


def _grads(method: str, precision: str, channels_last: bool = False) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    case = build_case(method, device="cpu", size="tiny", real=False)
    model = case.model.train()
    batch = case.synthetic_batch()
    if channels_last:
        model, batch = model.to(memory_format=torch.channels_last), _channels_last(batch)
    opts = case.optimizer.values() if isinstance(case.optimizer, dict) else [case.optimizer]
    for o in opts:
        o.zero_grad(set_to_none=True)
    torch.manual_seed(1)                          # the same random draws inside both steps
    with autocast("cpu", precision):
        res = case.step_fn(model, batch)
    if not res.manual:
        res.loss.backward()
    flat = torch.cat([p.grad.reshape(-1).float() if p.grad is not None else torch.zeros(p.numel())
                      for p in model.parameters()])
    return float(res.loss.detach()), flat


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two flat gradients, summed in fp64: over millions of fp32 elements an fp32 cosine
    drifts by up to 6e-3 (RTATL's gradient with itself: 1.006), past the tolerances asked of it."""
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


@pytest.mark.parametrize("method", METHODS)
def test_bf16_step_matches_fp32(method):
    loss32, g32 = _grads(method, "fp32")
    loss16, g16 = _grads(method, "bf16")
    assert g32.abs().sum() > 0
    assert loss16 == pytest.approx(loss32, rel=0.03, abs=1e-3)
    cos = _cosine(g32, g16)
    assert cos > 0.85, f"{method}: bf16 gradient direction differs from fp32 (cosine {cos:.4f})"


@pytest.mark.parametrize("method", METHODS)
def test_channels_last_step_matches_nchw(method):
    loss, g = _grads(method, "fp32")
    loss_cl, g_cl = _grads(method, "fp32", channels_last=True)
    assert loss_cl == pytest.approx(loss, rel=1e-5)
    # each layout sums in its own order and the tiny random nets amplify fp32 rounding (RTATL's
    # NCHW gradients are 0.24% from fp64's; in fp64 the two layouts agree to 2e-14), so the
    # direction is compared, not each value
    assert _cosine(g, g_cl) > 0.9999


def test_contrastive_scores_stay_fp32_under_bf16_autocast():
    """CPC's InfoNCE, RTATL's surrogate-class loss and TAS's L_sub score pairs in fp32 under
    autocast: the same value as without it (autocast would otherwise cast their matmuls to bf16)."""
    from aukit.methods.cpc.losses import InfoNCELoss
    from aukit.methods.rtatl.losses import ExemplarLoss
    from aukit.methods.tas.losses import SubjectLoss

    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(4, 3, 16, 2, 2, generator=g), torch.randn(4, 3, 16, 2, 2, generator=g)
    z1, z2 = torch.randn(8, 32, generator=g), torch.randn(8, 32, generator=g)
    feats = torch.randn(6, 3, 16, generator=g)
    levels, groups = torch.randint(0, 2, (6, 3), generator=g), torch.arange(6) % 3
    losses = {"cpc": lambda: InfoNCELoss()(pred, target), "rtatl": lambda: ExemplarLoss(0.1)(z1, 2 * z1 + 0.01 * z2),
              "tas": lambda: SubjectLoss()(feats + 0.001 * torch.arange(6.0).view(6, 1, 1), levels, groups)}
    for name, loss in losses.items():
        plain = loss()
        with autocast("cpu", "bf16"):
            mixed = loss()
            assert InfoNCELoss().logits(pred, target).dtype == torch.float32
        assert mixed.dtype == torch.float32 and torch.allclose(mixed, plain, rtol=1e-6, atol=1e-7), name


@pytest.mark.parametrize("method", METHODS)
def test_deployable_in_bf16_and_channels_last_agrees_with_fp32(method):
    """What ``aukit predict`` runs on a GPU, on the CPU: the fp32 answer within bf16 rounding."""
    check_bf16_agrees(method, "cpu")
