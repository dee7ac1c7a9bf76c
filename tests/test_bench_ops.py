"""Operators per training step (aukit.bench.ops): counted exactly, and the same at every batch size.

"No Python-side per-sample work in the hot loop" (issue #11) as a test: a step or a loader that
looped over samples would dispatch more operators for a bigger batch.
"""
from __future__ import annotations

import pytest
import torch

from aukit.bench.cases import METHODS, build_case
from aukit.bench.harness import StepCase
from aukit.bench.ops import OpCounter, step_ops
from aukit.train import StepOutput


def test_counter_counts_each_operator_and_tells_views_from_kernels():
    x = torch.ones(4, 3)
    with OpCounter() as c:
        y = (x * 2).t()            # a kernel and a view
        (y + 1).sum()              # two kernels
    assert c.ops == {"aten.mul": 1, "aten.t": 1, "aten.add": 1, "aten.sum": 1}
    assert (c.total, c.views, c.kernels) == (4, 1, 3)


def test_step_ops_splits_the_step_from_the_optimizer():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, foreach=False)

    def step(m, batch):
        return StepOutput(m(batch["image"]).square().mean(), {}, n_images=batch["image"].shape[0])

    case = StepCase("toy", model, step, opt, 4, 4, lambda: {"image": torch.randn(4, 3)})
    r = step_ops(case, "cpu")
    # forward: addmm, pow, mean (+ views); backward adds their gradients; the optimizer's work is apart
    assert r["step_ops"] > r["step_kernel_ops"] >= 6
    assert r["optimizer_ops"] >= 2 * 2                       # momentum and parameter update, two tensors
    assert r["top"][0]["per_step"] >= 1 and r["precision"] == "fp32"


@pytest.mark.parametrize("method", METHODS)
def test_a_step_dispatches_the_same_operators_at_every_batch_size(method):
    small, big = (step_ops(build_case(method, device="cpu", size="tiny", real=False, data={"batch_size": n}), "cpu")
                  for n in (2, 5))
    assert small["images_per_batch"] < big["images_per_batch"]
    assert small["step_ops"] > 100
    assert (small["step_ops"], small["step_kernel_ops"], small["optimizer_ops"]) == \
           (big["step_ops"], big["step_kernel_ops"], big["optimizer_ops"])


def _loader_ops(method: str, batch_size: int) -> int:
    case = build_case(method, device="cpu", size="tiny", real=True, data={"batch_size": batch_size})
    batches = iter(case.loader(0))
    next(batches)                       # the first batch starts the loader (threads, cached tensors)
    with OpCounter() as c:
        batch = next(batches)
    assert batch
    return c.total


@pytest.mark.parametrize("method", METHODS)
def test_the_real_data_path_dispatches_the_same_operators_at_every_batch_size(synthau_tiny, method):
    small, big = _loader_ops(method, 2), _loader_ops(method, 4)
    assert small > 5                    # the batch is decoded, normalised (and augmented) on this thread
    assert small == big


def test_bench_reports_the_operators_of_each_step(synthau_tiny, tmp_path):
    from aukit.bench.run import run_bench
    res = run_bench(["scc"], device="cpu", preset="tiny", out=tmp_path, reps=1, steps=1, warmup=1, prepare=False,
                    inference=False, predict=False, on_error="raise")
    ops = res["methods"]["scc"]["ops"]
    case = build_case("scc", device="cpu", size="tiny", real=False)
    assert ops["step_ops"] == step_ops(case, "cpu")["step_ops"] and ops["batch_size"] == case.batch_size
    assert res["methods"]["scc"]["profile"]["inside"]["device_ms"] is None      # no device time on a CPU
    md = (tmp_path / "bench.md").read_text()
    assert "## Host work per step" in md
    assert f"| scc | {case.batch_size} | {ops['step_ops']} ({ops['step_kernel_ops']}) | {ops['optimizer_ops']} |" in md


@pytest.mark.gpu
def test_gpu_profile_and_counts_see_the_kernels(synthau_tiny):
    """On CUDA the optimizer is one fused kernel per optimizer and the profile times the kernels:
    their time per step is positive and no longer than the profiled step."""
    from aukit.bench.harness import label_profile
    case = build_case("scc", device="cuda", size="tiny", real=False)
    ops = step_ops(case, "cuda")
    assert ops["precision"] == "bf16" and ops["optimizer_ops"] < 10
    prof = label_profile(case, "cuda", real=False, warmup=1, steps=2)
    assert 0 < prof["device_ms"] <= prof["step_ms"]
    assert prof["kernels_per_step"] >= ops["step_kernel_ops"] / 4


def test_cli_ops_only_counts_without_timing(tmp_path, capsys):
    import json

    from aukit import cli
    cli.main(["bench", "--ops-only", "--preset", "tiny", "--methods", "scc,cpc", "--data", "scc.batch_size=3",
              "--out", str(tmp_path)])
    res = json.loads((tmp_path / "ops.json").read_text())
    assert list(res["methods"]) == ["scc", "cpc"] and res["preset"] == "tiny"
    scc = build_case("scc", device="cpu", size="tiny", real=False, data={"batch_size": 3})
    assert res["methods"]["scc"]["step_ops"] == step_ops(scc, "cpu")["step_ops"]
    assert res["methods"]["scc"]["batch_size"] == 3
    assert "| scc | 3 |" in (tmp_path / "ops.md").read_text() and "| scc | 3 |" in capsys.readouterr().out
    # a method not named in --data counts at batch 2: the paper batch ran a 23 GB CPU machine out of memory
    assert res["methods"]["cpc"]["batch_size"] == 2 and res["data"]["cpc"] == {"batch_size": 2}
    with pytest.raises(SystemExit, match="unknown methods"):
        cli.main(["bench", "--ops-only", "--methods", "tas,nope", "--out", str(tmp_path)])
