from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch
import yaml

from aukit import config, runtime
from aukit.registry import create_model, register_model


@dataclass
class Inner:
    k: int = 5


@dataclass
class Cfg:
    lr: float = 0.005  # TAS: SGD lr
    sizes: tuple = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_yaml_round_trip_and_unknown_keys(tmp_path):
    cfg = Cfg(lr=0.1, inner=Inner(k=7))
    p = config.save_yaml(cfg, tmp_path / "c.yaml")
    assert config.load_yaml(Cfg, p) == cfg
    p.write_text(yaml.safe_dump({"lr": 0.1, "lrr": 2}))
    with pytest.raises(ValueError, match="lrr"):
        config.load_yaml(Cfg, p)
    with pytest.raises(ValueError, match="inner.kk|kk"):
        config.from_dict(Cfg, {"inner": {"kk": 1}})


def test_device_and_precision(monkeypatch):
    monkeypatch.delenv("AUKIT_DEVICE", raising=False)
    dev = runtime.pick_device()
    assert dev.type in ("cuda", "mps", "cpu")
    monkeypatch.setenv("AUKIT_DEVICE", "cpu")
    assert runtime.pick_device().type == "cpu"
    assert runtime.resolve_precision(torch.device("cpu")) == "fp32"
    assert runtime.resolve_precision(torch.device("cuda")) == "bf16"
    with pytest.raises(ValueError):
        runtime.resolve_precision(torch.device("cpu"), "fp8")


def test_seed_and_run_yaml(tmp_path):
    runtime.seed_everything(3)
    a = torch.rand(3)
    runtime.seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    p = runtime.write_run_yaml(tmp_path, config=Cfg(), seed=3, dataset="synthau-disfa", device=torch.device("cpu"))
    info = yaml.safe_load(p.read_text())
    assert info["config"]["lr"] == 0.005 and info["seed"] == 3
    assert {"commit", "dirty", "versions", "created", "device"} <= set(info)
    assert info["versions"]["torch"].startswith("2.14")
    assert "weights_files" not in info                                       # no weights file named


def test_run_yaml_records_the_weights_file_a_run_started_from(tmp_path):
    import hashlib
    w = tmp_path / "resnet34.pth"
    w.write_bytes(b"not really weights, but bytes to hash")
    config = {"model": {"weights": str(w), "depth": 34}, "stages": [{"trunk_weights": str(w)}],
              "loss": {"weights": [0.5, 0.25]}, "weight_decay": 5e-4, "head": {"backbone_weights": None}}
    info = yaml.safe_load(runtime.write_run_yaml(tmp_path, config=config).read_text())
    assert info["weights_files"] == {str(w): {"sha256": hashlib.sha256(w.read_bytes()).hexdigest(), "bytes": 37}}


def test_registry():
    @register_model
    def _tiny_test_model(width: int = 3):
        return torch.nn.Linear(2, width)

    assert create_model("_tiny_test_model", width=4).out_features == 4
    with pytest.raises(KeyError, match="unknown model"):
        create_model("no_such_model")


def test_aukit_precision_env_overrides_auto_only(monkeypatch):
    from aukit.runtime import resolve_precision
    cuda = torch.device("cuda")
    monkeypatch.delenv("AUKIT_PRECISION", raising=False)
    assert resolve_precision(cuda, "auto") == "bf16"
    monkeypatch.setenv("AUKIT_PRECISION", "fp32")
    assert resolve_precision(cuda, "auto") == "fp32"
    assert resolve_precision(cuda, "bf16") == "bf16"          # an explicit choice wins
    monkeypatch.setenv("AUKIT_PRECISION", "fp64")
    with pytest.raises(ValueError, match="AUKIT_PRECISION"):
        resolve_precision(cuda, "auto")


def test_bench_data_override_is_checked(capsys):
    from aukit.cli import main
    with pytest.raises(SystemExit, match="METHOD.KEY=VALUE"):
        main(["bench", "--data", "flow_size=32", "--out", "/tmp/never"])


