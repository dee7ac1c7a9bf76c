"""`aukit train`: TAS and SCC jobs from YAML, 1 process vs 2 torchrun/gloo processes, deployable export."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from aukit import deploy
from aukit.cli import main


def _cfg(path, out, **extra):
    job = {"dataset": "synthau-disfa", "fold": 1, "seed": 0, "out_dir": str(out), "epochs": 1, "max_steps": 2,
           "size": 32, "device": "cpu",
           "method": {"model": {"depth": 18, "attention_kernel": 3},
                      "loss": {"lambda_spd": 0.0},
                      "train": {"T": 4, "batch_size": 4}}, **extra}
    path.write_text(yaml.safe_dump(job))
    return path


@pytest.mark.slow
def test_train_job_single_and_two_ranks(synthau_tiny, tmp_path, capsys):
    assert main(["train", "tas", "--config", str(_cfg(tmp_path / "a.yaml", tmp_path / "one"))]) == 0
    # a run that ended well said nothing of where its results went
    metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    scores = "".join(f", {k} {metrics[k]:.3f}" for k in ("icc_avg", "mae_avg") if metrics[k] is not None)
    one = tmp_path / "one"
    assert (f"aukit train tas: done ({metrics['test_frames']} test frames{scores}): {one / 'metrics.json'}; "
            f"aukit predict --model {one / 'deploy.pt'}") in capsys.readouterr().out
    assert 0 <= metrics["mae_avg"] <= 5 and metrics["world_size"] == 1
    assert metrics["fold_used"] == "1"
    assert isinstance(metrics["flags"], dict) and set(metrics["flags"]) <= set(metrics)
    net = deploy.load(tmp_path / "one" / "deploy.pt")
    out = net(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))["intensity"]
    assert out.shape == (2, len(net.spec.aus)) and net.spec.method == "tas"
    # a 2-step ResNet-18 job's model was listed and used as the paper's: its changes are recorded
    assert net.spec.changed.startswith("epochs=1, max_steps=2, size=32, method.loss.lambda_spd=0.0") and \
        "method.model.depth=18" in net.spec.changed
    import os
    from aukit.nb import CHANGED_ENV
    assert CHANGED_ENV not in os.environ                             # the caller's environment as it was
    run = yaml.safe_load((tmp_path / "one" / "run.yaml").read_text())
    assert run["config"]["method_config"]["loss"]["lambda_sub"] == 0.05      # DISFA's, resolved and recorded
    assert run["config"]["method_config"]["train"]["T"] == 4

    # one segment a rank (refused while L_sub paired frames within a rank's share; now across the shares)
    two_cfg = _cfg(tmp_path / "b.yaml", tmp_path / "two")
    two_cfg.write_text(yaml.safe_dump({**yaml.safe_load(two_cfg.read_text()),
                                       "method": {"model": {"depth": 18, "attention_kernel": 3},
                                                  "train": {"T": 4, "batch_size": 2}}}))
    assert main(["train", "tas", "--config", str(two_cfg), "--nproc", "2"]) == 0
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["world_size"] == 2
    # every epoch, fit checks that both ranks hold the same weights (DDP all-reduced the gradients);
    # comparing with the one-process run says little: each rank's BatchNorm sees its share alone
    assert two["ranks_in_sync"] == 2 and "ranks_in_sync" not in metrics


def test_tas_job_takes_lambda_sub_for_its_dataset_unless_set():
    """TAS §Implementation Details: λ_sub = 0.005 on BP4D, 0.05 on DISFA; an explicit value wins."""
    from aukit.jobs import JobConfig, tas_config
    assert tas_config(JobConfig(dataset="synthau-disfa")).loss.lambda_sub == 0.05
    assert tas_config(JobConfig(dataset="bp4d")).loss.lambda_sub == 0.005
    job = JobConfig(dataset="disfa", method={"loss": {"lambda_sub": 0.2, "lambda_rank": 0.3}})
    cfg = tas_config(job)
    assert (cfg.loss.lambda_sub, cfg.loss.lambda_rank, cfg.loss.lambda_spd) == (0.2, 0.3, 0.05)
    assert tas_config(JobConfig(dataset="disfa", method={"train": {"T": 8}})).loss.lambda_sub == 0.05


def test_unknown_method_and_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"dataset": "x", "bogus": 1}))
    assert main(["train", "tas", "--config", str(p)]) == 2  # unknown key -> clear error, exit 2
    p.write_text(yaml.safe_dump({"dataset": "x", "out_dir": str(tmp_path / "o")}))
    assert main(["train", "cpc", "--config", str(p)]) == 2
    assert main(["train", "tas", "--config", str(p)]) == 2   # unknown dataset: refused before the folder is made
    assert not (tmp_path / "o").exists()
    p.write_text(yaml.safe_dump({"dataset": "synthau-disfa", "method": {"modle": {"k": 3}}}))
    assert main(["train", "scc", "--config", str(p)]) == 2   # a misspelt section is not dropped


def _scc_cfg(path, out, **method):
    job = {"dataset": "synthau-bp4d", "fold": 1, "seed": 0, "out_dir": str(out), "epochs": 1, "max_steps": 2,
           "size": 32, "device": "cpu",
           "method": {"model": {"depth": 18, "deconv_channels": 16}, "train": {"batch_size": 4}, **method}}
    path.write_text(yaml.safe_dump(job))
    return path


def test_scc_job_configs_follow_the_dataset():
    """SCC §Implementation Details: k = 5 on BP4D, 7 on DISFA; 2 points per AU; BP4D's FERA2015 split."""
    from aukit.jobs import JobConfig, scc_configs
    mc, tc, fold = scc_configs(JobConfig(dataset="disfa", fold=2))
    assert (mc.k, mc.n_points, mc.input_size, tc.epochs, fold) == (7, 24, 256, 15, 2)
    mc, _, fold = scc_configs(JobConfig(dataset="bp4d"))
    assert (mc.k, mc.n_points, fold) == (5, 10, "fera")
    job = JobConfig(dataset="bp4d", fold=2, size=128, epochs=3,
                    method={"model": {"k": 9}, "train": {"lr": 1e-4}, "fera": False})
    mc, tc, fold = scc_configs(job)
    assert (mc.k, mc.n_points, mc.input_size, tc.epochs, tc.lr, fold) == (9, 10, 128, 3, 1e-4, 2)
    with pytest.raises(ValueError, match="need 10, got 24"):
        scc_configs(JobConfig(dataset="bp4d", method={"model": {"n_points": 24}}))
    with pytest.raises(ValueError, match=r"method.train: unknown key\(s\) \['epoch'\]"):
        scc_configs(JobConfig(dataset="bp4d", method={"train": {"epoch": 2}}))


