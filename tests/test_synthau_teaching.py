"""What 00_synthau.ipynb teaches with: FACS names and muscles, the intensity letters, the figures'
titles and the sequence the intensity-curve figure picks (co-occurring AUs visible together)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from aukit.data.synthau import explore as E  # noqa: E402
from aukit.data.synthau.aus import AU_INFO, AUS  # noqa: E402


def test_every_au_names_its_muscles():
    assert {au: bool(i.muscles.strip()) for au, i in AU_INFO.items()} == {au: True for au in AUS}
    assert AU_INFO[12].muscles == "zygomaticus major"
    assert AU_INFO[6].muscles == "orbicularis oculi, pars orbitalis"
    assert "muscles: zygomaticus major" in E.au_label(12)


@pytest.mark.parametrize("value, letter", [(0, "absent"), (0.49, "absent"), (0.5, "A"), (1, "A"), (2, "B"),
                                           (3, "C"), (4, "D"), (4.5, "E"), (5, "E")])
def test_facs_letter_of_a_0_to_5_value(value, letter):
    assert E.facs_letter(value) == letter


@pytest.fixture
def grey(monkeypatch):
    monkeypatch.setattr(E, "render", lambda *a, **k: (np.full((256, 256, 3), 128, np.uint8), np.zeros((68, 2))))


def test_au_gallery_says_whose_face_and_which_intensity(grey):
    fig = E.au_gallery()
    assert fig._suptitle.get_text() == "demo subject: each AU alone at intensity 5 (E)"
    fig = E.au_gallery(E.demo_subject("X9", seed=3), intensity=2)
    assert fig._suptitle.get_text() == "subject X9: each AU alone at intensity 2 (B)"


def test_explorer_shows_the_letter_muscles_and_demo_subject(grey):
    w = pytest.importorskip("ipywidgets")
    ui = E.explorer()
    rows = [r for r in ui.children[1].children if isinstance(r, w.HBox)]
    slider, letter, name = rows[AUS.index(12)].children
    assert (slider.description, letter.value) == ("AU12", "absent")
    assert name.value == "Lip Corner Puller (zygomaticus major)"
    assert "zygomaticus major" in slider.tooltip and "1-5 = FACS A trace" in slider.tooltip
    slider.value = 2.75
    assert letter.value == "C"
    slider.value = float("nan")
    assert letter.value == ""
    assert "demo subject (not the dataset's F001)" in ui.children[1].children[0].value


def _tree(tmp_path, sequences):
    """A minimal SynthAU tree: bp4d sequences {key: {au: labels}} (other AUs 0)."""
    import json

    import pandas as pd
    seqs = {}
    for key, active in sequences.items():
        n = len(next(iter(active.values())))
        np.save(tmp_path / f"{key}_i.npy", np.zeros((n, len(AUS))))
        pd.DataFrame({f"AU{au:02d}": active.get(au, [0] * n) for au in AUS}).to_csv(tmp_path / f"{key}_l.csv",
                                                                                 index=False)
        seqs[key] = {"intensity": f"{key}_i.npy", "labels": f"{key}_l.csv"}
    (tmp_path / "meta.json").write_text(json.dumps({"ground_truth": {"bp4d": seqs}}))
    return tmp_path


def test_pick_sequence_prefers_more_aus_together_then_more_frames_then_the_first_key(tmp_path):
    import pandas as pd
    root = _tree(tmp_path, {
        "A": {1: [0, 3, 3, 0], 12: [2, 2, 2, 2]},                     # first key: 1 with 12, 2 frames
        "B": {1: [0, 3, 3, 0], 2: [0, 2, 2, 0], 6: [4, 0, 0, 0]},     # 1 with 2 (6 alone), 2 frames
        "C": {6: [1, 1, 1, 1], 12: [1, 1, 1, 1], 25: [0, 0, 0, 0]},   # 6 with 12, 4 frames
        "D": {6: [1, 1, 1, 1], 12: [1, 1, 1, 1]},                     # as C: C comes first
    })
    assert E.co_activity(pd.read_csv(root / "B_l.csv"), (1, 2, 6)) == (2, 2)
    assert E.pick_sequence(root, "bp4d", (1, 2, 6, 12)) == ("C", (2, 4))
    assert E.pick_sequence(root, "bp4d", (1, 2)) == ("B", (2, 2))
    assert E.pick_sequence(root, "bp4d", (25, 26)) == ("A", (0, 0))    # nothing together anywhere: the first


def test_sequence_figure_without_a_key_shows_co_occurring_aus_together(synthau_tiny):
    import pandas as pd
    aus = (1, 2, 6, 12, 25, 26)
    fig = E.sequence_curves(synthau_tiny, "bp4d", aus=aus)
    key = fig.axes[-1].get_xlabel().removeprefix("frame of bp4d ")
    assert fig._suptitle.get_text().startswith(f"bp4d {key}, picked of ")
    assert fig._supylabel.get_text() == "intensity (0 absent, 1-5 = A-E)"
    seqs = E.read_meta(synthau_tiny)["ground_truth"]["bp4d"]
    labels = pd.read_csv(synthau_tiny / seqs[key]["labels"])
    on = {au: labels[f"AU{au:02d}"].to_numpy() >= 1 for au in aus}
    together = [pair for pair in ((1, 2), (6, 12), (25, 26)) if (on[pair[0]] & on[pair[1]]).any()]
    assert len(together) >= 2, (key, together)   # the tiny tree has no sequence with all three pairs
    assert E.sequence_curves(synthau_tiny, "bp4d", key="F001_T1", aus=aus)._suptitle.get_text() == "bp4d F001_T1"


def test_au24_has_its_facs_name():
    assert AU_INFO[24].name == "Lip Pressor"   # was "Lip Presser"


def test_region_spill_is_measured_per_au_from_its_own_mask(monkeypatch):
    """The notebook's "changed pixels outside the region" column: measured, not typed (its text had
    named five AUs from an earlier renderer). AU25 only opens the mouth inside its lip hull; AU2's
    raised brow stretches the lid skin below its brow region; a mask covering everything leaves 0."""
    from aukit.data.synthau import explore
    spill = explore.region_spill()
    assert set(spill) == set(AUS) and all(0.0 <= v <= 1.0 for v in spill.values())
    assert spill[25] < 0.05 and spill[2] > 0.2, spill
    monkeypatch.setattr(explore, "region_mask", lambda au, pts, size, margin: np.ones((size, size), bool))
    assert set(explore.region_spill().values()) == {0.0}
