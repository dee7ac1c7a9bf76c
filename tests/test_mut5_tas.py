"""Mutation audit round 5, TAS: the rank loss's gradient, the step's λ weights and the Table 4 batches.

Each test catches a wrong implementation the older tests let through (named in its docstring).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from aukit.methods.tas import TASLossConfig
from aukit.methods.tas import data as tas_data
from aukit.methods.tas.losses import RankLoss
from aukit.methods.tas.step import TASStep

nan = float("nan")


# ---------------------------------------------------------------- Eq. 2's gradient
def test_rank_loss_gradient_reaches_the_first_frame():
    """Δf^t = ||f^t - f^1||: the first frame's features get a gradient too (catches f^1 detached)."""
    torch.manual_seed(3)
    feats = torch.randn(3, 5, 4, requires_grad=True)
    RankLoss(margin=0.5)(feats).backward()
    got = feats.grad.clone()

    ref_feats = feats.detach().clone().requires_grad_(True)
    total = 0.0
    for i in range(3):
        delta = torch.stack([torch.zeros(())] + [torch.linalg.norm(ref_feats[i, k] - ref_feats[i, 0])
                                                 for k in range(1, 5)])
        total = total + F.relu(delta[:-1] - delta[1:] + 0.5).sum()
    (total / 3).backward()
    assert ref_feats.grad[:, 0].abs().sum() > 0.1
    torch.testing.assert_close(got, ref_feats.grad, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- Eq. 5's weights
class _Toy(torch.nn.Module):
    """Images (N, 3, 2, 2) -> intensities (N, C) (a sigmoid of a linear map, so that a mix of two images
    is not predicted as the mix of their predictions: L_spd > 0) and features (N, C, d)."""

    def __init__(self, c=2, d=3):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = torch.nn.Parameter(torch.randn(12, c, generator=g))
        self.f = torch.nn.Parameter(torch.randn(12, c * d, generator=g))
        self.c, self.d = c, d

    def forward(self, x, return_features=False):
        z = x.flatten(1)
        v = torch.sigmoid(3 * z @ self.a)
        feats = F.normalize((z @ self.f).view(-1, self.c, self.d), dim=-1)
        return (v, feats) if return_features else v


def test_step_weighs_each_term_by_its_own_lambda():
    """Eq. 5 with three different λ: catches λ_spd or λ_sub swapped for another term's weight (the older
    test's terms were too small to tell)."""
    torch.manual_seed(0)
    b, t, c = 4, 4, 2
    target = torch.full((b, t, c), nan)
    seg_au = torch.tensor([0, 1, 0, 1])
    target[torch.arange(b), 0, seg_au] = 0.0
    target[torch.arange(b), -1, seg_au] = 0.6                     # same level across subjects: L_sub pairs
    batch = {"image": torch.randn(b, t, 3, 2, 2), "target": target, "seg_au": seg_au,
             "subject": torch.tensor([0, 1, 2, 3])}
    cfg = TASLossConfig(lambda_rank=0.3, lambda_spd=0.7, lambda_sub=0.2)
    out = TASStep(cfg)(_Toy(), batch)
    logs = {k: float(v) for k, v in out.logs.items()}
    assert min(logs["rank"], logs["spd"], logs["sub"]) > 1e-3, logs
    want = logs["reg"] + 0.3 * logs["rank"] + 0.7 * logs["spd"] + 0.2 * logs["sub"]
    assert float(out.loss.detach()) == pytest.approx(want, rel=1e-6)


# ---------------------------------------------------------------- Table 4's batches
class _Loader:
    """Stands in for BatchLoader: batches of ``rows`` in order, with their positions (``index``)."""
    made: list = []

    def __init__(self, store, rows, batch_size, *, device, seed=0, augment=None, **kw):
        self.rows, self.bs, self.yielded = np.asarray(rows), batch_size, []
        _Loader.made.append(self)

    def set_epoch(self, epoch):
        pass

    def __len__(self):
        return len(self.rows) // self.bs

    def __iter__(self):
        for i in range(len(self)):
            sel = np.arange(i * self.bs, (i + 1) * self.bs)
            r = torch.as_tensor(self.rows[sel])
            self.yielded.append(self.rows[sel])
            yield {"image": torch.zeros(*r.shape, 3, 2, 2), "rows": r, "index": torch.as_tensor(sel)}


def _data(n=24, T=4):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (n, 2)).astype(np.float32) / 5
    labels[::3, 1] = nan                                            # every third frame lacks AU 2
    labels[5] = nan                                                 # frame 5 has no label at all
    seg_rows = np.array([[0, 2, 4, 6], [7, 9, 11, 13], [14, 15, 16, 17], [18, 19, 20, 23]])
    return tas_data.TASData("synthau-bp4d", None, ["AU06", "AU12"], labels,
                            (np.arange(n) % 3).astype(np.int64), np.arange(18), np.arange(18, n),
                            seg_rows, np.array([1, 0, 0, 1]), ["a", "b", "c"], ["d"])


