"""TAS notebook presets: the parameters cell -> run size, paper config and run options."""
from __future__ import annotations

import pytest

from aukit.methods.tas import ABLATIONS
from aukit.methods.tas.presets import notebook_config, notebook_plan, run_options

NONE = dict(seeds=[], epochs=0, steps=-1, variants=[])
PAPER = dict(lr=0.005, weight_decay=5e-4, alpha=0.5, lambda_rank=0.1, lambda_spd=0.05, lambda_sub=-1.0,
             attention_kernel=9)


def test_presets_and_what_empty_parameters_keep():
    quick = notebook_plan("quick", False, **NONE)
    assert (quick.depth, quick.size, quick.T, quick.batch, quick.epochs, quick.steps, quick.stride) == (18, 48, 8, 8, 1, 10, 4)
    assert quick.seeds == [0] and quick.variants == list(ABLATIONS) and not quick.extras
    full = notebook_plan("full", False, **NONE, T=12, batch_size=32)
    assert (full.depth, full.size, full.T, full.batch, full.epochs, full.steps) == (34, None, 12, 32, 20, None)
    assert full.seeds == [0, 1, 2] and full.extras
    smoke = notebook_plan("full", True, **NONE)                        # smoke replaces any preset
    assert smoke.mode == "smoke" and smoke.variants == ["A1", "A4", "A6"] and smoke.size == 32
    with pytest.raises(ValueError, match="preset must be quick or full, got 'fast'"):
        notebook_plan("fast", False, **NONE)


def test_overrides_and_variant_subsets():
    p = notebook_plan("quick", False, seeds=[3, 4], epochs=6, steps=0, variants=["A4", "A1"])
    assert p.seeds == [3, 4] and p.epochs == 6 and p.steps is None    # steps 0: no cap
    assert p.variants == ["A1", "A4", "A6"]                           # Table 3 order, A6 always kept
    assert notebook_plan("full", False, **{**NONE, "steps": 2}).steps == 2
    with pytest.raises(ValueError, match=r"unknown variants \['A9'\]"):
        notebook_plan("quick", False, **{**NONE, "variants": ["A9"]})
    # a full run time-boxed to Tables 1-3: Table 4 and the Fig. 5 sweep (27 models) always ran
    assert not notebook_plan("full", False, **NONE, extras=0).extras
    assert notebook_plan("quick", False, **NONE, extras=1).extras
    with pytest.raises(ValueError, match="extras is -1"):
        notebook_plan("full", False, **NONE, extras=2)


def test_config_takes_the_paper_values_at_the_plan_size():
    plan = notebook_plan("full", False, **NONE)
    bp4d = notebook_config(plan, "bp4d", **PAPER)
    assert bp4d.model.depth == 34 and bp4d.model.attention_hidden == 64 and bp4d.model.weights is None
    assert bp4d.loss.lambda_sub == 0.005 and bp4d.train.label_fraction == 0.02      # TAS: BP4D
    disfa = notebook_config(plan, "synthau-disfa", **{**PAPER, "lambda_sub": 0.3}, weights="/w/r34.pth")
    assert disfa.loss.lambda_sub == 0.3 and disfa.train.label_fraction == 0.01 and disfa.model.weights == "/w/r34.pth"
    assert notebook_config(plan, "disfa", **PAPER).loss.lambda_sub == 0.05
    assert bp4d.train.image_size == 256                                       # run.yaml: the size trained at
    assert notebook_config(notebook_plan("quick", False, **NONE), "bp4d", **PAPER).train.image_size == 48
    opts = run_options(notebook_plan("quick", False, **NONE), "cpu")
    assert (opts.size, opts.epochs, opts.max_steps, opts.eval_stride, opts.train_eval) == (48, 1, 10, 4, True)


def test_T_and_batch_size_take_effect_in_every_preset():
    """-p T 4 on quick ran T = 8 while the report's label said 'changed: T=4': T and batch_size reached the
    full preset only. 0 (the notebook's default) keeps each preset's; any other value is used."""
    for preset, smoke, own in (("quick", False, (8, 8)), ("full", False, (16, 16)), ("quick", True, (4, 2))):
        plan = notebook_plan(preset, smoke, **NONE)
        assert (plan.T, plan.batch) == own
        plan = notebook_plan(preset, smoke, **NONE, T=4, batch_size=2 if own[1] != 2 else 3)
        assert (plan.T, plan.batch) == (4, 2 if own[1] != 2 else 3)
        cfg = notebook_config(plan, "bp4d", **PAPER)
        assert (cfg.train.T, cfg.train.batch_size) == (plan.T, plan.batch)          # what trains and is recorded
    with pytest.raises(ValueError, match="T and batch_size are 0"):
        notebook_plan("quick", False, **NONE, T=-1)


def test_the_notebooks_sentinels_are_no_change():
    """The notebook's T / batch_size defaults are the sentinel 0: leaving them is no change in the run's
    label (aukit.nb.changed_parameters), setting one is, and it is the value the plan uses."""
    from aukit import nb
    records = nb.declared_parameters("tas")
    assert records["T"]["default"] == "0" and records["batch_size"]["default"] == "0"
    assert nb.changed_parameters("tas", {"T": 0, "batch_size": 0, "preset": "quick"}) == {}
    assert nb.changed_parameters("tas", {"T": 4}) == {"T": 4}


def test_the_paper_values_come_from_the_config_dataclasses(monkeypatch):
    """The full preset reads depth, attention width, epochs, T and batch from TASModelConfig / TASTrainConfig,
    the labelled fraction from config's constants (TAS: 2% BP4D, 1% DISFA), and Fig. 5's grid is one named
    constant holding seven values per lambda around the paper's (TASLossConfig's) value."""
    import functools

    from aukit.methods.tas import TASLossConfig, TASModelConfig, TASTrainConfig
    from aukit.methods.tas import config as C, presets
    monkeypatch.setattr(presets, "TASTrainConfig", functools.partial(TASTrainConfig, epochs=7))
    monkeypatch.setattr(presets, "TASModelConfig", functools.partial(TASModelConfig, attention_hidden=32))
    full = notebook_plan("full", False, **NONE)
    assert (full.depth, full.hidden, full.epochs, full.T, full.batch) == (34, 32, 7, 16, 16)
    assert C.default_label_fraction("synthau-disfa") == C.DISFA_LABEL_FRACTION == 0.01
    assert C.default_label_fraction("bp4d") == TASTrainConfig.label_fraction == 0.02
    for lam, values in C.FIG5_LAMBDA_GRID.items():
        assert len(values) == 7 and getattr(TASLossConfig, lam) in values and list(values) == sorted(values)
