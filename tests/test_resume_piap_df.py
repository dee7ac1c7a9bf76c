"""PIAP-DF checkpoints: every stage's fit gets its method config (a checkpoint of another is refused), and
a run killed in DF and run again from its checkpoints gives the F1 of a run never interrupted."""
from __future__ import annotations

import dataclasses

import pytest

from aukit import checkpoint
from aukit.methods.piap_df import experiment as X
from aukit.methods.piap_df import runs

CLEAN = {"commit": "b" * 40, "dirty": False}


class Killed(Exception):
    """Stands for the run's process being killed."""


def _settings():
    return X.settings_for("quick", "synthau-bp4d", 1, 0, True, alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5,
                          disable_prob=0.05, fb_negative=-0.1, unlabelled="")


def test_piap_stage_refuses_a_checkpoint_of_another_stage_config(synthau_tiny, tmp_path):
    s = _settings()
    data = runs.load_au_data(s.dataset, s.fold, s.net.aus, s.max_train, 0)
    out = str(tmp_path / "Baseline_seed0")
    runs.train_piap(s.net, data, data.labels, (1.0, 0.0, 0.0), s.stage, "cpu", max_steps=1, out_dir=out)
    saved = checkpoint.read(tmp_path / "Baseline_seed0" / "last.pt")["config"]
    assert saved["stage"] == dataclasses.asdict(s.stage) and saved["net"] == dataclasses.asdict(s.net)
    with pytest.raises(checkpoint.ConfigMismatchError, match="lr"):
        runs.train_piap(s.net, data, data.labels, (1.0, 0.0, 0.0), dataclasses.replace(s.stage, lr=0.5), "cpu",
                        max_steps=1, out_dir=out)


def test_piap_df_killed_in_df_resumes_to_the_same_f1(synthau_tiny, tmp_path, monkeypatch, capsys):
    s = dataclasses.replace(_settings(), df=dataclasses.replace(_settings().df, epochs=2))
    variants = ("Baseline", "AP", "DF")
    plain = X.run_seed(s, 0, "cpu", variants=variants)["f1"]
    root = X.checkpoint_root(s, 1, "quick", True, base=str(tmp_path))
    real_fit = runs.fit

    def killing_fit(model, *args, **kw):                           # DF killed after its first epoch
        if type(model).__name__ == "TeacherStudent":
            def kill(record):
                raise Killed
            kw["on_epoch_end"] = kill
        return real_fit(model, *args, **kw)
    monkeypatch.setattr(runs, "fit", killing_fit)
    with pytest.raises(Killed):
        X.run_seed(s, 0, "cpu", variants=variants, ckpt_root=root)
    monkeypatch.setattr(runs, "fit", real_fit)
    assert {p.name for p in root.iterdir()} == {"run.json", "Baseline_seed0", "AP_seed0", "encoderP_seed0", "DF_seed0"}
    capsys.readouterr()
    resumed = X.run_seed(s, 0, "cpu", variants=variants, ckpt_root=root)["f1"]
    out = capsys.readouterr().out
    assert out.count("(nothing left to train)") == 3 and "1 of 2 epochs done" in out
    assert resumed == plain
