"""Mutation round 4, aukit.viz: what each figure draws (limits, colours, markers, masks, scales, selections),
read back from the matplotlib artists, on tiny hand-made arrays."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from aukit import viz


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.lines}


def test_curves_widen_the_axis_below_zero_and_mark_keyframes_at_their_labels():
    lab = np.array([0.0, 1.0, -1.0, 2.0, 3.0, 4.0])
    fig = viz.intensity_curves(lab, {"m": lab + 0.5}, keyframes=[1, 4], show_icc=False, cursor=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["label", "keyframes", "m"]   # no ICC asked for
    assert ax.lines[-1].get_xdata() == [2, 2]                                                    # the cursor
    assert ax.get_ylim() == pytest.approx((-1.2, 5.2))
    lines = _lines(ax)
    assert lines["keyframes"].get_xdata().tolist() == [1, 4] and lines["keyframes"].get_ydata().tolist() == [1.0, 3.0]
    assert to_rgba(lines["m"].get_color()) == to_rgba("tab:red")
    assert to_rgba(lines["label"].get_color()) == to_rgba("tab:green")


def test_curves_refuse_a_keyframe_one_past_the_end():
    with pytest.raises(ValueError, match=r"keyframes must be frame indices in 0..5, got \[6\]"):
        viz.intensity_curves(np.arange(6.0), {"m": np.arange(6.0)}, keyframes=[6])


def _explore_run(frames=(3, 1, 2), sequences=("T2", "T2", "T2")):
    """One subject's faces, index, labels (AU01 peaks at frame 1) and predictions, three AUs."""
    n = len(frames)
    index = pd.DataFrame({"subject": ["A"] * n, "sequence": list(sequences), "frame": list(frames)})
    labels = np.zeros((n, 3))
    labels[list(frames).index(1), 0] = 4.0
    preds = np.arange(n * 3, dtype=float).reshape(n, 3) / 10
    return np.zeros((n, 8, 8, 3), np.uint8), index, labels, preds


AUS = ["AU01", "AU04", "AU12"]


def test_explore_opens_on_the_peak_label_of_a_sequence_ordered_by_frame():
    faces, index, labels, preds = _explore_run()
    fig = viz.explore_figure(faces, index, labels, preds, AUS)
    assert fig.axes[0].get_title() == "A T2 frame 1"
    bars = fig.axes[3].containers
    assert [b.get_height() for b in bars[1]] == pytest.approx(preds[1])      # the predictions of the frame shown
    assert [b.get_height() for b in bars[0]] == pytest.approx(labels[1])


def test_explore_clamps_a_position_past_the_end_to_the_last_frame():
    faces, index, labels, preds = _explore_run()
    assert viz.explore_figure(faces, index, labels, preds, AUS, position=99).axes[0].get_title() == "A T2 frame 3"


def test_explore_defaults_to_the_subjects_first_sequence_in_index_order():
    faces, index, labels, preds = _explore_run(frames=(1, 2, 1), sequences=("T2", "T2", "T1"))
    assert viz.explore_figure(faces, index, labels, preds, AUS).axes[0].get_title().startswith("A T2 ")


def test_explore_heatmap_scale_tops_at_the_sequences_largest_value():
    n = 70
    faces, index, labels, preds = _explore_run(frames=tuple(range(1, n + 1)), sequences=("T1",) * n)
    maps = np.zeros((n, 3, 4, 4), np.float32)
    maps[63, 2, 1, 1] = 7.0
    fig = viz.explore_figure(faces, index, labels, preds, AUS, maps)
    assert fig.axes[1].images[-1].get_clim() == (0.0, 7.0)


@pytest.mark.parametrize("value,front", [("", True), ("1", False), ("true", False), ("YES", False)])
def test_aukit_static_turns_the_widgets_off(monkeypatch, value, front):
    import IPython

    class ZMQInteractiveShell:
        pass

    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    monkeypatch.setenv("AUKIT_STATIC", value)
    assert viz.has_frontend() is front


def _face(n=1):
    return np.zeros((n, 8, 8, 3), np.uint8)


