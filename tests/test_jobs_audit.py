"""`aukit train` on a dataset of your own and its records (an audit of aukit/jobs.py).

An AU of the manifest's list with no coded training frame was dropped by the loader without a word in the job's
records (TAS) or crashed the training (SCC: a head per manifest AU, a target per kept one); `weights: ''` was a
file to load; a resume over a changed weights file recorded the new file's hash; run.yaml lacked the notebooks'
data provenance and metrics.json their undefined/zero split of the flags; misspelt keys had no suggestion."""
from __future__ import annotations

import contextlib
import io
import json

import pytest
import yaml

from aukit.cli import main

OWN_AUS = [6, 12, 17, 25]        # SynthAU's BP4D tree codes AU06, AU12, AU17, not AU25


def _own_manifest(folder, tree):
    """A manifest in a file: the repository's plus 'mylab', SynthAU's tiny BP4D tree listing AU25 it lacks."""
    from aukit.data import manifest as M
    m = yaml.safe_load(M.MANIFEST_PATH.read_text())
    m["mylab"] = {"layout": "bp4d", "patterns": m["bp4d"]["patterns"], "root": str(tree / "bp4d"),
                  "intensity_aus": OWN_AUS}
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(m))
    return path


def _job(path, out, method, dataset="synthau-bp4d", **extra):
    job = {"dataset": dataset, "fold": 1, "seed": 0, "out_dir": str(out), "epochs": 1, "max_steps": 1,
           "size": 32, "device": "cpu", "method": method, **extra}
    path.write_text(yaml.safe_dump(job))
    return str(path)


TAS = {"model": {"depth": 18, "attention_kernel": 3}, "train": {"T": 4, "batch_size": 4}}
SCC = {"model": {"depth": 18, "deconv_channels": 16}, "train": {"batch_size": 4}}


def _run(*argv) -> tuple[int, str]:
    """main(argv), and what it printed (stdout and stderr)."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        rc = main(list(argv))
    return rc, text.getvalue()


@pytest.fixture(scope="module")
def own_runs(synthau_tiny, tmp_path_factory):
    """One TAS and one SCC job on mylab: {method: (exit code, out_dir, console)}."""
    folder = tmp_path_factory.mktemp("own")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("AUKIT_MANIFEST", str(_own_manifest(folder, synthau_tiny)))
        m.chdir(folder)
        runs = {}
        for method, over in (("tas", TAS), ("scc", SCC)):
            out = folder / method
            rc, text = _run("train", method, "--config", _job(folder / f"{method}.yaml", out, over, "mylab"))
            runs[method] = (rc, out, text)
    return runs


def test_an_scc_job_trains_the_aus_an_own_dataset_has(own_runs):
    """It crashed: 'pred (4, 8, 8, 8) and target (4, 6, 8, 8) must both be (B, N, R, R)'."""
    from aukit import deploy
    rc, out, text = own_runs["scc"]
    assert rc == 0, text
    assert list(deploy.load(out / "deploy.pt").spec.aus) == ["AU06", "AU12", "AU17"]
    run = yaml.safe_load((out / "run.yaml").read_text())
    assert run["config"]["method_config"]["model"]["n_points"] == 6


@pytest.mark.parametrize("method", ["tas", "scc"])
def test_a_job_names_the_aus_it_left_out(own_runs, method):
    rc, out, text = own_runs[method]
    assert rc == 0, text
    dropped = json.loads((out / "metrics.json").read_text())["aus_dropped"]
    assert list(dropped) == ["AU25"]
    assert yaml.safe_load((out / "run.yaml").read_text())["aus_dropped"] == dropped
    line = f"aukit train {method}: AU25 (in mylab's AU list) not trained or scored: {dropped['AU25']}"
    assert line in text


@pytest.mark.parametrize("method", ["tas", "scc"])
def test_a_jobs_run_yaml_records_the_data_it_read(own_runs, method):
    """As a notebook run's: the manifest entry, manifest file and root (datasets), the stores, the fold's subjects."""
    _, out, _ = own_runs[method]
    run = yaml.safe_load((out / "run.yaml").read_text())
    rec = run["datasets"]["mylab"]
    assert rec["entry"]["intensity_aus"] == OWN_AUS and rec["manifest"].endswith("manifest.yaml")
    assert len(rec["manifest_sha256"]) == 16 and rec["root"].endswith("bp4d")
    assert any(name.startswith(f"mylab__{method}") for name in run["stores"])
    assert run["splits"]["mylab"]["train"] and run["splits"]["mylab"]["test"]


@pytest.mark.parametrize("method", ["tas", "scc"])
def test_a_jobs_metrics_split_its_flags_as_the_notebooks_do(own_runs, method):
    from aukit import metrics
    _, out, _ = own_runs[method]
    rec = json.loads((out / "metrics.json").read_text())
    assert {**rec["undefined_scores"], **rec["model_zero_scores"]} == rec["flags"]
    assert all(f in metrics.UNDEFINED for f in rec["undefined_scores"].values())
    assert not any(f in metrics.UNDEFINED for f in rec["model_zero_scores"].values())
    assert all(rec[k] is None for k in rec["undefined_scores"])


def test_a_jobs_flags_split_into_undefined_and_model_zero():
    """metrics.json's ``undefined_scores`` and ``model_zero_scores``: flat ``{key: flag}``, the notebooks' names."""
    import numpy as np

    from aukit import metrics
    from aukit.jobs import _flag_kinds
    label = np.array([[0, 2], [1, 2], [3, 2], [5, 2]], float)        # AU02 constant: its ICC undefined
    pred = np.array([[1, 1], [1, 2], [1, 2], [1, 3]], float)         # AU01 predicted constant: the model's 0
    _, flags = metrics.flat_per_au(("icc",), pred, label, ["AU01", "AU02"])
    assert _flag_kinds(flags) == {"flags": flags, "undefined_scores": {"icc_AU02": "constant_label"},
                                  "model_zero_scores": {"icc_AU01": "constant_prediction"}}


def test_an_scc_n_points_is_checked_against_the_aus_kept(synthau_tiny, tmp_path, monkeypatch):
    """2 x the manifest's 4 AUs passed, then crashed in training; 2 x the 3 kept was refused before the data."""
    from aukit.jobs import JobConfig, preflight
    monkeypatch.setenv("AUKIT_MANIFEST", str(_own_manifest(tmp_path, synthau_tiny)))
    monkeypatch.chdir(tmp_path)
    preflight("scc", JobConfig(dataset="mylab", fold=1, method={"model": {"n_points": 6}}))
    method = {**SCC, "model": {**SCC["model"], "n_points": 8}}
    rc, text = _run("train", "scc", "--config", _job(tmp_path / "j.yaml", tmp_path / "o", method, "mylab"))
    assert rc == 2
    assert "method.model.n_points: SCC draws 2 points per AU, so mylab's 3 AUs (AU25 left out) need 6, got 8" in text


