"""RTATL model, geometry and training step on CPU at small sizes."""
import numpy as np
import pytest
import torch

import aukit
from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLStep, RTATLTrainConfig, predict
from aukit.methods.rtatl.geometry import augment, box_mask, crop_patches, intact_aus, mask_rois
from aukit.methods.rtatl.relation import AURelationTransformer, cooccurrence_graph
from aukit.train import TrainConfig, fit

AUS = (1, 2, 4, 6)
S, INP, PATCH = 68, 64, 16


def _batch(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    lab = (torch.rand(b, len(AUS), generator=g) < 0.5).float()
    lab[0] = float("nan")  # one unlabelled image
    return {"image": torch.rand(b, 3, S, S, generator=g) * 2 - 1,
            "centres": torch.rand(b, len(AUS), 2, 2, generator=g) * 40 + 14,
            "labels": lab, "flow": torch.randn(b, 2, 17, 17, generator=g),
            "flow_valid": torch.tensor([True] * (b - 1) + [False])}


def _net(**train):
    mc = RTATLModelConfig(aus=AUS, input_size=INP, patch=PATCH, gan_width=8, flow_width=16)
    tc = RTATLTrainConfig(aus=AUS, crop_size=INP, image_size=S, **train)
    return RTATLNet(mc, tc), tc


@pytest.mark.parametrize("relation", ["transformer", "gcn", "none"])
def test_backbone_forward_backward_shapes(relation):
    net = aukit.create_model("rtatl_backbone", aus=AUS, input_size=INP, relation=relation)
    x = torch.randn(2, 3, INP, INP)
    c = torch.rand(2, len(AUS), 2, 2) * 40 + 12
    out = net(x, c)
    assert out["logits"].shape == (2, len(AUS))
    assert out["relation"].shape == out["tokens"].shape == (2, 2 * len(AUS), 128)
    assert torch.equal(out["logits"], torch.maximum(out["local_logits"], out["global_logits"]))
    out["logits"].sum().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_plain_resnet_variant_needs_no_centres():
    net = aukit.create_model("rtatl_backbone", aus=AUS, input_size=INP, roi=False)
    assert net(torch.randn(2, 3, INP, INP))["logits"].shape == (2, len(AUS))
    with pytest.raises(ValueError):
        RTATLNet(RTATLModelConfig(aus=AUS, roi=False), RTATLTrainConfig(aus=AUS, roii=True))


def test_transformer_uses_au_indicators_and_is_permutation_equivariant_per_au():
    torch.manual_seed(0)
    tr = AURelationTransformer(3, 16, 4, ff_dim=32, dropout=0.0).eval()
    tok = torch.randn(1, 6, 16)
    out = tr(tok)
    # swapping the two RoIs of one AU (same indicator) swaps their outputs: no positional encoding
    perm = [1, 0, 2, 3, 4, 5]
    assert torch.allclose(tr(tok[:, perm]), out[:, perm], atol=1e-5)
    # swapping RoIs of different AUs does not simply permute the output: indicators tell AUs apart
    perm = [2, 3, 0, 1, 4, 5]
    assert not torch.allclose(tr(tok[:, perm]), out[:, perm], atol=1e-3)


def test_cooccurrence_graph_conditional_probability():
    y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1], [np.nan, 1, 1]], float)
    a = cooccurrence_graph(y, threshold=0.5)
    # P(AU2 | AU1) = 2/3 > .5 ; P(AU1 | AU2) = 2/2 (NaN row skipped) ; AU3 never with AU1
    assert a[0, 1] == 1 and a[1, 0] == 1 and a[0, 2] == 0 and a[2, 0] == 0
    assert np.all(np.diag(a) == 1)


def test_crop_patches_and_mask_agree():
    img = torch.arange(2 * 3 * 20 * 20, dtype=torch.float32).reshape(2, 3, 20, 20)
    pts = torch.tensor([[[5.0, 6.0], [14.0, 10.0]], [[10.0, 10.0], [10.0, 10.0]]])
    p = crop_patches(img, pts, 4)
    assert p.shape == (2, 2, 3, 4, 4)
    # pixels x 3..6, y 4..7 around (5, 6)
    assert torch.equal(p[0, 0], img[0, :, 4:8, 3:7])
    m = box_mask(pts, 4, 20)
    assert m[0].sum() == 32 and m[0, 4:8, 3:7].all() and m[1].sum() == 16
    out = mask_rois(img, pts, 4, 1.0, torch.tensor([True, False]))
    assert (out[0][:, m[0]] == 1.0).all() and torch.equal(out[1], img[1]) and torch.equal(out[0][:, ~m[0]], img[0][:, ~m[0]])


