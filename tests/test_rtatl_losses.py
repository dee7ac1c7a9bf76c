"""RTATL losses on hand-made tensors and against plain re-implementations of Eq. 2-9."""
import math

import pytest
import torch
import torch.nn.functional as F

from aukit.methods.rtatl.losses import (DiscriminatorLoss, ExemplarLoss, FlowLoss, GeneratorLoss,
                                        PatchClassifierLoss, PretextCELoss, SupervisedBCELoss)

NAN = float("nan")


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_supervised_bce_known_value_skips_unknown_and_cut_aus():
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, 0.0, 0.0]])
    labels = torch.tensor([[1.0, NAN, 0.0], [1.0, 1.0, 0.0]])
    intact = torch.tensor([[True, True, True], [True, False, True]])
    # kept: (0,0) y=1 z=0; (0,2) y=0 z=-1; (1,0) y=1 z=3; (1,2) y=0 z=0
    want = (-math.log(0.5) - math.log(1 - _sig(-1.0)) - math.log(_sig(3.0)) - math.log(0.5)) / 4
    got = SupervisedBCELoss()(logits, labels, intact)
    assert got.item() == pytest.approx(want, rel=1e-6)


def test_supervised_bce_no_labels_is_zero_with_graph():
    logits = torch.randn(2, 3, requires_grad=True)
    out = SupervisedBCELoss()(logits, torch.full((2, 3), NAN))
    assert out.item() == 0.0
    out.backward()
    assert torch.all(logits.grad == 0)


