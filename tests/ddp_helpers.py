"""Shared by the 2-rank gloo tests on the CPU (test_tas_ddp.py, test_methods_ddp.py): a free port, joining the
process group in a spawned rank, and one step's outcome (loss, logs, gradients) to compare ranks with one process."""
from __future__ import annotations

import os
import socket

import torch


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_group(rank: int, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from aukit.runtime import init_distributed
    init_distributed(timeout_s=60)


def outcome(model: torch.nn.Module, res) -> dict:
    """Backward through ``res.loss`` (a StepOutput); its loss, logs as floats and the gradients by parameter name
    (DDP's 'module.' prefix removed)."""
    res.loss.backward()
    return {"loss": res.loss.detach(), "logs": {k: float(v) for k, v in res.logs.items()},
            "grads": {n.removeprefix("module."): p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None}}
