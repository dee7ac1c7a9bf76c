"""The shared loop: learning, bit-identical resume, NaN stop, strict checkpoints."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from aukit import checkpoint as ckpt
from aukit.train import NonFiniteLossError, StepOutput, TrainConfig, fit


class TinyLoader:
    """Deterministic per (seed, epoch), like aukit.data.loader.BatchLoader."""

    def __init__(self, n=64, batch=16, seed=0):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 4, generator=g)
        w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.y = self.x @ w + 0.01 * torch.randn(n, 1, generator=g)
        self.batch, self.seed, self.epoch = batch, seed, 0

    def set_epoch(self, e):
        self.epoch = e

    def __len__(self):
        return len(self.x) // self.batch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        perm = torch.randperm(len(self.x), generator=g)
        for i in range(len(self)):
            idx = perm[i * self.batch:(i + 1) * self.batch]
            yield {"x": self.x[idx], "y": self.y[idx]}


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.1), nn.ReLU(), nn.Linear(16, 1))


def step(model, batch):
    loss = nn.functional.mse_loss(model(batch["x"]), batch["y"])
    return StepOutput(loss, {"mse": loss.detach()}, n_images=len(batch["x"]))


def run(tmp_path, epochs, resume=True, model=None):
    model = model or make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    cfg = TrainConfig(epochs=epochs, out_dir=str(tmp_path), resume=resume, progress=False)
    hist = fit(model, step, TinyLoader(), opt, cfg, device="cpu", scheduler=sched)
    return model, hist


def test_loss_goes_down(tmp_path):
    _, hist = run(tmp_path, 6)
    assert hist[-1]["train_loss"] < 0.2 * hist[0]["train_loss"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3, 4, 5, 6]
    assert hist[0]["images_per_s"] > 0


def test_resume_is_bit_identical(tmp_path):
    full, _ = run(tmp_path / "a", 5)
    run(tmp_path / "b", 2)                 # "killed" after epoch 2
    resumed, hist = run(tmp_path / "b", 5)  # a fresh process would start from last.pt
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4, 5]
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_damaged_last_pt_says_how_to_start_again(tmp_path):
    run(tmp_path / "b", 1)
    last = tmp_path / "b" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])          # cut short (a disk filled, a copy stopped)
    with pytest.raises(ValueError, match=rf"cannot resume: .*not a readable PyTorch checkpoint.*Delete {last} "
                                         r"to train from the start"):
        run(tmp_path / "b", 2)


def test_resume_refuses_another_configuration_but_trains_further(tmp_path, capsys):
    """last.pt records the method config: rerunning into the same folder with another setting would
    continue the old run's weights under the new name; more epochs is what resuming is for."""
    def go(epochs, lr, folder=tmp_path):
        model = make_model()
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        cfg = TrainConfig(epochs=epochs, out_dir=str(folder), progress=False)
        return fit(model, step, TinyLoader(), opt, cfg, device="cpu",
                   method_config={"train": {"lr": lr, "epochs": epochs, "milestones": (1, 2)}})

    go(2, 0.05)
    with pytest.raises(ckpt.ConfigMismatchError, match=r"last.pt was written by another configuration "
                                                        r"\(1 change\(s\): train.lr: 0.05 -> 0.1\)") as e:
        go(2, 0.1)
    assert f"delete {tmp_path / 'last.pt'} to start afresh" in str(e.value)
    run = tmp_path / "run"                              # a notebook run's tree (aukit.ckptdir): a folder per training
    go(2, 0.05, run / "A_seed0")
    (run / "run.json").write_text("{}")
    with pytest.raises(ckpt.ConfigMismatchError) as e:  # deleting one last.pt would meet the next training's
        go(2, 0.1, run / "A_seed0")
    assert f"delete {run} to train the run afresh" in str(e.value)
    capsys.readouterr()
    hist = go(3, 0.05)                                   # tuples and lists compare equal; epochs may grow
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert "last.pt: 2 of 3 epochs done" in capsys.readouterr().out
    go(3, 0.05)
    assert "3 of 3 epochs done (nothing left to train)" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"holds 3 trained epochs, more than the 2 asked: give epochs 3 or more"):
        go(2, 0.05)                     # the 3-epoch weights were scored and exported as a 2-epoch run


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    calls = {"n": 0}

    def bad_step(m, batch):
        calls["n"] += 1
        out = step(m, batch)
        if calls["n"] == 6:  # epoch 2 (4 steps per epoch), second step
            out.loss = out.loss * float("nan")
        return out

    cfg = TrainConfig(epochs=3, out_dir=str(tmp_path), progress=False)
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 2"):
        fit(model, bad_step, TinyLoader(), opt, cfg, device="cpu")
    state = ckpt.load_checkpoint(tmp_path / "last.pt", make_model())
    assert state["epoch"] == 0  # epoch 1 (0-based) is the last good one
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_renamed_key_fails_to_load(tmp_path):
    model = make_model()
    ckpt.save_checkpoint(tmp_path / "m.pt", model, epoch=0)
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["model"]["0.renamed"] = state["model"].pop("0.weight")
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(KeyError, match="missing keys.*0.weight"):
        ckpt.load_checkpoint(tmp_path / "bad.pt", make_model())


