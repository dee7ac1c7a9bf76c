"""aukit.nbstart.start_run (a notebook run by hand in JupyterLab gets the checks `aukit run` makes) and the
parameters cell compared with the commit's (a value saved from JupyterLab is a change of setup)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from aukit import nb, nbstart, runtime
from aukit.data import sidesets, splits, store
from aukit.report import Report
from aukit.train import FITS
from _toynb import write_toy


def _defaults(notebook: str) -> dict:
    """The notebook's globals after its parameters cell ran with the declared defaults."""
    return {name: nb._literal(rec["default"]) for name, rec in nb.declared_parameters(notebook).items()}


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """The notebooks' default out_dir, reports/<paper>, is relative: start_run empties it. Run from the
    repository, these tests moved its committed TAS and SCC reports into previous/."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def changed_env():
    """start_run sets these in the process (the kernel's): unset before, as they were after (monkeypatch's
    delenv of an unset variable restores nothing)."""
    saved = {k: os.environ.pop(k, None) for k in (nb.CHANGED_ENV, nb.PRESET_ENV)}
    yield
    for k, v in saved.items():
        os.environ.pop(k, None)
        if v is not None:
            os.environ[k] = v


def test_a_value_edited_by_hand_is_recorded_and_named_in_the_tables(tmp_path, changed_env):
    """A Lab kernel never had AUKIT_RUN_CHANGED: a full run edited to steps 2 got difference rows as the paper's."""
    namespace = {**_defaults("tas"), "lambda_rank": 0.3, "preset": "full", "steps": 2, "unrelated": 1}
    assert nbstart.start_run("tas", namespace) == {"lambda_rank": 0.3, "steps": 2}
    assert json.loads(os.environ[nb.CHANGED_ENV]) == {"lambda_rank": 0.3, "steps": 2}
    assert os.environ[nb.PRESET_ENV] == "full"                          # deploy.pt records it
    rep = Report("tas", folder=tmp_path / "r", dataset="bp4d", preset="full", seeds=[0], device="cpu")
    assert rep.changed == {"lambda_rank": 0.3, "steps": 2}
    assert "changed: steps=2, lambda_rank=0.3" in rep.measured_label and rep.setup_gap
    assert nbstart.start_run("tas", _defaults("tas")) == {}                     # a rerun with the defaults: none
    assert nbstart.start_run("tas", {**_defaults("tas"), "smoke": True}) == {} and os.environ[nb.PRESET_ENV] == "smoke"
    assert Report("tas", folder=tmp_path / "s", dataset="bp4d", preset="full", seeds=[0], device="cpu").changed == {}


@pytest.mark.parametrize("slug, change, message", [
    ("scc", {"fera": "false"}, "parameter 'fera' takes a bool"),            # a truthy string ran the FERA split
    ("scc", {"tables": "table2"}, "parameter 'tables' takes a list"),       # ran Table 1 only
    ("cpc", {"epochs": "2"}, "parameter 'epochs' takes an int"),            # failed deep in the code
    ("tas", {"preset": "Full"}, "preset 'Full': takes 'quick' or 'full'"),
    ("scc", {"dataset": "synthau_disfa"}, "synthau_disfa"),
    ("rtatl", {"fold": 4}, "fold 4 for synthau-bp4d: takes 1, 2, 3"),
])
def test_values_a_student_types_are_checked_in_the_kernel(slug, change, message, changed_env):
    with pytest.raises(ValueError, match=message):
        nbstart.start_run(slug, {**_defaults(slug), **change})


def test_a_second_run_in_one_kernel_starts_its_records_afresh(changed_env):
    """run.yaml of the second run listed the first one's trainings and stores; a partial-copy caveat stayed."""
    FITS.append({"images": 1})
    store.OPENED["synthau-disfa__scc256__x"] = {"frames": 1}
    splits.PARTIAL.append("fold 1 of bp4d lacks F001")
    splits.USED["bp4d"] = 1
    splits.SUBJECTS["bp4d"] = {"fold": 1}
    sidesets.LACKING.append("RTATL's unlabelled faces")
    nbstart.start_run("scc", _defaults("scc"))
    assert FITS == [] and store.OPENED == {} and splits.PARTIAL == [] and splits.USED == {}
    assert splits.SUBJECTS == {} and sidesets.LACKING == []


def test_a_rerun_by_hand_starts_from_an_empty_report_folder(tmp_path, capsys, changed_env):
    """CPC writes its report at its end: a rerun that failed before showed the last run's figures as its own."""
    out = tmp_path / "cpc"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "fig2.png").write_text("last run")
    (out / "metrics.json").write_text("{}")
    nbstart.start_run("cpc", {**_defaults("cpc"), "out_dir": str(out)})
    assert not (out / "figures").exists() and (out / "previous" / "figures" / "fig2.png").read_text() == "last run"
    assert f"moved to {out / 'previous'}" in capsys.readouterr().out


