"""CPC losses: InfoNCE (Eq. 1), Top-n accuracy (Table 1) and the sparse L2 loss (Eq. 2)."""
import math

import pytest
import torch

from aukit.methods.cpc.losses import InfoNCELoss, SparseLabelLoss


def plain_eq1(pred, target, batch_negatives=True, temperature=1.0):
    """CPC Eq. 1 written out with loops: -sum_{b,k,i,j} log softmax over the candidate targets."""
    B, P, C, H, W = pred.shape
    total = 0.0
    for b in range(B):
        for k in range(P):
            for i in range(H):
                for j in range(W):
                    p = pred[b, k, :, i, j].double()
                    bs = range(B) if batch_negatives else [b]
                    denom = 0.0
                    for b2 in bs:
                        for k2 in range(P):
                            for i2 in range(H):
                                for j2 in range(W):
                                    denom += math.exp(float(target[b2, k2, :, i2, j2].double() @ p) / temperature)
                    pos = math.exp(float(target[b, k, :, i, j].double() @ p) / temperature)
                    total += -math.log(pos / denom)
    return total


def test_infonce_hand_made_two_classes():
    # Two positions; targets e1, e2; predictions ln3 * e1, ln3 * e2: each row softmax = [3/4, 1/4].
    a = math.log(3.0)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 1, 2, 1, 2)   # (B, P, C, H, W)
    pred = a * target
    loss = InfoNCELoss()(pred, target)
    assert loss.item() == pytest.approx(math.log(4 / 3), abs=1e-6)
    assert InfoNCELoss(reduction="sum")(pred, target).item() == pytest.approx(2 * math.log(4 / 3), abs=1e-6)
    # temperature divides the scores: tau = ln3 / ln7 turns the row into [7/8, 1/8]
    tau = a / math.log(7.0)
    assert InfoNCELoss(temperature=tau)(pred, target).item() == pytest.approx(math.log(8 / 7), abs=1e-6)


@pytest.mark.parametrize("batch_negatives", [True, False])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_infonce_matches_plain_equation(batch_negatives, temperature):
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 4, 2, 2, generator=g)
    target = torch.randn(2, 3, 4, 2, 2, generator=g)
    want = plain_eq1(pred, target, batch_negatives, temperature)
    got = InfoNCELoss(batch_negatives, temperature, reduction="sum")(pred, target).item()
    assert got == pytest.approx(want, rel=1e-5)
    mean = InfoNCELoss(batch_negatives, temperature)(pred, target).item()
    assert mean == pytest.approx(want / pred[:, :, 0].numel(), rel=1e-5)


def test_infonce_class_count_with_batch_negatives():
    # B identical sequences: every candidate appears B times, so the loss grows by exactly log B.
    g = torch.Generator().manual_seed(1)
    one_p, one_f = torch.randn(1, 2, 3, 2, 2, generator=g), torch.randn(1, 2, 3, 2, 2, generator=g)
    B = 4
    pred, target = one_p.repeat(B, 1, 1, 1, 1), one_f.repeat(B, 1, 1, 1, 1)
    within = InfoNCELoss(batch_negatives=False)(pred, target).item()
    across = InfoNCELoss(batch_negatives=True)(pred, target).item()
    assert across - within == pytest.approx(math.log(B), abs=1e-5)
    assert InfoNCELoss().logits(pred, target).shape == (1, B * 2 * 2 * 2, B * 2 * 2 * 2)
    assert InfoNCELoss(batch_negatives=False).logits(pred, target).shape == (B, 8, 8)


def test_infonce_uniform_scores_give_log_classes_and_separable_gives_zero():
    B, P, C, H, W = 2, 5, 8, 2, 2
    zero = torch.zeros(B, P, C, H, W)
    assert InfoNCELoss()(zero, zero).item() == pytest.approx(math.log(B * P * H * W), abs=1e-6)
    # one-hot codes scaled up: the positive dominates every row
    eye = torch.eye(B * P * H * W).reshape(B, P, H, W, -1).permute(0, 1, 4, 2, 3)
    assert InfoNCELoss()(50 * eye, eye).item() < 1e-10


def test_infonce_permutation_invariant_and_gradients_flow():
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(3, 2, 4, 2, 2, generator=g, requires_grad=True)
    target = torch.randn(3, 2, 4, 2, 2, generator=g, requires_grad=True)
    loss = InfoNCELoss()(pred, target)
    perm = torch.tensor([2, 0, 1])
    assert InfoNCELoss()(pred[perm], target[perm]).item() == pytest.approx(loss.item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert torch.isfinite(target.grad).all() and target.grad.abs().sum() > 0


def test_infonce_validates():
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0.0)
    with pytest.raises(ValueError):
        InfoNCELoss(reduction="none")
    with pytest.raises(ValueError):
        InfoNCELoss()(torch.zeros(1, 2, 3, 2, 2), torch.zeros(1, 2, 3, 2, 1))
    with pytest.raises(ValueError):
        InfoNCELoss()(torch.zeros(2, 3, 2, 2), torch.zeros(2, 3, 2, 2))


def plain_eq2(pred, target, au_reduction):
    out = []
    for p_row, y_row in zip(pred.tolist(), target.tolist()):
        terms = [(y - p) ** 2 for p, y in zip(p_row, y_row) if not math.isnan(y)]
        out.append(sum(terms) if au_reduction == "sum" else sum(terms) / len(terms))
    return sum(out) / len(out)


def test_sparse_loss_hand_made_and_nan():
    pred = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
    target = torch.tensor([[0.0, 0.0], [float("nan"), 1.0]])
    # window 1: 1 + 4 = 5; window 2: (3-1)^2 = 4 -> mean 4.5; per-AU mean: (2.5 + 4) / 2
    assert SparseLabelLoss()(pred, target).item() == pytest.approx(4.5)
    assert SparseLabelLoss("mean")(pred, target).item() == pytest.approx(3.25)


@pytest.mark.parametrize("au_reduction", ["sum", "mean"])
def test_sparse_loss_matches_plain_equation(au_reduction):
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(6, 5, generator=g, requires_grad=True)
    target = 5 * torch.rand(6, 5, generator=g)
    target[1, 2] = float("nan")
    target[4, 0] = float("nan")
    loss = SparseLabelLoss(au_reduction)(pred, target)
    assert loss.item() == pytest.approx(plain_eq2(pred.detach(), target, au_reduction), rel=1e-6)
    loss.backward()
    assert pred.grad[1, 2] == 0 and pred.grad[4, 0] == 0 and torch.isfinite(pred.grad).all()


def test_sparse_loss_validates():
    with pytest.raises(ValueError):
        SparseLabelLoss("max")
    with pytest.raises(ValueError, match="no coded AU"):
        SparseLabelLoss()(torch.zeros(2, 2), torch.tensor([[1.0, 1.0], [float("nan"), float("nan")]]))
    with pytest.raises(ValueError):
        SparseLabelLoss()(torch.zeros(2, 3), torch.zeros(2, 2))