def test_another_architectures_last_pt_names_the_shapes(tmp_path):
    """Same keys, other shapes (a wider hidden layer): torch's raw size-mismatch RuntimeError became a
    ValueError naming the tensors and the file, which resume turns into 'cannot resume ... Delete last.pt'."""
    run(tmp_path, 1)
    torch.manual_seed(0)
    narrow = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.ReLU(), nn.Linear(8, 1))
    last = tmp_path / "last.pt"
    shapes = r"0.weight: \(16, 4\) in the file, \(8, 4\) in the model; 0.bias: \(16,\) in the file, \(8,\)"
    with pytest.raises(ValueError, match=rf"{last} holds weights of other shapes than this Sequential "
                                         rf"\(3 tensor\(s\): {shapes}"):
        ckpt.load_checkpoint(last, narrow)
    with pytest.raises(ValueError, match=rf"cannot resume: .*{shapes}.*Delete {last} to train from the start"):
        run(tmp_path, 2, model=narrow)

def test_a_file_that_is_no_whole_checkpoint_is_named(tmp_path):
    """A text file, an empty file and one cut short: torch's own errors (KeyError 174812789, EOFError,
    a miniz message) become one ValueError naming the file, in every loader (deploy, resume, weights)."""
    from aukit import deploy
    from aukit.models.backbones import _load_local

    ckpt.save_checkpoint(tmp_path / "m.pt", make_model(), epoch=0)
    whole = (tmp_path / "m.pt").read_bytes()
    for name, data in [("text.pt", b"weights go here\n"), ("empty.pt", b""), ("cut.pt", whole[: len(whole) // 2])]:
        (tmp_path / name).write_bytes(data)
        msg = (rf"{name} is not a readable PyTorch checkpoint \(empty, cut short, or another kind of file; \w+Error"
               if data else r"empty.pt is an empty file \(0 bytes\), not a PyTorch checkpoint")
        for load in (ckpt.load_checkpoint, deploy.load, lambda p: _load_local(make_model(), p)):
            with pytest.raises(ValueError, match=msg):
                load(tmp_path / name)
    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(ValueError, match=r"module.pt pickles torch.nn.modules.linear.Linear, not only tensors"):
        deploy.load(tmp_path / "module.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt holds a list, not an aukit checkpoint"):
        ckpt.read(tmp_path / "list.pt")
    assert set(ckpt.read(tmp_path / "m.pt")) >= {"model", "epoch", "rng"}


def test_early_stopping_and_best(tmp_path):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.1, 0.9])
    cfg = TrainConfig(epochs=6, out_dir=str(tmp_path), progress=False, monitor="val", mode="max", patience=2)
    hist = fit(model, step, TinyLoader(), opt, cfg, device="cpu", evaluate=lambda m, e: {"val": next(scores)})
    assert len(hist) == 4  # best at epoch 2, two stale epochs, stop
    assert ckpt.load_checkpoint(tmp_path / "best.pt", make_model())["epoch"] == 1
    # rerun (a killed notebook started again): the run early stopping ended stays ended; it trained a 5th epoch
    again = fit(model, step, TinyLoader(), opt, cfg, device="cpu", evaluate=lambda m, e: {"val": next(scores)})
    assert again == hist and len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_fuse_optimizers_is_a_no_op_off_cuda():
    from aukit.train import fuse_optimizers
    m = torch.nn.Linear(3, 1)
    opts = {"a": torch.optim.Adam(m.parameters()), "b": torch.optim.SGD(m.parameters(), lr=0.1)}
    assert fuse_optimizers(opts, "cpu") == []
    assert fuse_optimizers(opts, "cuda") == []                   # parameters on the CPU: nothing to fuse
    assert not opts["a"].param_groups[0].get("fused")



def test_compiled_training_matches_eager_and_saves_plain_keys(tmp_path):
    """TrainConfig.compile: the loop trains the compiled module to the eager weights (up to
    fusion rounding; no dropout, whose draws differ), and last.pt holds the plain module's keys,
    not ``_orig_mod.``-prefixed ones, so it loads strictly into an uncompiled model and resumes."""
    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))

    def train(out, epochs, compile, model=None):
        model = model or net()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        cfg = TrainConfig(epochs=epochs, out_dir=str(out), progress=False, compile=compile)
        return model, fit(model, step, TinyLoader(), opt, cfg, device="cpu")

    torch._dynamo.reset()
    eager, h_eager = train(tmp_path / "eager", 2, False)
    from torch._dynamo.utils import counters
    counters.clear()
    compiled, h = train(tmp_path / "compiled", 2, True)
    assert counters["stats"]["unique_graphs"] >= 1            # the step ran through a compiled graph
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    for a, b in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    state = torch.load(tmp_path / "compiled" / "last.pt", weights_only=True)["model"]
    assert state and not [k for k in state if "_orig_mod" in k]
    plain = net()
    plain.load_state_dict(state, strict=True)
    for a, b in zip(plain.parameters(), compiled.parameters()):
        assert torch.equal(a, b.detach())                     # the compiled run trained these very tensors
    resumed, more = train(tmp_path / "compiled", 3, True)
    assert [r["epoch"] for r in more] == [1, 2, 3]            # epochs 1-2 from the compiled run's checkpoint
    assert any(not torch.equal(a, b) for a, b in zip(resumed.parameters(), compiled.parameters()))


