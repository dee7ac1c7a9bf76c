"""`aukit train` over ranks and across invocations: each rank's GPU, the world size a job folder holds,
the folds a job takes, the model name its deploy.pt records, run.yaml's wall time and device."""
from __future__ import annotations

import pytest
import torch
import yaml

from aukit.cli import main


def _gpus(monkeypatch, n: int, world: int, local: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.setenv("LOCAL_RANK", str(local))
    monkeypatch.delenv("AUKIT_DEVICE", raising=False)


def test_each_rank_takes_its_own_gpu(monkeypatch):
    """`device: cuda:0` under --nproc 2 put both ranks on GPU 0; plain cuda gave every rank 'cuda'."""
    from aukit.runtime import DeviceUnavailable, pick_device
    _gpus(monkeypatch, 2, 2, 1)
    assert pick_device("cuda") == torch.device("cuda", 1) == pick_device(None)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceUnavailable, match="local rank 1 would train on GPU 0, as every rank would"):
        pick_device("cuda:0")
    assert pick_device("cpu") == torch.device("cpu")
    _gpus(monkeypatch, 1, 2, 1)
    with pytest.raises(DeviceUnavailable, match="local rank 1 of 2 has no GPU of its own: this machine shows 1"):
        pick_device("cuda")
    _gpus(monkeypatch, 2, 1, 0)                                    # one process: the index asked for
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device("cuda") == torch.device("cuda")