def test_overlay_shows_the_max_map_masks_off_peak_values_and_shares_the_truths_scale():
    pred = np.array([[[[0.0, 0.04], [0.1, 1.0]], [[0.0, 0.5], [0.0, 0.0]]]], np.float32)   # (1, 2, 2, 2)
    true = 4 * pred
    fig = viz.heatmap_overlay(_face(), pred, true)
    shown = fig.axes[0].images[1]
    np.testing.assert_allclose(shown.get_array().data, [[0.0, 0.5], [0.1, 1.0]])     # the max over the AUs
    assert shown.get_array().mask.tolist() == [[True, False], [True, False]]          # under 5% of 4: the face shows
    assert shown.get_clim() == (0.0, 4.0)                                              # one scale with the truth


def test_pi_maps_show_a_predefined_value_at_the_threshold():
    pre = np.array([[[0.5, 0.49], [1.0, 0.0]]], np.float32)
    fig = viz.pi_maps(pre, pre, _face()[0], ["AU01"], threshold=0.5)
    assert fig.axes[0].images[1].get_array().tolist() == [[True, False], [True, False]]


def test_flow_panels_take_channels_last_and_give_truth_its_own_scale():
    true = np.zeros((1, 4, 4, 2), np.float32)
    true[0, :, :, 0], true[0, :, :, 1] = 2.0, -1.0
    fig = viz.flow_compare(true, 10 * np.moveaxis(true, -1, 1), _face())
    ix, iy, px = (fig.axes[c].images[0] for c in (1, 2, 3))
    assert np.asarray(ix.get_array()).tolist() == true[0, :, :, 0].tolist()
    assert np.asarray(iy.get_array()).tolist() == true[0, :, :, 1].tolist()
    assert iy.get_clim() == pytest.approx((-2.0, 2.0)) and px.get_clim() == pytest.approx((-20.0, 20.0))


def test_similarity_colours_are_symmetric_around_zero():
    fig = viz.similarity_heatmap(np.array([[1.0, 0.25], [0.25, 0.5]]), ["a", "b"])
    assert fig.axes[0].collections[0].get_clim() == (-1.0, 1.0)


def test_a_uint8_face_is_scaled_to_0_1():
    from aukit.viz.style import as_image
    np.testing.assert_allclose(as_image(np.array([[[255, 0, 51]]], np.uint8)), [[[1.0, 0.0, 0.2]]], rtol=1e-6)


def test_a_figure_is_as_wide_as_its_columns():
    assert tuple(viz.inpainting_panels(_face(4), _face(4), _face(4)).get_size_inches()) == pytest.approx((6.4, 4.8))


def test_sweep_spaces_categories_evenly_and_draws_bars_only_where_given():
    fig = viz.sweep_plot([0.01, 0.1, 1.0], {"a": [1, 2, 3], "b": [2, 3, 4]}, {"a": [0.1, 0.1, 0.1]},
                         reference={"ref": 2.5}, categorical_x=True)
    ax = fig.axes[0]
    a, b = (c for c in ax.containers)
    assert a.lines[0].get_xdata().tolist() == [0, 1, 2]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.1", "1.0"]
    assert a.has_yerr and not b.has_yerr
    ref = _lines(ax)["ref"]
    assert ref.get_color() not in (a.lines[0].get_color(), b.lines[0].get_color())


def test_a_capitalised_subject_colouring_is_categorical():
    x = np.random.default_rng(0).normal(size=(8, 3))
    fig = viz.tsne_features(x, {"Subject": np.repeat([1, 2], 4)}, perplexity=2.0)
    assert len(fig.axes) == 1 and [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["1", "2"]


def test_twelve_subjects_still_get_a_legend_and_three_samples_are_refused():
    x = np.random.default_rng(0).normal(size=(12, 3))
    fig = viz.tsne_features(x, {"subject": [f"S{i:02d}" for i in range(12)]})
    assert len(fig.axes[0].get_legend().get_texts()) == 12
    with pytest.raises(ValueError, match="t-SNE needs at least 4 samples, got 3"):
        viz.embed_tsne(x[:3])