def _cosine_run(out, epochs):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    fit(model, step, TinyLoader(), opt, TrainConfig(epochs=epochs, out_dir=str(out), progress=False),
        device="cpu", scheduler=sched)
    return model, opt, sched


def test_without_a_method_config_the_optimizer_settings_are_checked_on_resume(tmp_path, capsys):
    """A script calling fit twice into one out_dir with another learning rate resumed the first run's
    weights and optimizer state silently (only "resuming from" was printed)."""
    def go(epochs, opt_of):
        model = make_model()
        return fit(model, step, TinyLoader(), opt_of(model), TrainConfig(epochs=epochs, out_dir=str(tmp_path),
                                                                          progress=False), device="cpu")
    go(1, lambda m: torch.optim.SGD(m.parameters(), lr=0.05))
    with pytest.raises(ckpt.ConfigMismatchError, match=r"optimizers.optimizer.lr: 0.05 -> 0.1"):
        go(2, lambda m: torch.optim.SGD(m.parameters(), lr=0.1))
    with pytest.raises(ckpt.ConfigMismatchError, match=r"optimizers.optimizer.betas: .\(absent\). -> \[0.9, 0.999\]"):
        go(2, lambda m: torch.optim.Adam(m.parameters(), lr=0.05))
    capsys.readouterr()
    go(2, lambda m: torch.optim.SGD(m.parameters(), lr=0.05, foreach=True))   # an implementation flag: same run
    assert "1 of 2 epochs done" in capsys.readouterr().out


def test_resume_at_an_odd_epoch_restores_the_scheduler(tmp_path):
    """Catches the scheduler's state not restored on resume: a fresh cosine schedule restarts its lr curve."""
    full, opt_a, sched_a = _cosine_run(tmp_path / "a", 5)
    _cosine_run(tmp_path / "b", 3)                      # "killed" after epoch 3
    resumed, opt_b, sched_b = _cosine_run(tmp_path / "b", 5)
    assert sched_b.last_epoch == sched_a.last_epoch == 5
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    for (k, x), (_, y) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(x, y), k


def _constant_fit(cfg, loss=0.7, grad=0.0, n_batches=5, lr=1.0, scheduler=None):
    """One weight w = 0, loss = L + grad * w on each of ``n_batches`` batches; returns (history, calls, w, opt)."""
    w = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(w.weight)
    opt = torch.optim.SGD(w.parameters(), lr=lr)
    calls = []

    def const_step(m, batch):
        calls.append(batch)
        return StepOutput(loss + grad * m.weight.sum(), n_images=1)

    sched = scheduler(opt) if scheduler else None
    hist = fit(w, const_step, [{"i": i} for i in range(n_batches)], opt, cfg, device="cpu", scheduler=sched)
    return hist, calls, w.weight.item(), opt


def test_max_steps_per_epoch_runs_exactly_that_many_steps():
    """Catches an off-by-one in the step cap: 2 steps of a 5-batch loader are 2, not 3."""
    hist, calls, _, _ = _constant_fit(TrainConfig(epochs=1, max_steps_per_epoch=2, progress=False))
    assert len(calls) == 2 and hist[0]["steps"] == 2


def test_epoch_train_loss_is_the_mean_over_steps():
    """Catches the epoch mean divided by n - 1: a constant loss L reads L."""
    hist, calls, _, _ = _constant_fit(TrainConfig(epochs=1, progress=False), loss=0.7)
    assert len(calls) == 5 and hist[0]["train_loss"] == pytest.approx(0.7)