def test_intact_aus_drops_aus_sharing_the_cut_region():
    c = torch.tensor([[[[10.0, 10.0], [30.0, 10.0]],     # AU a
                       [[11.0, 12.0], [29.0, 12.0]],     # AU b, inside a's squares
                       [[10.0, 40.0], [30.0, 40.0]]]])   # AU c, far away
    keep = intact_aus(c, torch.tensor([0]), 8, torch.tensor([True]))
    assert keep.tolist() == [[False, False, True]]
    assert intact_aus(c, torch.tensor([0]), 8, torch.tensor([False])).all()


def test_augment_moves_centres_and_flow_with_the_image():
    b = 3
    img = torch.zeros(b, 3, S, S)
    cen = torch.tensor([[20.0, 30.0], [45.0, 30.0]]).expand(b, 1, 2, 2).clone()
    img[:, 0, 30, 20] = 1.0                                   # the left centre's pixel, channel 0
    img[:, 1, 30, 45] = 1.0                                   # the right centre's pixel, channel 1
    flow = torch.zeros(b, 2, S, S)
    flow[:, 0] = 2.0  # uniform rightward motion
    # seed 0 flips images 0 and 2, not 1
    x, c, f = augment(img, cen, flow, crop=64, out=64, train=True, flip=True, generator=torch.Generator().manual_seed(0))
    for i, flipped in enumerate((True, False, True)):
        (lx, ly), (rx, ry) = c[i, 0].round().long().tolist()
        assert lx < rx                                         # the left point stays first after a flip,
        left, right = (1, 0) if flipped else (0, 1)            # which makes the mirrored right one the left
        assert x[i, left, ly, lx] == 1.0 and x[i, right, ry, rx] == 1.0
    # u changes sign where the image is mirrored, v stays 0
    torch.testing.assert_close(f[:, 0].mean((1, 2)), torch.tensor([-2.0, 2.0, -2.0]))
    assert torch.allclose(f[:, 0].abs(), torch.full_like(f[:, 0], 2.0)) and (f[:, 1] == 0).all()
    # resized to half: the centres and the flow (in output pixels) halve too
    xt, ct, ft = augment(img, cen, flow, crop=64, out=32, train=False, flip=False)
    assert xt.shape == (b, 3, 32, 32) and torch.allclose(ct[0, 0, 0], torch.tensor([9.0, 14.0]))
    assert torch.allclose(ft[:, 0], torch.full_like(ft[:, 0], 1.0))


