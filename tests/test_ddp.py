"""The shared loop under DistributedDataParallel (gloo, 2 CPU processes).

Same seed and the same global batch give the same final weights as one process
(tolerance 1e-5: only the order of the floating-point gradient sums differs); a rank
that dies makes the job fail with an error instead of hanging; a step whose gradients
DDP never all-reduces makes fit fail instead of training one model per rank.
"""
from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn

from aukit.train import StepOutput, TrainConfig, fit

GLOBAL_BATCH, EPOCHS = 16, 3


class ShardedLoader:
    """Global batches in a (seed, epoch) order; each rank takes its contiguous slice."""

    def __init__(self, rank=0, world=1, n=64):
        g = torch.Generator().manual_seed(7)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        self.rank, self.world, self.epoch = rank, world, 0

    def set_epoch(self, e):
        self.epoch = e

    def __len__(self):
        return len(self.x) // GLOBAL_BATCH

    def __iter__(self):
        perm = torch.randperm(len(self.x), generator=torch.Generator().manual_seed(100 + self.epoch))
        per = GLOBAL_BATCH // self.world
        for i in range(len(self)):
            idx = perm[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH][self.rank * per:(self.rank + 1) * per]
            yield {"x": self.x[idx], "y": self.y[idx]}


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))


def _step(model, batch):
    loss = nn.functional.mse_loss(model(batch["x"]), batch["y"])
    return StepOutput(loss, n_images=len(batch["x"]))


def _manual_step(model, batch):
    """Fills .grad itself (as PIAP-DF's DF does with autograd.grad), past DDP's hooks: each rank
    keeps its own gradients."""
    loss = nn.functional.mse_loss(model.module(batch["x"]), batch["y"])
    for p, g in zip(model.parameters(), torch.autograd.grad(loss, list(model.parameters()))):
        p.grad = g
    return StepOutput(loss.detach(), n_images=len(batch["x"]), manual=True)


def _train(rank, world, out_dir, die_at_step=None, manual=False):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    step = _manual_step if manual else _step
    if die_at_step is not None and rank == 1:
        count = {"n": 0}

        def dying(m, b):
            count["n"] += 1
            if count["n"] == die_at_step:
                os._exit(3)  # a crashed rank: no clean shutdown
            return _step(m, b)
        step = dying
    cfg = TrainConfig(epochs=EPOCHS, out_dir=out_dir, progress=False)
    fit(model, step, ShardedLoader(rank, world), opt, cfg, device="cpu")
    return model


def _worker(rank, world, port, out_dir, die_at_step, manual=False):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from aukit.runtime import init_distributed
    init_distributed(timeout_s=30)
    model = _train(rank, world, out_dir, die_at_step, manual)
    if rank == 0:
        torch.save(model.state_dict(), os.path.join(out_dir, "final.pt"))
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path):
    single = _train(0, 1, str(tmp_path / "single"))
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), None), nprocs=2, join=True)
    ddp = torch.load(tmp_path / "final.pt", weights_only=True)
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ddp[k], v, rtol=1e-5, atol=1e-5)
    # only rank 0 wrote the log: one line per epoch, not two; each epoch checked that both ranks agree
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == EPOCHS and all(json.loads(line)["ranks_in_sync"] == 2 for line in lines)


@pytest.mark.slow
def test_gradients_ddp_never_reduced_fail_the_job(tmp_path):
    with pytest.raises(Exception, match="RanksOutOfSyncError: rank 1 holds other weights than rank 0"):
        mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), None, True), nprocs=2, join=True)


@pytest.mark.slow
def test_dead_rank_fails_the_job(tmp_path):
    with pytest.raises(Exception) as err:
        mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), 3), nprocs=2, join=True)
    assert "exit" in str(err.value).lower() or "terminated" in str(err.value).lower()
