"""TAS model (Fig. 2) and training step (Eq. 5): shapes, finiteness, equivalences, learning."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

import aukit
from aukit.methods.tas import TASLossConfig, TASModelConfig, TASNet, ablation_config
from aukit.methods.tas.losses import RankLoss, SubjectLoss
from aukit.methods.tas.model import SpatialAttention
from aukit.methods.tas.step import TASStep, predict
from aukit.train import TrainConfig, fit

nan = float("nan")


def small(n_aus=3, **kw):
    torch.manual_seed(0)
    return TASNet(TASModelConfig(n_aus=n_aus, depth=18, attention_kernel=3, attention_hidden=4, **kw))


@pytest.mark.parametrize("depth,sep", [(34, True), (18, False)])
def test_forward_backward_cpu(depth, sep):
    torch.manual_seed(0)
    m = TASNet(TASModelConfig(n_aus=4, depth=depth, separate_attention=sep, attention_hidden=8))
    x = torch.randn(2, 3, 64, 64)
    v, f = m(x, return_features=True)
    assert v.shape == (2, 4) and f.shape == (2, 4, 512)
    assert ((v >= 0) & (v <= 1)).all()
    assert torch.allclose(f.norm(dim=-1), torch.ones(2, 4), atol=1e-5)   # L2-normalised AU features
    (v.sum() + f[..., 0].sum()).backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if not sep:                                                            # A0: one pooled feature for all AUs
        assert torch.allclose(f[:, 0], f[:, 3])


def test_paper_feature_map_size():
    m = TASNet(TASModelConfig(n_aus=2, attention_hidden=2)).eval()
    with torch.no_grad():
        maps = m.attention_maps(torch.randn(1, 3, 256, 256))
    assert maps.shape == (1, 2, 8, 8)                                       # 512 x 8 x 8 for a 256 face


def test_stacked_attention_equals_separate_layers():
    torch.manual_seed(0)
    joint = SpatialAttention(16, 3, kernel=5, hidden=4).eval()
    x = torch.randn(2, 16, 7, 7)
    out = joint(x)
    for c in range(3):
        one = SpatialAttention(16, 1, kernel=5, hidden=4).eval()
        for branch_j, branch_1 in ((joint.branch_a, one.branch_a), (joint.branch_b, one.branch_b)):
            sl = slice(c * 4, (c + 1) * 4)
            branch_1[0].weight.data.copy_(branch_j[0].weight[sl]); branch_1[0].bias.data.copy_(branch_j[0].bias[sl])
            for k in ("weight", "bias", "running_mean", "running_var"):
                getattr(branch_1[1], k).data.copy_(getattr(branch_j[1], k)[sl])
                getattr(branch_1[4], k).data.copy_(getattr(branch_j[4], k)[c:c + 1])
            branch_1[3].weight.data.copy_(branch_j[3].weight[c:c + 1]); branch_1[3].bias.data.copy_(branch_j[3].bias[c:c + 1])
        assert torch.allclose(one(x)[:, 0], out[:, c], atol=1e-6)


def test_registry_and_config_validation():
    m = aukit.create_model("tas_resnet34", n_aus=2, depth=18, attention_hidden=2)
    assert isinstance(m, TASNet) and m.cfg.n_aus == 2
    with pytest.raises(ValueError, match="unknown"):
        aukit.create_model("tas_resnet34", n_au=2)
    with pytest.raises(ValueError):
        TASNet(TASModelConfig(attention_kernel=4))


def test_ablation_configs():
    a0, a5, a6 = (ablation_config(k) for k in ("A0", "A5", "A6"))
    assert not a0.model.separate_attention and a0.loss.lambda_rank == a0.loss.lambda_spd == a0.loss.lambda_sub == 0
    assert a5.loss.lambda_rank == 0.1 and a5.loss.lambda_spd == 0.05 and a5.loss.lambda_sub == 0
    assert a6.loss.lambda_sub == 0.005 and a6.model.separate_attention
    with pytest.raises(ValueError):
        ablation_config("A7")


def segment_batch(b=4, t=4, c=3, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    seg_au = torch.randint(0, c, (b,), generator=g)
    target = torch.full((b, t, c), nan)
    target[torch.arange(b), 0, seg_au] = 0.0
    target[torch.arange(b), -1, seg_au] = torch.randint(1, 6, (b,), generator=g).float() / 5
    return {"image": torch.randn(b, t, 3, s, s, generator=g), "target": target, "seg_au": seg_au,
            "subject": torch.tensor([0, 1, 0, 1][:b])}


def test_a_batch_without_what_a_loss_needs_is_refused_not_trained_without_it():
    """A batch without seg_au trained without L_rank (lambda_rank 0.1), one without subject paired L_sub by
    segment under sub_pairs='subject': only the missing log entry told."""
    m, batch = small(), segment_batch()
    with pytest.raises(ValueError, match=r"lambda_rank 0.1: L_rank \(Eq. 2\) needs the batch's seg_au"):
        TASStep(TASLossConfig(lambda_sub=0.05))(m, {k: v for k, v in batch.items() if k != "seg_au"})
    with pytest.raises(ValueError, match=r"sub_pairs 'subject': L_sub \(Eq. 4\) .* needs the batch's subject"):
        TASStep(TASLossConfig(lambda_sub=0.05))(m, {k: v for k, v in batch.items() if k != "subject"})
    out = TASStep(TASLossConfig(lambda_rank=0, lambda_sub=0.05, sub_pairs="segment"))(
        m, {k: v for k, v in batch.items() if k not in ("seg_au", "subject")})      # asked for: trains
    assert set(out.logs) == {"reg", "spd", "sub"}


def test_step_all_terms_finite_and_weighted():
    m = small()
    out = TASStep(TASLossConfig(lambda_sub=0.05))(m, segment_batch())
    assert set(out.logs) == {"reg", "rank", "spd", "sub"}
    assert torch.isfinite(out.loss) and out.n_images == 2 * 4 * 4
    total = out.logs["reg"] + 0.1 * out.logs["rank"] + 0.05 * out.logs["spd"] + 0.05 * out.logs["sub"]
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-5)
    out.loss.backward()


def test_step_skips_zero_weights_and_single_frames():
    m = small()
    out = TASStep(ablation_config("A1").loss)(m, segment_batch())
    assert set(out.logs) == {"reg"} and out.n_images == 8                  # A1 forwards the 2 keyframes of 4 segments
    frames = {"image": torch.randn(4, 3, 32, 32), "target": torch.rand(4, 3), "subject": torch.arange(4)}
    out = TASStep(TASLossConfig())(m, frames)                              # S3: frames only, L_sub applies
    assert set(out.logs) == {"reg", "sub"}


@pytest.mark.parametrize("name", ["A1", "A4"])
def test_labelled_only_forward_equals_full_forward(name):
    """A0/A1/A4 forward only labelled frames; with BatchNorm frozen (eval) loss and gradients must equal
    those of the full forward of every frame."""
    m, batch = small(), segment_batch()
    m.eval()
    loss_cfg = dataclasses.replace(ablation_config(name).loss, lambda_sub=0.5 if name == "A4" else 0.0)
    step = TASStep(loss_cfg)
    out = step(m, batch)
    got = torch.autograd.grad(out.loss, list(m.parameters()), allow_unused=True)
    b, t = batch["image"].shape[:2]
    pred, feats = m(batch["image"].flatten(0, 1), return_features=True)
    target = batch["target"].view(b * t, -1)
    ref = step.reg(pred, target)
    if name == "A4":
        from aukit.methods.tas.losses import intensity_levels
        rows = ~torch.isnan(target).all(1)
        groups = batch["subject"].view(b, 1).expand(b, t).reshape(-1)
        ref = ref + 0.5 * step.sub(feats[rows], intensity_levels(target[rows]), groups[rows])
    want = torch.autograd.grad(ref, list(m.parameters()), allow_unused=True)
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert set(out.logs) == ({"reg", "sub"} if name == "A4" else {"reg"})
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None:
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6)


def test_labelled_only_forward_rejects_a_batch_without_labels():
    batch = segment_batch()
    batch["target"] = torch.full_like(batch["target"], nan)
    with pytest.raises(ValueError, match="without any labelled frame"):
        TASStep(ablation_config("A1").loss)(small(), batch)


class FixedFeatures(nn.Module):
    """Stub: features given per frame; predictions 0. Checks the step selects the segment's AU."""

    def __init__(self, feats):
        super().__init__()
        self.feats = feats                                                 # (B*T, C, d)
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, return_features=False):
        v = torch.zeros(x.shape[0], self.feats.shape[1]) + self.w
        return (v, self.feats + self.w) if return_features else v


