"""CPC: a smoke run with -p checkpoints 1 writes one folder per training (pre-training included) and a
rerun at the same commit trains nothing again and gives the same scores."""
from __future__ import annotations

from aukit.methods.cpc import experiment as X


def test_cpc_rerun_from_checkpoints_same_scores(synthau_tiny, tmp_path, capsys):
    plan, mcfg, pcfg, scfg, bcfg = X.settings_for("quick", smoke=True)
    kw = dict(plan=plan, mcfg=mcfg, pcfg=pcfg, scfg=scfg, bcfg=bcfg, device="cpu", checkpoints=1, preset="smoke",
              ckpt_base=str(tmp_path), pool="")
    first = X.run("synthau-disfa", 1, seeds=[0], **kw)
    (root,) = (tmp_path / "checkpoints").glob("*/synthau-disfa_fold1")
    names = {p.name for p in root.iterdir()}
    assert {"pretrain_target_seed0", "R18_2pct_seed0", "Ours_target_-2pct_seed0", "run.json"} <= names
    capsys.readouterr()
    again = X.run("synthau-disfa", 1, seeds=[0], **kw)
    assert capsys.readouterr().out.count("(nothing left to train)") == len(names) - 1
    assert again.per_seed == first.per_seed and again.pretext == first.pretext