@pytest.mark.slow
def test_scc_job_single_and_two_ranks(synthau_tiny, tmp_path):
    assert main(["train", "scc", "--config", str(_scc_cfg(tmp_path / "a.yaml", tmp_path / "one"))]) == 0
    metrics = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["world_size"] == 1 and metrics["test_frames"] > 0 and 0 <= metrics["mae_avg"] <= 5
    assert set(metrics) >= {"icc_AU06", "icc_avg", "mae_AU17"} and "icc_AU01" not in metrics   # BP4D's 5 AUs
    # the degenerate cases averaged into icc_avg are named (a 2-step model often predicts a constant)
    assert isinstance(metrics["flags"], dict) and set(metrics["flags"]) <= set(metrics)
    assert (tmp_path / "one" / "checkpoints" / "scc_seed0" / "last.pt").exists()
    net = deploy.load(tmp_path / "one" / "deploy.pt")
    out = net(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))["intensity"]
    assert out.shape == (2, 5) and net.spec.method == "scc" and net.spec.aus[0] == "AU06"
    run = yaml.safe_load((tmp_path / "one" / "run.yaml").read_text())
    assert run["config"]["method_config"]["model"]["k"] == 5        # BP4D's, resolved and recorded
    assert run["config"]["method_config"]["model"]["input_size"] == 32

    assert main(["train", "scc", "--config", str(_scc_cfg(tmp_path / "b.yaml", tmp_path / "two")),
                 "--nproc", "2"]) == 0
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["world_size"] == 2 and two["ranks_in_sync"] == 2


