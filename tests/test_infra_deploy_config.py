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


def test_a_spec_that_would_not_rebuild_or_run_the_model_is_refused_at_export(tmp_path):
    """deploy.export wrote any spec: three AU names for a two-output model failed at the first predict
    ("could not broadcast (1,2) into (1,3)"), TAS's export called in the other methods' argument order
    wrote a 57 MB file named after the dataset, unknown models and policies went through."""
    import pytest
    from aukit.methods.tas.deploy import export_deployable
    model, spec = _tiny_tas(tmp_path)
    bad = {"aus": (dataclasses.replace(spec, aus=["AU06", "AU12", "AU17"]), r"gives 2 values per face, spec.aus "
                                                                            r"names 3 \(AU06, AU12, AU17\)"),
           "policy": (dataclasses.replace(spec, policy="tass"), r"unknown alignment policy 'tass'"),
           "model": (dataclasses.replace(spec, model="tas_resnet35"), r"tas_resnet35\(.*\) does not rebuild"),
           "kwargs": (dataclasses.replace(spec, kwargs={**spec.kwargs, "n_aus": 3}), r"does not rebuild this model")}
    for name, (wrong, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            deploy.export(tmp_path / f"{name}.pt", model, wrong)
        assert not (tmp_path / f"{name}.pt").exists()
    with pytest.raises(ValueError, match=r"the path must end in .pt .* in another order\?"):
        export_deployable(model, ["AU06", "AU12"], "synthau-bp4d", tmp_path / "d.pt", size=32)
    assert not (tmp_path / "synthau-bp4d").exists() and not (tmp_path / "d.pt").exists()
    assert deploy.load(deploy.export(tmp_path / "ok.pt", model, spec)).spec == spec