@pytest.fixture
def fake_loader(monkeypatch):
    _Loader.made = []
    monkeypatch.setattr(tas_data, "BatchLoader", _Loader)
    return _Loader


def test_keyframe_setting_labels_the_two_ends_of_each_segment_only(fake_loader):
    """TAS's keyframe setting: only target[i, 0, c_i] and target[i, T-1, c_i] are labelled (catches the
    second keyframe read at T-2)."""
    data = _data()
    batch = next(iter(tas_data.segment_batches(data, "keyframe", batch_size=4)))
    target = batch["target"].numpy()
    rows = fake_loader.made[-1].yielded[0]
    for i, c in enumerate(batch["seg_au"].tolist()):
        want = np.full((4, 2), nan, np.float32)
        want[0, c], want[-1, c] = data.labels[rows[i, 0], c], data.labels[rows[i, -1], c]
        np.testing.assert_array_equal(target[i], want)


def test_s3_uses_every_frame_with_any_label_and_its_own_subject(fake_loader):
    """S3 (Table 4): frames with at least one coded AU (not only those with all AUs coded), each frame
    with its own subject id (catches the subjects of a frame batch taken in the wrong order)."""
    data = _data()
    batches = list(tas_data.segment_batches(data, "S3", batch_size=1, label_fraction=1.0))
    rows = fake_loader.made[-1].rows
    want = [r for r in data.train_rows if np.isfinite(data.labels[r]).any()]
    assert sorted(rows.tolist()) == want                       # 17 of the 18 training frames, with frame 5 out
    assert sum(len(r) for r in fake_loader.made[-1].yielded) == 16     # 4 batches of batch_size * T frames
    for b, r in zip(batches, fake_loader.made[-1].yielded):
        np.testing.assert_array_equal(b["subject"].numpy(), data.subject_id[r])
        np.testing.assert_array_equal(b["target"].numpy(), data.labels[r])


class _Store:
    def __init__(self, index):
        self.index, self.path = index, "fake"


def test_segments_come_from_the_training_subjects_only(monkeypatch):
    """load_data draws the keyframe segments from the training subjects' frames (catches segments drawn
    over the whole index: the test subjects' frames would be trained on)."""
    rows = []
    for s in ("a", "b", "c"):
        for f, v in enumerate([0, 1, 3, 5, 3, 1, 0, 2, 4]):
            rows.append({"subject": s, "sequence": "T1", "frame": f, "AU06": float(v)})
    index = pd.DataFrame(rows)
    index.insert(0, "row", np.arange(len(index)))
    monkeypatch.setattr(tas_data, "fold_subjects", lambda dataset, fold, present=None: (["a", "c"], ["b"]))
    data = tas_data.load_data("synthau-bp4d", 1, T=3, store=_Store(index))
    assert len(data.seg_rows) > 0
    assert set(data.seg_rows.ravel()) <= set(data.train_rows.tolist())
    assert not set(data.seg_rows.ravel()) & set(data.test_rows.tolist())
    assert len(data.seg_rows) == 2 * 3                      # 4 keyframes (0, 5, 0, 4) a subject: 3 segments each


def test_step_pairs_frames_by_their_intensity_level_out_of_five():
    """Eq. 4 pairs frames of the same intensity level 0..5 (label * 5, rounded): 0.2 (level 1) and 0.3
    (level 2 after rounding 1.5 to even) are no pair, the two 0.6 are (catches levels on another scale)."""
    torch.manual_seed(0)
    model = _Toy(c=1)
    x = torch.randn(4, 3, 2, 2)
    batch = {"image": x, "target": torch.tensor([[0.2], [0.3], [0.6], [0.6]]), "subject": torch.arange(4)}
    out = TASStep(TASLossConfig(lambda_sub=1.0))(model, batch)
    _, f = model(x, return_features=True)
    want = 1 - float((f[2, 0] @ f[3, 0]).detach())
    assert want > 1e-3 and float(out.logs["sub"]) == pytest.approx(want, rel=1e-5)
