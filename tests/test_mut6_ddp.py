"""Mutation round 6, TAS's step and aukit.runtime under DDP: segment pairs of L_sub numbered over the global
batch with L_rank and L_spd on (two gloo ranks, once), the images a rank counts, and the one-process paths."""
from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp

from aukit.methods.tas import TASLossConfig
from aukit.methods.tas.step import TASStep, _groups
from ddp_helpers import free_port
from test_tas_ddp import B, T, _batch, _model, _share

FULL_SEGMENTS = dict(lambda_rank=0.2, lambda_spd=0.3, lambda_sub=0.5, sub_pairs="segment")


def _run(model, rank: int = 0, world: int = 1) -> dict:
    torch.manual_seed(5)                                                  # L_spd's draws
    res = TASStep(TASLossConfig(**FULL_SEGMENTS))(model, _share(_batch("keyframes"), rank, world))
    return {"loss": res.loss.detach(), "logs": {k: float(v) for k, v in res.logs.items()}, "n_images": res.n_images}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from aukit.runtime import init_distributed
    init_distributed(timeout_s=60, device="cpu")
    got = _run(_model(), rank, world)
    from aukit.runtime import gather_rows, rank_sizes
    x = (torch.arange(3.0) if rank == 0 else torch.tensor([10.0])).requires_grad_()   # a larger share first
    joined = gather_rows(x, rank_sizes(len(x), "cpu"))
    (joined * torch.arange(1.0, 5.0)).sum().backward()
    got.update(joined=joined.detach(), grad=x.grad)
    torch.save(got, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_segment_pairs_span_the_ranks_and_each_rank_counts_its_own_images(tmp_path):
    """T1 (the full step's segment groups numbered from 0 on every rank: rank 1's segments paired as rank 0's),
    T2, T3 (each rank counted the global batch's images, so images/s summed over ranks was W times too high),
    T9 (gather_rows of uneven shares cut a later rank's rows at its own size times its rank, not the padded one:
    right only while the shares grow with the rank)."""
    one = _run(_model())
    assert one["n_images"] == 2 * B * T and one["logs"]["sub"] > 0
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        got = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
        torch.testing.assert_close(got["loss"], one["loss"], rtol=1e-5, atol=1e-6)
        assert got["logs"]["sub"] == pytest.approx(one["logs"]["sub"], rel=1e-5, abs=1e-6)
        assert got["n_images"] == B * T                                   # its share's images, twice (L_spd)
        assert got["joined"].tolist() == [0.0, 1.0, 2.0, 10.0]
        assert got["grad"].tolist() == ([2.0, 4.0, 6.0] if r == 0 else [8.0])   # both ranks' loss: W times


def test_segment_groups_of_a_share_are_numbered_from_its_first_segment():
    """T11: segments numbered from 0 in every share."""
    got = _groups({}, 2, 3, "cpu", "segment", first=2)
    assert got.tolist() == [2, 2, 2, 3, 3, 3]


def test_one_process_gathers_nothing():
    """gather_rows and rank_sizes outside a process group: the tensor itself, and its own size."""
    from aukit.runtime import gather_rows, rank_sizes
    x = torch.arange(6.0).view(3, 2)
    assert gather_rows(x) is x and gather_rows(x, [3]) is x
    assert rank_sizes(5, "cpu") == [5]
