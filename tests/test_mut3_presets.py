"""Mutation audit round 3, the methods' notebook presets: TAS's plan, CPC's notebook settings, PIAP-DF's settings
and what their "the preset's" defaults stand for."""
import pytest

from aukit.methods.tas.presets import preset_plan


def test_tas_negative_batch_size_is_refused():
    with pytest.raises(ValueError, match="T and batch_size are 0 .* got 0, -2"):
        preset_plan("quick", 0, -2)
    assert preset_plan("quick", 0, 3).batch == 3 and preset_plan("quick").batch == 8


def test_tas_one_epoch_is_one_epoch():
    from aukit.methods.tas.presets import notebook_plan
    plan = notebook_plan("full", False, seeds=[], epochs=1, steps=-1, variants=[])
    assert plan.epochs == 1 and plan.steps is None
    assert notebook_plan("full", False, seeds=[], epochs=0, steps=-1, variants=[]).epochs == 20


def test_tas_checkpoint_folder_records_the_step_cap(tmp_path):
    """A run resumed with another step cap trains other weights: run.json names steps, and a change is refused."""
    import json

    from aukit.checkpoint import ConfigMismatchError
    from aukit.methods.tas.presets import checkpoint_root, notebook_plan
    plan = notebook_plan("quick", False, seeds=[], epochs=0, steps=-1, variants=[])
    root = checkpoint_root(plan, 1, "quick", False, base=str(tmp_path), dataset="synthau-bp4d", fold=1)
    assert json.loads((root / "run.json").read_text()) == {"size": 48, "steps": 10, "weights": ""}
    plan5 = notebook_plan("quick", False, seeds=[], epochs=0, steps=5, variants=[])
    with pytest.raises(ConfigMismatchError, match="steps: 10 -> 5"):
        checkpoint_root(plan5, 1, "quick", False, base=str(tmp_path), dataset="synthau-bp4d", fold=1)


CPC_PAPER = dict(stride=2, pretrain_lr=1e-3, weight_decay=1e-5, encoder="layer3", label_fraction=0.02, sparse_lr=1e-5)


def test_cpc_negative_lr_scale_is_refused():
    from aukit.methods.cpc.experiment import notebook_settings
    with pytest.raises(ValueError, match="lr_scale 0 .* got {'steps': -1, 'lr_scale': -1.0}"):
        notebook_settings("quick", False, lr_scale=-1.0, **CPC_PAPER)


def test_cpc_context_must_leave_a_frame_to_predict():
    from aukit.methods.cpc.experiment import notebook_settings
    with pytest.raises(ValueError, match="got context 6, seq_len 6"):
        notebook_settings("quick", False, seq_len=6, context=6, **CPC_PAPER)
    pcfg = notebook_settings("quick", False, seq_len=6, context=5, **CPC_PAPER)[2]
    assert (pcfg.seq_len, pcfg.context) == (6, 5)


def test_cpc_a_smoke_run_of_the_full_preset_scales_its_lr_like_quick():
    """lr_scale's default: 10 for the short runs (quick, smoke, whatever the preset), 1 for a full run only."""
    from aukit.methods.cpc.config import BaselineConfig, SparseConfig
    from aukit.methods.cpc.experiment import settings_for
    for preset, smoke, scale in (("full", True, 10.0), ("full", False, 1.0), ("quick", False, 10.0)):
        _, _, _, s, b = settings_for(preset, smoke)
        assert s.lr == pytest.approx(SparseConfig().lr * scale) and b.lr == pytest.approx(BaselineConfig().lr * scale)


def test_cpc_smoke_sizes_are_smokes_not_quicks():
    """A smoke run's seq_len 5 / context 3 / batch 4 are no change; quick's 8 / 5 / 8 would be one there."""
    from aukit import nb
    from aukit.methods.cpc import notebook_in_effect
    assert notebook_in_effect("smoke") == {"seq_len": 5, "context": 3, "pretrain_batch": 4, "pretrain_epochs": 1,
                                           "val_clips": 8, "image_size": 32}
    assert nb.changed_parameters("cpc", {"smoke": True, "seq_len": 5, "context": 3, "pretrain_batch": 4}) == {}
    assert nb.changed_parameters("cpc", {"smoke": True, "seq_len": 8}) == {"seq_len": 8}


def test_piap_df_smoke_has_no_preset_values_standing_in():
    """Only quick and full say what epochs 0 / steps -1 stand for; a smoke run given the full preset's
    20 epochs and no cap is a change (smoke keeps 1 epoch of 2 steps)."""
    from aukit import nb
    from aukit.methods.piap_df import notebook_in_effect
    assert notebook_in_effect("smoke") == {}
    assert notebook_in_effect("full") == {"steps": 0, "epochs": 20}
    assert notebook_in_effect("quick") == {"epochs": 3, "steps": 40}
    assert nb.changed_parameters("piap_df", {"smoke": True, "epochs": 20, "steps": 0}) == {"epochs": 20, "steps": 0}


def test_piap_df_full_epochs_named_only_when_df_runs_half_of_them(monkeypatch):
    """An explicit -p epochs 20 gives DF 10: were DFConfig's own 5, 20 would not be the full preset's schedule."""
    import functools

    import aukit.methods.piap_df as P
    df = P.DFConfig
    monkeypatch.setattr(P, "DFConfig", functools.partial(df, epochs=5))
    assert P.notebook_in_effect("full") == {"steps": 0}
    monkeypatch.setattr(P, "DFConfig", functools.partial(df, epochs=10))
    assert P.notebook_in_effect("full") == {"steps": 0, "epochs": 20}


PIAP_PAPER = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)


def test_piap_df_a_smoke_run_of_the_full_preset_keeps_the_configs_lr():
    """quick's 3e-3 is for its few steps; preset full keeps the configs' 1e-3, smoke or not."""
    from aukit.methods.piap_df.experiment import settings_for
    full_smoke = settings_for("full", "synthau-bp4d", 1, 0, True, **PIAP_PAPER)
    quick_smoke = settings_for("quick", "synthau-bp4d", 1, 0, True, **PIAP_PAPER)
    assert full_smoke.stage.lr == 1e-3 and full_smoke.generator.lr == 1e-3
    assert quick_smoke.stage.lr == 3e-3 and quick_smoke.generator.lr == 3e-3
