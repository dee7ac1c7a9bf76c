"""PIAP-DF networks: forward/backward on CPU at small sizes, export, registry."""
import pytest
import torch

import aukit
from aukit.methods.piap_df.config import NetConfig
from aukit.methods.piap_df.model import (AUEncoder, DWUNet, PI2Net, PIAPNet, PooledHeadNet, greyscale,
                                         lift_projection)

TINY = dict(trunk="tiny_dw", image_size=64, tiny_width=8, unet_width=4, unet_depth=3, decoder_width=16)


def _finite_grads(module):
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    assert any(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)


def test_dw_unet_shapes_backward_and_depthwise():
    net = DWUNet(n_maps=12, width=4, depth=3)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 12, 32, 32)
    out.mean().backward()
    _finite_grads(net)
    depthwise = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1]
    assert len(depthwise) >= 2 * 3  # the convolutions really are depthwise separable
    with pytest.raises(ValueError):
        net(torch.randn(1, 3, 36, 36))  # not divisible by 2**3


def test_pi2_net_masks_the_greyscale_face():
    cfg = NetConfig(**TINY, aus=(1, 2, 4))
    net = PI2Net(cfg)
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert out["logits"].shape == (2, 3) and out["pi_logits"].shape == (2, 3, 64, 64)
    out["logits"].sum().backward()
    # L_AU reaches the generator (stage 2 turns Generator 0 into Generator 1)
    assert net.generator.out.weight.grad is not None and net.generator.out.weight.grad.abs().sum() > 0
    assert net.trunk.body[0].in_channels == 3  # one input channel per AU map
    # BT.601 luma, channel by channel (RGB order)
    primaries = torch.eye(3).view(3, 3, 1, 1)
    assert torch.allclose(greyscale(primaries).flatten(), torch.tensor([0.299, 0.587, 0.114]))
    # what the encoder sees: each AU map times the greyscale face (maps all 1: the face; all 0: nothing)
    seen = []
    net.trunk.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    with torch.no_grad():
        for bias, want in ((20.0, greyscale(x).expand(-1, 3, -1, -1)), (-20.0, torch.zeros(2, 3, 64, 64))):
            net.generator.out.weight.zero_()
            net.generator.out.bias.fill_(bias)
            net(x)
            torch.testing.assert_close(seen[-1], want, atol=1e-5, rtol=0)


def test_piap_net_forward_backward_and_export():
    cfg = NetConfig(**TINY)
    net = PIAPNet(cfg)
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert out["logits"].shape == (2, 12) and out["feature"].shape == (2, 8 * 8)
    assert out["pi_logits"].shape == (2, 12, 64, 64)
    (out["logits"].sum() + out["pi_logits"].mean()).backward()
    _finite_grads(net)
    assert "pi_logits" not in net(x, pi=False)
    enc = net.export()
    assert isinstance(enc, AUEncoder) and not any(k.startswith("decoder") for k in enc.state_dict())
    net.eval()
    assert torch.allclose(enc(x)["logits"], net(x, pi=False)["logits"], atol=1e-6)
    n_enc = sum(p.numel() for p in enc.parameters())
    assert n_enc < sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError):
        net(torch.randn(1, 3, 32, 32))


def test_efficientnet_b1_trunk_takes_12_channels():
    cfg = NetConfig(image_size=64, unet_width=4, unet_depth=3, decoder_width=16)  # paper trunk, small input
    net = PI2Net(cfg)
    out = net(torch.randn(1, 3, 64, 64))
    assert out["logits"].shape == (1, 12) and out["feature"].shape == (1, 1280)


def test_registry_and_person_encoder():
    for name in ("piap_dw_unet", "piap_pi2_net", "piap_net", "piap_au_encoder"):
        assert name in aukit.list_models()
    enc = aukit.create_model("piap_au_encoder", **TINY)
    assert enc(torch.randn(1, 3, 64, 64))["logits"].shape == (1, 12)
    pe = aukit.create_model("piap_person_encoder", n_identities=5, **TINY)
    assert isinstance(pe, PooledHeadNet) and pe(torch.randn(2, 3, 64, 64))["logits"].shape == (2, 5)
    with pytest.raises(ValueError):
        aukit.create_model("piap_net", no_such_field=1)
    with pytest.raises(ValueError):
        aukit.create_model("piap_net", trunk="vgg")


def test_lift_projection_is_orthonormal():
    q = lift_projection(4, 16, seed=1)
    assert q.shape == (16, 4)
    assert torch.allclose(q.T @ q, torch.eye(4), atol=1e-5)
    with pytest.raises(ValueError):
        lift_projection(16, 4)
