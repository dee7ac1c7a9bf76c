"""Mutation round 2, aukit.checkpoint and aukit.jobs: what a resume checks and restores (config
differences, optimizers by name, RNG states, a checkpoint without a config) and the job-level
settings, with hand-worked expected values."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from aukit import checkpoint as ckpt


def _model():
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def test_config_changes_nested_free_keys_and_tuples_read_as_lists():
    saved = {"train": {"epochs": 5, "lr": 0.1, "betas": [0.9, 0.99]}, "seed": 0}
    now = {"train": {"epochs": 9, "lr": 0.1, "betas": (0.9, 0.99)}, "seed": 0}
    assert ckpt.config_changes(saved, now) == []          # more epochs: training further; a tuple is its list
    now["train"]["lr"], now["size"] = 0.2, 64
    assert ckpt.config_changes(saved, now) == ["size: '(absent)' -> 64", "train.lr: 0.1 -> 0.2"]
    assert ckpt.config_changes({"epochs": 1}, {"epochs": 2}, free=()) == ["epochs: 1 -> 2"]


def test_changes_text_shows_five_then_dots():
    five = [f"k{i}: 0 -> 1" for i in range(5)]
    assert ckpt.changes_text(five) == "k0: 0 -> 1; k1: 0 -> 1; k2: 0 -> 1; k3: 0 -> 1; k4: 0 -> 1"
    assert ckpt.changes_text(five + ["k5: 0 -> 1"]) == ckpt.changes_text(five) + "; ..."
    assert ckpt.changes_text(["a: 1 -> 2"], show=1) == "a: 1 -> 2"


def test_named_optimizers_must_match_the_checkpoints_both_ways(tmp_path):
    m = _model()
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k in ("g", "d", "e")}
    p = ckpt.save_checkpoint(tmp_path / "a.pt", m, opts, epoch=1)
    fewer = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k in ("g", "d")}
    with pytest.raises(KeyError, match=r"checkpoint optimizers \['d', 'e', 'g'\] do not match \['d', 'g'\]"):
        ckpt.load_checkpoint(p, m, fewer)
    p2 = ckpt.save_checkpoint(tmp_path / "b.pt", m, fewer, epoch=1)
    with pytest.raises(KeyError, match=r"checkpoint optimizers \['d', 'g'\] do not match \['d', 'e', 'g'\]"):
        ckpt.load_checkpoint(p2, m, opts)


def test_a_checkpoint_without_a_config_is_not_checked(tmp_path):
    m = _model()
    p = ckpt.save_checkpoint(tmp_path / "a.pt", m, epoch=3)
    assert ckpt.load_checkpoint(p, m, expect_config={"lr": 0.1})["epoch"] == 3
    p = ckpt.save_checkpoint(tmp_path / "b.pt", m, epoch=3, config={"lr": 0.2})
    with pytest.raises(ckpt.ConfigMismatchError, match=r"1 change\(s\): lr: 0.2 -> 0.1"):
        ckpt.load_checkpoint(p, m, expect_config={"lr": 0.1})


@pytest.fixture
def _global_rng():
    """The process's RNG states as they were: this test seeds them."""
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(saved[0]), np.random.set_state(saved[1]), torch.set_rng_state(saved[2])


def test_restore_rng_gives_back_python_numpy_and_torch_draws(tmp_path, _global_rng):
    m = _model()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    p = ckpt.save_checkpoint(tmp_path / "a.pt", m, epoch=0)
    first = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.load_checkpoint(p, restore_rng=True)
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == first


class _Compiled(nn.Module):
    """What torch.compile returns: the module under ``_orig_mod``."""

    def __init__(self, inner):
        super().__init__()
        self._orig_mod = inner


def test_a_compiled_wrapper_saves_and_loads_the_plain_modules_keys(tmp_path):
    m = _model()
    assert ckpt.unwrap(_Compiled(_Compiled(m))) is m
    p = ckpt.save_checkpoint(tmp_path / "a.pt", _Compiled(m), epoch=0)
    assert sorted(ckpt.read(p)["model"]) == ["bias", "weight"]
    fresh = nn.Linear(3, 2)
    ckpt.load_checkpoint(p, _Compiled(fresh))
    assert torch.equal(fresh.weight, m.weight) and torch.equal(fresh.bias, m.bias)


# -- jobs ----------------------------------------------------------------------------------------------

def test_a_job_folder_may_change_epochs_and_device_only(tmp_path):
    from aukit.jobs import JobConfig, check_job_folder
    out = tmp_path / "job"
    out.mkdir()
    check_job_folder("scc", JobConfig(dataset="synthau-bp4d", out_dir=str(out), epochs=1, device="cpu"))
    (out / "checkpoints" / "scc_seed0").mkdir(parents=True)        # a run with a checkpoint: something to mix
    (out / "checkpoints" / "scc_seed0" / "last.pt").write_bytes(b"")
    check_job_folder("scc", JobConfig(dataset="synthau-bp4d", out_dir=str(out), epochs=3, device="cuda"))
    with pytest.raises(ValueError, match=r"other settings \(size: None -> 64\)"):
        check_job_folder("scc", JobConfig(dataset="synthau-bp4d", out_dir=str(out), epochs=3, device="cuda", size=64))
    with pytest.raises(ValueError, match=r"holds an `aukit train scc` run, not tas"):
        check_job_folder("tas", JobConfig(dataset="synthau-bp4d", out_dir=str(out), epochs=3, device="cuda"))


def test_error_txt_advice_names_the_checkpoint_and_the_ranks(tmp_path):
    from aukit.jobs import _after_failure
    out = tmp_path / "job"
    (out / "checkpoints").mkdir(parents=True)
    assert _after_failure(out, 1, RuntimeError("x")) == "(no checkpoint was saved yet: a rerun starts afresh)\n"
    (out / "checkpoints" / "scc_seed0").mkdir()
    (out / "checkpoints" / "scc_seed0" / "last.pt").write_bytes(b"")
    resume = f"(rerun the job to resume from {out / 'checkpoints'})\n"
    assert _after_failure(out, 2, KeyboardInterrupt()) == resume      # Ctrl-C: no lost peer to look for
    two = _after_failure(out, 2, RuntimeError("Connection reset by peer"))
    assert two.startswith(resume) and "(a run over 2 ranks: an error about a lost connection" in two
