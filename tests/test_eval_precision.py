"""Scoring runs in training's precision (aukit.runtime.evaluating): bf16 autocast on CUDA, fp32 on the CPU.

The CPU cannot time bf16 but runs its autocast rules: with ``AUKIT_PRECISION=bf16`` every method's
evaluation path runs under autocast here as it does on a GPU, and must hand back float32 NumPy
close to the fp32 result (NumPy has no bf16: a missing ``.float()`` would fail on the GPU only).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from aukit.runtime import evaluating


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _lively(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """BatchNorm statistics of ``x`` (a fresh net's unit statistics shrink eval outputs to one value)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)
    return model


def test_evaluating_is_eval_no_grad_and_training_autocast(monkeypatch):
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).train()
    with evaluating(net):
        assert not net.training and not net[1].training and not torch.is_grad_enabled()
        assert not torch.is_autocast_enabled("cpu")                 # fp32 on the CPU: the committed reports
    assert net.training and net[2].training and torch.is_grad_enabled()
    monkeypatch.setenv("AUKIT_PRECISION", "bf16")
    with evaluating(net):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert net(torch.randn(3, 4)).dtype == torch.bfloat16
    net.eval()
    with pytest.raises(RuntimeError, match="inside"):
        with evaluating(net):
            raise RuntimeError("inside")
    assert not net.training                                          # the mode it had, also after an error


def _tas():
    from aukit.methods.tas import TASModelConfig, TASNet
    from aukit.methods.tas.step import predict
    x = _images(6, 32)
    model = _lively(TASNet(TASModelConfig(n_aus=3, depth=18, attention_hidden=4, mlp_hidden=8)), x)
    return model, lambda: predict(model, [{"image": x[:4]}, {"image": x[4:]}], features=True)


def _scc():
    from aukit.methods.scc import SCCHeatmapNet, SCCModelConfig
    from aukit.methods.scc.step import predict
    x = _images(4, 64)
    model = _lively(SCCHeatmapNet(SCCModelConfig(depth=18, input_size=64, deconv_channels=16, k=3, n_points=6)), x)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.2)
        model.head.bias.fill_(1.0)
    batch = {"image": x, "rows": torch.arange(4), "intensity": torch.zeros(4, 3)}
    return model, lambda: (predict(model, [batch])["pred"],)      # "loc": argmaxes of near-flat random maps


def _cpc():
    from aukit.methods.cpc import CPCModelConfig, CPCNet
    from aukit.methods.cpc.infer import predict_frames, predict_sequences
    from aukit.methods.cpc.model import FrameRegressor
    x = _images(6, 32)
    cfg = CPCModelConfig(image_size=32, num_aus=4)
    model, frames = CPCNet(cfg), FrameRegressor(cfg)
    _lively(model.encoder, x)
    _lively(frames, x)
    batches = [{"image": x[:3], "rows": torch.arange(3)}, {"image": x[3:], "rows": torch.arange(3, 6)}]
    seq = np.array([0, 0, 0, 0, 1, 1])
    return nn.ModuleList([model, frames]), lambda: (predict_sequences(model, batches, seq, 3, 1)[0],
                                                    predict_frames(frames, batches)[0])


def _piap_df():
    from test_piap_df_experiment import FakeStore

    from aukit.data.loader import BatchLoader
    from aukit.methods.piap_df import NetConfig
    from aukit.methods.piap_df.model import AUEncoder
    from aukit.methods.piap_df.person import encoder_features
    from aukit.methods.piap_df.runs import predict
    store = FakeStore(n=8)
    cfg = NetConfig(trunk="tiny_dw", image_size=32, tiny_width=8)
    model = _lively(AUEncoder(cfg), _images(8, 32))
    data = SimpleNamespace(store=store, test=np.arange(8), aus=cfg.aus)
    resize = lambda x, gen: torch.nn.functional.interpolate(x, size=32)  # noqa: E731
    loader = BatchLoader(store, np.arange(8), 4, device="cpu", shuffle=False, drop_last=False, augment=resize)
    return model, lambda: (predict(model, data, cfg, torch.device("cpu")), encoder_features(model, loader, 8))


def _rtatl():
    from test_piap_df_experiment import FakeStore

    from aukit.methods.rtatl.experiment import predict_rows
    from aukit.methods.rtatl.heads import rtatl
    store = FakeStore(n=6)
    centres = (60 + 120 * np.random.default_rng(0).random((6, 3, 2, 2))).astype(np.float32)
    model = rtatl(aus=(1, 2, 4), input_size=64, roi_channels=16, d_model=16, n_heads=2, ff_dim=32)
    data = SimpleNamespace(store=store, centres=centres)
    return model, lambda: (predict_rows(model, data, np.arange(6), torch.device("cpu"), batch_size=4),)


@pytest.mark.parametrize("build", [_tas, _scc, _cpc, _piap_df, _rtatl], ids=lambda f: f.__name__[1:])
def test_evaluation_in_bf16_gives_float32_numpy_near_fp32(build, monkeypatch):
    torch.manual_seed(0)
    model, run = build()
    model.train()
    fp32 = run()
    assert model.training                                            # scoring gives the training mode back
    monkeypatch.setenv("AUKIT_PRECISION", "bf16")
    bf16 = run()
    for a, b in zip(fp32, bf16):
        assert isinstance(b, np.ndarray) and b.dtype == np.float32 and b.shape == a.shape and np.isfinite(b).all()
        assert (a != b).any()                                         # the second run did run in bf16
        # random nets amplify bf16 rounding (SCC's k-NN picks other neighbours on near ties): ask for the
        # same ordering of outputs, not equal values (trained deployables: _deploycheck.check_bf16_agrees)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
