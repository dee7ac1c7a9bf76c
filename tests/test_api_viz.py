"""Library-use findings on aukit.viz and the modules around it: each test is what a user hit."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from aukit import viz  # noqa: E402


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
