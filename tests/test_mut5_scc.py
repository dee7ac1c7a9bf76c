"""Mutation audit round 5, SCC: a labelled AU whose centre is missing trains no map."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aukit.methods.scc.config import SCCTrainConfig
from aukit.methods.scc.losses import HeatmapMSELoss
from aukit.methods.scc.step import batch_targets

nan = float("nan")


def test_a_point_without_a_centre_is_left_out_of_the_loss():
    """An AU coded in a frame whose landmarks gave no centre for one of its points: that map draws nothing
    and is masked (catches it kept valid: the network would be trained to predict 0 there)."""
    centres = torch.tensor([[[[10.0, 12.0], [nan, nan]], [[30.0, 40.0], [50.0, 40.0]]]])   # (1, 2 AUs, 2, 2)
    batch = {"image": torch.zeros(1, 3, 64, 64), "centres": centres, "intensity": torch.tensor([[4.0, 2.0]])}
    target, valid = batch_targets(batch, 64, SCCTrainConfig())
    assert valid.tolist() == [[True, False, True, True]]
    assert target[0, 1].abs().sum() == 0 and target[0, 0].max().item() == 4.0
    # a prediction equal to the target everywhere but on the missing point's map: no loss
    pred = target.clone()
    pred[0, 1] = 1.0
    assert HeatmapMSELoss()(pred, target, valid).item() == 0.0


def test_predict_reads_intensities_with_the_training_targets_normalisation():
    """predict decodes with the configuration's eq1_normalised: a map of peak I / (2 pi sigma^2) reads I
    (catches the plain maxima returned for a model trained on Eq. 1's normalised targets)."""
    import math

    from aukit.methods.scc.heatmaps import gaussian_targets
    from aukit.methods.scc.step import predict

    cfg = SCCTrainConfig(sigma=2.0, eq1_normalised=True)
    points = torch.tensor([[[5.0, 6.0], [9.0, 6.0], [3.0, 3.0], [12.0, 10.0]]])
    maps = gaussian_targets(points, torch.tensor([[3.0, 3.0, 1.0, 1.0]]), 16, 2.0, True)

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return maps.expand(x.shape[0], -1, -1, -1) + self.w

    batch = {"image": torch.zeros(2, 3, 16, 16), "rows": torch.tensor([4, 7]), "intensity": torch.ones(2, 2)}
    out = predict(Fixed(), [batch], cfg)
    np.testing.assert_allclose(out["pred"], [[3.0, 1.0], [3.0, 1.0]], rtol=1e-5)
    assert out["rows"].tolist() == [4, 7] and out["loc"][0, 1].tolist() == [9.0, 6.0]
    assert maps.max().item() == pytest.approx(3.0 / (2 * math.pi * 4.0), rel=1e-5)
