"""SCC and RTATL: the checkpoints parameter's rule, and a rerun of a checkpointed run trains nothing again
and gives the same scores."""
from __future__ import annotations

from aukit.methods.rtatl import experiment as RE
from aukit.methods.scc import experiment as SE


def test_checkpoint_root_follows_the_preset(tmp_path):
    for mod in (SE, RE):
        base = dict(model_dir=str(tmp_path / mod.__name__.split(".")[2]))
        fold = () if mod is RE else (1,)
        assert mod.checkpoint_root(mod.preset_config("quick", **base), *fold) is None
        assert mod.checkpoint_root(mod.preset_config("smoke", **base), *fold) is None
        assert mod.checkpoint_root(mod.preset_config("full", checkpoints=0, **base), *fold) is None
        root = mod.checkpoint_root(mod.preset_config("full", **base), *fold)
        assert root.parent.parent.name == "checkpoints" and root.name.endswith("_fold1")


def test_scc_rerun_resumes_nothing_left_same_scores(synthau_tiny, tmp_path, capsys):
    from aukit.methods.scc.data import load_data, resolve_fold
    ecfg = SE.preset_config("smoke", dataset="synthau-disfa", fold=1, checkpoints=1, model_dir=str(tmp_path), epochs=2)
    fold = resolve_fold(ecfg.dataset, ecfg.fold, ecfg.fera)
    data = load_data(ecfg.dataset, fold, ecfg.aus, max_train=ecfg.max_train, max_test=ecfg.max_test)
    root = SE.checkpoint_root(ecfg, fold)
    first = SE.Runner(ecfg, data, "cpu", root).get({"use_scc": False}, 0)
    assert (root / "use_scc=False_seed0" / "last.pt").is_file()
    capsys.readouterr()
    again = SE.Runner(ecfg, data, "cpu", root).get({"use_scc": False}, 0)
    assert "2 of 2 epochs done (nothing left to train)" in capsys.readouterr().out
    drop = ("train_s", "images_per_s")
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in first.items() if k not in drop}
