"""A deployable checkpoint keeps the method config it was exported with (STYLE: save ``asdict(cfg)``
in every checkpoint), read back through a strict ``weights_only`` load."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from aukit import checkpoint as ckpt
from aukit import deploy


@dataclasses.dataclass
class _MethodConfig:
    lr: float = 0.005
    sizes: tuple = (32, 64)
    weights: Path | None = None
    nested: dict = dataclasses.field(default_factory=lambda: {"alpha": 0.5})


def _tiny_tas(tmp_path):
    from aukit.methods.tas import TASModelConfig, TASNet
    from aukit.methods.tas.deploy import deploy_spec
    torch.manual_seed(0)
    model = TASNet(TASModelConfig(n_aus=2, depth=18, attention_hidden=4, mlp_hidden=8, weights=None)).eval()
    return model, deploy_spec(model, ["AU06", "AU12"], "synthau-bp4d", size=32)


def test_export_saves_the_method_config_and_load_still_rebuilds_the_model(tmp_path):
    model, spec = _tiny_tas(tmp_path)
    cfg = _MethodConfig(weights=tmp_path / "imagenet.pth")
    path = deploy.export(tmp_path / "d.pt", model, spec, config=cfg)
    want = {"lr": 0.005, "sizes": [32, 64], "weights": str(tmp_path / "imagenet.pth"), "nested": {"alpha": 0.5}}
    got = ckpt.read(path)["config"]                            # torch.load(weights_only=True) accepts it
    assert {**got, "sizes": list(got["sizes"])} == want
    assert deploy.read_config(path) == got
    assert deploy.load(path).spec.aus == ["AU06", "AU12"]      # the deploy spec is untouched

    path2 = deploy.export(tmp_path / "e.pt", model, spec, config=dataclasses.asdict(_MethodConfig()))
    assert deploy.read_config(path2)["nested"] == {"alpha": 0.5}


def test_export_without_config_saves_an_empty_one(tmp_path):
    model, spec = _tiny_tas(tmp_path)
    path = deploy.export(tmp_path / "d.pt", model, spec)
    assert deploy.read_config(path) == {} and ckpt.read(path)["config"] == {}
