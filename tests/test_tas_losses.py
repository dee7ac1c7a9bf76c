"""TAS losses (Eqs. 1-4): hand-made answers and plain re-implementations of the equations."""
from __future__ import annotations

import math

import pytest
import torch

from aukit.methods.tas.losses import (RankLoss, RegressionLoss, SpeedLoss, SubjectLoss, intensity_levels,
                                      mix_segments)

nan = float("nan")


# ---------------------------------------------------------------- plain re-implementations of the paper
def eq1_sum(pred, seg_au, first, last):
    """Eq. 1 literally: sum_i (v1 - v~1)^2 + (vT - v~T)^2 for the segment's AU; pred (N, T, C)."""
    total = 0.0
    for i in range(pred.shape[0]):
        c = int(seg_au[i])
        total += (first[i] - pred[i, 0, c]) ** 2 + (last[i] - pred[i, -1, c]) ** 2
    return total


def eq2_sum(feats):
    """Eq. 2 literally with the T x T matrix A (a_tt = 1, a_t,t+1 = -1), rows 1..T-1 summed."""
    n, t, _ = feats.shape
    a = torch.eye(t) - torch.diag(torch.ones(t - 1), 1)
    total = 0.0
    for i in range(n):
        delta = torch.stack([torch.linalg.norm(feats[i, k] - feats[i, 0]) for k in range(t)])
        total += torch.clamp(a @ delta, min=0)[: t - 1].sum()
    return total


def eq3_sum(pred_mixed, pred, lam, perm):
    """Eq. 3 literally: sum_n sum_t ||f(M(I^t, I^perm t)) - M(v~^t, v~^perm t)||^2."""
    total = 0.0
    for n in range(pred.shape[0]):
        for t in range(pred.shape[1]):
            target = lam[n] * pred[n, t] + (1 - lam[n]) * pred[n, perm[n, t]]
            total += ((pred_mixed[n, t] - target) ** 2).sum()
    return total


def eq4(feats, levels, groups):
    """Eq. 4 with loops: per AU, mean over same-level cross-group pairs of 1 - f.f; mean over AUs with pairs."""
    per_au = []
    for c in range(feats.shape[1]):
        vals = [1 - float(feats[i, c] @ feats[j, c]) for i in range(len(feats)) for j in range(i + 1, len(feats))
                if levels[i, c] >= 0 and levels[i, c] == levels[j, c] and groups[i] != groups[j]]
        if vals:
            per_au.append(sum(vals) / len(vals))
    return sum(per_au) / len(per_au) if per_au else 0.0


# ---------------------------------------------------------------- Eq. 1
def test_regression_hand_value():
    pred = torch.tensor([[0.2, 0.5], [0.4, 0.1]])
    target = torch.tensor([[0.0, nan], [0.6, nan]])
    assert RegressionLoss()(pred, target).item() == pytest.approx(0.04)


def _keyframes(g, n, t, c):
    """Predictions (n, t, c) and targets labelled at each segment's two ends for its own AU only."""
    pred = torch.rand(n, t, c, generator=g)
    seg_au = torch.randint(0, c, (n,), generator=g)
    first, last = torch.rand(n, generator=g), torch.rand(n, generator=g)
    target = torch.full((n, t, c), nan)
    target[torch.arange(n), 0, seg_au] = first
    target[torch.arange(n), -1, seg_au] = last
    return pred, target, seg_au, first, last


def test_regression_matches_eq1_on_keyframes():
    g = torch.Generator().manual_seed(0)
    n, t, c = 5, 6, 3
    pred, target, seg_au, first, last = _keyframes(g, n, t, c)
    ours = RegressionLoss()(pred, target)
    # We average where the paper sums: 2N labelled entries.
    assert ours.item() == pytest.approx(float(eq1_sum(pred, seg_au, first, last)) / (2 * n), rel=1e-6)


def test_regression_unlabelled_and_shape():
    pred = torch.rand(2, 3, requires_grad=True)
    loss = RegressionLoss()(pred, torch.full((2, 3), nan))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shape"):
        RegressionLoss()(torch.rand(2, 3), torch.rand(3, 2))


# ---------------------------------------------------------------- Eq. 2
def test_rank_hand_value():
    # Δf = [0, 1, 0.5, 2]: only the drop 1 -> 0.5 violates the monotonic increase.
    f = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.5, 0.0], [2.0, 0.0]]])
    assert RankLoss()(f).item() == pytest.approx(0.5)
    # with margin 0.1: max(0, 0-1+.1)=0, max(0, 1-.5+.1)=.6, max(0, .5-2+.1)=0
    assert RankLoss(margin=0.1)(f).item() == pytest.approx(0.6)


