"""The CUDA path of every method: bf16 training steps, channels_last, inference agreement.

All tests carry the ``gpu`` marker (skipped without CUDA; ``make test-all`` on a GPU machine).
"""
from __future__ import annotations

import math

import pytest
import torch

from aukit.bench.cases import METHODS, build_case
from aukit.bench.harness import time_case
from aukit.runtime import autocast
from _deploycheck import check_bf16_agrees

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("method", METHODS)
def test_bf16_channels_last_step_trains_on_cuda(method):
    """Each method's full step (all losses) in aukit's GPU numerics: finite, and it moves the weights."""
    case = build_case(method, device="cuda", size="tiny", real=False)
    before = [p.detach().clone() for p in case.model.parameters()]
    r = time_case(case, "cuda", warmup=1, steps=2, reps=1)
    assert r["precision"] == "bf16" and r["channels_last"] is True
    assert math.isfinite(r["img_s"]) and r["img_s"] > 0 and r["peak_mem_gb"] > 0
    after = list(case.model.parameters())
    assert all(torch.isfinite(p).all() for p in after), method
    assert any(not torch.equal(a, p.detach().cpu()) for a, p in zip(before, after)), method


@pytest.mark.parametrize("method", METHODS)
def test_deployable_cuda_bf16_agrees_with_cpu_fp32(method):
    """The deployable model on the GPU in bf16 and channels_last gives the CPU fp32 answer within bf16 rounding."""
    check_bf16_agrees(method, "cuda")


@pytest.mark.parametrize("make", [lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-4),
                                  lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True,
                                                             weight_decay=5e-4)])
def test_fused_optimizers_take_the_same_steps(make):
    from aukit.train import fuse_optimizers
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5)).cuda()
    b = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5)).cuda()
    b.load_state_dict(a.state_dict())
    oa, ob = make(a.parameters()), make(b.parameters())
    assert fuse_optimizers(ob, "cuda") == [type(ob).__name__] and ob.param_groups[0]["fused"] is True
    for _ in range(5):
        x = torch.randn(16, 64, device="cuda")
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)
    assert fuse_optimizers(ob, "cuda") == []          # it holds state now: left as it is


@pytest.mark.parametrize("log_every", [1, 10])
def test_fit_on_cuda_names_the_first_non_finite_step(tmp_path, log_every):
    """On CUDA fit reads its NaN flag only every log_every steps (no per-step sync), yet names the exact
    step, whether it is caught at a log step (1) or at the end of the epoch (10 > 4 steps per epoch)."""
    from aukit.train import NonFiniteLossError, StepOutput, TrainConfig, fit
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).cuda()
    data = [(torch.randn(8, 4, device="cuda"), torch.randn(8, 1, device="cuda")) for _ in range(4)]
    calls = {"n": 0}

    def step(m, batch):
        calls["n"] += 1
        loss = (m(batch[0]) - batch[1]).pow(2).mean()
        if calls["n"] in (6, 7):                      # epoch 2, steps 2 and 3: the first is reported
            loss = loss * float("nan")
        return StepOutput(loss, {}, n_images=8)

    cfg = TrainConfig(epochs=3, out_dir=str(tmp_path), progress=False, log_every=log_every)
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 2;"):
        fit(model, step, data, torch.optim.SGD(model.parameters(), lr=0.01), cfg, device="cuda")


def test_fp16_refuses_a_manual_gradient_step():
    """fp16's GradScaler would unscale gradients a manual step never scaled (PIAP-DF's DF)."""
    from aukit.train import StepOutput, TrainConfig, fit
    model = torch.nn.Linear(4, 1).cuda()

    def step(m, batch):
        loss = m(batch).square().mean()
        loss.backward()
        return StepOutput(loss.detach(), {}, n_images=8, manual=True)

    with pytest.raises(ValueError, match="manual-gradient step"):
        fit(model, step, [torch.randn(8, 4, device="cuda")], torch.optim.SGD(model.parameters(), lr=0.1),
            TrainConfig(epochs=1, precision="fp16", progress=False, resume=False), device="cuda")


@pytest.mark.parametrize("method", METHODS)
def test_step_never_waits_for_the_host(method):
    """The bench step of each method (main configuration, every loss on) launches its forward and backward
    without one host sync (CUDA's sync debug mode raises). PIAP-DF's step also runs its student's
    optimizer step (Eq. 8, fused SGD: sync-free) and its own backward passes (manual gradients)."""
    from aukit.train import TrainConfig, fuse_optimizers, prepare_model
    torch.manual_seed(0)
    case = build_case(method, device="cuda", size="tiny", real=False)
    model = prepare_model(case.model, torch.device("cuda"), TrainConfig())   # as the bench: channels_last
    fuse_optimizers(case.optimizer, "cuda")
    opts = list(case.optimizer.values()) if isinstance(case.optimizer, dict) else [case.optimizer]
    batch = case.synthetic_batch()

    def forward_backward():
        for o in opts:
            o.zero_grad(set_to_none=True)
        with autocast("cuda", "bf16"):
            out = case.step_fn(model, batch)
        if not out.manual:
            out.loss.backward()
        return out

    forward_backward()                          # warm-up: cuDNN picks its kernels, generators and state appear
    for o in opts:
        o.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = forward_backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    for o in opts:
        o.step()
    assert torch.isfinite(out.loss) and all(torch.isfinite(torch.as_tensor(v)).all() for v in out.logs.values())