def test_step_logs_every_rtatl_term_and_reaches_every_module():
    net, tc = _net(mask_prob=1.0)
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    assert torch.isfinite(res.loss) and {"l_sup", "l_d", "l_c", "l_g", "rec", "l_f"} <= set(res.logs)
    assert not any(torch.is_tensor(v) and v.requires_grad for v in res.logs.values())
    res.loss.backward()
    for name in ("backbone", "generator", "discriminator", "classifier", "flow_head"):
        grads = [p.grad for p in getattr(net, name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
        assert all(g is None or torch.isfinite(g).all() for g in grads), name


def test_step_supervises_only_the_aus_left_intact(monkeypatch):
    """mask_prob = 1: every image loses one AU's two RoIs; L_sup is the BCE over the labelled AUs other than
    the cut one (the AUs sit 12 px apart, so a 16 px cut reaches no other AU)."""
    import math

    import aukit.methods.rtatl.step as step_mod
    cut, logits = [], []
    real_mask = step_mod.mask_rois
    monkeypatch.setattr(step_mod, "mask_rois", lambda x, pts, *a: cut.append(pts) or real_mask(x, pts, *a))
    net, tc = _net(mask_prob=1.0)
    net.register_forward_hook(lambda m, i, o: logits.append(o["logits"].detach()))
    batch = _batch()
    # AU j's two centres at y = 16 + 12 j, x = 20 and 46
    centres = torch.tensor([[[20.0, 16.0 + 12 * j], [46.0, 16.0 + 12 * j]] for j in range(4)])
    batch["centres"] = centres.expand(4, -1, -1, -1)
    batch["labels"][0] = torch.tensor([1.0, 0.0, float("nan"), 1.0])
    res = RTATLStep(tc, INP, PATCH)(net, batch)
    # the AU whose RoIs were whited out, read from their height: the random crop shifts it up by 0..4 px
    au = ((cut[0][:, 0, 1] - 14) / 12).round().long().tolist()
    z, y = logits[0].tolist(), batch["labels"].tolist()
    terms = [-(y[i][j] * math.log(1 / (1 + math.exp(-z[i][j]))) + (1 - y[i][j]) * math.log(1 / (1 + math.exp(z[i][j]))))
             for i in range(4) for j in range(len(AUS)) if j != au[i] and not math.isnan(y[i][j])]
    assert len(cut) == 1 and len(terms) <= 12                         # 15 labels, one AU cut in each of 4 images
    assert res.logs["l_sup"].item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_generator_loss_gradient_never_reaches_critics():
    from aukit.methods.rtatl.step import _frozen
    net, _ = _net()
    fake = net.generator(torch.randn(4, 128))
    d = _frozen(net.discriminator, fake).sum() + _frozen(net.classifier, fake).sum()
    d.backward()
    assert all(p.grad is None for p in net.discriminator.parameters())
    assert all(p.grad is None for p in net.classifier.parameters())
    assert all(p.grad is not None for p in net.generator.parameters())
    net.zero_grad(set_to_none=True)
    from aukit.methods.rtatl.losses import DiscriminatorLoss
    DiscriminatorLoss()(net.discriminator(torch.randn(4, 3, PATCH, PATCH)), net.discriminator(fake.detach())).backward()
    assert all(p.grad is None for p in net.generator.parameters())


@pytest.mark.parametrize("switches", [dict(), dict(roii=False, ofe=False, rotation=True, exemplar=True),
                                      dict(roii=False, ofe=False, jigsaw=True), dict(pseudo_source="intact")])
def test_step_runs_for_each_variant(switches):
    net, tc = _net(**switches)
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    assert torch.isfinite(res.loss) and res.n_images == 4
    res.loss.backward()


def test_short_training_lowers_the_loss():
    torch.manual_seed(0)
    net, tc = _net(mask_prob=0.5)
    batches = [_batch(8, seed=s) for s in range(2)]
    opt = net.optimizers()
    hist = fit(net, RTATLStep(tc, INP, PATCH), batches, opt, TrainConfig(epochs=6, progress=False), device="cpu")
    assert hist[-1]["train_l_sup"] < hist[0]["train_l_sup"]
    assert hist[-1]["train_l_f"] < hist[0]["train_l_f"]
    probs = predict(net, batches[0]["image"], batches[0]["centres"], crop=INP, input_size=INP)
    assert probs.shape == (8, len(AUS)) and ((probs >= 0) & (probs <= 1)).all()


def test_reconstruction_alone_trains_the_generator():
    """With lambda1 = lambda2 = 0, L_G (Eq. 7) is L_rec alone: the generator's gradient must come from it.
    (Over a few CPU steps L_rec drifts by ~1%, up and down, so its trend cannot show this.)"""
    torch.manual_seed(0)
    net, tc = _net(mask_prob=1.0, lambda1=0.0, lambda2=0.0)
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    res.loss.backward()
    assert sum(p.grad.abs().sum() for p in net.generator.parameters() if p.grad is not None) > 1.0


@pytest.mark.parametrize("mask_prob,b,expect", [(0.5, 8, 4), (0.3, 8, 2), (0.0, 4, 0), (1.0, 4, 4)])
def test_roii_masks_a_fixed_number_of_images_every_step(monkeypatch, mask_prob, b, expect):
    """round(mask_prob * B) images per step, whatever the draw: the GAN heads see one batch shape."""
    import aukit.methods.rtatl.step as step_mod
    seen, fakes = [], []
    real_mask = step_mod.mask_rois

    def spy(image, points, side, fill, active):
        seen.append(int(active.sum()))
        return real_mask(image, points, side, fill, active)

    monkeypatch.setattr(step_mod, "mask_rois", spy)
    net, tc = _net(mask_prob=mask_prob)
    real_gen = net.generator.forward
    monkeypatch.setattr(net.generator, "forward", lambda tok: fakes.append(len(tok)) or real_gen(tok))
    step = RTATLStep(tc, INP, PATCH)
    for seed in range(3):
        res = step(net, _batch(b=b, seed=seed))
        assert torch.isfinite(res.loss)
    assert seen == [expect] * 3
    assert fakes == ([2 * expect] * 3 if expect else [])              # two RoIs per masked image
    assert ("l_g" in res.logs) == (expect > 0)


def test_discriminator_loss_in_the_step_sends_no_gradient_to_the_generator():
    """Catches G(x) fed undetached to L_D: the discriminator's loss would train the generator (and backbone) too."""
    net, tc = _net(mask_prob=1.0)
    step = RTATLStep(tc, INP, PATCH)
    got, real_d = [], step.d_loss
    step.d_loss = lambda r, f: got.append(real_d(r, f)) or got[-1]
    step(net, _batch())
    assert len(got) == 1
    gen = list(net.generator.parameters()) + list(net.backbone.parameters())
    assert all(g is None for g in torch.autograd.grad(got[0], gen, allow_unused=True))
    d = torch.autograd.grad(got[0], list(net.discriminator.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in d)


def test_step_loss_is_the_sum_of_its_logged_terms_with_lambda_f_on_the_flow():
    """Catches lambda_f dropped from Eq. 9: L = L_sup + L_D + L_C + L_G + 0.2 * L_F."""
    net, tc = _net(mask_prob=1.0)
    assert tc.lambda_f == 0.2
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    lg = res.logs
    assert lg["l_f"].item() > 0.01
    want = lg["l_sup"] + lg["l_d"] + lg["l_c"] + lg["l_g"] + 0.2 * lg["l_f"]
    assert res.loss.item() == pytest.approx(want.item(), rel=1e-5)


def test_the_intact_pseudo_label_pass_leaves_batchnorm_running_statistics_alone():
    """pseudo_source="intact" forwards the intact faces a second time in training mode: BatchNorm's
    running statistics took that batch too, so evaluation normalised with statistics of an extra batch."""
    buffers = {}
    for source in ("masked", "intact"):
        torch.manual_seed(0)
        net, tc = _net(pseudo_source=source, mask_prob=1.0)
        RTATLStep(tc, INP, PATCH)(net, _batch())
        buffers[source] = {k: v.clone() for k, v in net.state_dict().items() if "running_" in k or "num_batches" in k}
    assert buffers["masked"].keys() == buffers["intact"].keys() and buffers["masked"]
    for k, v in buffers["masked"].items():
        assert torch.equal(v, buffers["intact"][k]), k


def test_running_stats_kept_normalises_with_the_batch_and_restores_momentum():
    from aukit.runtime import running_stats_kept
    bn = torch.nn.BatchNorm1d(3, momentum=None).train()
    x = torch.randn(8, 3) * 4 + 2
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    with torch.no_grad(), running_stats_kept(bn):
        y = bn(x)
    assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-5)          # batch statistics, as in training
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2] and bn.momentum is None


def test_exemplar_jitter_comes_from_the_train_config(monkeypatch):
    """The exemplar view's contrast / brightness jitter (0.8 + 0.4u, 0.2u - 0.1) was typed into the step;
    it is RTATLTrainConfig.exemplar_contrast / exemplar_brightness: 0 leaves the view as cropped."""
    from aukit.methods.rtatl import step as step_mod
    seen = []
    pooled = step_mod._pooled
    monkeypatch.setattr(step_mod, "_pooled", lambda net, x: seen.append(x.detach().clone()) or pooled(net, x))
    views = {}
    for jitter in ((0.0, 0.0), (0.2, 0.1), (0.5, 0.3)):
        seen.clear()
        net, tc = _net(roii=False, ofe=False, exemplar=True, exemplar_contrast=jitter[0],
                       exemplar_brightness=jitter[1])
        torch.manual_seed(0)
        RTATLStep(tc, INP, PATCH, seed=0)(net, _batch())
        views[jitter] = seen[-1]                                          # the second (jittered) view
    plain = views[(0.0, 0.0)]
    for (c, br), x2 in views.items():                                     # x2 = plain * scale + shift, per image
        for p, y in zip(plain, x2):
            a = torch.stack([p.flatten(), torch.ones(p.numel())], 1).double()
            scale, shift = torch.linalg.lstsq(a, y.flatten().double()[:, None]).solution.flatten().tolist()
            assert 1 - c - 1e-5 <= scale <= 1 + c + 1e-5 and -br - 1e-5 <= shift <= br + 1e-5, (c, br, scale, shift)
    assert not torch.equal(views[(0.2, 0.1)], plain)
    with pytest.raises(ValueError, match="exemplar_contrast"):
        RTATLTrainConfig(exemplar_contrast=1.0)
