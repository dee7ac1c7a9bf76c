"""CPC experiment plumbing on tiny SynthAU: presets, splits, windows, and a short pre-training."""
import dataclasses

import numpy as np
import pytest
import torch

from aukit.methods.cpc import experiment as X
from aukit.methods.cpc.data import WindowLoader, clip_rows, labelled_rows


def test_settings_for_presets_and_overrides():
    plan, m, p, s, b = X.settings_for("full")
    assert (X.face_size(plan, m), p.seq_len, p.context, p.batch_size, plan.pretrain_epochs) == (128, 15, 10, 20, 300)
    assert s.lr == 1e-5 and s.betas == (0.5, 0.999) and s.label_fraction == 0.02 and p.lr == 1e-3
    plan, m, p, s, b = X.settings_for("quick", sparse_lr=2e-5, weight_decay=0.0, stride=3)
    assert s.lr == pytest.approx(2e-4) and b.lr == pytest.approx(2e-4)          # quick scales lr x10
    assert p.weight_decay == s.weight_decay == b.weight_decay == 0.0 and p.stride == s.stride == 3
    assert X.settings_for("quick", lr_scale=1.0)[3].lr == 1e-5
    assert (X.settings_for("full")[0].val_clips, X.settings_for("quick")[0].val_clips) == (512, 32)
    assert X.settings_for("full", val_clips=64)[0].val_clips == 64      # the notebook's -p val_clips
    with pytest.raises(ValueError):
        X.settings_for("quick", not_a_setting=1)
    with pytest.raises(ValueError):
        X.settings_for("medium")


@pytest.fixture(scope="module")
def tiny(synthau_tiny):
    return X.load_splits("synthau-disfa", 1, "synthau-affwild2")


def test_splits_windows_and_clips(tiny):
    target, pool = tiny
    assert target.aus[:2] == ["AU01", "AU02"] and len(target.aus) == 12
    assert not set(target.train_rows) & set(target.test_rows)
    anchors = labelled_rows(target, 0.05, seed=0)
    assert set(anchors) <= set(target.train_rows)
    assert len(anchors) == round(0.05 * len(target.train_rows))
    assert np.array_equal(anchors, labelled_rows(target, 0.05, seed=0))
    loader = WindowLoader(target, anchors, target.labels, length=5, stride=2, batch_size=2, device="cpu", seed=0)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 5, 3, 128, 128)
    assert (batch["mask"].sum(1) == 1).all()
    picked = batch["rows"][batch["mask"]].numpy()
    assert set(picked) <= set(anchors)
    assert np.allclose(batch["au"][batch["mask"]].numpy(), target.labels[picked])
    seqs = target.seq_id[batch["rows"].numpy()]
    assert (seqs == seqs[:, :1]).all()                                   # a window stays in one sequence
    slots = [loader.slots.clone()]
    loader.set_epoch(1)
    slots.append(loader.slots)
    assert not torch.equal(slots[0], slots[1])                          # positions re-drawn per epoch
    clips = clip_rows(pool.frames, pool.train_rows, 5, 2, None, seed=0)     # 9 of a sequence's 10 frames
    assert clips.shape[1] == 5 and (pool.seq_id[clips] == pool.seq_id[clips[:, :1]]).all()


