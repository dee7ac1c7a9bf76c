"""Mutation audit round 5, aukit.train.fit: ties of the monitored value, the images counted, and the
best value / restore_best across a resume and with an out_dir."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aukit import checkpoint as ckpt
from aukit import train
from aukit.train import StepOutput, TrainConfig, fit


def _w():
    w = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(w.weight)
    return w


def _step(m, batch):
    """loss = (w - 3)^2: SGD at lr 0.1 moves w 0 -> 0.6 -> 1.08 -> 1.464 -> ..."""
    return StepOutput((m.weight.sum() - 3.0) ** 2, n_images=3)


def _fit(w, scores, cfg, n_batches=1):
    it = iter(scores)
    opt = torch.optim.SGD(w.parameters(), lr=0.1)
    return fit(w, _step, [{}] * n_batches, opt, cfg, device="cpu", evaluate=lambda m, e: {"v": next(it)})


def test_a_tie_with_the_best_is_no_improvement(tmp_path):
    """A monitored value equal to the best does not improve it: best.pt stays at the first epoch and the
    tie counts towards patience (catches >= in max mode)."""
    cfg = TrainConfig(epochs=5, out_dir=str(tmp_path), progress=False, monitor="v", mode="max", patience=2)
    hist = _fit(_w(), [0.5, 0.5, 0.5, 0.5, 0.5], cfg)
    assert len(hist) == 3                                        # epoch 1 best, two stale epochs: stop
    assert ckpt.load_checkpoint(tmp_path / "best.pt", _w())["epoch"] == 0


def test_images_per_second_counts_every_steps_images():
    """An epoch of 5 steps of 3 images is 15 images (catches the count replaced by the last step's)."""
    hist = _fit(_w(), [0.0], TrainConfig(epochs=1, progress=False), n_batches=5)
    assert hist[0]["images_per_s"] * hist[0]["epoch_time_s"] == pytest.approx(15)
    assert train.FITS[-1]["images"] == 15


def test_a_resumed_run_keeps_its_best_value(tmp_path):
    """Resumed, a run compares its monitored value with the best of the epochs before the interruption
    (catches the best forgotten: a worse epoch after the resume would overwrite best.pt)."""
    cfg = TrainConfig(epochs=2, out_dir=str(tmp_path), progress=False, monitor="v", mode="max")
    _fit(_w(), [0.9, 0.5], cfg)
    w = _w()
    hist = _fit(w, [0.6], TrainConfig(epochs=3, out_dir=str(tmp_path), progress=False, monitor="v", mode="max"))
    assert [h["v"] for h in hist] == [0.9, 0.5, 0.6]
    assert ckpt.load_checkpoint(tmp_path / "best.pt", _w())["epoch"] == 0
    assert w.weight.item() == pytest.approx(0.6)                 # restore_best: epoch 1's weights


def test_restore_best_false_keeps_the_last_weights_with_an_out_dir(tmp_path):
    """restore_best=False ends with the last epoch's weights, out_dir or not (catches best.pt loaded
    regardless)."""
    w = _w()
    _fit(w, [1.0, 0.0, 0.0], TrainConfig(epochs=3, out_dir=str(tmp_path), progress=False, monitor="v",
                                          mode="max", restore_best=False))
    assert w.weight.item() == pytest.approx(1.464)
    assert ckpt.load_checkpoint(tmp_path / "best.pt", _w())["epoch"] == 0


def test_every_optimizer_of_a_dict_steps():
    """A dict of optimizers (RTATL's net and critic) is stepped as a whole after each batch (catches only
    the first one stepped)."""
    a, b = _w(), _w()
    model = nn.ModuleDict({"a": a, "b": b})
    opts = {"net": torch.optim.SGD(a.parameters(), lr=0.1), "critic": torch.optim.SGD(b.parameters(), lr=0.5)}

    def step(m, batch):
        return StepOutput((m["a"].weight.sum() - 3.0) ** 2 + (m["b"].weight.sum() - 1.0) ** 2, n_images=1)

    fit(model, step, [{}, {}], opts, TrainConfig(epochs=1, progress=False), device="cpu")
    assert a.weight.item() == pytest.approx(1.08)                 # 0 -> 0.6 -> 1.08
    assert b.weight.item() == pytest.approx(1.0)                  # 0 -> 1 (lr 0.5 on (w - 1)^2) -> 1


class _EpochLoader:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, e):
        self.epochs.append(e)

    def __len__(self):
        return 1

    def __iter__(self):
        yield {}


def test_the_loader_is_told_each_epoch_also_after_a_resume(tmp_path):
    """set_epoch(epoch) before each epoch (the loaders' order is a function of seed and epoch): catches the
    same epoch's order replayed every epoch."""
    loader = _EpochLoader()
    opt_w = _w()
    fit(opt_w, _step, loader, torch.optim.SGD(opt_w.parameters(), lr=0.1),
        TrainConfig(epochs=2, out_dir=str(tmp_path), progress=False), device="cpu")
    again = _EpochLoader()
    w = _w()
    fit(w, _step, again, torch.optim.SGD(w.parameters(), lr=0.1),
        TrainConfig(epochs=4, out_dir=str(tmp_path), progress=False), device="cpu")
    assert loader.epochs == [0, 1] and again.epochs == [2, 3]


def test_the_steps_run_in_training_mode_whatever_mode_the_model_came_in():
    """A model handed over in eval mode (after an evaluation, say) trains in train mode: Dropout and
    BatchNorm's batch statistics on (catches the mode left as it came)."""
    w = _w().eval()
    modes = []

    def step(m, batch):
        modes.append(m.training)
        return _step(m, batch)

    fit(w, step, [{}, {}], torch.optim.SGD(w.parameters(), lr=0.1), TrainConfig(epochs=1, progress=False), device="cpu")
    assert modes == [True, True]


def test_a_step_scheduler_steps_after_the_optimizer():
    """scheduler_interval='step': each batch's update uses the lr before that batch's scheduler step
    (PyTorch's order): lr 1 then 0.5 on a gradient of 1 gives w = -1.5 (catches the scheduler stepped
    first: -0.75)."""
    w = _w()
    opt = torch.optim.SGD(w.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    fit(w, lambda m, b: StepOutput(m.weight.sum(), n_images=1), [{}, {}], opt,
        TrainConfig(epochs=1, scheduler_interval="step", progress=False), device="cpu", scheduler=sched)
    assert w.weight.item() == pytest.approx(-1.5)