def test_provenance_records_the_numerics(monkeypatch):
    monkeypatch.delenv("AUKIT_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "device_name", lambda d: str(d))  # no driver to ask on a CPU machine
    assert runtime.provenance(device="cpu")["precision"] == "fp32"
    assert runtime.provenance(device=torch.device("cuda"))["precision"] == "bf16"
    monkeypatch.setenv("AUKIT_PRECISION", "fp32")
    assert runtime.provenance(device="cuda")["precision"] == "fp32"
    assert "precision" not in runtime.provenance()


def test_git_dirty_ignores_run_outputs(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.delenv("AUKIT_COMMIT", raising=False)
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "reports" / "metrics.json").write_text("{}\n")
    run("add", "-A")
    run("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init")
    assert runtime.git_info(tmp_path)["dirty"] is False
    (tmp_path / "reports" / "metrics.json").write_text('{"icc": 0.5}\n')     # a run rewrote its report
    assert runtime.git_info(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")                              # the code changed
    assert runtime.git_info(tmp_path)["dirty"] is True


def test_run_yaml_names_the_commit_the_run_started_on(tmp_path, monkeypatch):
    """run.yaml is written when a run ends; a commit landing meanwhile is not the code that ran."""
    heads = iter([{"commit": "aaa", "dirty": False}, {"commit": "bbb", "dirty": False},
                  {"commit": "aaa", "dirty": False}])
    monkeypatch.setattr(runtime, "git_info", lambda path=None: next(heads))
    monkeypatch.setattr(runtime, "_PINNED", None)
    assert runtime.pin_commit()["commit"] == "aaa"
    info = yaml.safe_load(runtime.write_run_yaml(tmp_path).read_text())
    assert (info["commit"], info["commit_at_end"]) == ("aaa", "bbb")
    info = yaml.safe_load(runtime.write_run_yaml(tmp_path).read_text())
    assert info["commit"] == "aaa" and "commit_at_end" not in info


def test_a_notebook_kernel_records_the_commit_its_run_started_on(tmp_path):
    """aukit.nb.execute hands the commit to the kernel (AUKIT_RUN_GIT); the kernel's provenance keeps it."""
    import json
    import os
    import subprocess
    import sys
    env = {**os.environ, runtime.PIN_ENV: json.dumps({"commit": "c0ffee", "dirty": False})}
    out = subprocess.run([sys.executable, "-c", "from aukit import runtime; p = runtime.provenance(); "
                          "print(p['commit'], p['dirty'], 'commit_at_end' in p)"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["c0ffee", "False", "True"]


def test_require_raises_on_the_cpu_with_its_message():
    import torch
    from aukit.runtime import require
    require(torch.tensor(True), "never shown")
    with pytest.raises(ValueError, match="nothing to learn"):
        require(torch.tensor([False, False]).any(), "nothing to learn")


def test_preset_seeds_given_or_the_presets():
    from aukit.nb import preset_seeds
    assert preset_seeds([], "quick") == [0] and preset_seeds([], "full") == [0, 1, 2]
    assert preset_seeds([], "full", smoke=True) == [0]
    assert preset_seeds(["3", 4], "quick") == [3, 4] and preset_seeds((5,), "full") == [5]


@pytest.mark.parametrize("name, overrides, message", [
    ("rtatl_backbone", {"aus": "1,2"}, r"rtatl_backbone.aus: expected tuple, got '1,2'"),
    ("rtatl_deploy", {"model": {"aus": "1,2"}}, r"rtatl_deploy model.aus: expected tuple"),  # built 3 heads: '1', ',', '2'
    ("rtatl_backbone", {"aus": (1, 2, 99)}, r"no landmark centre for AU \[99\]"),
    ("rtatl_backbone", {"aus": 12}, r"expected tuple, got 12"),
    ("rtatl", {"train": {"epoch": 3}}, r"rtatl train: unknown key\(s\) \['epoch'\]"),
    ("rtatl", {"aus": (1, 2), "train": {"aus": (1, 4)}}, r"train aus \(1, 4\) differ from the model's \(1, 2\)"),
    ("scc_deploy", {"model": {"kk": 3}}, r"scc_deploy model: unknown key\(s\) \['kk'\]"),
    ("piap_person_encoder", {"n_identities": "10"}, r"n_identities must be a positive int, got '10'"),
])
def test_every_registered_factory_checks_its_overrides(name, overrides, message):
    """TAS, CPC, SCC and PIAP named a wrong override; RTATL's factories and the SCC deployable took
    anything (a string of AUs built a head per character) or raised deep inside."""
    with pytest.raises(ValueError, match=message):
        create_model(name, **overrides)
