"""Mutation audit round 5: behaviour of HEAD that contradicts its own documentation (strict xfail until fixed)."""
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


@pytest.mark.xfail(strict=True, reason="fit(resume=False) in a folder holding an earlier run's best.pt, whose own "
                   "monitored values are never finite, ends with the earlier run's best weights: _restore_best "
                   "loads out/best.pt whenever it exists, and a run that does not resume leaves the old best.pt in "
                   "place (it deletes only metrics.jsonl)")
def test_a_fresh_run_never_restores_an_earlier_runs_best_pt(tmp_path):
    """_restore_best's docstring: no best.pt exists 'when no monitored value was finite; the last weights
    stay then'. A run that does not resume starts over (its metrics.jsonl is dropped), so its result must not
    depend on the checkpoints an earlier run left in the folder."""
    assert _run(tmp_path, [1.0, 0.0], resume=False) == pytest.approx(0.6)        # earlier run: best at epoch 1
    last = _run(tmp_path, [float("nan")] * 3, resume=False)                        # w: 0.6, 1.08, 1.464
    assert last == pytest.approx(1.464)