def test_clips_start_only_where_a_whole_clip_fits(tiny):
    """Frames missing from the store (no face) split a sequence: no pre-training clip spans the gap
    or repeats a frame, frames no whole clip can hold anchor none, and the note counts them."""
    _, pool = tiny
    frames = pool.frames[pool.frames["row"].isin(pool.train_rows)]
    seq = frames[frames["sequence"] == frames["sequence"].iloc[0]]
    seq = seq[seq["subject"] == seq["subject"].iloc[0]]
    drop = seq["row"].to_numpy()[[5, 9]]                          # leaves a 3-frame stretch between them
    kept = frames[~frames["row"].isin(drop)]
    said = []
    clips = clip_rows(kept, kept["row"].to_numpy(), 3, 2, None, seed=0, announce=said.append)
    number = pool.frames.set_index("row")["frame"]
    steps = np.diff(number.loc[clips.ravel()].to_numpy().reshape(clips.shape), axis=1)
    assert (steps == 2).all() and not set(seq["row"].to_numpy()[6:9]) & set(clips[:, 0])
    # the 3-frame stretch, and frames 2 and 4 of the 5-frame one (a stride-2 clip of 5 frames must start at 1)
    assert len(said) == 1 and said[0].startswith("note: 5 of 18 frames cannot sit in a whole clip (3 frames at "
                                                 "stride 2: 5 consecutive frames)"), said
    with pytest.raises(ValueError, match="no run of 61 consecutive frames"):
        clip_rows(kept, kept["row"].to_numpy(), 31, 2, None, seed=0, announce=said.append)
    # the full preset's set (§4: 33,509 non-overlapping sequences on Aff-Wild2): tiles, none across the gap
    assert X.settings_for("full")[0].pretrain_clips == "tile"
    tiles = clip_rows(kept, kept["row"].to_numpy(), 3, 2, "tile", seed=0, announce=said.append)
    assert len(set(tiles.ravel())) == tiles.size and len(tiles) < len(clips) / 3
    assert (np.diff(number.loc[tiles.ravel()].to_numpy().reshape(tiles.shape), axis=1) == 2).all()
    assert said[-1] == f"pre-training clips: {len(tiles)} non-overlapping clips tile {len(kept)} frames"


def test_short_pretraining_on_tiny_synthau_lowers_infonce(tiny):
    target, _ = tiny
    plan, m, p, s, b = X.settings_for("quick", smoke=True)
    plan = dataclasses.replace(plan, pretrain_epochs=4, steps_per_epoch=3, pretrain_clips=12)
    net, hist = X.pretrain(target, target.train_rows, target.test_rows, m, p, plan, torch.device("cpu"), seed=0)
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    assert all(0.0 <= h["val_top1"] <= h["val_top5"] <= 1.0 for h in hist)


