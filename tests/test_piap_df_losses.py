"""PIAP-DF losses (Eqs. 1, 2, 4, 6) and discrete feedback (Eq. 10): hand-made answers and
a plain re-implementation of each equation kept here."""
import math

import pytest
import torch

from aukit.methods.piap_df.df import discrete_feedback
from aukit.methods.piap_df.losses import AULoss, APLoss, PIAPLoss, PIMapLoss


# ---- plain re-implementations of the paper's equations (loops, probabilities) -------------

def eq1_reference(prob, target):
    """Eq. 1 averaged over batch and maps: -1/(HW) sum [Y log Yh + (1-Y) log(1-Yh)]."""
    B, K, H, W = prob.shape
    total = 0.0
    for b in range(B):
        for k in range(K):
            s = 0.0
            for h in range(H):
                for w in range(W):
                    y, p = float(target[b, k, h, w]), float(prob[b, k, h, w])
                    s += y * math.log(p) + (1 - y) * math.log(1 - p)
            total += -s / (H * W)
    return total / (B * K)


def eq2_reference(prob, target):
    """Eq. 2 with NaN labels left out: mean over labelled (b, c) of the binary CE."""
    terms = []
    for b in range(prob.shape[0]):
        for c in range(prob.shape[1]):
            y = float(target[b, c])
            if math.isnan(y):
                continue
            p = float(prob[b, c])
            terms.append(-(y * math.log(p) + (1 - y) * math.log(1 - p)))
    return sum(terms) / len(terms)


def eq4_reference(v_au, v_p):
    """Eq. 4: -1/N sum log(1 - |<vP, vAU>| / (|vP| |vAU|))."""
    s = 0.0
    for a, p in zip(v_au.tolist(), v_p.tolist()):
        dot = sum(x * y for x, y in zip(a, p))
        na, np_ = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in p))
        s += math.log(1 - abs(dot) / (na * np_))
    return -s / len(v_au)


# ---- Eq. 1 ---------------------------------------------------------------------------------

def test_pi_loss_known_values():
    target = torch.randint(0, 2, (2, 3, 4, 4)).float()
    assert PIMapLoss()(torch.zeros(2, 3, 4, 4), target).item() == pytest.approx(math.log(2), rel=1e-6)
    logit = math.log(9.0)  # p = 0.9
    loss = PIMapLoss()(torch.full((1, 1, 2, 2), logit), torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]]))
    assert loss.item() == pytest.approx(-(math.log(0.9) + math.log(0.1)) / 2, rel=1e-6)


def test_pi_loss_matches_equation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, 4, generator=g)
    target = torch.rand(2, 3, 5, 4, generator=g)  # soft maps (Generator 1) are allowed
    assert PIMapLoss()(logits, target).item() == pytest.approx(eq1_reference(torch.sigmoid(logits), target), rel=1e-5)


def test_pi_loss_rejects_bad_shapes():
    with pytest.raises(ValueError):
        PIMapLoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError):
        PIMapLoss()(torch.zeros(2, 4), torch.zeros(2, 4))


# ---- Eq. 2 ---------------------------------------------------------------------------------

def test_au_loss_known_values_and_nan_mask():
    logits = torch.tensor([[math.log(3.0), 5.0]])  # p = 0.75 for the labelled AU
    target = torch.tensor([[1.0, float("nan")]])
    assert AULoss()(logits, target).item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_au_loss_matches_equation():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 12, generator=g)
    target = torch.randint(0, 2, (4, 12), generator=g).float()
    target[0, 3] = target[2, 7] = float("nan")
    assert AULoss()(logits, target).item() == pytest.approx(eq2_reference(torch.sigmoid(logits), target), rel=1e-5)


def test_au_loss_errors():
    with pytest.raises(ValueError):
        AULoss()(torch.zeros(2, 3), torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError):
        AULoss(pos_weight=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError):
        AULoss()(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- Eq. 4 ---------------------------------------------------------------------------------

def test_ap_loss_known_values():
    ap = APLoss()
    assert ap(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])).item() == pytest.approx(0.0, abs=1e-7)
    want = -math.log(1 - 1 / math.sqrt(2))
    assert ap(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0, 0.0]])).item() == pytest.approx(want, rel=1e-5)
    # |cos|: anti-parallel features are as person-specific as parallel ones
    assert ap(torch.tensor([[1.0, 1.0]]), torch.tensor([[-2.0, 0.0]])).item() == pytest.approx(want, rel=1e-5)


