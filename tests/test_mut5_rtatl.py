"""Mutation audit round 5, RTATL's step: what L_G may train, the pseudo labels of RoII, the masked input of
the backbone, the patch/label pairing of L_C, and the weight of the Table 1 baselines."""
from __future__ import annotations

import pytest
import torch

from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLStep, RTATLTrainConfig

AUS = (1, 2, 4, 6)
S, INP, PATCH = 68, 64, 16


def _batch(b=4, seed=0, labels=None):
    g = torch.Generator().manual_seed(seed)
    lab = (torch.rand(b, len(AUS), generator=g) < 0.5).float() if labels is None else labels
    return {"image": torch.rand(b, 3, S, S, generator=g) * 2 - 1,
            "centres": torch.rand(b, len(AUS), 2, 2, generator=g) * 40 + 14,
            "labels": lab, "flow": torch.randn(b, 2, 17, 17, generator=g),
            "flow_valid": torch.tensor([True] * (b - 1) + [False])}


def _net(**train):
    torch.manual_seed(0)
    mc = RTATLModelConfig(aus=AUS, input_size=INP, patch=PATCH, gan_width=8, flow_width=16)
    tc = RTATLTrainConfig(aus=AUS, crop_size=INP, image_size=S, **train)
    return RTATLNet(mc, tc), tc


def test_generator_loss_trains_neither_the_discriminator_nor_the_patch_classifier():
    """L_G (Eqs. 3, 4, 6) reads D and C with their weights frozen: its gradient reaches G only (catches D
    called plainly, which would train D to be fooled)."""
    net, tc = _net(mask_prob=1.0)
    step = RTATLStep(tc, INP, PATCH)
    got, real_g = [], step.g_loss
    step.g_loss = lambda *a: got.append(real_g(*a)) or got[-1]
    step(net, _batch())
    assert len(got) == 1
    l_g = got[0][0]
    frozen = list(net.discriminator.parameters()) + list(net.classifier.parameters())
    assert all(g is None or not g.abs().sum() for g in torch.autograd.grad(l_g, frozen, allow_unused=True,
                                                                         retain_graph=True))
    gen = torch.autograd.grad(l_g, list(net.generator.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in gen)


@pytest.mark.parametrize("shift,want", [(20.0, 1.0), (-20.0, 0.0)])
def test_pseudo_label_of_an_unlabelled_cut_au_is_the_backbones_confident_guess(shift, want):
    """§3.3.1: an unlabelled image's cut AU gets the label 1 when the backbone's probability exceeds
    the threshold, else 0 (catches the comparison turned around)."""
    net, tc = _net(mask_prob=1.0)
    forward = net.forward
    net.forward = lambda *a, **k: {**(o := forward(*a, **k)), "logits": o["logits"] + shift}
    step = RTATLStep(tc, INP, PATCH)
    seen, real_c = [], step.c_loss
    step.c_loss = lambda c, y: seen.append(y.detach()) or real_c(c, y)
    step(net, _batch(labels=torch.full((4, len(AUS)), float("nan"))))
    assert seen[0].tolist() == [want] * 8                        # 4 images, both RoIs of each


def test_the_patches_and_their_labels_stay_paired():
    """G(x) yields the two RoIs of each cut image in turn (image 0 left, image 0 right, image 1 ...):
    L_C's labels must follow that order (catches the labels tiled image by image instead)."""
    labels = torch.tensor([[1.0] * 4, [1.0] * 4, [0.0] * 4, [1.0] * 4])
    net, tc = _net(mask_prob=1.0)
    step = RTATLStep(tc, INP, PATCH)
    seen, real_c = [], step.c_loss
    step.c_loss = lambda c, y: seen.append(y.detach()) or real_c(c, y)
    step(net, _batch(labels=labels))
    y = seen[0]
    assert y.sum().item() == 6 and torch.equal(y[0::2], y[1::2])


def test_the_backbone_sees_the_cut_rois_whited_out():
    """RoII (§3.3): the backbone's input is the image with the cut RoIs filled (catches the intact image
    fed while only L_sup's mask knows of the cut)."""
    net, tc = _net(mask_prob=1.0)
    inputs = []
    net.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach()))
    RTATLStep(tc, INP, PATCH)(net, _batch())
    x = inputs[0]
    filled = (x == tc.mask_fill).all(1).flatten(1).sum(1)       # pixels white in every channel, per image
    assert (filled >= PATCH * PATCH).all(), filled.tolist()


def test_rotation_baseline_is_weighted_by_aux_weight():
    """Table 1's rotation baseline adds aux_weight * L_rot (catches the weight left out)."""
    net, tc = _net(roii=False, ofe=False, rotation=True, aux_weight=0.3)
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    lg = res.logs
    assert lg["l_rot"].item() > 0.1
    assert res.loss.item() == pytest.approx((lg["l_sup"] + 0.3 * lg["l_rot"]).item(), rel=1e-5)