def _no_real_copies(monkeypatch):
    import os
    for key in [k for k in os.environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def test_the_pool_defaults_to_auto_which_takes_affwild2_on_a_real_run(monkeypatch, tmp_path, capsys):
    """The pool defaulted to synthau-affwild2, on a real DISFA run too with Aff-Wild2 on disk."""
    import inspect

    from aukit.nb import declared_parameters
    assert declared_parameters("cpc")["pool"]["default"] == '"auto"'
    assert inspect.signature(X.run).parameters["pool"].default == "auto"
    _no_real_copies(monkeypatch)
    assert X.pool_for("synthau-disfa") == "synthau-affwild2" and X.pool_for("disfa", "") is None
    assert X.pool_for("bp4d") == "synthau-affwild2"
    assert "affwild2 (§4), which was not found" in capsys.readouterr().out
    (tmp_path / "Aff-Wild2").mkdir()
    monkeypatch.setenv("AUKIT_DATA_AFFWILD2", str(tmp_path / "Aff-Wild2"))
    assert X.pool_for("disfa") == "affwild2" and X.pool_for("disfa", "synthau-affwild2") == "synthau-affwild2"

    class Opened(Exception):
        pass

    def load_splits(dataset, fold, pool, max_pool_frames=None):     # the notebook's X.run(dataset, fold, pool)
        raise Opened(pool)
    monkeypatch.setattr(X, "load_splits", load_splits)
    with pytest.raises(Opened, match="^affwild2$"):
        X.run("disfa", 1, "auto", device="cpu")
    with pytest.raises(Opened, match="^None$"):
        X.run("disfa", 1, "", device="cpu")


def test_load_splits_opens_the_stand_in_pool_for_auto_on_synthau(tiny):
    _, pool = tiny
    _, auto = X.load_splits("synthau-disfa", 1, "auto")
    assert auto.store.dataset == pool.store.dataset == "synthau-affwild2" and len(auto.frames) == len(pool.frames)
    assert X.load_splits("synthau-disfa", 1, "")[1] is None


def test_full_preset_floor_of_steps_yields_to_an_asked_schedule():
    """Full: stage 2 and the baselines get >= 2,000 steps, unless epochs or steps were given."""
    assert X.settings_for("full")[0].min_steps == 2000
    assert X.settings_for("full", epochs=3)[0].min_steps == 0
    plan = X.settings_for("full", steps_per_epoch=2)[0]
    assert plan.min_steps == 0 and plan.steps_per_epoch == 2
    assert X._train_cfg(plan.baseline_epochs, plan, loader=list(range(40))).epochs == plan.baseline_epochs


def _results(fraction: float):
    from aukit.methods.cpc.experiment import Results
    aus = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26"]
    scores = {"icc": {**{a: 0.1 for a in aus}, "avg": 0.1}, "mae": {**{a: 0.5 for a in aus}, "avg": 0.5}}
    variants = ("R18 2%", "R18+GRU-scratch 2%", "Ours(*target)-2%", "Ours(*pool)-2%", "R18 Sup.")
    return Results("synthau-disfa", "synthau-affwild2", aus, [0], "cpu",
                   per_seed=[{v: scores for v in variants}],
                   pretext=[{"target": {"history": [], "val": {"top1": 0.5, "top3": 0.7, "top5": 0.8}}}],
                   const=[{"icc": {"avg": 0.0}, "mae": {"avg": 0.6}}], const_median=[{"mae": {"avg": 0.55}}],
                   configs={"sparse": {"label_fraction": fraction}})


def test_report_rows_say_the_label_fraction_they_had(tmp_path):
    """-p label_fraction 0.1 kept the rows 'R18 2%' beside the paper's 2% rows."""
    import json

    import pandas as pd

    from aukit.methods.cpc.report import write_report
    write_report(_results(0.1), tmp_path / "ten", preset="smoke")
    t2 = pd.read_csv(tmp_path / "ten" / "tables" / "table2_icc.csv", index_col=0)
    assert "R18 10%" in " ".join(map(str, t2.index)) and "R18 2%" not in " ".join(map(str, t2.index))
    assert not (t2["kind"] == "reported").any()                       # the paper's rows are at 2%
    assert not (tmp_path / "ten" / "tables" / "table5_icc.csv").exists()
    assert json.loads((tmp_path / "ten" / "metrics.json").read_text())["label_fraction"] == 0.1
    write_report(_results(0.02), tmp_path / "two", preset="smoke")
    t2 = pd.read_csv(tmp_path / "two" / "tables" / "table2_icc.csv", index_col=0)
    assert "R18 2%" in " ".join(map(str, t2.index)) and (tmp_path / "two" / "tables" / "table5_icc.csv").exists()
    assert (t2["kind"] == "reported").any()


@pytest.mark.parametrize("dataset, pool, beside, differenced", [
    ("disfa", "affwild2", {"target (disfa)": "DISFA", "pool (affwild2)": "Aff-Wild2"}, True),
    ("bp4d", "affwild2", {"pool (affwild2)": "Aff-Wild2"}, False),        # no reported BP4D row
    ("synthau-disfa", "synthau-affwild2", {"target (synthau-disfa)": "DISFA",
                                          "pool (synthau-affwild2)": "Aff-Wild2"}, False),
    ("disfa", "synthau-affwild2", {"target (disfa)": "DISFA", "pool (synthau-affwild2)": "Aff-Wild2"}, False),
])
def test_table1_puts_a_row_beside_the_papers_only_for_the_same_kind_of_data(tmp_path, monkeypatch, dataset, pool,
                                                                           beside, differenced):
    """Table 1 was labelled 'different dataset' on real DISFA and Aff-Wild2, and a BP4D target's
    row sat beside the paper's DISFA row."""
    import dataclasses

    import pandas as pd

    from aukit.methods.cpc.report import write_report
    monkeypatch.delenv("AUKIT_RUN_CHANGED", raising=False)
    val = {"history": [], "val": {"top1": 0.2, "top3": 0.5, "top5": 0.7}}
    res = dataclasses.replace(_results(0.02), dataset=dataset, pool=pool, pretext=[{"target": val, "pool": val}])
    write_report(res, tmp_path / "r", preset="full")
    t1 = pd.read_csv(tmp_path / "r" / "tables" / "table1_pretext_topn.csv")
    rows = list(zip(t1["method"], t1["kind"]))
    for i, (method, kind) in enumerate(rows):
        if kind == "measured":
            nxt = rows[i + 1] if i + 1 < len(rows) else (None, None)
            assert (nxt[0] if nxt[1] == "reported" else None) == beside.get(method), method
    assert (t1["kind"] == "difference").any() == differenced
    text = (tmp_path / "r" / "tables" / "table1_pretext_topn.md").read_text()
    assert ("different dataset" in text) != differenced


def test_summary_of_one_seed_shows_no_spread():
    """summary(res) showed 'ICC std 0.0' for one seed; metrics.json has null there."""
    from aukit.methods.cpc.report import summary
    table = summary(_results(0.02))
    assert len(table) and table["ICC std"].isna().all() and table["MAE std"].isna().all()


PAPER_NB = dict(stride=2, pretrain_lr=1e-3, weight_decay=1e-5, encoder="layer3", label_fraction=0.02, sparse_lr=1e-5)


def test_notebook_settings_keep_the_presets_for_0_and_use_every_value_set():
    """-p pretrain_batch 4 on quick was dropped (the notebook forwarded seq_len/context/pretrain_batch only off
    the paper's clip or in full), while the report's label said 'changed: pretrain_batch=4'. Now 0 keeps the
    preset's and any other value is used, in every preset."""
    for preset, smoke, own in (("quick", False, (8, 5, 8)), ("full", False, (15, 10, 20)), ("full", True, (5, 3, 4))):
        p = X.notebook_settings(preset, smoke, **PAPER_NB)[2]
        assert (p.seq_len, p.context, p.batch_size) == own
        plan, m, p, s, b = X.notebook_settings(preset, smoke, pretrain_batch=6, **PAPER_NB)
        assert (p.seq_len, p.context, p.batch_size) == (*own[:2], 6)
        p = X.notebook_settings(preset, smoke, seq_len=7, context=4, **PAPER_NB)[2]
        assert (p.seq_len, p.context) == (7, 4)
    plan, m, p, s, b = X.notebook_settings("quick", False, pretrain_epochs=2, val_clips=3, steps=0, epochs=4,
                                           image_size=40, lr_scale=2.0, **{**PAPER_NB, "sparse_lr": 2e-5})
    assert (plan.pretrain_epochs, plan.val_clips, plan.steps_per_epoch, plan.sparse_epochs, plan.image_size) == \
        (2, 3, None, 4, 40)
    assert s.lr == pytest.approx(4e-5) and b.lr == pytest.approx(4e-5)
    base = X.notebook_settings("quick", False, **PAPER_NB)
    assert base == X.settings_for("quick", **{k: v for k, v in PAPER_NB.items()})   # the paper values go through
    with pytest.raises(ValueError, match="context must be"):
        X.notebook_settings("full", False, seq_len=8, **PAPER_NB)                       # full's C = 10 > 8
    with pytest.raises(ValueError, match="0 \\(the preset's\\) or positive"):
        X.notebook_settings("quick", False, pretrain_batch=-1, **PAPER_NB)


def test_the_cpc_notebooks_sentinels_are_no_change():
    from aukit import nb
    records = nb.declared_parameters("cpc")
    assert all(records[k]["default"] == "0" for k in ("seq_len", "context", "pretrain_batch"))
    assert nb.changed_parameters("cpc", {"seq_len": 0, "context": 0, "pretrain_batch": 0}) == {}
    assert nb.changed_parameters("cpc", {"pretrain_batch": 4}) == {"pretrain_batch": 4}


def test_a_labelled_subset_of_one_frame_is_refused_with_the_fraction_named():
    """57 training frames at 2% kept one labelled frame; the R18 baseline then stopped in BatchNorm
    ('Expected more than 1 value per channel when training') with no word about the labels."""
    from types import SimpleNamespace
    from aukit.methods.cpc.data import labelled_rows
    labels = np.ones((57, 2), np.float32)
    split = SimpleNamespace(train_rows=np.arange(57), labels=labels)
    with pytest.raises(ValueError, match=r"label_fraction 0.02 of the 57 labelled training frames keeps 1: "
                                         r"the labelled models need at least 2"):
        labelled_rows(split, 0.02, seed=0)
    assert len(labelled_rows(split, 0.05, seed=0)) == 3