def test_the_full_preset_on_a_cpu_is_announced_before_the_hours_begin(capsys, changed_env):
    import torch
    assert nbstart.full_on_cpu("tas", {"preset": "full", "device": "cpu"}).startswith(
        "tas: the full preset trains the paper's sizes")
    assert (nbstart.full_on_cpu("tas", {"preset": "full"}) is None) == torch.cuda.is_available()   # auto: a GPU if any
    assert nbstart.full_on_cpu("tas", {"device": "cpu"}) is None                 # quick, the notebook's default
    assert nbstart.full_on_cpu("tas", {"preset": "full", "smoke": True, "device": "cpu"}) is None
    nbstart.start_run("scc", {**_defaults("scc"), "preset": "full", "steps": 1, "device": "cpu"})
    assert "scc: the full preset trains" in capsys.readouterr().out


def test_a_misspelt_parameter_is_named_not_ignored(capsys, changed_env):
    """``epoch = 1`` in the parameters cell set nothing; the run went on with the preset's epochs, silently."""
    import math
    namespace = {**_defaults("scc"), "epoch": 1, "seed": [3], "math": math, "plan": object(), "In": [""], "_": 1}
    nbstart.start_run("scc", namespace)
    out = capsys.readouterr().out
    assert "warning: epoch = 1 is no parameter of this notebook (did you mean epochs?): it changes nothing" in out
    assert "seed = [3] is no parameter of this notebook (did you mean seeds?)" in out
    assert out.count("warning:") == 2                                     # modules, objects, IPython's names: none


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=a", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_a_parameters_cell_saved_with_other_values_is_a_change_and_aukit_run_says_so(tmp_path, monkeypatch,
                                                                                      capsys, changed_env):
    """JupyterLab's autosave made an edit the default: aukit run (and make reproduce) ran sigma 3 and a smoke
    run as the paper's setup, with no changed parameter recorded."""
    repo = tmp_path / "repo"
    toy = repo / "notebooks" / "toy.ipynb"
    (repo / "notebooks").mkdir(parents=True)
    code = "import json, os, pathlib\njson.dump({'changed': os.environ.get('AUKIT_RUN_CHANGED')}, " \
           "open(pathlib.Path(out_dir, 'metrics.json'), 'w'))"
    write_toy(toy, "out_dir: str = '.'\nsigma: float = 2.0\nsmoke: bool = False", code)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "c")
    commit = _git(repo, "rev-parse", "HEAD")
    monkeypatch.setattr(nb, "repo_root", lambda: repo)
    monkeypatch.setattr(runtime, "pin_commit", lambda: {"commit": commit, "dirty": True})
    assert nb.edited_defaults(toy) == {} and nb.changed_parameters(toy, {}) == {}
    write_toy(toy, "out_dir: str = '.'\nsigma: float = 3.0\nsmoke: bool = True", code)   # saved from Lab
    assert nb.edited_defaults(toy) == {"sigma": ("2.0", "3.0"), "smoke": ("False", "True")}
    assert nb.committed_parameters(toy)["sigma"]["default"] == "2.0"
    assert nb.changed_parameters(toy, {}) == {"sigma": 3.0}             # smoke chooses what runs: the preset says it
    assert nb.changed_parameters(toy, {"sigma": 2.0}) == {}             # -p back to the commit's value: no change
    metrics = nb.execute(toy, tmp_path / "out", {}, progress=False, html=False)
    assert json.loads(metrics["changed"]) == {"sigma": 3.0}
    err = capsys.readouterr().err
    assert "toy.ipynb's parameters cell differs from the commit's: sigma = 3.0 (committed: 2.0), " \
           "smoke = True (committed: False); this run takes the edited values" in err


def test_without_git_the_notebook_file_is_the_reference(tmp_path, monkeypatch):
    """A lent GPU machine's copy has no .git (AUKIT_COMMIT): nothing to compare with, nothing refused."""
    toy = write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'\nsigma: float = 3.0")
    monkeypatch.setattr(runtime, "pin_commit", lambda: {"commit": "unknown", "dirty": None})
    assert nb.committed_parameters(toy) is None and nb.edited_defaults(toy) == {}
    monkeypatch.setattr(runtime, "pin_commit", lambda: {"commit": "0123456789abcdef", "dirty": None})
    assert nb.committed_parameters(toy) is None                        # outside the checkout
    assert nb.changed_parameters(toy, {"sigma": 4.0}) == {"sigma": 4.0}
