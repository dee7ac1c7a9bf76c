"""Heatmap targets (Eq. 1), the heatmap MSE (Eq. 2) and decoding (intensity = max, location = argmax)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aukit.methods.scc.config import SCCModelConfig, SCCTrainConfig
from aukit.methods.scc.heatmaps import decode, flatten_points, gaussian_targets, to_heatmap_coords
from aukit.methods.scc.losses import HeatmapMSELoss
from aukit.methods.scc.step import batch_targets


def _eq1_plain(cx, cy, intensity, size, sigma, normalised):
    """Eq. 1 pixel by pixel."""
    g = np.zeros((size, size))
    for y in range(size):
        for x in range(size):
            g[y, x] = intensity * math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    return g / (2 * math.pi * sigma ** 2) if normalised else g


def _eq2_plain(pred, target, valid):
    """Eq. 2 summed over valid maps and pixels, divided by their pixel count."""
    total, n = 0.0, 0
    for b in range(pred.shape[0]):
        for i in range(pred.shape[1]):
            if valid[b, i]:
                total += float(((pred[b, i] - target[b, i]) ** 2).sum())
                n += pred.shape[2] * pred.shape[3]
    return total / n


@pytest.mark.parametrize("normalised", [False, True])
def test_gaussian_targets_match_eq1(normalised):
    pts = torch.tensor([[[3.0, 5.0], [7.5, 2.25]]])
    peaks = torch.tensor([[4.0, 1.5]])
    g = gaussian_targets(pts, peaks, 12, 2.0, normalised)
    assert g.shape == (1, 2, 12, 12)
    for i, ((cx, cy), p) in enumerate(zip(pts[0].tolist(), peaks[0].tolist())):
        np.testing.assert_allclose(g[0, i].numpy(), _eq1_plain(cx, cy, p, 12, 2.0, normalised), rtol=1e-5, atol=1e-7)


def test_gaussian_peak_is_intensity_at_centre():
    g = gaussian_targets(torch.tensor([[[4.0, 6.0]]]), torch.tensor([[3.0]]), 16, 2.0)
    assert g[0, 0, 6, 4].item() == pytest.approx(3.0)
    assert g[0, 0].max().item() == pytest.approx(3.0)
    assert g[0, 0, 6, 6].item() == pytest.approx(3.0 * math.exp(-4 / 8))   # 2 px away, sigma 2


def test_nan_intensity_draws_nothing_and_bad_sigma_raises():
    g = gaussian_targets(torch.tensor([[[4.0, 6.0]]]), torch.tensor([[float("nan")]]), 8, 2.0)
    assert torch.count_nonzero(g) == 0
    with pytest.raises(ValueError):
        gaussian_targets(torch.zeros(1, 1, 2), torch.ones(1, 1), 8, 0.0)


def test_coords_and_flatten():
    # pixel centres align: image pixel 0 -> heatmap -0.375 at 4x downsampling, last pixel -> 63.375
    c = to_heatmap_coords(torch.tensor([0.0, 255.0]), 256, 64)
    assert c.tolist() == pytest.approx([-0.375, 63.375])
    assert to_heatmap_coords(torch.tensor([1.5]), 256, 64).item() == pytest.approx(0.0)
    centres = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    pts, peaks = flatten_points(centres, torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert pts.shape == (2, 6, 2) and peaks[0].tolist() == [1, 1, 2, 2, 3, 3]
    assert torch.equal(pts[1, 3], centres[1, 1, 1])


def test_mse_known_answer():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 2.0                             # one pixel off by 2 -> sum 4
    target[0, 1] = 1.0                                   # a masked map with error 4
    valid = torch.tensor([[True, False]])
    assert HeatmapMSELoss()(pred, target, valid).item() == pytest.approx(4.0 / 4)
    assert HeatmapMSELoss("sum")(pred, target, valid).item() == pytest.approx(4.0)
    assert HeatmapMSELoss()(pred, target).item() == pytest.approx(8.0 / 8)
    assert HeatmapMSELoss()(pred, target, torch.zeros(1, 2, dtype=torch.bool)).item() == 0.0


def test_mse_matches_eq2_plain():
    g = torch.Generator().manual_seed(3)
    pred, target = torch.randn(3, 4, 5, 5, generator=g), torch.randn(3, 4, 5, 5, generator=g)
    valid = torch.rand(3, 4, generator=g) > 0.3
    got = HeatmapMSELoss()(pred, target, valid).item()
    assert got == pytest.approx(_eq2_plain(pred.numpy(), target.numpy(), valid.numpy()), rel=1e-5)


def test_mse_validates():
    with pytest.raises(ValueError, match="reduction"):
        HeatmapMSELoss("median")
    with pytest.raises(ValueError):
        HeatmapMSELoss()(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="valid"):
        HeatmapMSELoss()(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 3, dtype=torch.bool))


def test_mse_gradient_is_eq2_derivative():
    pred = torch.zeros(1, 1, 2, 2, requires_grad=True)
    target = torch.ones(1, 1, 2, 2)
    HeatmapMSELoss("sum")(pred, target).backward()
    assert torch.allclose(pred.grad, torch.full_like(pred, -2.0))


@pytest.mark.parametrize("normalised", [False, True])
def test_decode_inverts_targets(normalised):
    pts = torch.tensor([[[3.0, 5.0], [9.0, 4.0], [6.0, 6.0], [1.0, 12.0]]])
    peaks = torch.tensor([[2.0, 4.0, 0.5, 0.5]])         # AU0 points disagree: mean of maxima = 3
    g = gaussian_targets(pts, peaks, 16, 2.0, normalised)
    intensity, loc = decode(g, 2, sigma=2.0, eq1_normalised=normalised)
    assert intensity.shape == (1, 2)
    assert intensity[0].tolist() == pytest.approx([3.0, 0.5], rel=1e-5)
    assert loc[0].tolist() == pts[0].tolist()
    with pytest.raises(ValueError):
        decode(torch.zeros(1, 3, 4, 4), 2)


def test_batch_targets_at_any_resolution():
    cfg = SCCTrainConfig()
    batch = {"image": torch.zeros(2, 3, 256, 256),
             "centres": torch.full((2, 1, 2, 2), 129.5),
             "intensity": torch.tensor([[3.0], [float("nan")]])}
    t64, v64 = batch_targets(batch, 64, cfg)
    t32, _ = batch_targets(batch, 32, cfg)
    assert t64.shape == (2, 2, 64, 64) and t32.shape == (2, 2, 32, 32)
    assert v64.tolist() == [[True, True], [False, False]]
    assert t64[0, 0, 32, 32].item() == pytest.approx(3.0) and t64[1].abs().sum() == 0
    # sigma stays 2 heatmap pixels: the value 2 px right of the centre is 3 * exp(-4 / 8) at both sizes
    c32 = 130.0 * 32 / 256 - 0.5                         # centre 129.5 px -> 15.75 on the 32x32 map
    assert t32[0, 0, 16, 18].item() == pytest.approx(3.0 * math.exp(-((18 - c32) ** 2 + (16 - c32) ** 2) / 8), rel=1e-5)
    assert t64[0, 0, 32, 34].item() == pytest.approx(3.0 * math.exp(-0.5), rel=1e-5)
    assert SCCModelConfig().heatmap_size == 64 and SCCModelConfig(deconv_layers=2).heatmap_size == 32


def test_step_leaves_out_the_maps_of_an_unlabelled_au():
    """The step's loss is Eq. 2 over the labelled AUs' maps only: a NaN intensity's maps neither count
    towards the mean nor pull the model's output on them (here a stub returning fixed heatmaps)."""
    from aukit.methods.scc.step import make_step

    class Fixed(torch.nn.Module):
        def __init__(self, h):
            super().__init__()
            self.h = h

        def forward(self, x):
            return self.h

    r, sigma = 8, 2.0                                    # 8 px faces -> 8 px maps: centres map 1:1
    centres = torch.tensor([[[[2.0, 3.0], [5.0, 3.0]], [[3.0, 6.0], [4.0, 6.0]]],
                            [[[1.0, 1.0], [6.0, 2.0]], [[2.0, 5.0], [5.0, 5.0]]]])   # (B=2, A=2, 2, 2)
    intensity = torch.tensor([[3.0, float("nan")], [1.0, 4.0]])
    batch = {"image": torch.zeros(2, 3, r, r), "centres": centres, "intensity": intensity}
    target = np.zeros((2, 4, r, r))
    for b in range(2):
        for a in range(2):
            if not math.isnan(intensity[b, a]):
                for p in range(2):
                    cx, cy = centres[b, a, p].tolist()
                    target[b, 2 * a + p] = _eq1_plain(cx, cy, float(intensity[b, a]), r, sigma, False)
    valid = np.array([[True, True, False, False], [True, True, True, True]])
    h = torch.rand(2, 4, r, r, generator=torch.Generator().manual_seed(0))
    step = make_step(SCCTrainConfig(sigma=sigma))
    loss = step(Fixed(h), batch).loss.item()
    assert loss == pytest.approx(_eq2_plain(h.numpy(), target, valid), rel=1e-5)
    moved = h.clone()
    moved[0, 2:] += 10.0                                 # image 0's output on the maps of its NaN AU
    assert step(Fixed(moved), batch).loss.item() == pytest.approx(loss, rel=1e-6)


def test_configs_validate():
    with pytest.raises(ValueError):
        SCCModelConfig(edge="concat")
    with pytest.raises(ValueError):
        SCCModelConfig(input_size=250)
    with pytest.raises(ValueError):
        SCCTrainConfig(sigma=0)
