"""TAS checkpoints record the config the model was built from: rebuilding from it loads strictly."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import torch

from aukit import checkpoint
from aukit.methods.tas import TASConfig, TASModelConfig, TASNet, TASTrainConfig
from aukit.methods.tas import experiment as E


class Segments:
    """Two batches of 2 random segments of T = 2 frames, their two ends labelled for every AU."""

    def __init__(self, n_aus: int):
        g = torch.Generator().manual_seed(0)
        target = torch.full((2, 2, n_aus), float("nan"))
        target[:, 0], target[:, -1] = 0.0, 0.6
        self.batches = [{"image": torch.rand(2, 2, 3, 32, 32, generator=g), "target": target,
                         "seg_au": torch.zeros(2, dtype=torch.long), "subject": torch.arange(2)} for _ in range(2)]

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def test_a_saved_checkpoints_config_rebuilds_its_model(tmp_path, monkeypatch):
    """train_model sized the heads to the data (3 AUs here) but saved the caller's config (n_aus 5): a model
    rebuilt from the checkpoint's own record could not take its weights."""
    data = SimpleNamespace(n_aus=3)
    monkeypatch.setattr(E, "segment_batches", lambda data, setting, **kw: Segments(data.n_aus))
    cfg = TASConfig(model=TASModelConfig(depth=18, attention_kernel=3, attention_hidden=2, mlp_hidden=4),
                    train=TASTrainConfig(T=2, batch_size=2))
    assert cfg.model.n_aus == 5
    model, _ = E.train_model(data, cfg, E.RunOptions(device="cpu", epochs=1, ckpt_dir=str(tmp_path)), name="A6")
    assert model.cfg.n_aus == 3 and cfg.model.n_aus == 5                       # the caller's config is left alone
    state = checkpoint.read(tmp_path / "A6_seed0" / "last.pt")
    assert state["config"]["model"] == dataclasses.asdict(model.cfg)
    rebuilt = TASNet(TASModelConfig(**state["config"]["model"]))
    checkpoint.load_checkpoint(tmp_path / "A6_seed0" / "last.pt", rebuilt)      # strict: every key and shape
    for k, v in rebuilt.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k
    assert E.built_config(data, cfg).model == model.cfg


def test_run_variants_records_the_config_as_built(monkeypatch):
    data = SimpleNamespace(n_aus=3)
    monkeypatch.setattr(E, "segment_batches", lambda data, setting, **kw: Segments(data.n_aus))
    monkeypatch.setattr(E, "evaluate", lambda model, data, opts, **kw: {"metrics": {}, "flags": {}})
    cfg = TASConfig(model=TASModelConfig(depth=18, attention_kernel=3, attention_hidden=2, mlp_hidden=4),
                    train=TASTrainConfig(T=2, batch_size=2))
    res = E.run_variants(data, {"A6": (cfg, "keyframe")}, [0], E.RunOptions(device="cpu", epochs=1))
    assert res["A6"]["config"]["model"]["n_aus"] == 3
