"""Shared test setup: single-threaded torch (2-core CI), GPU marker skipping, helpers."""
from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def synthau_tiny(tmp_path_factory):
    """A tiny SynthAU tree plus an empty cache, exported through the env vars the data
    layer and notebook kernels read (AUKIT_SYNTHAU, AUKIT_CACHE). Yields the tree root."""
    from aukit.data import synthau

    root = tmp_path_factory.mktemp("synthau") / "tree"
    cache = tmp_path_factory.mktemp("cache")
    synthau.generate(root, preset="tiny", seed=0, progress=False)
    old = {k: os.environ.get(k) for k in ("AUKIT_SYNTHAU", "AUKIT_CACHE")}
    os.environ["AUKIT_SYNTHAU"], os.environ["AUKIT_CACHE"] = str(root), str(cache)
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _fresh_run_state():
    """The folds and partial-copy notes a process's loaders record (aukit.data.splits), and the stores
    it opened (aukit.data.store.OPENED: a real run's report names the SynthAU ones as synthetic side
    sets), and its fit calls (aukit.train.FITS: the report's throughput and wall time), label its reports;
    each test starts without another test's."""
    from aukit import train
    from aukit.data import sidesets, splits, store
    train.FITS.clear()
    splits.USED.clear()
    splits.PARTIAL.clear()
    store.OPENED.clear()
    sidesets.LACKING.clear()
    yield