def test_rank_monotonic_is_zero_and_matches_eq2():
    t = torch.linspace(0, 1, 8)
    mono = torch.stack([t, torch.zeros(8)], dim=1).unsqueeze(0)             # distance grows with t
    assert RankLoss()(mono).item() == 0.0
    g = torch.Generator().manual_seed(1)
    feats = torch.nn.functional.normalize(torch.randn(4, 7, 16, generator=g), dim=-1)
    assert RankLoss()(feats).item() == pytest.approx(float(eq2_sum(feats)) / 4, rel=1e-5)


def test_rank_gradient_finite_and_validates():
    feats = torch.randn(3, 5, 8, requires_grad=True)
    RankLoss()(feats).backward()
    assert torch.isfinite(feats.grad).all()
    with pytest.raises(ValueError):
        RankLoss(margin=-1.0)
    with pytest.raises(ValueError):
        RankLoss()(torch.randn(3, 8))


# ---------------------------------------------------------------- Eq. 3
def test_mix_segments():
    img = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    perm = torch.tensor([[2, 0, 1], [0, 1, 2]])
    assert torch.equal(mix_segments(img, torch.ones(2), perm), img)
    assert torch.equal(mix_segments(img, torch.zeros(2), perm)[0], img[0, [2, 0, 1]])
    half = mix_segments(img, torch.tensor([0.5, 0.5]), perm)
    assert torch.allclose(half[0, 0], (img[0, 0] + img[0, 2]) / 2)


def test_speed_hand_value():
    pred = torch.tensor([[[0.2], [0.6]]])
    perm = torch.tensor([[1, 0]])
    lam = torch.tensor([0.25])
    # targets: .25*.2 + .75*.6 = .5 and .25*.6 + .75*.2 = .3
    mixed = torch.tensor([[[0.5], [0.1]]])
    assert SpeedLoss()(mixed, pred, lam, perm).item() == pytest.approx(0.02)


def test_speed_matches_eq3_and_detaches_targets():
    g = torch.Generator().manual_seed(2)
    n, t, c = 3, 5, 4
    pred = torch.rand(n, t, c, generator=g, requires_grad=True)
    mixed = torch.rand(n, t, c, generator=g, requires_grad=True)
    lam, perm = SpeedLoss(0.5).sample(n, t, generator=g)
    loss = SpeedLoss()(mixed, pred, lam, perm)
    assert loss.item() == pytest.approx(float(eq3_sum(mixed.detach(), pred.detach(), lam, perm)) / (n * t * c), rel=1e-5)
    loss.backward()
    assert pred.grad is None and mixed.grad is not None


def test_speed_sampling():
    g = torch.Generator().manual_seed(3)
    lam, perm = SpeedLoss(0.5).sample(4000, 16, generator=g)
    assert ((lam >= 0) & (lam <= 1)).all()
    assert abs(lam.mean().item() - 0.5) < 0.03                              # Beta(a, a) is symmetric
    # Beta(0.5, 0.5) is U-shaped: P(lam < 0.1) = 2/pi * asin(sqrt(0.1)) ≈ 0.205 (uniform: 0.1)
    assert abs((lam < 0.1).float().mean().item() - 2 / math.pi * math.asin(math.sqrt(0.1))) < 0.03
    assert torch.equal(perm.sort(dim=1).values, torch.arange(16).expand(4000, 16))
    with pytest.raises(ValueError):
        SpeedLoss(0.0)


# ---------------------------------------------------------------- Eq. 4
def test_subject_hand_values():
    f = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])          # (M=3, C=1, d=2)
    lv = torch.tensor([[2], [2], [2]])
    # pair (0, 2) is the same subject: left out; (0, 1) and (1, 2) are orthogonal -> 1 each
    assert SubjectLoss()(f, lv, torch.tensor([0, 1, 0])).item() == pytest.approx(1.0)
    f[2, 0] = torch.tensor([0.6, 0.8])
    # three subjects: 1 - 0 = 1, 1 - .6 = .4, 1 - .8 = .2
    assert SubjectLoss()(f, lv, torch.tensor([0, 1, 2])).item() == pytest.approx((1 + 0.4 + 0.2) / 3)
    # different levels never pair; unlabelled (-1) never pairs, not even with another -1
    assert SubjectLoss()(f, torch.tensor([[1], [2], [3]]), torch.tensor([0, 1, 2])).item() == 0.0
    assert SubjectLoss()(f, torch.tensor([[-1], [-1], [-1]]), torch.tensor([0, 1, 2])).item() == 0.0


def test_subject_matches_eq4_and_averages_over_aus_with_pairs():
    g = torch.Generator().manual_seed(4)
    m, c, d = 12, 3, 8
    f = torch.nn.functional.normalize(torch.randn(m, c, d, generator=g), dim=-1)
    lv = torch.randint(-1, 3, (m, c), generator=g)
    lv[:, 2] = -1                                                            # AU 3 has no labels at all
    groups = torch.randint(0, 4, (m,), generator=g)
    ours = SubjectLoss()(f, lv, groups)
    assert ours.item() == pytest.approx(eq4(f, lv, groups), rel=1e-5)
    f.requires_grad_(True)
    SubjectLoss()(f, lv, groups).backward()
    assert torch.isfinite(f.grad).all() and f.grad[:, 2].abs().sum() == 0