def test_step_rank_uses_segment_au():
    b, t, c, d = 2, 5, 3, 4
    feats = torch.randn(b * t, c, d)
    batch = segment_batch(b, t, c, s=4)
    out = TASStep(TASLossConfig(lambda_spd=0, lambda_sub=0))(FixedFeatures(feats), batch)
    own = feats.view(b, t, c, d)[torch.arange(b), :, batch["seg_au"]]       # (B, T, d)
    assert out.logs["rank"].item() == pytest.approx(RankLoss()(own).item(), rel=1e-6)


@pytest.mark.parametrize("sub_pairs", ["subject", "segment"])
def test_step_subject_loss_pairs_frames_by_subject_or_segment(sub_pairs):
    """On the full-forward path (L_rank on), Eq. 4 groups every frame of a segment under its subject
    (or its segment): frames of one group never pair, whatever their level."""
    b, t, c, d = 4, 3, 2, 5
    g = torch.Generator().manual_seed(1)
    # frames of a segment share a feature (a pair inside one lowers the mean), segments differ
    feats = (torch.randn(b, 1, c, d, generator=g) + 0.1 * torch.randn(b, t, c, d, generator=g)).view(b * t, c, d)
    lv = torch.full((b, t, c), -1)
    lv[..., 0] = torch.tensor([[0, 1, 1], [0, 1, 2], [0, 2, 2], [1, 1, 2]])   # AU 0 labelled on every frame
    lv[:, -1, 1] = torch.tensor([3, 3, 3, 0])                                 # AU 1 on the last frames
    target = torch.where(lv >= 0, lv / 5, torch.full(lv.shape, nan))
    subject = torch.tensor([0, 0, 1, 1])
    batch = {"image": torch.zeros(b, t, 3, 4, 4), "target": target, "seg_au": torch.zeros(b, dtype=torch.long),
             "subject": subject}
    out = TASStep(TASLossConfig(lambda_spd=0, lambda_sub=0.05, sub_pairs=sub_pairs))(FixedFeatures(feats), batch)
    owner = subject if sub_pairs == "subject" else torch.arange(b)
    want = SubjectLoss()(feats, lv.view(b * t, c), owner.repeat_interleave(t))
    alone = SubjectLoss()(feats, lv.view(b * t, c), torch.arange(b * t))     # each frame its own group
    assert abs(want.item() - alone.item()) > 0.05                            # the batch tells the two apart
    assert out.logs["sub"].item() == pytest.approx(want.item(), rel=1e-6)