def test_a_job_folder_refuses_other_settings_but_trains_further(synthau_tiny, tmp_path, capsys, monkeypatch):
    """Rerunning into a job's folder with another fold resumed the first fold's checkpoint and
    wrote its scores as the new fold's; more epochs continue it. Other code or changed data resumed too."""
    import json
    import aukit.ckptdir as C
    out = tmp_path / "job"
    assert main(["train", "scc", "--config", str(_scc_cfg(tmp_path / "a.yaml", out))]) == 0
    with monkeypatch.context() as m:
        m.setattr(C, "code_key", lambda *a, **k: "0123456789ab")
        assert main(["train", "scc", "--config", str(_scc_cfg(tmp_path / "a.yaml", out))]) == 2
    assert "holds a run of other code (" in capsys.readouterr().err
    record = out / "checkpoints" / "scc_seed0" / "data.json"
    kept = record.read_text()
    record.write_text(json.dumps({k: "an older copy" for k in json.loads(kept)}))
    assert main(["train", "scc", "--config", str(_scc_cfg(tmp_path / "a.yaml", out))]) == 2
    assert "holds a training on other data (synthau-bp4d__" in capsys.readouterr().err
    assert (out / "metrics.json").exists() and not (out / "error.txt").exists()   # refused: the job as it was
    record.write_text(kept)
    for change, named in (({"fold": 0}, "fold: 1 -> 0"), ({"seed": 1}, "seed: 0 -> 1"),
                          ({"dataset": "synthau-disfa"}, "dataset: 'synthau-bp4d' -> 'synthau-disfa'"),
                          ({"max_steps": 3}, "max_steps: 2 -> 3")):
        cfg = _scc_cfg(tmp_path / "b.yaml", out)
        cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()), **change}))
        capsys.readouterr()
        assert main(["train", "scc", "--config", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert "holds a run with other settings" in err and named in err, (change, err)
    assert main(["train", "tas", "--config", str(_cfg(tmp_path / "c.yaml", out))]) == 2    # another method
    assert "holds an `aukit train scc` run, not tas" in capsys.readouterr().err
    assert (out / "metrics.json").exists() and not (out / "error.txt").exists()   # a refusal leaves the job as it was
    cfg = _scc_cfg(tmp_path / "d.yaml", out)
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()), "epochs": 2}))
    # a longer run interrupted mid-way left the 1-epoch run's metrics.json and deploy.pt looking current
    import aukit.jobs as J
    real = J._train

    def stopped(*a, **k):
        raise KeyboardInterrupt
    J._train = stopped
    try:
        assert main(["train", "scc", "--config", str(cfg)]) == 130
    finally:
        J._train = real
    assert not any((out / f).exists() for f in J.FINISHED) and "KeyboardInterrupt" in (out / "error.txt").read_text()
    assert not (out / ".aukit-run.lock").exists()
    assert main(["train", "scc", "--config", str(cfg)]) == 0
    assert "1 of 2 epochs done" in capsys.readouterr().out
    assert yaml.safe_load((out / "job.yaml").read_text())["epochs"] == 2
    assert (out / "metrics.json").exists() and (out / "deploy.pt").exists() and not (out / "error.txt").exists()


def test_job_values_of_the_wrong_kind_or_range_are_refused_before_training(tmp_path, capsys):
    for bad, message in (({"epochs": "two"}, "epochs: expected int | None, got 'two'"),
                         ({"max_steps": 0}, "max_steps must be at least 1"),
                         ({"method": {"train": {"batch_size": 2.5}}}, "method.train.batch_size: expected int")):
        p = tmp_path / "j.yaml"
        p.write_text(yaml.safe_dump({"dataset": "synthau-disfa", "out_dir": str(tmp_path / "o"), **bad}))
        assert main(["train", "scc", "--config", str(p)]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "o").exists()


def test_tas_job_trains_at_the_image_size_it_records():
    """method.train.image_size was recorded and ignored (the run trained at 256)."""
    from aukit.jobs import JobConfig, tas_config
    assert tas_config(JobConfig(method={"train": {"image_size": 64}})).train.image_size == 64
    assert tas_config(JobConfig(size=32, epochs=3, method={"train": {"image_size": 64}})).train.image_size == 32
    assert tas_config(JobConfig(epochs=3)).train.epochs == 3 and tas_config(JobConfig()).train.epochs == 20



def test_a_bad_fold_is_refused_before_the_folder_and_fold_0_is_fera(tmp_path):
    """`fold: 4` exited 2 but left a folder holding only job.yaml; `fold: 0` (the TAS notebook's FERA
    split) was refused by aukit train."""
    from aukit.jobs import JobConfig, job_fold, scc_configs
    p = tmp_path / "j.yaml"
    p.write_text(yaml.safe_dump({"dataset": "synthau-bp4d", "fold": 4, "out_dir": str(tmp_path / "o")}))
    assert main(["train", "tas", "--config", str(p)]) == 2
    assert not (tmp_path / "o").exists()
    assert job_fold(JobConfig(dataset="bp4d", fold=0)) == "fera"
    assert job_fold(JobConfig(dataset="bp4d", fold=2)) == 2
    # the default is the paper's split, as in the notebooks: FERA2015 on BP4D, fold 1 on DISFA
    assert (job_fold(JobConfig(dataset="bp4d")), job_fold(JobConfig(dataset="synthau-disfa"))) == ("fera", 1)
    assert scc_configs(JobConfig(dataset="synthau-disfa"))[2] == 1


