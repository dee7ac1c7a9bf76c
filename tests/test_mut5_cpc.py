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


def _frames(n_seq=5, n=20):
    import pandas as pd
    df = pd.DataFrame([{"subject": f"s{q}", "sequence": "T1", "frame": f} for q in range(n_seq) for f in range(n)])
    return df.assign(row=np.arange(len(df)))


def test_split_sequences_holds_out_the_validation_fraction_of_sequences():
    """§4: a random val_fraction of the sequences is for validation, the rest trains (catches the two
    returned the other way round)."""
    from aukit.methods.cpc.data import split_sequences
    seq = np.repeat(np.arange(10), 3)
    split = Split(store=None, frames=None, train_rows=np.arange(30), test_rows=np.zeros(0, np.int64), aus=[],
                  labels=np.zeros((30, 0), np.float32), seq_id=seq, run_id=seq)
    train, val = split_sequences(split, np.arange(30), 0.2, seed=0)
    assert len(np.unique(seq[val])) == 2 and len(np.unique(seq[train])) == 8
    assert sorted(np.r_[train, val].tolist()) == list(range(30))


def test_pretraining_clip_anchors_are_drawn_at_random_among_the_rows():
    """n anchors are n random rows of those a clip can hold (catches the first n rows taken: every clip
    from the first sequence)."""
    from aukit.methods.cpc.data import clip_rows
    frames = _frames()
    clips = clip_rows(frames, frames["row"].to_numpy(), 4, 2, 8, seed=0, announce=lambda s: None)
    seqs = frames["subject"].to_numpy()[clips]
    assert clips.shape == (8, 4) and (seqs == seqs[:, :1]).all()          # each clip inside one sequence
    assert len(set(seqs[:, 0])) >= 3                                        # 8 of 70 anchors: spread over them
    np.testing.assert_array_equal(np.diff(clips, axis=1), 2)               # stride 2 inside each clip


def _still(**kw):
    from aukit.methods.cpc.augment import ClipAugment
    base = dict(rotation=0, scale=0, translate=0, flip=False, brightness=0, contrast=0, saturation=0, hue=0)
    return ClipAugment(**{**base, **kw})


def test_translation_reaches_its_fraction_of_the_side():
    """translate = 0.1: shifts uniform in +-10% of the side, 3.2 px of 32 (catches half the range)."""
    ramp = torch.arange(32.0).view(1, 1, 32).expand(3, 32, 32) / 32      # value = x / 32, in [0, 1)
    x = ramp.expand(300, 3, 32, 32).contiguous()
    out = _still(translate=0.1)(x, torch.Generator().manual_seed(0))
    shift = ((out - x)[:, 0, 16, 10:22] * 32).mean(1)                     # in pixels, away from the borders
    assert shift.abs().max() <= 3.2 + 1e-3 and shift.abs().max() > 3.0


def test_hue_turns_the_chroma_by_up_to_its_fraction_of_a_full_turn():
    """hue = 0.2: the IQ chroma plane turns by up to +-0.2 * 360 degrees (catches half the range)."""
    import math

    from aukit.methods.cpc.augment import _RGB2YIQ
    colour = torch.tensor([0.5, 0.45, 0.55])
    x = colour.view(1, 3, 1, 1).expand(300, 3, 4, 4).contiguous()
    out = _still(hue=0.2)(x, torch.Generator().manual_seed(0))
    iq_in = _RGB2YIQ @ colour
    iq_out = torch.einsum("ij,bj->bi", _RGB2YIQ, out[:, :, 0, 0])
    turn = torch.atan2(iq_out[:, 2], iq_out[:, 1]) - torch.atan2(iq_in[2], iq_in[1])
    turn = torch.remainder(turn + math.pi, 2 * math.pi) - math.pi
    assert turn.abs().max() <= 0.4 * math.pi + 1e-3 and turn.abs().max() > 0.37 * math.pi