def test_empty_weights_mean_none_in_a_job():
    """`weights: ''` (the notebooks' none) was a path: 'checkpoint not found: .'."""
    from aukit.jobs import JobConfig, scc_configs, tas_config
    assert tas_config(JobConfig(method={"model": {"weights": ""}})).model.weights is None
    assert scc_configs(JobConfig(dataset="disfa", method={"model": {"backbone_weights": ""}}))[0].backbone_weights \
        is None


def _resnet18(path, seed):
    import torch
    import torchvision
    torch.manual_seed(seed)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


@pytest.mark.slow
def test_a_resume_over_a_changed_weights_file_is_refused(synthau_tiny, tmp_path, monkeypatch):
    """It resumed ('nothing left to train') and run.yaml recorded the new file's sha256."""
    import hashlib
    monkeypatch.chdir(tmp_path)
    w = _resnet18(tmp_path / "w.pth", 0)
    first = hashlib.sha256(w.read_bytes()).hexdigest()
    method = {**SCC, "model": {**SCC["model"], "backbone_weights": str(w)}}
    cfg = _job(tmp_path / "j.yaml", tmp_path / "o", method)
    assert _run("train", "scc", "--config", cfg)[0] == 0
    kept = (tmp_path / "o" / "metrics.json").read_text()
    assert yaml.safe_load((tmp_path / "o" / "run.yaml").read_text())["weights_files"][str(w)]["sha256"] == first
    original = w.read_bytes()
    _resnet18(w, 1)
    second = hashlib.sha256(w.read_bytes()).hexdigest()
    rc, text = _run("train", "scc", "--config", cfg)
    assert rc == 2 and f"{w}" in text and first in text and second in text and "another out_dir" in text
    assert (tmp_path / "o" / "metrics.json").read_text() == kept            # refused: the job as it was
    w.write_bytes(original)
    rc, text = _run("train", "scc", "--config", cfg)
    assert rc == 0 and "nothing left to train" in text, text


def test_a_misspelt_key_gets_a_suggestion():
    from aukit.jobs import JobConfig, scc_configs, tas_config
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['weights'\] \(did you mean 'backbone_weights'\?\)"):
        scc_configs(JobConfig(dataset="disfa", method={"model": {"weights": "w.pth"}}))
    with pytest.raises(ValueError, match=r"\['backbone_weights'\] \(did you mean 'weights'\?\)"):
        tas_config(JobConfig(method={"model": {"backbone_weights": "w.pth"}}))
    with pytest.raises(ValueError, match=r"method: unknown key\(s\) \['modle'\] \(did you mean 'model'\?\) for scc"):
        scc_configs(JobConfig(dataset="disfa", method={"modle": {}}))


def test_a_job_size_scc_cannot_take_names_the_size_key():
    from aukit.jobs import JobConfig, scc_configs
    with pytest.raises(ValueError, match=r"^size: 48: SCC's input size \(method.model.input_size\): input_size must "
                                         r"be a multiple of 32"):
        scc_configs(JobConfig(dataset="disfa", size=48))