def test_nproc_refuses_before_torchrun_starts(tmp_path, monkeypatch, capsys):
    """A method without a job, a batch the ranks cannot share, a folder another run holds: one line,
    exit 2, no torchrun (it printed the error once per rank, then its own failure report)."""
    from aukit import jobs
    monkeypatch.setattr(jobs, "_torchrun", lambda *a: pytest.fail("torchrun started"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    p = tmp_path / "j.yaml"
    p.write_text(yaml.safe_dump({"dataset": "synthau-disfa", "out_dir": str(tmp_path / "o")}))
    assert main(["train", "cpc", "--config", str(p), "--nproc", "2"]) == 2
    assert "no `aukit train` job for 'cpc'" in capsys.readouterr().err
    _scc_cfg(p, tmp_path / "o", train={"batch_size": 3})
    assert main(["train", "scc", "--config", str(p), "--nproc", "2"]) == 2
    assert "method.train.batch_size 3 is not divisible by the 2 ranks (--nproc 2)" in capsys.readouterr().err
    import os
    with monkeypatch.context() as m:                                  # more ranks than CPU cores: said, then run
        m.setattr(os, "cpu_count", lambda: 1)
        m.setattr(jobs, "_torchrun", lambda *a: 0)
        _scc_cfg(p, tmp_path / "o3", train={"batch_size": 3})
        assert main(["train", "scc", "--config", str(p), "--nproc", "3"]) == 0
        assert "--nproc 3 on 1 CPU cores: each rank gets less than a core" in capsys.readouterr().err
    _scc_cfg(p, tmp_path / "o")
    (tmp_path / "o").mkdir()
    from aukit.nb import claim_folder, release_folder
    code = (f"from aukit.nb import claim_folder; import time; f = claim_folder(__import__('pathlib').Path("
            f"{str(tmp_path / 'o')!r}), 'x'); print('HELD', flush=True); time.sleep(60)")
    import subprocess
    import sys
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "HELD"
        assert main(["train", "scc", "--config", str(p), "--nproc", "2"]) == 2
        assert f"pid {other.pid} is running aukit train scc into {tmp_path / 'o'}" in capsys.readouterr().err
    finally:
        other.kill()
        other.wait()
    release_folder(tmp_path / "o", claim_folder(tmp_path / "o", "check"))    # free again once the holder ended


def test_more_mistakes_are_one_line_before_any_rank_starts(synthau_tiny, tmp_path, monkeypatch, capsys):
    """An out_dir that is a file (a traceback, one per rank); a folder of other settings under --nproc (80 lines
    of torchrun's report). A TAS batch leaving one segment a rank was refused (L_sub paired frames within a
    rank's share: it was 0); the step now pairs them across the shares (tests/test_tas_ddp.py)."""
    from aukit import jobs
    monkeypatch.setattr(jobs, "_torchrun", lambda *a: pytest.fail("torchrun started"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (tmp_path / "afile").write_text("")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        _scc_cfg(tmp_path / "j.yaml", out)
        assert main(["train", "scc", "--config", str(tmp_path / "j.yaml")]) == 2
        assert f"out_dir {out}: {tmp_path / 'afile'} is a file, not a folder" in capsys.readouterr().err
    cfg = _cfg(tmp_path / "t.yaml", tmp_path / "t")
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()), "method": {"train": {"T": 4, "batch_size": 2}}}))
    assert jobs.preflight("tas", jobs.load_yaml(jobs.JobConfig, cfg), 2).train.batch_size == 2
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoints" / "scc_seed0").mkdir(parents=True)
    (out / "checkpoints" / "scc_seed0" / "last.pt").write_bytes(b"")
    jobs.check_job_folder("scc", jobs.load_yaml(jobs.JobConfig, _scc_cfg(tmp_path / "j.yaml", out)), world=2)
    _scc_cfg(tmp_path / "j.yaml", out, train={"batch_size": 2})
    assert main(["train", "scc", "--config", str(tmp_path / "j.yaml"), "--nproc", "2"]) == 2
    assert "holds a run with other settings (method.train.batch_size" in capsys.readouterr().err


