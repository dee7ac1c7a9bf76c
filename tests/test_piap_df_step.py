"""PIAP-DF step functions inside aukit.train.fit: the DF update (Eqs. 7-11) against a plain
re-implementation, and short trainings that lower the loss."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit.methods.piap_df.config import DFConfig, NetConfig
from aukit.methods.piap_df.df import DFStep, PairedLoader, TeacherStudent
from aukit.methods.piap_df.losses import PIAPLoss
from aukit.methods.piap_df.model import DWUNet, PI2Net, PIAPNet
from aukit.methods.piap_df.step import PIAPStep, PITargets, generator_step, pi2_step
from aukit.train import TrainConfig, fit

TINY = dict(trunk="tiny_dw", image_size=32, tiny_width=8, unet_width=4, unet_depth=3, decoder_width=16, aus=(1, 2))
QUIET = dict(progress=False, resume=False)


class Logistic(nn.Module):
    """f(x) = W x + b on flattened inputs; accepts the ``pi`` flag like PIAPNet."""

    def __init__(self, d, c, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(d, c)

    def forward(self, x, pi=False):
        f = x.flatten(1)
        return {"logits": self.fc(f), "feature": f}


def df_reference(theta, xi, xl, yl, xu, eta, sigma):
    """Eqs. 7-11 written out with probabilities and explicit gradients (SGD, no momentum)."""
    def bce(params, x, y):
        w, b = params
        p = torch.sigmoid(x.flatten(1) @ w.T + b)
        return F.binary_cross_entropy(p, y)

    def grad(params, x, y):
        ps = [t.detach().clone().requires_grad_(True) for t in params]
        return torch.autograd.grad(bce(ps, x, y), ps)

    w, b = theta
    y_p = (torch.sigmoid(xu.flatten(1) @ w.T + b) > 0.5).float()          # teacher pseudo-labels
    g_tu, g_su = grad(theta, xu, y_p), grad(xi, xu, y_p)                   # Eq. 7
    xi1 = [p - eta * g for p, g in zip(xi, g_su)]                          # Eq. 8
    g_sl, g_tl = grad(xi1, xl, yl), grad(theta, xl, yl)                    # Eq. 9
    fb = sum((a * c).sum() for a, c in zip(g_sl, g_su))                    # Eq. 10
    fb_d = sigma * (1.0 if fb > 0 else -0.1)
    theta1 = [p - eta * (fb_d * gu + gl) for p, gu, gl in zip(theta, g_tu, g_tl)]  # Eq. 11
    return theta1, xi1, float(fb)


@pytest.mark.parametrize("case", ["agree", "disagree", "random"])
@pytest.mark.parametrize("disable_prob", [0.0, 1.0])
def test_df_step_matches_equations(case, disable_prob):
    g = torch.Generator().manual_seed(5)
    xu = torch.randn(6, 1, 2, 3, generator=g)
    teacher, student = Logistic(6, 3, seed=0), Logistic(6, 3, seed=1)
    y_p = (torch.sigmoid(teacher(xu)["logits"]) > 0.5).float().detach()
    xl, yl = {"agree": (xu, y_p), "disagree": (xu, 1 - y_p),
              "random": (torch.randn(6, 1, 2, 3, generator=g), torch.randint(0, 2, (6, 3), generator=g).float())}[case]
    theta = [teacher.fc.weight.detach().clone(), teacher.fc.bias.detach().clone()]
    xi = [student.fc.weight.detach().clone(), student.fc.bias.detach().clone()]
    eta = 0.5
    model = TeacherStudent(teacher, student)
    opts = {"teacher": torch.optim.SGD(teacher.parameters(), lr=eta), "student": torch.optim.SGD(student.parameters(), lr=eta)}
    step = DFStep(PIAPLoss(1.0, 0.0, 0.0), opts["student"], DFConfig(disable_prob=disable_prob))
    batch = {"l": {"image": xl, "au": yl}, "u": {"image": xu}}
    hist = fit(model, step, [batch], opts, TrainConfig(epochs=1, **QUIET), device="cpu")
    theta1, xi1, fb = df_reference(theta, xi, xl, yl, xu, eta, sigma=1.0 - disable_prob)
    assert torch.allclose(student.fc.weight, xi1[0], atol=1e-6) and torch.allclose(student.fc.bias, xi1[1], atol=1e-6)
    assert torch.allclose(teacher.fc.weight, theta1[0], atol=1e-6) and torch.allclose(teacher.fc.bias, theta1[1], atol=1e-6)
    assert hist[0]["train_fb_positive"] == float(fb > 0)
    if case == "agree":
        assert fb > 0
    if case == "disagree":
        assert fb < 0
    assert hist[0]["train_fb_discrete"] == pytest.approx((1.0 - disable_prob) * (1.0 if fb > 0 else -0.1))


def test_df_step_under_bf16_autocast_runs_eq9_on_the_updated_student():
    """Eq. 9 needs the student after its step (xi'). Autocast caches each weight's bf16 copy for
    its whole region; the step must drop it after the in-place update, or the student's labelled
    loss is the old student's."""
    g = torch.Generator().manual_seed(3)
    xu, xl = torch.randn(8, 1, 2, 3, generator=g), torch.randn(8, 1, 2, 3, generator=g)
    yl = torch.randint(0, 2, (8, 3), generator=g).float()
    teacher, student = Logistic(6, 3, seed=0), Logistic(6, 3, seed=1)
    before = student.fc.weight.detach().clone()
    opts = {"teacher": torch.optim.SGD(teacher.parameters(), lr=1.0),
            "student": torch.optim.SGD(student.parameters(), lr=1.0)}
    step = DFStep(PIAPLoss(1.0, 0.0, 0.0), opts["student"], DFConfig(disable_prob=0.0))
    batch = {"l": {"image": xl, "au": yl}, "u": {"image": xu}}
    hist = fit(TeacherStudent(teacher, student), step, [batch], opts, TrainConfig(epochs=1, precision="bf16", **QUIET),
               device="cpu")
    assert (student.fc.weight - before).abs().max() > 0.05          # the student did move
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        after = F.binary_cross_entropy_with_logits(student(xl)["logits"].float(), yl).item()
    assert hist[0]["train_student_l_au"] == pytest.approx(after, abs=1e-4)


def test_df_step_refuses_distributed_data_parallel(tmp_path):
    """DDP all-reduces only what backward() fills; DF's gradients come from autograd.grad, so
    under torchrun each rank would train its own teacher: a clear error, not an AttributeError."""
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        teacher, student = Logistic(6, 3, seed=0), Logistic(6, 3, seed=1)
        step = DFStep(PIAPLoss(1.0, 0.0, 0.0), torch.optim.SGD(student.parameters(), lr=1.0), DFConfig())
        batch = {"l": {"image": torch.randn(4, 6), "au": torch.ones(4, 3)}, "u": {"image": torch.randn(4, 6)}}
        with pytest.raises(RuntimeError, match="DF runs in one process only"):
            step(nn.parallel.DistributedDataParallel(TeacherStudent(teacher, student)), batch)
    finally:
        dist.destroy_process_group()


def test_df_pi_targets_of_both_batches_equal_one_generator_call_each():
    """DF runs the frozen Generator 1 once over x_l and x_u together: the same maps as two calls."""
    torch.manual_seed(0)
    pit = PITargets(DWUNet(2, 4, 3))
    student = PIAPNet(NetConfig(**TINY))
    step = DFStep(PIAPLoss(0.5, 0.25, 0.25), torch.optim.SGD(student.parameters(), lr=0.1), DFConfig(), pit)
    bl = {"image": torch.randn(3, 3, 32, 32), "person": torch.randn(3, 8)}
    bu = {"image": 3 * torch.randn(5, 3, 32, 32), "person": torch.randn(5, 8)}
    (m_l, p_l), (m_u, p_u) = step._targets(bl, bu)
    assert m_l.shape == (3, 2, 32, 32) and m_u.shape == (5, 2, 32, 32)
    assert torch.allclose(m_l, pit(bl["image"]), atol=1e-6) and torch.allclose(m_u, pit(bu["image"]), atol=1e-6)
    assert p_l is bl["person"] and p_u is bu["person"]


def test_df_step_rejects_bad_config():
    opt = torch.optim.SGD(Logistic(2, 1, 0).parameters(), lr=0.1)
    with pytest.raises(ValueError):
        DFStep(PIAPLoss(), opt, DFConfig(disable_prob=1.5))
    with pytest.raises(ValueError):
        DFStep(PIAPLoss(), opt, DFConfig(pseudo="soft"))
    with pytest.raises(ValueError):
        DFStep(PIAPLoss(0.5, 0.5, 0.0), opt)  # L_PI without a PI generator


# ---- tiny synthetic AU task: AU k is "on" when quadrant k of the face is bright -----------------

def synthetic_batches(n_batches, b=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        au = torch.randint(0, 2, (b, 2), generator=g).float()
        x = 0.3 * torch.randn(b, 3, size, size, generator=g)
        maps = torch.zeros(b, 2, size, size)
        maps[:, 0, : size // 2, : size // 2] = 1
        maps[:, 1, size // 2:, size // 2:] = 1
        x = x + (au[:, :, None, None] * maps).sum(1, keepdim=True)
        out.append({"image": x, "au": au, "pi": maps, "person": torch.randn(b, 64, generator=g)})
    return out


def test_generator_step_lowers_eq1():
    torch.manual_seed(0)
    net = DWUNet(2, width=4, depth=3)
    data = synthetic_batches(4)
    hist = fit(net, generator_step, data, torch.optim.Adam(net.parameters(), 1e-2), TrainConfig(epochs=8, **QUIET),
               device="cpu")
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]


def test_pi2_step_lowers_eq2_and_updates_generator():
    torch.manual_seed(0)
    net = PI2Net(NetConfig(**TINY))
    before = net.generator.out.weight.detach().clone()
    hist = fit(net, pi2_step, synthetic_batches(4), torch.optim.Adam(net.parameters(), 1e-2),
               TrainConfig(epochs=14, **QUIET), device="cpu")
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert not torch.allclose(before, net.generator.out.weight)
    # it learned the AUs, not the 32 images: held-out faces (0.875; trained on mislabelled images 0.55)
    net.eval()
    with torch.no_grad():
        right = [(net(b["image"])["logits"] > 0).float() == b["au"] for b in synthetic_batches(4, seed=7)]
    assert torch.cat(right).float().mean() > 0.75


def test_piap_step_lowers_eq6():
    torch.manual_seed(0)
    net = PIAPNet(NetConfig(**TINY))
    gen = DWUNet(2, width=4, depth=3)
    step = PIAPStep(PIAPLoss(0.5, 0.25, 0.25), PITargets(gen))
    gen_before = [p.detach().clone() for p in gen.parameters()]
    hist = fit(net, step, synthetic_batches(4), torch.optim.Adam(net.parameters(), 3e-3),
               TrainConfig(epochs=5, **QUIET), device="cpu")
    assert hist[-1]["train_loss"] < 0.9 * hist[0]["train_loss"]
    assert {"train_l_au", "train_l_pi", "train_l_ap"} <= set(hist[0])
    assert hist[-1]["train_l_ap"] < 0.6 * hist[0]["train_l_ap"]       # L_AP is trained too (not only L_AU)
    assert all(torch.equal(a, b) for a, b in zip(gen_before, gen.parameters()))  # Generator 1 stays fixed
    with pytest.raises(KeyError):
        step(net, {"image": torch.zeros(2, 3, 32, 32), "au": torch.zeros(2, 2)})  # AP without person features


def test_df_on_piap_nets_runs_in_fit():
    torch.manual_seed(0)
    teacher = PIAPNet(NetConfig(**TINY))
    student = PIAPNet(NetConfig(**TINY))
    student.load_state_dict(teacher.state_dict())
    model = TeacherStudent(teacher, student)
    opts = {"teacher": torch.optim.SGD(teacher.parameters(), 1e-2, momentum=0.9),
            "student": torch.optim.SGD(student.parameters(), 1e-2, momentum=0.9)}
    step = DFStep(PIAPLoss(0.5, 0.25, 0.25), opts["student"], DFConfig(), PITargets(DWUNet(2, 4, 3)))
    labelled = synthetic_batches(3, seed=1)
    unlabelled = [{k: v for k, v in b.items() if k != "au"} for b in synthetic_batches(2, seed=2)]
    loader = PairedLoader(labelled, [unlabelled])
    assert len(loader) == 3 and len(list(loader)) == 3
    hist = fit(model, step, loader, opts, TrainConfig(epochs=2, **QUIET), device="cpu")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in hist)
    assert 0.0 <= hist[-1]["train_fb_positive"] <= 1.0
    assert not torch.allclose(teacher.fc.weight, student.fc.weight)