class SquaredMean(nn.Module):
    """Stub: AU c's prediction is the squared mean of colour channel c (non-linear in the image, so the mixed
    forward is not the mix of the predictions); features are zero."""

    def forward(self, x, return_features=False):
        v = x.mean(dim=(-2, -1)) ** 2                                      # (N, 3)
        return (v, torch.zeros(*v.shape, 2)) if return_features else v


def test_step_speed_loss_mixes_frames_by_the_sampled_permutation(monkeypatch):
    b, t, c = 2, 4, 3
    g = torch.Generator().manual_seed(2)
    image = 2 * torch.rand(b, t, 3, 1, 1, generator=g) + 0.1 * torch.rand(b, t, 3, 4, 4, generator=g)
    lam, perm = torch.tensor([0.3, 0.8]), torch.tensor([[2, 0, 3, 1], [1, 3, 0, 2]])  # no frame mixed with itself
    step = TASStep(TASLossConfig(lambda_sub=0))
    monkeypatch.setattr(step.spd, "sample", lambda n, tt, **kw: (lam, perm))
    batch = {"image": image, "target": torch.full((b, t, c), nan), "seg_au": torch.zeros(b, dtype=torch.long)}
    out = step(SquaredMean(), batch)

    def f(img):                                                            # the stub on one frame (3, S, S)
        return img.mean(dim=(-2, -1)) ** 2

    err, err_identity = 0.0, 0.0
    for n in range(b):
        for k in range(t):
            j, lm = int(perm[n, k]), float(lam[n])
            mixed = f(lm * image[n, k] + (1 - lm) * image[n, j])
            err += float(((mixed - (lm * f(image[n, k]) + (1 - lm) * f(image[n, j]))) ** 2).sum())
            err_identity += float(((mixed - f(image[n, k])) ** 2).sum())
    want = err / (b * t * c)                                               # Eq. 3, mean over N*T*C
    assert abs(want - err_identity / (b * t * c)) > 0.1 * want             # an identity target would differ
    assert out.logs["spd"].item() == pytest.approx(want, rel=1e-5)