def test_a_run_stopped_before_its_first_checkpoint_takes_other_settings(tmp_path):
    """Its error.txt said "no checkpoint was saved yet: a rerun starts afresh", then the rerun with a smaller
    batch (the usual out-of-memory fix) was refused for mixing checkpoints there were none of."""
    from aukit import jobs
    out = tmp_path / "o"
    out.mkdir()
    jobs.check_job_folder("scc", jobs.load_yaml(jobs.JobConfig, _scc_cfg(tmp_path / "a.yaml", out)))
    smaller = jobs.load_yaml(jobs.JobConfig, _scc_cfg(tmp_path / "b.yaml", out, train={"batch_size": 2}))
    jobs.check_job_folder("scc", smaller)                                  # nothing to mix: taken
    assert yaml.safe_load((out / "job.yaml").read_text())["method"]["train"]["batch_size"] == 2


def test_an_interrupted_launcher_stops_torchrun_and_its_ranks(tmp_path):
    """SIGTERM to `aukit train --nproc 2` used to SIGKILL torchrun, whose ranks (in sessions of their
    own) trained on as orphans and wrote their results into the folder. Now torchrun gets SIGTERM,
    which it passes to its ranks, and the launcher waits for it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    fake = tmp_path / "torchrun"
    fake.write_text(f"#!{sys.executable}\nimport signal, sys, time, pathlib\n"
                    f"log = pathlib.Path({str(tmp_path / 'log')!r})\n"
                    "def stop(n, f):\n    log.write_text('SIGTERM'); sys.exit(0)\n"
                    "signal.signal(signal.SIGTERM, stop)\nlog.write_text('started')\ntime.sleep(60)\n")
    fake.chmod(0o755)
    job = str(_cfg(tmp_path / "j.yaml", tmp_path / "o"))
    code = ("import shutil, sys; from aukit import cli, jobs; shutil.which = lambda name: "
            f"{str(fake)!r}; sys.exit(cli.main(['train', 'tas', '--config', {job!r}, '--nproc', '2']))")
    env = {k: v for k, v in os.environ.items() if k != "WORLD_SIZE"}
    launcher = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if (tmp_path / "log").exists():
                break
            time.sleep(0.1)
        assert (tmp_path / "log").read_text() == "started"
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(30) == 130
    finally:
        launcher.kill()
    assert (tmp_path / "log").read_text() == "SIGTERM"


def test_an_scc_fold_the_fera_split_would_ignore_is_refused(tmp_path, capsys):
    """`fold: 2` on BP4D trained on the FERA2015 split and recorded fold 2 beside fold_used fera."""
    from aukit.jobs import JobConfig, scc_configs
    with pytest.raises(ValueError, match="fold: 2 has no effect on synthau-bp4d: SCC runs BP4D on the FERA2015"):
        scc_configs(JobConfig(dataset="synthau-bp4d", fold=2))
    assert scc_configs(JobConfig(dataset="synthau-bp4d", fold=2, method={"fera": False}))[2] == 2
    assert scc_configs(JobConfig(dataset="synthau-bp4d"))[2] == "fera"
    assert scc_configs(JobConfig(dataset="synthau-disfa", fold=2))[2] == 2


def test_a_real_copy_lacking_subjects_is_refused_before_the_folder(tmp_path, monkeypatch):
    """aukit train on a 2-subject BP4D copy prepared every face before refusing the fold."""
    from test_data_fixtures import write_bp4d

    from aukit.data import splits
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(write_bp4d(tmp_path / "BP4D", faces=False)))
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    p = tmp_path / "j.yaml"
    p.write_text(yaml.safe_dump({"dataset": "bp4d", "out_dir": str(tmp_path / "o")}))
    assert main(["train", "tas", "--config", str(p)]) == 2
    assert not (tmp_path / "o").exists()


def test_a_jobs_metrics_hold_null_for_an_undefined_score_not_the_metrics_zero():
    """`aukit train`'s metrics.json wrote icc_AU02 = 0.0 for a constant test label (its flag said undefined), where
    the notebooks' reports write null; an average over AUs all undefined is null too."""
    import numpy as np

    from aukit import metrics as M
    from aukit.jobs import _scores
    label = np.array([[0, 2], [1, 2], [3, 2], [5, 2]], float)        # AU02 constant on the test frames
    pred = np.array([[0.5, 1], [1, 2], [2.5, 2], [4, 3]], float)
    flat, flags = M.flat_per_au(("icc", "mae"), pred, label, ["AU01", "AU02"])
    out = _scores(flat, flags)
    assert out["icc_AU02"] is None and out["icc_AU01"] == pytest.approx(flat["icc_AU01"]) and out["icc_avg"] > 0
    assert out["mae_AU02"] == pytest.approx(0.5)
    flat, flags = M.flat_per_au(("icc",), pred[:, 1:], label[:, 1:], ["AU02"])
    assert _scores(flat, flags) == {"icc_AU02": None, "icc_avg": None}
