"""Library-use findings on aukit.viz and the modules around it: each test is what a user hit."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from aukit import viz  # noqa: E402
from aukit.data.pimaps import pi_maps  # noqa: E402


def _rgb(colour) -> np.ndarray:
    return np.asarray(matplotlib.colors.to_rgb(colour))


def test_tsne_intensity_zero_is_visible_on_the_axes():
    """Intensity 0 (most frames) was drawn in Blues(0), near white on the white axes."""
    rng = np.random.default_rng(0)
    intensity = np.r_[np.zeros(20), np.arange(10) % 6]
    fig = viz.tsne_features(rng.normal(size=(30, 8)), {"AU12 intensity": intensity})
    ax = fig.axes[0]
    points = ax.collections[0]
    zero, top = _rgb(points.to_rgba(0.0)), _rgb(points.to_rgba(5.0))
    assert np.linalg.norm(zero - _rgb(ax.get_facecolor())) > 0.3
    assert zero.sum() > top.sum()                       # still light -> dark with intensity
    bar = fig.axes[1]                                   # the colour bar shows the map the points use
    assert bar.get_label() == "<colorbar>" and points.colorbar.cmap is points.cmap


def test_torch_uint8_faces_are_drawn():
    """A torch uint8 face was turned into floats 0..255 first, then refused as 'a float face'."""
    face = torch.full((1, 16, 16, 3), 200, dtype=torch.uint8)
    np.testing.assert_allclose(viz.style.as_image(face[0]), 200 / 255, rtol=1e-6)
    viz.heatmap_overlay(face, np.random.default_rng(0).random((1, 2, 4, 4)))
    maps = np.zeros((2, 4, 4))
    viz.pi_maps(maps, maps, face[0], ["AU06", "AU12"])
    np.testing.assert_allclose(viz.style.as_image(face[0].half() / 255), 200 / 255, atol=1e-3)   # floats as before


def test_intensity_curves_take_tensors_that_require_grad():
    """A model's predictions (requires_grad) raised in numpy; the metrics accept them."""
    labels = torch.tensor([0.0, 1.0, 3.0, 2.0, 0.0])
    pred = (labels + 0.5).requires_grad_()
    fig = viz.intensity_curves(labels, {"model": pred * 1.0}, aus=["AU12"])
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), labels.numpy() + 0.5)


def test_pi_maps_refuse_landmarks_of_another_frame():
    """256-px store landmarks with size=64 and no src_size gave all-zero maps without a word."""
    lm = np.random.default_rng(0).uniform(60, 200, (2, 68, 2)).astype(np.float32)
    assert pi_maps(lm, [6, 12], 64, src_size=256).any()
    with pytest.raises(ValueError, match="src_size"):
        pi_maps(lm, [6, 12], 64)
    near = np.random.default_rng(1).uniform(-4, 68, (2, 68, 2))      # a face reaching past the edges is fine
    assert pi_maps(near, [6, 12], 64).shape == (2, 2, 64, 64)


def test_heatmap_mse_takes_0_1_masks_and_means_over_valid_maps():
    """A float or int 0/1 valid mask raised torch.where's 'expected condition to be a boolean tensor'."""
    from aukit.methods.scc.losses import HeatmapMSELoss
    pred, target = torch.zeros(2, 3, 2, 2), torch.ones(2, 3, 2, 2)
    valid = torch.tensor([[True, True, False], [True, False, False]])
    loss = HeatmapMSELoss()
    assert loss(pred, target, valid).item() == 1.0          # 3 valid maps x 4 pixels of error 1, over 3 * 4
    assert HeatmapMSELoss("sum")(pred, target, valid).item() == 12.0
    for dtype in (torch.float32, torch.int64, torch.uint8):
        assert loss(pred, target, valid.to(dtype)).item() == 1.0
    with pytest.raises(ValueError, match="0/1"):
        loss(pred, target, valid * 0.5)
    assert "B_valid" not in HeatmapMSELoss.__doc__ and "valid maps" in HeatmapMSELoss.__doc__


def test_cpc_steps_name_the_augment_signature_they_call():
    """make_sparse_step(augment=A.flip()) raised a bare TypeError at the first batch: the steps call
    augment(x) on normalised images, aukit.data.augment's ops are op(x, generator) loader ops."""
    from aukit.data import augment as A
    from aukit.methods.cpc import make_frame_step, make_pretrain_step, make_sparse_step
    from aukit.methods.cpc.augment import ClipAugment
    from aukit.methods.cpc.config import PretrainConfig
    loader_ops = (A.flip(), A.Compose([A.flip()]), ClipAugment.from_config(PretrainConfig()), lambda x, g: x)
    for op in loader_ops:
        for make in (make_sparse_step, make_frame_step, lambda augment: make_pretrain_step(3, augment=augment)):
            with pytest.raises(TypeError, match=r"augment\(x\).*BatchLoader"):
                make(augment=op)
    seen = []
    step = make_frame_step(augment=lambda x: seen.append(x.shape) or x.flip(-1))   # augment(x) still works
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    step(model, {"image": torch.ones(2, 3, 4, 4), "au": torch.zeros(2, 2)})
    assert seen == [(2, 3, 4, 4)]
