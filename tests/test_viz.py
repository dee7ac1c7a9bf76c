"""Each figure function on tiny arrays: a Figure with the expected number of axes."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from aukit import viz  # noqa: E402

RNG = np.random.default_rng(0)
AUS = ["AU06", "AU10", "AU12"]


def faces(n, s=32):
    return RNG.integers(0, 256, (n, s, s, 3), dtype=np.uint8)


def test_tsne_panels_per_model_and_colouring():
    n = 24
    color_by = {"intensity": RNG.integers(0, 6, n).astype(float), "subject": np.repeat(["F001", "F002", "M001"], 8)}
    fig = viz.tsne_features({"A1": RNG.normal(size=(n, 8)), "A4": RNG.normal(size=(n, 8))}, color_by,
                            highlight=["F001", "M001"], title="AU12")
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 * 3  # 2 models x (intensity, subject, highlight)
    assert len(fig.axes) == 6 + 2  # plus one colour bar per intensity panel
    # the highlight panel: every point in grey, then each highlighted subject's own 8 points in colour
    grey, *coloured = panels[-1].collections
    assert len(grey.get_offsets()) == n
    assert [c.get_label() for c in coloured] == ["F001", "M001"]
    assert all(len(c.get_offsets()) == 8 for c in coloured)
    assert [t.get_text() for t in panels[-1].get_legend().get_texts()] == ["F001", "M001"]
    # a subject has one colour in every panel (F004 was green in one panel, M002 green in the next)
    fig = viz.tsne_features(RNG.normal(size=(n, 8)), {"subject": color_by["subject"]}, highlight=["M001"])
    in_subject = {c.get_label(): tuple(c.get_facecolor()[0]) for c in fig.axes[0].collections}
    _, m001 = fig.axes[1].collections
    assert tuple(m001.get_facecolor()[0]) == in_subject["M001"]
    with pytest.raises(ValueError, match="differ in length"):
        viz.tsne_features(RNG.normal(size=(10, 4)), {"subject": np.zeros(9)})
    # integer subject ids (DISFA's 1..27) are categories, not a blue scale with a colour bar
    fig = viz.tsne_features(RNG.normal(size=(n, 8)), {"subject": np.repeat([1, 2, 3], 8)})
    assert len(fig.axes) == 1 and [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["1", "2", "3"]


def _panels(fig):
    """(image panels, colour bars) of a figure."""
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    return len(fig.axes) - len(bars), len(bars)


def test_heatmap_overlay_axes():
    f, p, t = faces(2), RNG.random((2, 3, 8, 8)), RNG.random((2, 3, 8, 8))
    assert _panels(viz.heatmap_overlay(f, p, t)) == (2 * 2, 1)     # one shared scale, shown once
    assert _panels(viz.heatmap_overlay(f, p)) == (2, 1)
    assert _panels(viz.heatmap_overlay(f, p, t, aus=AUS, per_au=True)) == (2 * 6, 1)
    with pytest.raises(ValueError):
        viz.heatmap_overlay(f, p, t[:, :2])
    with pytest.raises(ValueError, match="2 AU names for 3 maps"):
        viz.heatmap_overlay(f, p, t, aus=AUS[:2], per_au=True)


def test_faces_as_floats_are_refused_outside_0_1_and_grey_is_grey():
    """Float faces were clipped to 0..1: a 0..255 face came out white, a normalised one half black."""
    from aukit.viz.style import as_image
    u8 = faces(1)[0]
    np.testing.assert_allclose(as_image(u8.astype(np.float32) / 255), u8 / 255, atol=1e-6)
    with pytest.raises(ValueError, match="divide by 255, or pass uint8"):
        as_image(u8.astype(np.float32))
    with pytest.raises(ValueError, match="undo the normalisation"):
        as_image(u8.astype(np.float32) / 127.5 - 1)
    grey = as_image(u8[..., :1])
    assert grey.shape == (32, 32, 3) and (grey[..., 0] == grey[..., 2]).all()


def test_pi_flow_inpainting_axes():
    assert len(viz.pi_maps(RNG.random((3, 8, 8)), RNG.random((3, 8, 8)), faces(1)[0], AUS).axes) == 2 * 3
    flow = RNG.normal(size=(2, 2, 8, 8))
    assert len(viz.flow_compare(flow, flow * 0.5, faces(2)).axes) == 2 * 5
    assert len(viz.flow_compare(np.moveaxis(flow, 1, -1), flow, faces(2)).axes) == 10  # (N, h, w, 2) accepted
    assert len(viz.inpainting_panels(faces(4), faces(4), faces(4)).axes) == 3 * 4


def test_intensity_curves_axes_and_icc_legend():
    t = 40
    lab = np.clip(np.abs(RNG.normal(2, 1.5, (t, 3))), 0, 5)
    fig = viz.intensity_curves(lab, {"A1": lab + 0.3, "A6": lab * 0.9}, keyframes=[0, 10, 20], aus=AUS, title="seq")
    assert len(fig.axes) == 3
    legend = [tx.get_text() for tx in fig.axes[0].get_legend().get_texts()]
    assert "A1 (ICC 1.00)" in legend  # a constant offset keeps ICC(3,1) = 1
    assert len(viz.intensity_curves(lab[:, 0], {"m": lab[:, 0]}).axes) == 1


def test_intensity_curves_with_faceless_frames_names_and_range():
    """A prediction with NaN frames (no face: aukit predict's empty cells) raised from the legend's
    ICC; a DataFrame's AU names were replaced by 'AU 0', 'AU 1' (read as FACS numbers); values
    above 5 were cut off by a fixed 0..5 axis; keyframe -1 was drawn before the first frame."""
    t = 30
    lab = pd.DataFrame(np.linspace(0, 5, t)[:, None] * [1, 0.5], columns=["AU06", "AU12"])
    pred = lab.to_numpy() + 0.2
    pred[5:9] = np.nan
    fig = viz.intensity_curves(lab, {"m": pred, "hot": lab.to_numpy() * 1.6})
    assert [ax.get_ylabel() for ax in fig.axes] == ["AU06", "AU12"]
    legend = [tx.get_text() for tx in fig.axes[0].get_legend().get_texts()]
    assert legend[1] == "m (ICC 1.00, 26 of 30 frames)" and legend[2] == "hot (ICC 0.90)"  # consistency ICC: a 1.6x scale costs
    assert fig.axes[0].get_ylim()[1] >= 8.0 and fig.axes[1].get_ylim() == fig.axes[0].get_ylim()
    assert viz.intensity_curves(lab.to_numpy(), {"m": pred}).axes[0].get_ylabel() == "column 0"
    with pytest.raises(ValueError, match=r"keyframes must be frame indices in 0..29, got \[-1\]"):
        viz.intensity_curves(lab, {"m": pred}, keyframes=[-1])
    with pytest.raises(TypeError, match="preds is a dict"):
        viz.intensity_curves(lab, pred)


def test_similarity_and_sweep():
    m = viz.cosine_similarity(RNG.normal(size=(4, 6)))
    np.testing.assert_allclose(np.diag(m), 1.0)
    fig = viz.similarity_heatmap(m, ["AU1", "AU2", "AU4", "AU6"])
    assert len(fig.axes) == 2  # heatmap + colour bar
    fig = viz.sweep_plot([0.01, 0.05, 0.1], {"ICC": [0.6, 0.62, 0.61]}, {"ICC": [0.01, 0.02, 0.01]},
                         "lambda_rank", "ICC", reference={"A1": 0.6}, categorical_x=True)
    assert len(fig.axes) == 1
    ref = [ln for ln in fig.axes[0].lines if ln.get_label() == "A1"]  # the reference, dotted at its value
    assert len(ref) == 1 and np.allclose(ref[0].get_ydata(), 0.6)
    with pytest.raises(ValueError, match="values for 3 x"):
        viz.sweep_plot([1, 2, 3], {"ICC": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"stds for \['icc'\] have no means \(means are for \['ICC'\]\)"):
        viz.sweep_plot([1, 2], {"ICC": [0.1, 0.2]}, {"icc": [0.01, 0.01]})   # its error bars were dropped silently


def test_save_figure_writes_png_and_pdf(tmp_path):
    paths = viz.save_figure(viz.similarity_heatmap(np.eye(2), ["a", "b"]), tmp_path / "figs", "sim")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_save_figure_writes_the_same_bytes_twice(tmp_path):
    """A rerun of a notebook must not change a figure file that shows the same thing: the PDF's
    creation date (matplotlib writes the current time by default) is left out."""
    written = []
    for run in ("a", "b"):
        fig = Figure()
        fig.add_subplot().plot([0, 1, 2], [1, 0, 1])
        written.append([p.read_bytes() for p in viz.save_figure(fig, tmp_path / run, "f")])
        if run == "a":
            import time
            time.sleep(1.1)  # PDF dates have one-second resolution
    assert written[0] == written[1]
    assert b"CreationDate" not in written[0][1]


def test_explore_static_without_frontend():
    n = 12
    index = pd.DataFrame({"subject": ["F001"] * 6 + ["F002"] * 6, "sequence": ["T1"] * 6 + ["T2"] * 6,
                          "frame": list(range(6, 0, -1)) + list(range(6))})
    lab = RNG.integers(0, 6, (n, 3)).astype(float)
    fig = viz.explore(faces(n), index, lab, lab + 0.1, AUS, heatmaps=RNG.random((n, 3, 8, 8)), static=True)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    fig = viz.explore(faces(n), index, lab, lab, AUS, subject="F002", au="AU10")  # no kernel here -> static
    assert isinstance(fig, Figure)
    assert "F002 T2" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"labels must be \(faces, AUs\) = \(12, 3\), got \(5, 3\)"):
        viz.explore(faces(n), index, lab[:5], lab, AUS)
    with pytest.raises(ValueError, match=r"preds must be .* got \(12, 2\)"):
        viz.explore(faces(n), index, lab, lab[:, :2], AUS)
    with pytest.raises(ValueError, match=r"subject 'F009' is not in the index \(it has \['F001', 'F002'\]\)"):
        viz.explore(faces(n), index, lab, lab, AUS, subject="F009")
    with pytest.raises(ValueError, match=r"AU 'AU99' is not among this run's AUs"):
        viz.explore(faces(n), index, lab, lab, AUS, au="AU99")
    with pytest.raises(ValueError, match="index has 11 rows for 12 faces"):
        viz.explore(faces(n), index.iloc[:11], lab, lab, AUS)
    # the curve's x is the position in the sequence (ordered by frame), not the frame number: the axis says so
    fig = viz.explore(faces(n), index, lab, lab, AUS, subject="F001", position=2)
    assert "F001 T1 frame 3" in fig.axes[0].get_title()
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()] == ["position in T1 (6 frames: 1 .. 6)"]
