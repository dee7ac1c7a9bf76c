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


# ---- Paper numbers live in the config dataclasses: change a default, and it reaches the run ----------

def test_rtatl_train_and_model_defaults_reach_model_step_and_optimizer(monkeypatch):
    from aukit.methods.rtatl import experiment as X
    from aukit.methods.rtatl.config import RTATLModelConfig, RTATLTrainConfig

    @dataclasses.dataclass
    class OddTrain(RTATLTrainConfig):                # values no default or preset has
        lambda1: float = 0.375
        lambda2: float = 0.625
        lambda_f: float = 0.875
        lr: float = 0.0625

    @dataclasses.dataclass
    class OddModel(RTATLModelConfig):
        input_size: int = 128

    monkeypatch.setattr(X, "RTATLTrainConfig", OddTrain)
    monkeypatch.setattr(X, "RTATLModelConfig", OddModel)
    e = X.preset_config("full")
    got = (e.lambda1, e.lambda2, e.lambda_f, e.lr, e.input_size)
    assert got == (0.375, 0.625, 0.875, 0.0625, 128)
    assert {k: dataclasses.asdict(e)[k] for k in ("lambda1", "lambda2", "lambda_f", "lr", "input_size")} == \
        dict(zip(("lambda1", "lambda2", "lambda_f", "lr", "input_size"), got))       # what run.yaml records
    assert X.preset_config("smoke").input_size == 64                                  # a preset's own size stays
    # the notebook passes None for "the config's"; extra may set a train field once
    assert X.ExperimentConfig(lambda1=None, lr=None).lr == 0.0625
    assert X.ExperimentConfig(extra={"lambda_f": 0.5}).lambda_f == 0.5
    with pytest.raises(ValueError, match="lr"):
        X.ExperimentConfig(lr=0.001, extra={"lr": 0.002})

    net, step = X.build(e, "RTATL", SimpleNamespace(store=SimpleNamespace(size=200)))
    tc = net.train_cfg
    assert (tc.lambda1, tc.lambda2, tc.lambda_f, tc.lr) == (0.375, 0.625, 0.875, 0.0625)
    assert (step.g_loss.lambda1, step.g_loss.lambda2, step.cfg.lambda_f) == (0.375, 0.625, 0.875)
    assert net.model_cfg.input_size == step.input_size == 128
    assert step.patch == net.model_cfg.patch == RTATLModelConfig().patch * 128 // RTATLModelConfig().input_size
    opts = net.optimizers()
    assert opts and all(g["lr"] == 0.0625 for o in opts.values() for g in o.param_groups)


def test_rtatl_crop_and_patch_scale_from_the_config_defaults(monkeypatch):
    from aukit.methods.rtatl import config as C
    from aukit.methods.rtatl import experiment as X

    base_t, base_m = C.RTATLTrainConfig(), C.RTATLModelConfig()
    assert C.crop_side(base_t.image_size) == base_t.crop_size and C.patch_side(base_m.input_size) == base_m.patch

    @dataclasses.dataclass
    class OddTrain(C.RTATLTrainConfig):
        image_size: int = 160
        crop_size: int = 120

    @dataclasses.dataclass
    class OddModel(C.RTATLModelConfig):
        input_size: int = 96
        patch: int = 48

    monkeypatch.setattr(C, "RTATLTrainConfig", OddTrain)
    monkeypatch.setattr(C, "RTATLModelConfig", OddModel)
    assert C.crop_side(80) == 60 and C.patch_side(64) == 32
    net, step = X.build(X.preset_config("smoke"), "Backbone^T", SimpleNamespace(store=SimpleNamespace(size=80)))
    assert net.train_cfg.crop_size == 60 and step.patch == net.model_cfg.patch == 32


def test_rtatl_flow_step_default_reaches_optflow_and_the_prepare_bench(monkeypatch, tmp_path):
    import aukit.data
    from aukit.bench import prep
    from aukit.data import optflow
    from aukit.methods.rtatl import config as C

    @dataclasses.dataclass
    class OddTrain(C.RTATLTrainConfig):
        flow_step: int = 2

    monkeypatch.setattr(C, "RTATLTrainConfig", OddTrain)
    index = {"subject": ["a"] * 4, "sequence": ["s"] * 4, "frame": [0, 1, 2, 3], "row": [0, 1, 2, 3]}
    store = SimpleNamespace(index=index, derived=lambda name: tmp_path / name)
    assert optflow.pairs(store, 2).tolist() == [2, 3, -1, -1]          # the step is the caller's
    assert optflow.pairs(store, 1).tolist() == [1, 2, 3, -1]
    cached = np.zeros((4, 2, 8, 8), np.float16)
    np.save(tmp_path / "flow_s2_8.npy", cached)                      # flow() reads the step-2 cache
    assert np.array_equal(optflow.flow(store, 2, size=8), cached)

    flows = Recorder(np.full((3, 2, 4, 4), np.nan, np.float16))
    meta = {"frames": 3, "aligned": 3, "frames_per_s": 1.0}
    monkeypatch.setattr(aukit.data, "prepare", Recorder(SimpleNamespace(meta=meta)), raising=False)
    monkeypatch.setattr(aukit.data, "flow", flows, raising=False)
    res = prep.time_prepare(max_frames=3, flow_size=4, workers=1)
    assert flows.kwargs["step"] == res["flow_step"] == 2
    prep.time_prepare(max_frames=3, flow_size=4, flow_step=5, workers=1)
    assert flows.kwargs["step"] == 5
    res = prep.time_prepare(max_frames=3, flow_size=4, workers=1, with_flow=False)   # a bench without RTATL
    assert len(flows.calls) == 2 and "flow_pairs" not in res and res["frames"] == 3


