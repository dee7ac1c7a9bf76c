"""Mutation audit round 5, PIAP-DF: Eq. 10's dot product, the unlabelled loaders' round robin, the PI
targets of stage 3 and the person features L_AP reads."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.methods.piap_df.config import DFConfig
from aukit.methods.piap_df.df import DFStep, PairedLoader, TeacherStudent
from aukit.methods.piap_df.losses import APLoss, PIAPLoss
from aukit.methods.piap_df.step import PIAPStep, PITargets


class Linear(nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.fc = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.fc.weight.copy_(w)
            self.fc.bias.copy_(b)

    def forward(self, x, pi=False):
        f = x.flatten(1)
        return {"logits": self.fc(f), "feature": f}


def _grad(w, b, x, y):
    w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    return torch.autograd.grad(F.binary_cross_entropy_with_logits(x @ w.T + b, y), [w, b])


def test_feedback_is_the_updated_students_labelled_gradient_dot_its_own_unlabelled_gradient():
    """Eq. 10: fb = g_{xi',l}^T g_{xi,u}, the student's gradient on x_u (catches the teacher's g_{theta,u} in
    its place: on this batch the two dot products have opposite signs, so h and the teacher's step differ)."""
    g = torch.Generator().manual_seed(26)
    tw, tb = torch.randn(3, 6, generator=g), torch.randn(3, generator=g)
    sw, sb = torch.randn(3, 6, generator=g), torch.randn(3, generator=g)
    xu, xl = torch.randn(6, 6, generator=g), torch.randn(6, 6, generator=g)
    yl = torch.randint(0, 2, (6, 3), generator=g).float()
    eta = 0.5
    # Eqs. 7-11 by hand
    y_p = (torch.sigmoid(xu @ tw.T + tb) > 0.5).float()
    g_tu, g_su = _grad(tw, tb, xu, y_p), _grad(sw, sb, xu, y_p)
    g_sl = _grad(sw - eta * g_su[0], sb - eta * g_su[1], xl, yl)
    g_tl = _grad(tw, tb, xl, yl)
    fb = sum((a * c).sum() for a, c in zip(g_sl, g_su))
    wrong = sum((a * c).sum() for a, c in zip(g_sl, g_tu))
    assert fb > 0.01 and wrong < -0.01                           # the batch tells the two apart
    want_w = tw - eta * (1.0 * g_tu[0] + g_tl[0])

    teacher, student = Linear(tw, tb), Linear(sw, sb)
    opts = {"teacher": torch.optim.SGD(teacher.parameters(), lr=eta),
            "student": torch.optim.SGD(student.parameters(), lr=eta)}
    step = DFStep(PIAPLoss(1.0, 0.0, 0.0), opts["student"], DFConfig(disable_prob=0.0))
    out = step(TeacherStudent(teacher, student), {"l": {"image": xl, "au": yl}, "u": {"image": xu}})
    opts["teacher"].step()
    assert float(out.logs["fb_positive"]) == 1.0 and float(out.logs["fb_discrete"]) == pytest.approx(1.0)
    torch.testing.assert_close(teacher.fc.weight.detach(), want_w, atol=1e-6, rtol=1e-5)


def test_paired_loader_takes_the_unlabelled_loaders_in_turn():
    """Each labelled batch is paired with the next batch of the unlabelled loaders, round robin, each
    loader cycled (catches every pair drawn from the first loader)."""
    pairs = list(PairedLoader(["l0", "l1", "l2", "l3", "l4"], [["a0", "a1"], ["b0"]]))
    assert [p["l"] for p in pairs] == ["l0", "l1", "l2", "l3", "l4"]
    assert [p["u"] for p in pairs] == ["a0", "b0", "a1", "b0", "a0"]


class _Fixed(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.logits + self.w


def test_pi_targets_are_generator_ones_sigmoid_or_its_binary_view():
    """M = sigmoid(Generator 1(x)) (soft), or thresholded at 0.5 (catches logits clamped to [0, 1]
    instead of squashed)."""
    logits = torch.tensor([-2.0, -0.1, 0.3, 3.0]).view(1, 1, 2, 2)
    soft = PITargets(_Fixed(logits))(torch.zeros(1, 3, 2, 2))
    torch.testing.assert_close(soft, torch.sigmoid(logits))
    hard = PITargets(_Fixed(logits), binary=True)(torch.zeros(1, 3, 2, 2))
    assert hard.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]


def test_piap_step_pairs_each_image_with_its_own_person_features():
    """L_AP (Eq. 4) compares each image's v_AU with that image's v_P from batch['person'] (catches the
    person features taken in another order)."""
    g = torch.Generator().manual_seed(0)
    net = Linear(torch.randn(2, 4, generator=g), torch.zeros(2))
    x = torch.randn(3, 4, generator=g)
    person = torch.stack([x[0], -x[1], 0.1 * x[2] + torch.randn(4, generator=g)])   # per-image relations
    au = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out = PIAPStep(PIAPLoss(0.6, 0.0, 0.4))(net, {"image": x, "au": au, "person": person})
    want_ap = APLoss()(x, person)
    want_au = F.binary_cross_entropy_with_logits(net(x)["logits"], au)
    assert float(out.logs["l_ap"]) == pytest.approx(float(want_ap), rel=1e-5)
    assert float(out.loss.detach()) == pytest.approx(float((0.6 * want_au + 0.4 * want_ap).detach()), rel=1e-5)


def test_sampled_pseudo_labels_are_bernoulli_draws_of_the_teachers_probability():
    """pseudo='sample': Y_p ~ Bernoulli(sigmoid(logit)) (catches draws of 1 - p)."""
    import math
    step = DFStep(PIAPLoss(), torch.optim.SGD([nn.Parameter(torch.zeros(()))], lr=0.1), DFConfig(pseudo="sample"))
    torch.manual_seed(0)
    assert step.pseudo_labels(torch.tensor([[30.0, -30.0]])).tolist() == [[1.0, 0.0]]
    y = step.pseudo_labels(torch.full((2000, 2), math.log(0.8 / 0.2)))
    assert set(y.unique().tolist()) == {0.0, 1.0} and y.mean().item() == pytest.approx(0.8, abs=0.03)
    hard = DFStep(PIAPLoss(), torch.optim.SGD([nn.Parameter(torch.zeros(()))], lr=0.1), DFConfig())
    assert hard.pseudo_labels(torch.tensor([[0.2, -0.2]])).tolist() == [[1.0, 0.0]]


def test_person_step_is_the_identity_cross_entropy():
    """Encoder P's step: softmax cross-entropy of each image's logits against its own identity, and the
    batch accuracy (catches the identities taken in another order)."""
    from aukit.methods.piap_df.step import person_step
    g = torch.Generator().manual_seed(1)
    net = Linear(torch.randn(3, 4, generator=g), torch.zeros(3))
    x = torch.randn(5, 4, generator=g)
    ident = torch.tensor([0, 2, 1, 1, 0])
    out = person_step(net, {"image": x, "identity": ident})
    logits = net(x)["logits"]
    assert float(out.loss.detach()) == pytest.approx(float(F.cross_entropy(logits, ident).detach()), rel=1e-6)
    assert float(out.logs["acc"]) == pytest.approx(float((logits.argmax(1) == ident).float().mean()))


def test_au_loss_pos_weight_weighs_the_positive_terms():
    """pos_weight p_c multiplies the positive term: -(p_c y log s + (1 - y) log(1 - s)), NaN left out
    (catches the weight not reaching the BCE)."""
    from aukit.methods.piap_df.losses import AULoss
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    y = torch.tensor([[1.0, 0.0], [float("nan"), 1.0]])
    s = torch.sigmoid(logits)
    w = torch.tensor([3.0, 0.5])
    terms = [-(w[0] * torch.log(s[0, 0])), -torch.log(1 - s[0, 1]), -(w[1] * torch.log(s[1, 1]))]
    assert AULoss(pos_weight=w)(logits, y).item() == pytest.approx(float(sum(terms) / 3), rel=1e-5)
