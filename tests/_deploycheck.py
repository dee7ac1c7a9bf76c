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
    s = net.spec.size
    faces = torch.randint(0, 256, (3, s, s, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    (key, y), = net(faces).items()
    assert y.shape == (3, len(net.spec.aus)) and torch.isfinite(y).all()
    hi = 5.0 if key == "intensity" else 1.0
    assert float(y.min()) >= 0.0 and float(y.max()) <= hi
