"""CPC clip augmentation: identity at zero strength, one transform per clip, output size."""
import dataclasses

import pytest
import torch

from aukit.methods.cpc import PretrainConfig
from aukit.methods.cpc.augment import ClipAugment


def test_zero_strength_is_identity():
    aug = ClipAugment(rotation=0, scale=0, translate=0, flip=False, brightness=0, contrast=0, saturation=0, hue=0)
    x = torch.rand(2, 3, 3, 16, 16)
    assert torch.allclose(aug(x), x, atol=1e-5)


def test_one_transform_per_clip_and_resize():
    aug = ClipAugment.from_config(PretrainConfig(), out_size=8, seed=3)
    frame = torch.rand(2, 1, 3, 16, 16)
    y = aug(frame.repeat(1, 4, 1, 1, 1))
    assert y.shape == (2, 4, 3, 8, 8)
    assert torch.allclose(y[:, 0], y[:, 3], atol=1e-6)        # same transform for every frame of a clip
    assert not torch.allclose(y[0], y[1])                      # different clips differ
    assert y.min() >= 0 and y.max() <= 1
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(aug(frame, g1), aug(frame, g2))          # draws come from the passed generator
    assert ClipAugment.from_config(PretrainConfig(), seed=3)(frame[:, 0]).shape == (2, 3, 16, 16)


def test_hue_rotation_keeps_grey_and_flip_mirrors():
    grey = torch.full((1, 3, 4, 4), 0.2)
    aug = ClipAugment(rotation=0, scale=0, translate=0, flip=False, brightness=0, contrast=0, saturation=0, hue=0.5)
    assert torch.allclose(aug(grey), grey, atol=1e-5)
    ramp = torch.linspace(0, 1, 8).view(1, 1, 1, 8).expand(1, 3, 8, 8).contiguous()
    flips = [ClipAugment(rotation=0, scale=0, translate=0, flip=True, brightness=0, contrast=0, saturation=0, hue=0,
                         seed=s)(ramp)
             for s in range(8)]
    assert any(torch.allclose(f, ramp.flip(-1), atol=1e-5) for f in flips)
    assert any(torch.allclose(f, ramp, atol=1e-5) for f in flips)


def test_resize_only():
    from aukit.methods.cpc.augment import resize_only
    x = torch.rand(2, 3, 16, 16)
    assert resize_only(None) is None
    y = resize_only(8)(x)
    assert y.shape == (2, 3, 8, 8)
    assert torch.allclose(y, torch.nn.functional.avg_pool2d(x, 2), atol=1e-5)    # 2x bilinear = 2x2 mean


def test_validates():
    cfg = PretrainConfig()
    with pytest.raises(ValueError):
        ClipAugment.from_config(dataclasses.replace(cfg, rotation=-1))
    with pytest.raises(ValueError):
        ClipAugment.from_config(dataclasses.replace(cfg, scale=1.0))


def test_the_strengths_are_pretrain_configs_only():
    """ClipAugment re-declared PretrainConfig's strengths as its own defaults, without sources: two places to
    change one value. It has none now; from_config (what the experiment trains with) reads them all."""
    with pytest.raises(TypeError):
        ClipAugment()
    cfg = PretrainConfig(rotation=5.0, scale=0.2, translate=0.01, flip=False, brightness=0.1, contrast=0.2,
                         saturation=0.3, hue=0.05)
    aug = ClipAugment.from_config(cfg, out_size=8, seed=4)
    strengths = ("rotation", "scale", "translate", "flip", "brightness", "contrast", "saturation", "hue")
    assert {k: getattr(aug, k) for k in strengths} == {k: getattr(cfg, k) for k in strengths}
    assert (aug.out_size, aug.seed) == (8, 4)
    from aukit.methods.cpc.experiment import _augment
    assert _augment(cfg, 8) == ClipAugment.from_config(cfg, out_size=8)
