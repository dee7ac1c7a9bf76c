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


def _committed_outputs() -> set[str]:
    """The repository's committed run outputs (reports/, runs/) that are on disk now."""
    import subprocess
    from aukit.runtime import repo_root
    root = repo_root()
    try:
        listed = subprocess.run(["git", "ls-files", "reports", "runs"], cwd=root, capture_output=True, text=True,
                                timeout=60, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return set()
    return {f for f in listed if (root / f).exists()}


@pytest.fixture(scope="session", autouse=True)
def _committed_reports_untouched():
    """No test may move or delete the repository's committed reports: start_run's tests, run with the
    notebooks' default out_dir (reports/<paper>, relative to the repository), moved TAS's and SCC's
    committed report into previous/, and the next commit deleted them."""
    before = _committed_outputs()
    yield
    gone = sorted(before - _committed_outputs())
    if gone:
        pytest.fail(f"the tests removed {len(gone)} committed report file(s) from the repository: {gone[:8]}",
                    pytrace=False)


@pytest.fixture(autouse=True)
def _fresh_run_state():
    """The folds and partial-copy notes a process's loaders record (aukit.data.splits), and the stores
    it opened (aukit.data.store.OPENED: a real run's report names the SynthAU ones as synthetic side
    sets), and its fit calls (aukit.train.FITS: the report's throughput and wall time), label its reports;
    each test starts without another test's."""
    from aukit.nbstart import reset_run_records
    reset_run_records()
    yield
