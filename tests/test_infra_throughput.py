"""Every fit call's images/s and time are recorded (aukit.train.FITS), and every paper's metrics.json
gets the run's training throughput and wall time from them (STYLE "Provenance": wall time, throughput)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import yaml

from aukit import train
from aukit.report import Report
from aukit.report.provenance import training
from aukit.train import StepOutput, TrainConfig, fit


def _batches(n_batches, batch):
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(batch, 4, generator=g), "y": torch.randn(batch, 1, generator=g)}
            for _ in range(n_batches)]


def _step(model, b):
    return StepOutput(nn.functional.mse_loss(model(b["x"]), b["y"]), n_images=len(b["x"]))


def _fit(epochs, n_batches, batch, out=None):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    cfg = TrainConfig(epochs=epochs, progress=False, out_dir=str(out) if out else None)
    return fit(model, _step, _batches(n_batches, batch), torch.optim.SGD(model.parameters(), lr=0.01), cfg,
               device="cpu")


def test_each_fit_call_is_recorded_with_its_images_and_epoch_times(tmp_path):
    h1 = _fit(2, 3, 8)                               # 48 images
    h2 = _fit(1, 2, 4)                               # 8 images
    assert [f["epochs"] for f in train.FITS] == [2, 1] and [f["images"] for f in train.FITS] == [48, 8]
    for f, h in zip(train.FITS, (h1, h2)):
        assert f["train_s"] == pytest.approx(sum(r["epoch_time_s"] for r in h))
        assert f["images_per_s"] == pytest.approx(f["images"] / f["train_s"])
        assert f["wall_s"] >= f["train_s"] > 0
    # a resumed call counts only the epochs it ran itself
    _fit(2, 2, 4, out=tmp_path)
    _fit(3, 2, 4, out=tmp_path)
    assert [f["epochs"] for f in train.FITS[2:]] == [2, 1] and train.FITS[-1]["images"] == 8
    _fit(3, 2, 4, out=tmp_path)                      # nothing left to train
    assert train.FITS[-1]["epochs"] == 0 and train.FITS[-1]["images_per_s"] is None


def test_the_run_level_numbers_weight_each_call_by_its_images():
    fits = [{"epochs": 1, "images": 300, "train_s": 1.0, "wall_s": 1.5, "images_per_s": 300.0},
            {"epochs": 1, "images": 100, "train_s": 1.0, "wall_s": 2.0, "images_per_s": 100.0},
            {"epochs": 0, "images": 0, "train_s": 0.0, "wall_s": 0.5, "images_per_s": None}]
    got = training(fits)
    assert got["train_images_per_s"] == pytest.approx((300 * 300 + 100 * 100) / 400)   # 250, not the plain mean 200
    assert got["train_wall_s"] == pytest.approx(4.0)
    assert training([]) == {}


def test_every_report_writes_the_runs_training_throughput_and_wall_time(tmp_path):
    _fit(2, 3, 8)
    _fit(1, 2, 4)
    rep = Report("scc", folder=tmp_path / "r", dataset="synthau-disfa", preset="smoke", seeds=[0], device="cpu")
    rep.add_metrics(icc_avg=0.5, images_per_s_scc_heatmap=123.0, wall_s=9.0)   # a paper's own keys stay as they are
    rep.write()
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    want = sum(f["images"] * f["images_per_s"] for f in train.FITS) / sum(f["images"] for f in train.FITS)
    assert m["train_images_per_s"] == pytest.approx(want)
    assert m["train_wall_s"] == pytest.approx(sum(f["wall_s"] for f in train.FITS))
    assert m["images_per_s_scc_heatmap"] == 123.0 and m["wall_s"] == 9.0 and m["icc_avg"] == 0.5
    assert list(m)[-2:] == ["train_wall_s", "train_images_per_s"]    # a sweep lists the measured ones first
    run = yaml.safe_load((tmp_path / "r" / "run.yaml").read_text())
    assert [f["images"] for f in run["train_fits"]] == [48, 8]
    # a paper that named a metric like the run-level keys is told, not overwritten
    rep = Report("scc", folder=tmp_path / "s", dataset="synthau-disfa", preset="smoke", seeds=[0], device="cpu")
    rep.add_metrics(train_wall_s=1.0)
    with pytest.raises(ValueError, match="clash.*train_wall_s"):
        rep.write()
