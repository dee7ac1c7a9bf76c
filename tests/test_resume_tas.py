"""TAS end to end on the tiny SynthAU tree: a run killed in its second training and run again from its
checkpoints ends with the same metrics and histories as a run never interrupted (CPU: fit's resume is
bit-identical); a finished run run again trains nothing and gives the same numbers."""
from __future__ import annotations

import pytest

from aukit import ckptdir
from aukit.methods.tas import ablation_config
from aukit.methods.tas import experiment as E
from aukit.methods.tas import presets

CLEAN = {"commit": "a" * 40, "dirty": False}


class Killed(Exception):
    """Stands for the run's process being killed."""


def _runner(synthau_tiny):
    from aukit.methods.tas.data import load_data
    plan = presets.notebook_plan("quick", True, seeds=[], epochs=2, steps=-1, variants=[])
    cfg = presets.notebook_config(plan, "synthau-bp4d", lr=0.005, weight_decay=5e-4, alpha=0.5, lambda_rank=0.1,
                                  lambda_spd=0.05, lambda_sub=-1.0, attention_kernel=3)
    data = load_data("synthau-bp4d", fold=1, T=cfg.train.T)
    variants = {k: (ablation_config(k, cfg), "keyframe") for k in ("A1", "A6")}
    variants["S1 + L_all"] = (ablation_config("A6", cfg), "S1")   # a Table 4 setting: its own folder

    def run(root):
        opts = presets.run_options(plan, "cpu", root)
        return E.run_variants(data, variants, [0], opts)
    return plan, run


def _numbers(res):
    return {k: ([{m: v for m, v in r.items() if m != "flags"} for r in v["runs"]],
                [[{m: x for m, x in e.items() if m not in ("images_per_s", "epoch_time_s")} for e in h]
                 for h in v["history"]])
            for k, v in res.items()}


def test_tas_killed_run_resumes_to_the_same_metrics(synthau_tiny, tmp_path, monkeypatch, capsys):
    plan, run = _runner(synthau_tiny)
    plain = _numbers(run(None))                                    # never interrupted, no checkpoints
    assert not list(tmp_path.iterdir())

    root = ckptdir.run_root(-1, "full", False, base=str(tmp_path / "runs/tas"), dataset="synthau-bp4d", fold=1,
                            knobs={"size": plan.size, "steps": plan.steps}, git=CLEAN)
    real_fit, calls = E.fit, []

    def killing_fit(*args, **kw):                                  # killed after the second training's epoch 1
        calls.append(1)
        if len(calls) == 2:
            def kill(record):
                raise Killed
            kw["on_epoch_end"] = kill
        return real_fit(*args, **kw)
    monkeypatch.setattr(E, "fit", killing_fit)
    with pytest.raises(Killed):
        run(root)
    monkeypatch.setattr(E, "fit", real_fit)
    assert sorted(p.name for p in root.iterdir()) == ["A1_seed0", "A6_seed0", "run.json"]
    capsys.readouterr()

    resumed = _numbers(run(root))
    out = capsys.readouterr().out
    assert "1 of 2 epochs done" in out and out.count("(nothing left to train)") == 1      # A1 done, A6 half
    assert (root / "S1_plus_L_all_seed0_S1" / "last.pt").is_file()
    assert resumed == plain

    again = _numbers(run(root))                                    # a finished run at the same commit
    assert capsys.readouterr().out.count("2 of 2 epochs done (nothing left to train)") == 3
    assert again == plain