def test_ap_loss_matches_equation_and_is_finite_when_parallel():
    g = torch.Generator().manual_seed(2)
    v_au, v_p = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g)
    assert APLoss()(v_au, v_p).item() == pytest.approx(eq4_reference(v_au, v_p), rel=1e-5)
    v = torch.randn(3, 5, generator=g, requires_grad=True)
    loss = APLoss()(v, v.detach() * 2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(v.grad).all()
    with pytest.raises(ValueError):
        APLoss(eps=0.0)


# ---- Eq. 6 (and 3, 5 as special cases) ------------------------------------------------------

def test_piap_loss_is_the_weighted_sum():
    g = torch.Generator().manual_seed(3)
    out = {"logits": torch.randn(2, 4, generator=g), "pi_logits": torch.randn(2, 4, 6, 6, generator=g),
           "feature": torch.randn(2, 8, generator=g)}
    au = torch.randint(0, 2, (2, 4), generator=g).float()
    m, p = torch.rand(2, 4, 6, 6, generator=g), torch.randn(2, 8, generator=g)
    total, parts = PIAPLoss(0.5, 0.3, 0.2)(out, au, m, p)
    want = 0.5 * eq2_reference(torch.sigmoid(out["logits"]), au) + 0.3 * eq1_reference(torch.sigmoid(out["pi_logits"]), m) \
        + 0.2 * eq4_reference(out["feature"], p)
    assert total.item() == pytest.approx(want, rel=1e-5)
    assert set(parts) == {"l_au", "l_pi", "l_ap"}
    base, parts = PIAPLoss(1.0, 0.0, 0.0)(out, au)  # baseline needs neither M nor P
    assert set(parts) == {"l_au"} and base.item() == pytest.approx(eq2_reference(torch.sigmoid(out["logits"]), au), rel=1e-5)


def test_piap_loss_gradient_reaches_every_term():
    """Eq. 6's gradient on each output (logits, PI maps, AU feature) is the references' own, by central
    differences along a random direction: a term cut from the graph (detached) would still sum right."""
    g = torch.Generator().manual_seed(5)
    out = {"logits": torch.randn(2, 4, generator=g), "pi_logits": torch.randn(2, 4, 6, 6, generator=g),
           "feature": torch.randn(2, 8, generator=g)}
    out = {k: v.double().requires_grad_() for k, v in out.items()}
    au = torch.randint(0, 2, (2, 4), generator=g).double()
    m, p = torch.rand(2, 4, 6, 6, generator=g).double(), torch.randn(2, 8, generator=g).double()
    total, _ = PIAPLoss(0.5, 0.3, 0.2)(out, au, m, p)
    grads = dict(zip(out, torch.autograd.grad(total, list(out.values()))))

    def ref(o):
        return (0.5 * eq2_reference(torch.sigmoid(o["logits"]), au) + 0.3 * eq1_reference(torch.sigmoid(o["pi_logits"]), m)
                + 0.2 * eq4_reference(o["feature"], p))

    base, eps = {k: v.detach() for k, v in out.items()}, 1e-6
    for k in out:
        d = torch.randn(out[k].shape, generator=g, dtype=torch.float64)
        slope = (ref({**base, k: base[k] + eps * d}) - ref({**base, k: base[k] - eps * d})) / (2 * eps)
        assert abs(slope) > 1e-4, k                                  # the term does depend on this output
        assert (grads[k] * d).sum().item() == pytest.approx(slope, rel=1e-5), k


@pytest.mark.parametrize("w", [(0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.2, 0.0)])
def test_piap_loss_validates_weights(w):
    with pytest.raises(ValueError):
        PIAPLoss(*w)


def test_piap_loss_needs_targets_for_active_terms():
    out = {"logits": torch.zeros(1, 2), "feature": torch.ones(1, 3)}
    with pytest.raises(ValueError):
        PIAPLoss(0.5, 0.5, 0.0)(out, torch.zeros(1, 2))
    with pytest.raises(ValueError):
        PIAPLoss(0.5, 0.0, 0.5)(out, torch.zeros(1, 2))


# ---- Eq. 10 --------------------------------------------------------------------------------

def test_discrete_feedback():
    from aukit.methods.piap_df.config import DFConfig
    h = (DFConfig().fb_positive, DFConfig().fb_negative)               # Eq. 10's 1 and -0.1
    assert discrete_feedback(3.2, 1.0, *h).item() == 1.0
    assert discrete_feedback(-1e-9, 1.0, *h).item() == pytest.approx(-0.1)
    assert discrete_feedback(0.0, 1.0, *h).item() == pytest.approx(-0.1)  # h(z) = -0.1 for z <= 0
    assert discrete_feedback(5.0, 0.0, *h).item() == 0.0
    assert discrete_feedback(-5.0, 0.0, *h).item() == 0.0
    assert discrete_feedback(-2.0, 1.0, 2.0, -0.5).item() == -0.5


def test_discrete_feedback_takes_h_from_the_caller_only():
    """Eq. 10's 1 / -0.1 were defaults here as well as DFConfig.fb_positive / fb_negative: a caller that
    forgot the config's got the paper's numbers silently. Now the values must be passed."""
    with pytest.raises(TypeError):
        discrete_feedback(3.2, 1.0)