def test_a_job_naming_one_gpu_is_refused_under_several_ranks(tmp_path, monkeypatch, capsys):
    from aukit import jobs
    monkeypatch.setattr(jobs, "_torchrun", lambda *a: pytest.fail("torchrun started"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    p = tmp_path / "j.yaml"
    p.write_text(yaml.safe_dump({"dataset": "synthau-disfa", "device": "cuda:0", "out_dir": str(tmp_path / "o")}))
    assert main(["train", "scc", "--config", str(p), "--nproc", "2"]) == 2
    assert "device cuda:0: --nproc 2 runs one rank a GPU, each on cuda:<LOCAL_RANK>" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _scc_job(path, out, **extra):
    job = {"dataset": "synthau-bp4d", "fold": 1, "seed": 0, "out_dir": str(out), "epochs": 1, "max_steps": 2,
           "size": 32, "device": "cpu",
           "method": {"model": {"depth": 18, "deconv_channels": 16}, "train": {"batch_size": 4}}, **extra}
    path.write_text(yaml.safe_dump(job))
    return path


def test_a_job_resumed_over_another_number_of_ranks_is_refused(synthau_tiny, tmp_path, monkeypatch, capsys):
    """job.yaml did not record the world size: --nproc 2 resumed a one-process run's checkpoints silently."""
    from aukit import jobs
    monkeypatch.setattr(jobs, "_torchrun", lambda *a: pytest.fail("torchrun started"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    out = tmp_path / "o"
    (out / "checkpoints" / "scc_seed0").mkdir(parents=True)
    (out / "checkpoints" / "scc_seed0" / "last.pt").write_bytes(b"")
    job = jobs.load_yaml(jobs.JobConfig, _scc_job(tmp_path / "j.yaml", out))
    jobs.check_job_folder("scc", job)
    assert yaml.safe_load((out / "job.yaml").read_text())["world_size"] == 1
    assert main(["train", "scc", "--config", str(tmp_path / "j.yaml"), "--nproc", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{out} holds a run trained over 1 rank(s) (--nproc 1), this one has 2" in err
    assert "Resume it with --nproc 1, or give another out_dir" in err
    jobs.check_job_folder("scc", job, write=False)                   # the same number of ranks resumes


def test_a_job_takes_fold_fera_as_its_error_message_offers(synthau_tiny, tmp_path, capsys):
    """`fold: fera` was refused ("expected int") while a bad fold's message listed 'fera' as a choice."""
    from aukit.jobs import JobConfig, job_fold, load_yaml, scc_configs
    p = tmp_path / "j.yaml"
    p.write_text(yaml.safe_dump({"dataset": "synthau-bp4d", "fold": "fera", "out_dir": str(tmp_path / "o")}))
    job = load_yaml(JobConfig, p)
    assert job.fold == 0 and job_fold(job) == "fera" and scc_configs(job)[2] == "fera"
    assert scc_configs(JobConfig(dataset="synthau-disfa", fold="fera"))[2] == "fera"     # not DISFA's fold 0
    with pytest.raises(ValueError, match=r"fold: 0 \('fera'\) asks for BP4D's FERA2015 split, method.fera: false"):
        scc_configs(JobConfig(dataset="synthau-bp4d", fold="fera", method={"fera": False}))
    p.write_text(yaml.safe_dump({"dataset": "synthau-bp4d", "fold": 5, "out_dir": str(tmp_path / "o")}))
    assert main(["train", "tas", "--config", str(p)]) == 2
    assert "fold must be -1 (the paper's split), 0 or 'fera' (BP4D's FERA2015 split), or 1, 2, 3" in \
        capsys.readouterr().err
    p.write_text(yaml.safe_dump({"dataset": "synthau-disfa", "fold": "fera", "out_dir": str(tmp_path / "o")}))
    assert main(["train", "tas", "--config", str(p)]) == 2
    assert "synthau-disfa has no FERA2015 split" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_tas_deploy_pt_names_the_trunk_it_was_built_with(tmp_path):
    """An `aukit train` job's depth-18 model was recorded as tas_resnet34 (kwargs: depth 18)."""
    from aukit import create_model, deploy
    from aukit.methods.tas import TASModelConfig, TASNet
    from aukit.methods.tas.deploy import export_deployable
    for depth in (18, 34):
        model = TASNet(TASModelConfig(n_aus=2, depth=depth, attention_hidden=2, mlp_hidden=4)).eval()
        path = export_deployable(model, ["AU06", "AU12"], tmp_path / f"d{depth}.pt", "synthau-bp4d", size=32)
        spec = deploy.read_spec(path)
        assert spec.model == f"tas_resnet{depth}" and spec.kwargs["depth"] == depth
        assert deploy.load(path)(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))["intensity"].shape == (1, 2)
    assert create_model("tas_resnet18", n_aus=2).cfg.depth == 18
    assert create_model("tas_resnet34", n_aus=2, depth=18).cfg.depth == 18     # older files: their kwargs win


def test_run_yaml_sums_the_wall_time_of_every_run_and_names_the_jobs_device(synthau_tiny, tmp_path, monkeypatch):
    """A resumed job's run.yaml gave the last run's wall time alone, and the device pick_device() chose on its
    own (a GPU machine's GPU for a `device: cpu` job)."""
    import time

    from aukit import jobs
    calls = []

    def fake(job, rank, configs):
        calls.append(job.epochs)
        ckpt = tmp_path / "o" / "checkpoints" / "scc_seed0"
        ckpt.mkdir(parents=True, exist_ok=True)
        (ckpt / "last.pt").write_bytes(b"x")
        time.sleep(0.3)
        if len(calls) == 2:
            raise RuntimeError("stopped")
        return {"history": [], "config": {}}
    monkeypatch.setitem(jobs.JOBS, "scc", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "FakeGPU")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert main(["train", "scc", "--config", str(_scc_job(tmp_path / "j.yaml", tmp_path / "o"))]) == 0
    _scc_job(tmp_path / "j.yaml", tmp_path / "o", epochs=2)
    with pytest.raises(RuntimeError, match="stopped"):
        main(["train", "scc", "--config", str(tmp_path / "j.yaml")])
    assert main(["train", "scc", "--config", str(tmp_path / "j.yaml")]) == 0
    run = yaml.safe_load((tmp_path / "o" / "run.yaml").read_text())
    assert [r["outcome"] for r in run["invocations"]] == ["finished", "RuntimeError", "finished"]
    assert run["wall_time_s"] == pytest.approx(sum(r["wall_time_s"] for r in run["invocations"]), abs=0.02)
    assert run["wall_time_s"] >= 0.9 and all(r["device"] == "cpu" for r in run["invocations"])
    assert run["device"] == "cpu" and run["device_name"].startswith("cpu") and run["precision"] == "fp32"
    # a fresh start (no checkpoint left) counts from itself
    import shutil
    shutil.rmtree(tmp_path / "o" / "checkpoints")
    calls.clear()
    assert main(["train", "scc", "--config", str(tmp_path / "j.yaml")]) == 0
    assert len(yaml.safe_load((tmp_path / "o" / "run.yaml").read_text())["invocations"]) == 1


@pytest.mark.parametrize("device, env, backend", [("cpu", "", "gloo"), (None, "cpu", "gloo"), (None, "", "nccl"),
                                                  ("cuda", "", "nccl")])
def test_the_process_group_backend_follows_the_jobs_device(monkeypatch, device, env, backend):
    """A `device: cpu` job on a GPU machine joined NCCL (chosen whenever CUDA was there), which cannot
    reduce its CPU tensors: the first all_reduce failed."""
    import torch.distributed as dist
    from aukit import runtime
    seen = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("AUKIT_DEVICE", env)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: seen.append(("set_device", i)))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda b, timeout: seen.append(b))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    assert runtime.init_distributed(device=device) == (1, 2)
    assert seen == ([("set_device", 1), "nccl"] if backend == "nccl" else ["gloo"])
