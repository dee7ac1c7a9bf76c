"""Mutation round 6, aukit.jobs: the folds a job takes, the world size its folder records, the device a
job over several ranks may name, and the runs an out_dir has had (no training)."""
from __future__ import annotations

import pytest

from aukit import jobs


def test_a_boolean_fold_is_refused():
    """J2: ``fold: true`` (YAML) equals 1 and trained fold 1 without a word."""
    with pytest.raises(ValueError, match=r"fold must be -1 \(the paper's split\).*got True"):
        jobs.JobConfig(fold=True)
    assert jobs.JobConfig(fold=3).fold == 3


def test_several_ranks_refuse_one_gpu_named_in_the_environment_but_take_plain_cuda(monkeypatch):
    """J10 (AUKIT_DEVICE=cuda:0 not checked: every rank trained on GPU 0), J11 (plain cuda refused)."""
    monkeypatch.setenv("AUKIT_DEVICE", "cuda:0")
    with pytest.raises(ValueError, match="device cuda:0: --nproc 2 runs one rank a GPU"):
        jobs.preflight("scc", jobs.JobConfig(dataset="synthau-bp4d", out_dir="unused"), world=2)
    jobs._check_rank_device("cuda", 2)
    jobs._check_rank_device("", 2)
    with pytest.raises(ValueError, match="device cuda:1: --nproc 4"):
        jobs._check_rank_device("cuda:1", 4)


def test_a_run_that_never_started_records_no_invocation(tmp_path):
    """J14: a run stopped before it read the folder's earlier runs (its device refused) wrote invocations.json
    with itself alone, dropping those earlier runs' wall time."""
    runs = jobs._Invocations(tmp_path, "2026-01-01T00:00:00")
    assert runs.record("DeviceUnavailable") == []
    assert not (tmp_path / jobs.INVOCATIONS).exists()


def test_a_damaged_invocations_file_is_named(tmp_path):
    """J21: a damaged invocations.json stopped the run with json's bare JSONDecodeError."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    (tmp_path / jobs.INVOCATIONS).write_text("[{not json")
    with pytest.raises(ValueError, match=r"invocations.json is damaged \(.*\): delete it to go on"):
        jobs._Invocations(tmp_path, "2026-01-01T00:00:00").resume(1, "cpu")


def test_a_job_joins_the_process_group_of_its_own_device(tmp_path, monkeypatch):
    """J19: run_job let init_distributed choose by the machine (NCCL for a cpu job on a GPU machine)."""
    seen = []

    def init(**kw):
        seen.append(kw)
        raise RuntimeError("stop here")
    monkeypatch.setattr(jobs, "preflight", lambda method, job, world: None)
    monkeypatch.setattr(jobs, "init_distributed", init)
    with pytest.raises(RuntimeError, match="stop here"):
        jobs.run_job("scc", jobs.JobConfig(device="cpu", out_dir=str(tmp_path / "o")))
    assert seen == [{"device": "cpu"}]
