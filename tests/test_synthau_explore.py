"""SynthAU's teaching helpers (aukit.data.synthau.explore): the explorer's widgets driven without a
front end (render replaced by a recorder where only the callbacks are under test), and the figures'
refusals of bad arguments."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("ipywidgets")

from aukit.data.synthau import explore as E  # noqa: E402


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


@pytest.fixture
def rendered(monkeypatch):
    """The (intensities, roll) of each render the explorer asks for; a grey 8x8 face back."""
    calls = []

    def fake(subject, x, nuisance=None, rng=None):
        calls.append((np.array(x), nuisance.angle))
        return np.full((8, 8, 3), 100 + len(calls), np.uint8), np.zeros((68, 2), np.float32)
    monkeypatch.setattr(E, "render", fake)
    return calls


def sliders(ui):
    import ipywidgets as w
    return {s.description: s for s in walk(ui) if isinstance(s, w.FloatSlider)}


def test_every_slider_renders_on_release_only(rendered):
    ui = E.explorer()
    s = sliders(ui)
    assert len(s) == 18 and "roll" in s
    assert {d for d, x in s.items() if x.continuous_update} == set()   # roll kept the default True
    s["roll"].value = 4.0
    assert rendered[-1][1] == 4.0 and len(rendered) == 2


def test_a_render_error_or_a_nan_is_shown_under_the_face(rendered, monkeypatch):
    import ipywidgets as w
    ui = E.explorer()
    image, note = ui.children[0].children
    assert isinstance(image, w.Image) and note.value == ""
    s, face = sliders(ui), image.value
    s["AU12"].value = float("nan")           # render() never returned on a NaN: it must not be called
    assert len(rendered) == 1 and image.value == face
    assert note.value == "not rendered: AU12 = nan is not a number"
    s["AU12"].value = 2.0
    assert len(rendered) == 2 and note.value == "" and image.value != face

    def broken(*a, **k):
        raise RuntimeError("warp failed")
    monkeypatch.setattr(E, "render", broken)
    s["roll"].value = 8.0
    assert note.value == "not rendered: RuntimeError: warp failed"
