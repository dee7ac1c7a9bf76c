"""fit as a library user calls it: evaluate's values, the monitored metric, restoring the best epoch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from aukit import checkpoint as ckpt
from aukit import metrics as M
from aukit.train import StepOutput, TrainConfig, fit


def _batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=g)
    y = x.sum(1, keepdim=True)
    return [{"x": x[i:i + 8], "y": y[i:i + 8]} for i in range(0, 32, 8)]


def _step(model, batch):
    return StepOutput(nn.functional.mse_loss(model(batch["x"]), batch["y"]), n_images=8)


def _fit(values, **cfg):
    """Train a Linear(4, 1) for len(values) epochs, evaluate giving ``{"val": values[epoch]}``;
    returns (model, history, the weights each evaluated epoch ended with)."""
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    weights = []

    def evaluate(m, epoch):
        weights.append(m.weight.detach().clone())
        return {"val": values[epoch]}

    cfg = TrainConfig(epochs=len(values), monitor="val", progress=False, **cfg)
    hist = fit(model, _step, _batches(), torch.optim.SGD(model.parameters(), lr=0.05), cfg, device="cpu",
               evaluate=evaluate)
    return model, hist, weights


def test_evaluate_returning_per_au_names_the_key_that_is_no_number():
    rng = np.random.default_rng(0)
    res = M.per_au("mae", rng.uniform(0, 5, (20, 2)), rng.uniform(0, 5, (20, 2)), ["AU01", "AU02"])
    model = nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for bad, key, kind in [(res, "flags", "dict"), ({"v": torch.ones(3)}, "v", "Tensor"), ({"v": "0.5"}, "v", "str")]:
        with pytest.raises(TypeError, match=rf"evaluate returned '{key}' as a {kind}, not a number: evaluate must "
                                            r"return a dict of numbers .*flat_per_au"):
            fit(model, _step, _batches(), opt, TrainConfig(epochs=1, progress=False), device="cpu",
                evaluate=lambda m, e, bad=bad: bad)
    with pytest.raises(TypeError, match=r"evaluate\(model, epoch\) returned a float: it must return a dict"):
        fit(model, _step, _batches(), opt, TrainConfig(epochs=1, progress=False), device="cpu",
            evaluate=lambda m, e: 0.5)                       # an AttributeError ('float' has no 'items') before
    flat, _ = M.flat_per_au(["mae"], rng.uniform(0, 5, (20, 2)), rng.uniform(0, 5, (20, 2)), ["AU01", "AU02"])
    numbers = {**flat, "t": torch.tensor([0.25]), "n": np.float32(0.5), "a": np.array(2.0)}
    hist = fit(model, _step, _batches(), opt, TrainConfig(epochs=1, progress=False), device="cpu",
               evaluate=lambda m, e: numbers)
    assert {k: hist[0][k] for k in ("t", "n", "a", "mae_avg")} == {"t": 0.25, "n": 0.5, "a": 2.0,
                                                                   "mae_avg": flat["mae_avg"]}


def test_a_nan_monitored_value_is_never_the_best(tmp_path):
    """A NaN in epoch 1 became the best and lost every later comparison: best.pt froze at the NaN
    epoch, and patience counted the real improvements after it as stale epochs."""
    nan = float("nan")
    model, hist, weights = _fit([nan, 0.5, 0.9], mode="max", out_dir=str(tmp_path / "a"))
    assert ckpt.load_checkpoint(tmp_path / "a" / "best.pt", nn.Linear(4, 1))["epoch"] == 2
    assert torch.equal(model.weight, weights[2])
    _, hist, _ = _fit([nan, 0.5, 0.6, 0.7, 0.8], mode="min", patience=2, out_dir=str(tmp_path / "b"))
    assert len(hist) == 4                          # the NaN stale, 0.5 the best, 0.6 and 0.7 stale: stop
    _, hist, _ = _fit([nan, nan, 0.1], patience=2, out_dir=str(tmp_path / "c"))
    assert len(hist) == 2 and not (tmp_path / "c" / "best.pt").exists()


def test_a_nan_best_resumed_from_an_older_last_pt_loses_to_a_number(tmp_path):
    _fit([0.5], out_dir=str(tmp_path))
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    state["extra"]["best"] = float("nan")          # what fit wrote before NaN was kept from the best
    torch.save(state, tmp_path / "last.pt")
    model, _, weights = _fit([0.5, 0.2, 0.1], out_dir=str(tmp_path))
    assert ckpt.load_checkpoint(tmp_path / "best.pt", nn.Linear(4, 1))["epoch"] == 1
    assert torch.equal(model.weight, weights[0])   # epoch 2's, the first this call evaluated


def test_restore_best_without_out_dir_keeps_the_best_weights_in_memory():
    """Without an out_dir there is no best.pt: fit returned the last epoch's weights."""
    model, _, weights = _fit([0.0, 1.0, 2.0], mode="min")
    assert torch.equal(model.weight, weights[0]) and not torch.equal(model.weight, weights[2])
    model, _, weights = _fit([float("nan"), 1.0, 2.0, 0.5], mode="max")
    assert torch.equal(model.weight, weights[2])
    model, _, weights = _fit([0.0, 1.0, 2.0], mode="min", restore_best=False)
    assert torch.equal(model.weight, weights[2])
