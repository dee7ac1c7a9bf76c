"""CPC scores its test frames and its pretext task in the run's precision (``Plan.precision``), not always the
device's default: a run set to bf16 (or fp32 on a GPU) was trained in one numerics and scored in another."""
import numpy as np
import torch
from torch import nn

from aukit.methods.cpc import infer


class Recorder(nn.Module):
    """A per-frame model that notes whether CPU autocast was on in each forward."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.autocast = []

    def forward(self, x):
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        return self.fc(x)


def _batches():
    return [{"image": torch.ones(4, 3), "rows": torch.arange(4) + 4 * i} for i in range(2)]


def test_per_frame_scoring_follows_the_runs_precision():
    m = Recorder()
    pred, rows = infer.predict_frames(m, _batches(), "bf16")
    assert m.autocast == [True, True] and np.array_equal(rows, np.arange(8)) and pred.dtype == np.float32
    m.autocast.clear()
    infer.predict_frames(m, _batches())
    assert m.autocast == [False, False]          # auto on the CPU: fp32


def test_the_experiment_passes_its_plan_precision(monkeypatch):
    from aukit.methods.cpc import experiment
    seen = []
    monkeypatch.setattr(experiment, "predict_frames",
                        lambda model, loader, precision="auto": (seen.append(precision), (np.zeros((2, 1)),
                                                                                         np.arange(2)))[1])
    monkeypatch.setattr(experiment, "frame_loader", lambda *a, **k: None)
    monkeypatch.setattr(experiment, "_size", lambda *a: 8)
    plan = experiment.Plan(precision="bf16")
    model = nn.Linear(1, 1)
    model.cfg = None
    experiment.predict(model, None, np.arange(2), experiment.SparseConfig(), plan, "cpu")
    assert seen == ["bf16"]