@pytest.mark.parametrize("seed", range(3))
def test_supervised_bce_masked_mean_equals_the_filtered_mean(seed):
    """The sync-free masked mean is the BCE mean over the kept entries, value and gradient."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 5, generator=g)
    labels = (torch.rand(6, 5, generator=g) < 0.4).float()
    labels[torch.rand(6, 5, generator=g) < 0.3] = NAN
    intact = torch.rand(6, 5, generator=g) < 0.7
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    got = SupervisedBCELoss()(a, labels, intact)
    keep = ~torch.isnan(labels) & intact
    want = F.binary_cross_entropy_with_logits(b[keep], labels[keep])
    got.backward()
    want.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(a.grad, b.grad)


def test_supervised_bce_nothing_intact_is_zero_and_dropped_logits_stay_out():
    logits = torch.tensor([[0.5, float("inf")], [NAN, -1.0]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    out = SupervisedBCELoss()(logits, labels, torch.zeros(2, 2, dtype=torch.bool))
    assert out.item() == 0.0
    out.backward()
    assert torch.all(logits.grad == 0)
    # non-finite logits at dropped entries reach neither the value nor the gradient (as when filtered)
    logits.grad = None
    out = SupervisedBCELoss()(logits, labels, torch.tensor([[True, False], [False, True]]))
    assert out.item() == pytest.approx((-math.log(_sig(0.5)) - math.log(1 - _sig(-1.0))) / 2, rel=1e-6)
    out.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0


def test_supervised_bce_shape_mismatch_raises():
    with pytest.raises(ValueError):
        SupervisedBCELoss()(torch.zeros(2, 3), torch.zeros(2, 4))


def test_discriminator_loss_equals_minus_l_adv_eq2():
    real, fake = torch.tensor([2.0, -0.5]), torch.tensor([0.3, -1.0])
    # Eq. 2: L_adv = E log D(p) + E log(1 - D(G(x))); Eq. 7: L_D = -L_adv
    l_adv = (math.log(_sig(2.0)) + math.log(_sig(-0.5))) / 2 + (math.log(1 - _sig(0.3)) + math.log(1 - _sig(-1.0))) / 2
    assert DiscriminatorLoss()(real, fake).item() == pytest.approx(-l_adv, rel=1e-6)
    # a perfect critic has (near) zero loss; a fooled one a large loss
    assert DiscriminatorLoss()(torch.tensor([20.0]), torch.tensor([-20.0])).item() < 1e-6
    assert DiscriminatorLoss()(torch.tensor([-20.0]), torch.tensor([20.0])).item() > 39


def _generator_reference(d_fake, fake, real, c_fake, y, l1, l2):
    """Plain Eq. 3, 4, 6, 7 with python loops."""
    adv = -sum(math.log(_sig(v)) for v in d_fake.tolist()) / len(d_fake)
    rec = sum(abs(a - b) for a, b in zip(real.flatten().tolist(), fake.flatten().tolist())) / real.numel()
    sem = -sum(t * math.log(_sig(v)) + (1 - t) * math.log(1 - _sig(v)) for v, t in zip(c_fake.tolist(), y.tolist())) / len(y)
    return l1 * adv + (1 - l1) * rec + l2 * sem


@pytest.mark.parametrize("l1,l2", [(0.1, 0.1), (0.5, 0.0), (1.0, 2.0)])
def test_generator_loss_matches_reference(l1, l2):
    g = torch.Generator().manual_seed(1)
    d_fake, c_fake = torch.randn(6, generator=g), torch.randn(6, generator=g)
    fake, real = torch.rand(6, 3, 4, 4, generator=g) * 2 - 1, torch.rand(6, 3, 4, 4, generator=g) * 2 - 1
    y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    total, parts = GeneratorLoss(l1, l2)(d_fake, fake, real, c_fake, y)
    assert total.item() == pytest.approx(_generator_reference(d_fake, fake, real, c_fake, y, l1, l2), rel=1e-5)
    assert set(parts) == {"adv_g", "rec", "sem_g"}


def test_generator_loss_known_value():
    # D(G(x)) = 0.5 -> adv = log 2; |p - G(x)| = 0.5 everywhere; C logit 0 -> CE = log 2
    total, parts = GeneratorLoss(0.1, 0.1)(torch.zeros(2), torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.5),
                                           torch.zeros(2), torch.ones(2))
    assert parts["rec"].item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(0.1 * math.log(2) + 0.9 * 0.5 + 0.1 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("bad", [dict(lambda1=-0.1), dict(lambda1=1.5), dict(lambda2=-1.0)])
def test_generator_loss_rejects_bad_weights(bad):
    with pytest.raises(ValueError):
        GeneratorLoss(**bad)


def test_patch_classifier_loss_eq5():
    c, y = torch.tensor([1.0, -2.0]), torch.tensor([1.0, 0.0])
    want = -(math.log(_sig(1.0)) + math.log(1 - _sig(-2.0))) / 2
    assert PatchClassifierLoss()(c, y).item() == pytest.approx(want, rel=1e-6)


def test_flow_loss_eq8_ignores_invalid_images():
    pred = torch.zeros(3, 2, 2, 2)
    target = torch.stack([torch.full((2, 2, 2), 1.0), torch.full((2, 2, 2), 100.0), torch.full((2, 2, 2), -3.0)])
    valid = torch.tensor([True, False, True])
    assert FlowLoss()(pred, target, valid).item() == pytest.approx(2.0)   # (1 + 3) / 2
    assert FlowLoss()(pred, target).item() == pytest.approx(104 / 3)
    assert FlowLoss()(pred, target, torch.zeros(3, dtype=torch.bool)).item() == 0.0
    with pytest.raises(ValueError):
        FlowLoss()(pred, target[:, :1])


def test_pretext_ce_and_exemplar():
    assert PretextCELoss()(torch.zeros(2, 4), torch.tensor([0, 3])).item() == pytest.approx(math.log(4))
    z = torch.eye(4)
    aligned = ExemplarLoss(0.1)(z, z).item()
    shuffled = ExemplarLoss(0.1)(z, z[[1, 2, 3, 0]]).item()
    # aligned views: -log(e^10 / (e^10 + 3)) ; shuffled views are mismatched and cost far more
    assert aligned == pytest.approx(-math.log(math.exp(10) / (math.exp(10) + 3)), abs=1e-6)
    assert shuffled > 9
    with pytest.raises(ValueError):
        ExemplarLoss(0.0)
