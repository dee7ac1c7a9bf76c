"""Shared assertion for the notebook tests: the run wrote a deployable model that predicts."""
from __future__ import annotations

from pathlib import Path

import torch


def check_deploy(out_dir: Path, method: str) -> None:
    """``out_dir/model/deploy.pt`` (smoke runs never write runs/<slug>) loads strictly and maps
    uint8 faces to finite outputs of the right width and range."""
    from aukit import deploy
    path = Path(out_dir) / "model" / "deploy.pt"
    assert path.is_file(), f"{method} notebook wrote no {path}"
    net = deploy.load(path)
    assert net.spec.method == method and net.spec.aus
    assert deploy.read_config(path), f"{method}: deploy.pt keeps no config of the run that trained it"
    s = net.spec.size
    faces = torch.randint(0, 256, (3, s, s, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    (key, y), = net(faces).items()
    assert y.shape == (3, len(net.spec.aus)) and torch.isfinite(y).all()
    hi = 5.0 if key == "intensity" else 1.0
    assert float(y.min()) >= 0.0 and float(y.max()) <= hi


def check_bf16_agrees(method: str, device: str) -> None:
    """The tiny deployable of ``method`` in bf16 and channels_last on ``device`` (what predict runs
    on a GPU) gives the CPU fp32 answer within bf16 rounding: 2% of full scale (0-5 intensities,
    0-1 probabilities)."""
    from aukit.bench.deployable import deployable, faces
    from aukit.runtime import autocast
    torch.manual_seed(0)
    model, size = deployable(method, "tiny")
    model.eval()
    x = faces(size, seed=1)(4)
    with torch.no_grad():
        ref = model(x)
        model.to(device, memory_format=torch.channels_last)
        with autocast(device, "bf16"):
            got = model(x.to(device).contiguous(memory_format=torch.channels_last))
    assert set(got) == set(ref) and ref
    for k, r in ref.items():
        full_scale = 5.0 if k == "intensity" else 1.0
        err = (got[k].float().cpu() - r).abs().max().item()
        assert err < 0.02 * full_scale, (method, k, err)
