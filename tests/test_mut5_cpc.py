"""Mutation audit round 5, CPC: the frames that keep their labels and the gradient of the recursive
prediction (§3.3)."""
from __future__ import annotations

import numpy as np
import torch

from aukit.methods.cpc.config import CPCModelConfig
from aukit.methods.cpc.data import Split, labelled_rows
from aukit.methods.cpc.model import CPCNet

nan = float("nan")


def test_labelled_rows_draws_among_frames_with_any_coded_au():
    """§4 Frame selection: among training frames with at least one coded AU (catches frames whose AUs
    are only partly coded being left out)."""
    labels = np.array([[1, 0], [nan, 2], [nan, nan], [3, 1], [0, nan], [1, 1]], np.float32)
    split = Split(store=None, frames=None, train_rows=np.array([0, 1, 2, 3, 4]), test_rows=np.array([5]),
                  aus=["AU01", "AU02"], labels=labels, seq_id=np.zeros(6, np.int64), run_id=np.zeros(6, np.int64))
    assert sorted(labelled_rows(split, 1.0, seed=0).tolist()) == [0, 1, 3, 4]
    half = labelled_rows(split, 0.5, seed=1)
    assert len(half) == 2 and set(half.tolist()) <= {0, 1, 3, 4}


def test_recursive_prediction_backpropagates_through_its_own_predictions():
    """p_{C+2} = p(g(p_{C+1}, h_C)): InfoNCE on a later step trains the predictor through the earlier
    prediction too (catches p_{C+1} detached before it is fed back)."""
    torch.manual_seed(0)
    net = CPCNet(CPCModelConfig(num_aus=2))
    h = torch.randn(1, net.gru.hidden, 2, 2)
    params = list(net.predictor.parameters())
    got = torch.autograd.grad(net.predict_future(h, 2)[:, 1].pow(2).sum(), params)
    p1 = net.predictor(h)
    want = torch.autograd.grad(net.predictor(net.gru(p1, h)).pow(2).sum(), params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    direct = torch.autograd.grad(net.predictor(net.gru(p1.detach(), h)).pow(2).sum(), params)
    assert max(float((a - b).abs().max()) for a, b in zip(want, direct)) > 1e-4   # the recursion's share counts