def test_predict_returns_numpy():
    m = small()
    batches = [{"image": torch.randn(3, 3, 32, 32)}, {"image": torch.randn(2, 3, 32, 32)}]
    pred, feats = predict(m, batches, features=True)
    assert pred.shape == (5, 3) and feats.shape == (5, 3, 512) and m.training


class ConstantTAS(nn.Module):
    """Stub: predicts ``values`` (C,) in [0, 1] for every frame, whatever the image."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.tensor(values)
        self.cfg = SimpleNamespace(weights=None)      # as TASNet's: evaluation normalises by its trunk's start

    def forward(self, x, return_features=False):
        v = self.values.expand(x.shape[0], -1)
        return (v, torch.zeros(*v.shape, 1)) if return_features else v


def test_evaluate_scores_on_the_0_5_scale(monkeypatch):
    """Outputs in [0, 1] are scored as intensities 0..5: 0.4 -> 2.0 and 0.8 -> 4.0 against the labels."""
    import numpy as np

    from aukit.methods.tas import experiment as E
    from aukit.methods.tas.data import TASData

    label05 = np.array([[0, 5], [2, 3], [4, nan], [nan, nan], [1, 1], [2, 2]], np.float32)  # rows 0..3: test
    data = TASData("synthau-bp4d", None, ["AU06", "AU12"], label05 / 5, np.zeros(6, np.int64), np.array([4, 5]),
                   np.arange(4), np.zeros((1, 2), np.int64), np.zeros(1, np.int64), ["a"], ["b"])
    monkeypatch.setattr(E, "frame_batches", lambda data, rows, **kw: [{"image": torch.zeros(len(rows), 3, 4, 4)}])
    res = E.evaluate(ConstantTAS([0.4, 0.8]), data, E.RunOptions(device="cpu"))
    assert res["rows"].tolist() == [0, 1, 2]                               # row 3 has no label
    np.testing.assert_allclose(res["pred"], [[2.0, 4.0]] * 3, rtol=1e-6)
    np.testing.assert_allclose(res["label"], label05[:3], rtol=1e-6)
    m = res["metrics"]
    # AU06: |0-2| + |2-2| + |4-2| over 3 = 4/3; AU12: |5-4| + |3-4| over 2 (row 2 unlabelled) = 1
    assert [m["mae_AU06"], m["mae_AU12"], m["mae_avg"]] == pytest.approx([4 / 3, 1.0, 7 / 6], rel=1e-6)
    assert m["icc_avg"] == 0.0                                             # a constant prediction has no ICC


class SegmentToyLoader:
    """Segments whose AU-0 intensity brightens the top half and AU-1 the bottom half linearly."""

    def __init__(self, n=16, t=4, s=32, batch=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.batch, self.epoch, self.seed = batch, 0, seed
        ramp = torch.linspace(0, 1, t)
        level = torch.randint(1, 6, (n,), generator=g).float() / 5
        self.seg_au = torch.randint(0, 2, (n,), generator=g)
        inten = torch.zeros(n, t, 2)
        inten[torch.arange(n), :, self.seg_au] = ramp * level.view(-1, 1)
        img = 0.1 * torch.randn(n, t, 3, s, s, generator=g)
        img[..., : s // 2, :] += inten[..., 0].view(n, t, 1, 1, 1)
        img[..., s // 2:, :] += inten[..., 1].view(n, t, 1, 1, 1)
        self.img, self.target = img, torch.full((n, t, 2), nan)
        self.target[torch.arange(n), 0, self.seg_au] = 0.0
        self.target[torch.arange(n), -1, self.seg_au] = level
        self.subject = torch.arange(n) % 3

    def set_epoch(self, e):
        self.epoch = e

    def __len__(self):
        return len(self.img) // self.batch

    def __iter__(self):
        perm = torch.randperm(len(self.img), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        for i in range(len(self)):
            k = perm[i * self.batch:(i + 1) * self.batch]
            yield {"image": self.img[k], "target": self.target[k], "seg_au": self.seg_au[k], "subject": self.subject[k]}


def test_short_training_lowers_loss(tmp_path):
    torch.manual_seed(0)
    m = TASNet(TASModelConfig(n_aus=2, depth=18, attention_kernel=3, attention_hidden=4, clip_output=False))
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)  # toy: faster lr
    step = TASStep(dataclasses.replace(TASLossConfig(), lambda_sub=0.05))
    data = SegmentToyLoader(n=8, s=16)
    hist = fit(m, step, data, opt, TrainConfig(epochs=8, progress=False), device="cpu")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in hist)
    assert hist[-1]["train_loss"] < 0.6 * hist[0]["train_loss"]
    # it reads the faces: each segment's own AU rises from its first to its last frame (measured 0.31;
    # a model blind to the image lowers the loss as much by learning the label mean, and rises 0)
    m.eval()
    with torch.no_grad():
        n, t = data.img.shape[:2]
        own = m(data.img.flatten(0, 1)).view(n, t, 2)[torch.arange(n), :, data.seg_au]
    assert (own[:, -1] - own[:, 0]).mean() > 0.15


def test_clip_straight_through_in_training():
    m = small(n_aus=2)
    with torch.no_grad():
        m.heads.b2.fill_(-3.0)                                             # every output far below 0
    v = m(torch.randn(2, 3, 32, 32))
    assert (v == 0).all()                                                  # forward is clipped
    ((v - 1.0) ** 2).sum().backward()
    assert m.heads.b2.grad.abs().sum() > 0                                 # ... yet the head still learns
    m.eval()
    assert (m(torch.randn(2, 3, 32, 32)) == 0).all()


def test_attention_branches_are_as_the_docstring_says():
    """SpatialAttention's docstring describes what is built (and where it departs from the authors' code):
    a = conv(1xk) BN ReLU conv(kx1) BN, b = conv(kx1) BN ReLU conv(1xk) BN."""
    from aukit.methods.tas.model import SpatialAttention
    att = SpatialAttention(6, n_maps=2, kernel=3, hidden=4)
    for branch, first, second in ((att.branch_a, (1, 3), (3, 1)), (att.branch_b, (3, 1), (1, 3))):
        assert [type(m).__name__ for m in branch] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
        assert (branch[0].kernel_size, branch[3].kernel_size) == (first, second)
        assert (branch[0].out_channels, branch[3].out_channels, branch[3].groups) == (2 * 4, 2, 2)   # C * hidden, C
