"""TAS's step under DDP (gloo, 2 CPU processes) trains one process's objective on the global batch.

L_sub paired frames, and L_spd drew its mixing coefficients, within each rank's share of the batch: with one
segment a rank L_sub was 0, and aukit train refused it. Now each rank joins the shares' outputs: two ranks
on the halves of a batch give the loss, logs and (after DDP's average) gradients of one process on all of it.
The model runs in eval mode: BatchNorm's batch statistics are the one thing that stays each rank's own.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from ddp_helpers import free_port, join_group, outcome

from aukit.methods.tas import TASLossConfig, TASModelConfig, TASNet
from aukit.methods.tas.step import TASStep

B, T, C, S = 4, 3, 3, 32
NAN = float("nan")

# (loss config, labelled frames): the full Eq. 5 with subject pairs; then A1-like (L_rank and L_spd off: only
# labelled frames are forwarded), segment pairs, and shares holding 2 and 5 labelled frames
SETUPS = {
    "full": (dict(lambda_rank=0.2, lambda_spd=0.3, lambda_sub=0.5, sub_pairs="subject"), "keyframes"),
    "labelled": (dict(lambda_rank=0.0, lambda_spd=0.0, lambda_sub=0.5, sub_pairs="segment"), "uneven"),
}


def _batch(labelled: str) -> dict:
    g = torch.Generator().manual_seed(3)
    image = torch.randn(B, T, 3, S, S, generator=g)
    seg_au = torch.tensor([0, 2, -1, 0])
    levels = torch.full((B, T, C), 0.2)                                   # equal levels: pairs across the halves
    levels[1], levels[3, 1:] = 0.4, 0.6
    target = torch.full((B, T, C), NAN)
    for i, c in enumerate(seg_au.tolist()):
        if labelled == "keyframes":
            target[i, [0, T - 1], max(c, 0)] = levels[i, [0, T - 1], max(c, 0)]
        elif i < B // 2:                                                  # the first share: one frame a segment
            target[i, 0] = levels[i, 0]
        else:                                                             # the second: every frame of some
            target[i, : (T if i == B - 1 else 2)] = levels[i, : (T if i == B - 1 else 2)]
    return {"image": image, "target": target, "seg_au": seg_au, "subject": torch.tensor([0, 1, 1, 2])}


def _model() -> TASNet:
    torch.manual_seed(0)
    return TASNet(TASModelConfig(n_aus=C, depth=18, attention_hidden=2, mlp_hidden=4)).eval()


def _share(batch: dict, rank: int, world: int) -> dict:
    per = B // world
    return {k: v[rank * per:(rank + 1) * per] for k, v in batch.items()}


def _run(model, name: str, rank: int = 0, world: int = 1) -> dict:
    cfg, labelled = SETUPS[name]
    model.zero_grad(set_to_none=True)
    torch.manual_seed(5)                                                  # L_spd's draws
    return outcome(model, TASStep(TASLossConfig(**cfg))(model, _share(_batch(labelled), rank, world)))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    join_group(rank, world, port)
    ddp = torch.nn.parallel.DistributedDataParallel(_model())
    got = {name: _run(ddp, name, rank, world) for name in SETUPS}
    torch.save(got, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_two_ranks_on_halves_train_one_process_objective(tmp_path):
    one = {name: _run(_model(), name) for name in SETUPS}
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, want in one.items():
        assert want["logs"]["sub"] > 0, name                              # pairs across the halves exist
        got = [r[name] for r in ranks]
        for mine in got:
            torch.testing.assert_close(mine["loss"], want["loss"], rtol=1e-5, atol=1e-6, msg=name)
            assert mine["logs"] == pytest.approx(want["logs"], rel=1e-5, abs=1e-6), name
        assert got[0]["grads"].keys() == want["grads"].keys()
        for k, g in want["grads"].items():                                # DDP's average of the two ranks'
            torch.testing.assert_close(got[0]["grads"][k], g, rtol=1e-4, atol=1e-6, msg=f"{name} {k}")
            torch.testing.assert_close(got[1]["grads"][k], got[0]["grads"][k], msg=f"{name} {k}")
