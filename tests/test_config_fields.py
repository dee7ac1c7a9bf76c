"""Config fields reach the objects that use them (a declared but unread field silently does nothing).

Each test sets a field to a value no default has and checks it arrives: at the loader, the
optimizer, the loss or the data layer. Training is replaced by a recorder, so each runs in seconds.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch


class Recorder:
    """Stands in for a callable (fit, a loader class, load_data): keeps its arguments, returns ``value``."""

    def __init__(self, value=None, raise_=None):
        self.calls, self.value, self.raise_ = [], value, raise_

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.raise_ is not None:
            raise self.raise_
        return self.value

    @property
    def args(self):
        return self.calls[-1][0]

    @property
    def kwargs(self):
        return self.calls[-1][1]


# ---- CPC: the face side comes from CPCModelConfig unless the plan sets one; epochs live in the Plan ---

def test_cpc_model_image_size_reaches_the_loaders(monkeypatch):
    from aukit.methods.cpc import BaselineConfig, CPCModelConfig, PretrainConfig, SparseConfig
    from aukit.methods.cpc import experiment as X
    from aukit.methods.cpc.model import CPCNet, FrameRegressor

    fit, frames, windows = Recorder([]), Recorder([]), Recorder([])
    monkeypatch.setattr(X, "fit", fit)
    monkeypatch.setattr(X, "frame_loader", frames)
    monkeypatch.setattr(X, "WindowLoader", windows)
    split = SimpleNamespace(store=SimpleNamespace(size=128))
    mcfg = CPCModelConfig(image_size=48, num_aus=2)
    rows, labels = np.arange(4), np.zeros((4, 2), np.float32)

    X.train_frame_model(FrameRegressor(mcfg), split, rows, labels, BaselineConfig(), PretrainConfig(),
                        X.Plan(baseline_epochs=3), "cpu", 0)
    assert frames.kwargs["augment"].out_size == 48 and fit.args[4].epochs == 3
    X.train_sequence_model(CPCNet(mcfg), split, rows, labels, SparseConfig(), PretrainConfig(),
                           X.Plan(sparse_epochs=2), "cpu", 0)
    assert windows.kwargs["augment"].out_size == 48 and fit.args[4].epochs == 2
    # a preset's face side wins over the model config's
    X.train_frame_model(FrameRegressor(mcfg), split, rows, labels, BaselineConfig(), PretrainConfig(),
                        X.Plan(image_size=32), "cpu", 0)
    assert frames.kwargs["augment"].out_size == 32
    assert X.face_size(X.Plan(), mcfg) == 48 and X.face_size(X.settings_for("full")[0], CPCModelConfig()) == 128
    # the stage configs declare no epochs of their own: the Plan's are the ones run
    for cls in (PretrainConfig, SparseConfig, BaselineConfig):
        assert "epochs" not in {f.name for f in dataclasses.fields(cls)}


# ---- RTATL: run sizes default to RTATLTrainConfig's; flow_step reaches the data layer ---------------

def test_rtatl_train_config_sizes_reach_loader_and_fit(monkeypatch):
    from aukit.methods.rtatl import experiment as X
    from aukit.methods.rtatl.config import RTATLTrainConfig

    @dataclasses.dataclass
    class Odd(RTATLTrainConfig):                     # defaults no preset uses
        epochs: int = 2
        batch_size: int = 5
        unlabelled_batch_size: int = 3

    monkeypatch.setattr(X, "RTATLTrainConfig", Odd)
    e = X.ExperimentConfig(input_size=64)
    assert (e.epochs, e.batch_size, e.unlabelled_batch_size) == (2, 5, 3)
    assert X.preset_config("full").batch_size == 5
    assert X.ExperimentConfig(extra={"batch_size": 7}).batch_size == 7
    with pytest.raises(ValueError, match="batch_size"):
        X.ExperimentConfig(batch_size=8, extra={"batch_size": 7})

    fit, paired = Recorder([]), Recorder()
    monkeypatch.setattr(X, "fit", fit)
    monkeypatch.setattr(X, "PairedLoader", paired)
    data = SimpleNamespace(store=SimpleNamespace(size=64))
    net, _ = X.train_variant(e, "Backbone^T", data, 0, "cpu")
    assert (net.train_cfg.batch_size, net.train_cfg.unlabelled_batch_size, net.train_cfg.epochs) == (5, 3, 2)
    assert paired.args[1:3] == (5, 3) and fit.args[4].epochs == 2


def test_rtatl_flow_step_reaches_load_data(monkeypatch):
    from aukit.methods.rtatl import experiment as X
    from aukit.methods.rtatl.config import RTATLTrainConfig

    class Stop(Exception):
        pass

    load = Recorder(raise_=Stop())
    monkeypatch.setattr(X, "load_data", load)
    with pytest.raises(Stop):
        X.run(X.preset_config("smoke", device="cpu", extra={"flow_step": 5}))
    assert load.kwargs["flow_step"] == 5
    with pytest.raises(Stop):
        X.run(X.preset_config("smoke", device="cpu"))
    assert load.kwargs["flow_step"] == RTATLTrainConfig().flow_step


# ---- PIAP-DF: GeneratorConfig.weight_decay reaches Adam; StageConfig.pos_weight reaches L_AU -----------

TINY_NET = dict(aus=(1, 2), trunk="tiny_dw", image_size=32, tiny_width=8, unet_width=4, unet_depth=3, decoder_width=16)


def test_piap_generator_weight_decay_reaches_its_optimizer(monkeypatch):
    from aukit.methods.piap_df import GeneratorConfig, NetConfig
    from aukit.methods.piap_df import runs

    fit = Recorder([])
    monkeypatch.setattr(runs, "fit", fit)
    monkeypatch.setattr(runs, "loader", Recorder())
    monkeypatch.setattr(runs, "pi_maps", Recorder())
    store = SimpleNamespace(landmarks=None, size=32)
    runs.train_generator(NetConfig(**TINY_NET), GeneratorConfig(weight_decay=0.125, lr=0.0625, epochs=3), store,
                         np.arange(4), "cpu")
    opt = fit.args[3]
    assert opt.param_groups[0]["weight_decay"] == 0.125 and opt.param_groups[0]["lr"] == 0.0625
    assert fit.args[4].epochs == 3


def test_piap_stage_pos_weight_reaches_the_au_loss(monkeypatch):
    from aukit.methods.piap_df import NetConfig, StageConfig
    from aukit.methods.piap_df import runs
    from aukit.methods.piap_df.model import DWUNet

    fit = Recorder([])
    monkeypatch.setattr(runs, "fit", fit)
    monkeypatch.setattr(runs, "loader", Recorder())
    net = NetConfig(**TINY_NET)
    # AU1: 1 positive, 3 negatives -> 3; AU2: 2 and 1 (a NaN skipped) -> 0.5; row 4 is not a training row
    labels = np.array([[1, 1], [0, 1], [0, 0], [0, np.nan], [1, 1]], np.float32)
    data = runs.AUData("x", None, net.aus, labels, np.arange(4), np.array([4]), np.array([], np.int64))
    want = torch.tensor([3.0, 0.5])

    runs.train_piap(net, data, labels, (1.0, 0.0, 0.0), StageConfig(pos_weight=True), torch.device("cpu"))
    assert torch.equal(fit.args[1].loss.au.pos_weight, want)
    runs.train_piap(net, data, labels, (1.0, 0.0, 0.0), StageConfig(), torch.device("cpu"))
    assert fit.args[1].loss.au.pos_weight is None                         # the default: plain BCE, Eq. 2
    gen0 = DWUNet(len(net.aus), net.unet_width, net.unet_depth)
    runs.train_pi2(net, gen0, data, labels, StageConfig(pos_weight=True), torch.device("cpu"))
    assert torch.equal(fit.args[1].keywords["au_loss"].pos_weight, want)


# ---- SCC: SCCTrainConfig.batch_size is the training loader's batch ------------------------------------

def test_scc_train_config_batch_size_reaches_the_training_loader(monkeypatch):
    from aukit.methods.scc import experiment as X
    from aukit.methods.scc.config import SCCTrainConfig

    @dataclasses.dataclass
    class Odd(SCCTrainConfig):
        batch_size: int = 5

    monkeypatch.setattr(X, "SCCTrainConfig", Odd)
    e = X.preset_config("full", depth=18, input_size=64, deconv_channels=32)
    assert e.batch_size == 5 and X.configs(e, {})[1].batch_size == 5
    fit, batches = Recorder([]), Recorder()
    monkeypatch.setattr(X, "fit", fit)
    monkeypatch.setattr(X, "BatchLoader", batches)
    data = SimpleNamespace(store=None, train_rows=np.arange(20), targets={})
    X.Runner(e, data, "cpu").train({}, seed=0)
    assert batches.args[2] == 5
    e = X.preset_config("full", depth=18, input_size=64, deconv_channels=32, batch_size=7)
    X.Runner(e, data, "cpu").train({}, seed=0)
    assert batches.args[2] == 7
