"""Mutation audit round 5: two bugs it found (fixed since): an earlier run's best.pt restored by a fresh run, and an
RTATL run resumed from last.pt replaying epoch 1's random draws."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aukit.train import StepOutput, TrainConfig, fit


def _run(out_dir, scores, resume):
    w = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(w.weight)
    it = iter(scores)
    opt = torch.optim.SGD(w.parameters(), lr=0.1)
    fit(w, lambda m, b: StepOutput((m.weight.sum() - 3.0) ** 2, n_images=1), [{}], opt,
        TrainConfig(epochs=len(scores), out_dir=str(out_dir), resume=resume, progress=False, monitor="v"),
        device="cpu", evaluate=lambda m, e: {"v": next(it)})
    return w.weight.item()


def test_a_fresh_run_never_restores_an_earlier_runs_best_pt(tmp_path):
    """_restore_best's docstring: no best.pt exists 'when no monitored value was finite; the last weights
    stay then'. A run that does not resume starts over (its metrics.jsonl is dropped), so its result must not
    depend on the checkpoints an earlier run left in the folder."""
    assert _run(tmp_path, [1.0, 0.0], resume=False) == pytest.approx(0.6)        # earlier run: best at epoch 1
    last = _run(tmp_path, [float("nan")] * 3, resume=False)                        # w: 0.6, 1.08, 1.464
    assert last == pytest.approx(1.464)


def test_a_resumed_rtatl_run_equals_the_uninterrupted_run(tmp_path):
    """RTATLStep: 'Seeded for resumable randomness'; aukit.train.fit resumes weights, optimizer, scheduler and
    RNG from last.pt, so 1 epoch + a resumed 2nd epoch must give the weights of 2 epochs in one go."""
    from test_mut5_rtatl import INP, PATCH, _batch, _net

    from aukit.methods.rtatl import RTATLStep

    batches = [_batch(seed=1)]

    def run(out, epochs):
        net, tc = _net(mask_prob=0.5)
        fit(net, RTATLStep(tc, INP, PATCH), batches, torch.optim.SGD(net.parameters(), lr=0.01),
            TrainConfig(epochs=epochs, out_dir=str(out), progress=False), device="cpu")
        return net.state_dict()

    whole = run(tmp_path / "whole", 2)
    run(tmp_path / "cut", 1)
    resumed = run(tmp_path / "cut", 2)
    for k, v in whole.items():
        assert torch.equal(v, resumed[k]), k