def test_optflow_does_not_import_the_methods_when_it_loads():
    import subprocess
    import sys

    code = "import sys, aukit.data.optflow; print(any(m.startswith('aukit.methods') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scc_train_and_model_defaults_reach_model_optimizer_and_schedule(monkeypatch):
    from aukit.methods.scc import experiment as X
    from aukit.methods.scc.config import SCCModelConfig, SCCTrainConfig

    @dataclasses.dataclass
    class OddTrain(SCCTrainConfig):
        epochs: int = 4
        lr: float = 0.0625
        lr_milestones: tuple = (1, 3)
        sigma: float = 1.5

    @dataclasses.dataclass
    class OddModel(SCCModelConfig):                  # small enough to build in a test
        depth: int = 18
        input_size: int = 96
        deconv_channels: int = 24

    monkeypatch.setattr(X, "SCCTrainConfig", OddTrain)
    monkeypatch.setattr(X, "SCCModelConfig", OddModel)
    names = ("epochs", "lr", "lr_milestones", "sigma", "depth", "input_size", "deconv_channels")
    want = (4, 0.0625, (1, 3), 1.5, 18, 96, 24)
    e = X.preset_config("full")
    assert tuple(getattr(e, n) for n in names) == want
    assert tuple(dataclasses.asdict(e)[n] for n in names) == want                      # what run.yaml records
    quick = X.preset_config("quick")
    assert (quick.depth, quick.input_size, quick.epochs, quick.lr) == (18, 64, 10, 0.0625)  # its own sizes stay
    mc, tc = X.configs(e, {})
    assert (mc.depth, mc.input_size, mc.deconv_channels) == (18, 96, 24)
    assert (tc.epochs, tc.lr, tc.lr_milestones, tc.sigma) == (4, 0.0625, (1, 3), 1.5)
    # the notebook's 0s keep the configs' values; a value given wins
    nb = dict(dataset="synthau-disfa", fold=1, fera=True, preset="full", seeds=[], epochs=0, tables=[],
              out_dir="x", device="", lr=0.0, batch_size=0, k=0, sigma=0.0)
    c = X.notebook_config(smoke=False, **nb)
    assert (c.lr, c.sigma, c.batch_size) == (0.0625, 1.5, OddTrain().batch_size)
    c = X.notebook_config(smoke=False, **{**nb, "lr": 0.25, "sigma": 3.0, "batch_size": 6})
    assert (c.lr, c.sigma, c.batch_size) == (0.25, 3.0, 6)

    fit, steps = Recorder([]), Recorder()
    monkeypatch.setattr(X, "fit", fit)
    monkeypatch.setattr(X, "BatchLoader", Recorder())
    monkeypatch.setattr(X, "make_step", steps)
    data = SimpleNamespace(store=None, train_rows=np.arange(40), targets={})
    model = X.Runner(e, data, "cpu").train({}, seed=0)
    assert (model.cfg.depth, model.cfg.input_size, model.cfg.deconv_channels) == (18, 96, 24)
    opt, cfg, sched = fit.args[3], fit.args[4], fit.kwargs["scheduler"]
    assert opt.param_groups[0]["lr"] == 0.0625 and cfg.epochs == 4 and sorted(sched.milestones) == [1, 3]
    assert steps.args[0].sigma == 1.5 and steps.args[1] == 96


def test_tas_lambda_sub_per_dataset_comes_from_the_loss_config_and_one_disfa_constant(monkeypatch):
    from aukit.jobs import JobConfig, tas_config
    from aukit.methods.tas import config as C

    assert C.default_lambda_sub("bp4d") == C.TASLossConfig().lambda_sub
    assert C.default_lambda_sub("synthau-disfa") == C.DISFA_LAMBDA_SUB

    @dataclasses.dataclass
    class OddLoss(C.TASLossConfig):
        lambda_sub: float = 0.125

    monkeypatch.setattr(C, "TASLossConfig", OddLoss)
    monkeypatch.setattr(C, "DISFA_LAMBDA_SUB", 0.375)
    assert C.default_lambda_sub("synthau-bp4d") == 0.125 and C.default_lambda_sub("disfa") == 0.375
    assert tas_config(JobConfig(dataset="bp4d")).loss.lambda_sub == 0.125
    assert tas_config(JobConfig(dataset="disfa")).loss.lambda_sub == 0.375
