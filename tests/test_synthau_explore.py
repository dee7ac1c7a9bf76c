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
        calls.append((np.array(x), nuisance.angle if nuisance else 0.0))
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


@pytest.fixture
def meta():
    from dataclasses import asdict

    from aukit.data.synthau.subjects import sample_subject
    rng = np.random.default_rng(0)
    subjects = {name: {**asdict(sample_subject(name, sex, rng)), "dataset": ds}
                for name, sex, ds in (("F001", "F", "bp4d"), ("M001", "M", "bp4d"), ("SN001", "F", "disfa"))}
    return {"subjects": subjects}


def test_subject_gallery_takes_the_dataset_in_any_case_and_refuses_bad_arguments(meta, rendered):
    fig = E.subject_gallery(meta, "BP4D")       # the README writes dataset names in capitals
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["F001 (F)", "M001 (M)"]
    with pytest.raises(ValueError, match=r"no dataset 'AFEW' in this SynthAU tree \(it has \['bp4d', 'disfa'\]\)"):
        E.subject_gallery(meta, "AFEW")
    with pytest.raises(ValueError, match="n is the number of faces to show: at least 1, got 0"):
        E.subject_gallery(meta, "bp4d", n=0)


def test_sequence_curves_names_a_missing_key_and_the_keys_there_are(tmp_path):
    import json

    import pandas as pd

    from aukit.data.synthau.aus import AUS
    seqs = {}
    for key in ("F001_T1", "F001_T2"):
        np.save(tmp_path / f"{key}_i.npy", np.zeros((6, len(AUS))))
        pd.DataFrame({f"AU{au:02d}": [0, 1, 2, 3, 2, 1] for au in AUS}).to_csv(tmp_path / f"{key}_l.csv", index=False)
        seqs[key] = {"intensity": f"{key}_i.npy", "labels": f"{key}_l.csv"}
    (tmp_path / "meta.json").write_text(json.dumps({"ground_truth": {"bp4d": seqs}}))
    fig = E.sequence_curves(tmp_path, "BP4D", key="F001_T2")
    assert fig.axes[-1].get_xlabel() == "frame of bp4d F001_T2"
    with pytest.raises(ValueError, match=r"bp4d has no sequence 'F999_T9' \(it has \['F001_T1', 'F001_T2'\]\)"):
        E.sequence_curves(tmp_path, "bp4d", key="F999_T9")
    with pytest.raises(ValueError, match=r"SynthAU renders AUs .*, not \[3\]"):
        E.sequence_curves(tmp_path, "bp4d", aus=(1, 3))