def test_grad_clip_bounds_the_update():
    """Catches grad_clip doing nothing: a gradient of 100 clipped to norm 1 moves w by lr * 1."""
    _, _, w, _ = _constant_fit(TrainConfig(epochs=1, grad_clip=1.0, progress=False), grad=100.0, n_batches=1)
    assert w == pytest.approx(-1.0)
    _, _, w, _ = _constant_fit(TrainConfig(epochs=1, progress=False), grad=100.0, n_batches=1)
    assert w == pytest.approx(-100.0)


def test_scheduler_interval_step_steps_once_per_batch():
    """Catches a "step" scheduler stepped once per epoch: 5 batches halve the lr 5 times."""
    halve = lambda o: torch.optim.lr_scheduler.StepLR(o, 1, 0.5)   # noqa: E731
    _, _, _, opt = _constant_fit(TrainConfig(epochs=1, scheduler_interval="step", progress=False), scheduler=halve)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 32)
    _, _, _, opt = _constant_fit(TrainConfig(epochs=1, progress=False), scheduler=halve)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)


def test_epoch_lines_without_the_bar_under_aukit_run_log(tmp_path, monkeypatch, capsys):
    """`aukit run --log` promised per-epoch lines; every method trains with progress off, so none came."""
    from aukit import train
    cfg = TrainConfig(epochs=2, out_dir=str(tmp_path / "A1_seed0"), progress=False)
    fit(make_model(), step, TinyLoader(), torch.optim.SGD(make_model().parameters(), lr=0.1), cfg, device="cpu")
    assert "epoch 1/2" not in capsys.readouterr().out
    monkeypatch.setenv(train.EPOCH_LINES_ENV, "1")
    cfg = TrainConfig(epochs=2, out_dir=str(tmp_path / "A1_seed1"), progress=False)
    fit(make_model(), step, TinyLoader(), torch.optim.SGD(make_model().parameters(), lr=0.1), cfg, device="cpu")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "epoch" in ln]
    assert [ln.split(" train_")[0] for ln in lines] == ["A1_seed1 epoch 1/2", "A1_seed1 epoch 2/2"]
    assert "train_loss " in lines[0] and "images_per_s " in lines[0]


def test_epoch_lines_name_what_trains_and_keep_small_losses(monkeypatch, capsys):
    """Without checkpoints the line named nothing (TAS's A0..A6: seven alike lines), and 4 decimals printed a
    loss of 3.2e-06 as 0.0, as if the loss were off."""
    from aukit import train
    monkeypatch.setenv(train.EPOCH_LINES_ENV, "1")
    def small_spd(model, batch):
        out = step(model, batch)
        return StepOutput(out.loss, {"spd": torch.tensor(3.2e-06)}, n_images=out.n_images)
    model = make_model()
    fit(model, small_spd, TinyLoader(), torch.optim.SGD(model.parameters(), lr=0.1),
        TrainConfig(epochs=1, progress=False, name="A6 seed 0"), device="cpu")
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "epoch" in ln)
    assert line.startswith("A6 seed 0 epoch 1/1 train_loss ") and "train_spd 3.2e-06" in line


def test_tas_names_each_training():
    from aukit.methods.tas.experiment import training_name
    assert training_name("A6", 0) == "A6 seed 0" and training_name("S1 Baseline", 2, "S1") == "S1 Baseline seed 2 (S1)"


def test_scc_and_rtatl_name_each_training(monkeypatch):
    """--log's epoch lines named TAS's trainings only: SCC's settings and RTATL's Table 1 rows read alike."""
    import dataclasses
    from types import SimpleNamespace

    from aukit.methods.rtatl import experiment as RX
    from aukit.methods.scc import experiment as SX
    seen = {}
    monkeypatch.setattr(SX, "train_model", lambda *a, **kw: seen.setdefault("scc", kw["name"]))
    ecfg = SX.preset_config("smoke", dataset="synthau-disfa")
    SX.Runner(ecfg, SimpleNamespace(aus=("AU01", "AU02")), "cpu").train({"k": 3}, 1)
    assert seen["scc"] == "k=3 seed 1"

    @dataclasses.dataclass
    class Cfg:
        epochs: int = 1
        batch_size: int = 2
        unlabelled_batch_size: int = 2
        ofe: bool = False

    class Net:
        train_cfg = model_cfg = Cfg()
        norm = None

        def optimizers(self):
            return None
    monkeypatch.setattr(RX, "build", lambda ecfg, variant, data: (Net(), SimpleNamespace(gen=torch.Generator())))
    monkeypatch.setattr(RX, "PairedLoader", lambda *a, **kw: None)
    monkeypatch.setattr(RX, "uses_unlabelled", lambda tc: False)
    monkeypatch.setattr(RX, "fit", lambda net, step, loader, opt, cfg, **kw: seen.setdefault("rtatl", cfg.name))
    RX.train_variant(RX.preset_config("smoke"), "RoII", None, 2, "cpu")
    assert seen["rtatl"] == "RoII seed 2"
