"""Mutation audit round 5, deploy exporters: SCC's deployable decodes as it was trained."""
from __future__ import annotations

import math

import torch

from aukit import deploy


def test_scc_deployable_keeps_eq1s_normalisation_and_sigma(tmp_path):
    """A model trained on Eq. 1's normalised targets (peak I / (2 pi sigma^2)) is read back with the same
    constant (catches eq1_normalised dropped from the export: intensities 2 pi sigma^2 times too small)."""
    from aukit.methods.scc import SCCHeatmapNet, SCCModelConfig, SCCTrainConfig, decode
    from aukit.methods.scc.deploy import export_deployable
    torch.manual_seed(0)
    model = SCCHeatmapNet(SCCModelConfig(depth=18, input_size=64, deconv_channels=16, k=3, n_points=4)).eval()
    with torch.no_grad():
        model.head.weight.normal_(0, 0.2)
        model.head.bias.fill_(0.05)
    tc = SCCTrainConfig(sigma=1.5, eq1_normalised=True)
    net = deploy.load(export_deployable(model, ["AU01", "AU02"], tmp_path / "d.pt", "synthau-disfa", tc))
    x = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    xn = (x.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        want = decode(model(xn), 2, 1.5, True)[0]
        plain = decode(model(xn), 2, 1.5, False)[0]
    torch.testing.assert_close(want, plain * 2 * math.pi * 1.5 ** 2)
    torch.testing.assert_close(net(x)["intensity"], want, atol=1e-4, rtol=1e-4)
