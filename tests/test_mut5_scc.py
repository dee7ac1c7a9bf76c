"""Mutation audit round 5, SCC: a labelled AU whose centre is missing trains no map."""
from __future__ import annotations

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