def test_subject_shape_check_and_levels():
    with pytest.raises(ValueError):
        SubjectLoss()(torch.randn(3, 2, 4), torch.zeros(3, 3, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    lv = intensity_levels(torch.tensor([0.0, 0.2, 0.6, 1.0, nan]))
    assert lv.tolist() == [0, 1, 3, 5, -1]


def test_rank_weight_averages_over_kept_segments_only():
    torch.manual_seed(0)
    feats = torch.randn(5, 4, 3)
    keep = torch.tensor([1, 0, 1, 1, 0])
    want = RankLoss()(feats[keep.bool()])
    assert RankLoss()(feats, weight=keep).item() == pytest.approx(want.item(), rel=1e-6)
    assert RankLoss()(feats, weight=torch.zeros(5)).item() == 0.0


def test_step_rank_ignores_segments_without_an_au():
    """A segment with seg_au = -1 contributes nothing to L_rank, whatever its features."""
    from aukit.methods.tas import TASLossConfig
    from aukit.methods.tas.step import TASStep

    class Feats(torch.nn.Module):
        def __init__(self, f):
            super().__init__()
            self.f, self.w = f, torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, return_features=False):
            v = torch.zeros(x.shape[0], self.f.shape[1]) + self.w
            return (v, self.f + self.w) if return_features else v

    b, t, c, d = 3, 4, 2, 5
    torch.manual_seed(1)
    f = torch.randn(b * t, c, d)
    target = torch.full((b, t, c), float("nan"))
    target[0, 0, 1], target[0, -1, 1] = 0.0, 0.4
    batch = {"image": torch.zeros(b, t, 1, 2, 2), "target": target, "seg_au": torch.tensor([1, -1, 0])}
    out = TASStep(TASLossConfig(lambda_spd=0, lambda_sub=0))(Feats(f), batch)
    fv = f.view(b, t, c, d)
    want = RankLoss()(torch.stack([fv[0, :, 1], fv[2, :, 0]]))
    assert out.logs["rank"].item() == pytest.approx(want.item(), rel=1e-6)


def test_intensity_levels_round_to_the_nearest_level():
    """Catches levels floored instead of rounded: a label of 0.38 (intensity 1.9 of 5) is level 2, not 1."""
    assert intensity_levels(torch.tensor([0.38, 0.18, 0.58, 0.92])).tolist() == [2, 1, 3, 5]


def test_sum_reduction_is_eqs_1_to_3_as_printed():
    """reduction="sum" (TASLossConfig.reduction) must equal the paper's sums, the default their means."""
    g = torch.Generator().manual_seed(5)
    n, t, c = 4, 6, 3
    pred, target, seg_au, first, last = _keyframes(g, n, t, c)
    assert RegressionLoss("sum")(pred, target).item() == pytest.approx(float(eq1_sum(pred, seg_au, first, last)),
                                                                        rel=1e-6)
    feats = torch.rand(n, t, 8, generator=g)
    per_segment = [RankLoss()(feats[i:i + 1]).item() for i in range(n)]
    assert RankLoss(reduction="sum")(feats).item() == pytest.approx(sum(per_segment), rel=1e-6)
    keep = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert RankLoss(reduction="sum")(feats, weight=keep).item() == pytest.approx(
        per_segment[0] + per_segment[2] + per_segment[3], rel=1e-6)
    mixed = torch.rand(n, t, c, generator=g)
    lam, perm = SpeedLoss(0.5).sample(n, t, generator=g)
    assert SpeedLoss(reduction="sum")(mixed, pred, lam, perm).item() == pytest.approx(
        float(eq3_sum(mixed, pred, lam, perm)), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        RegressionLoss("total")


def test_the_notebooks_loss_reduction_reaches_the_step():
    from aukit.methods.tas import presets
    from aukit.methods.tas.step import TASStep
    plan = presets.preset_plan("quick")
    cfg = presets.notebook_config(plan, "synthau-bp4d", lr=0.005, weight_decay=5e-4, alpha=0.5, lambda_rank=0.1,
                                  lambda_spd=0.05, lambda_sub=-1, attention_kernel=9, reduction="sum")
    step = TASStep(cfg.loss)
    assert step.reg.reduction == step.rank.reduction == step.spd.reduction == "sum"
    assert TASStep(presets.notebook_config(plan, "synthau-bp4d", lr=0.005, weight_decay=5e-4, alpha=0.5,
                                           lambda_rank=0.1, lambda_spd=0.05, lambda_sub=-1,
                                           attention_kernel=9).loss).reg.reduction == "mean"
