"""``aukit run``: where the executed notebook, its reports and its parameters go."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from aukit import cli, nb, nbdata
from _toynb import write_toy


@pytest.fixture
def calls(monkeypatch):
    seen = []
    monkeypatch.setattr(nb, "execute",
                        lambda notebook, out, params, **kw: seen.append((notebook, Path(out), params)) or {})
    return seen


def test_out_dir_param_is_the_output_folder(calls, tmp_path):
    cli.main(["run", "scc", "-p", "out_dir", str(tmp_path / "x"), "-p", "epochs", "10"])
    (notebook, out, params), = calls
    assert notebook == "scc" and out == tmp_path / "x" and params == {"epochs": 10}


def test_default_and_explicit_out(calls, tmp_path):
    cli.main(["run", "tas"])
    cli.main(["run", "tas", "--out", str(tmp_path / "y")])
    assert [c[1] for c in calls] == [Path("reports") / "tas", tmp_path / "y"]


def test_conflicting_out_is_an_error(calls, tmp_path, capsys):
    assert cli.main(["run", "tas", "--out", str(tmp_path / "a"), "-p", "out_dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "aukit run: error: --out" in err and "disagree; give one" in err
    assert not calls


def test_execute_refuses_a_split_run(tmp_path):
    # refused before anything runs or any folder is made
    with pytest.raises(ValueError, match="differs from the output folder"):
        nb.execute("tas", tmp_path / "a", {"out_dir": str(tmp_path / "b")})
    assert not (tmp_path / "a").exists()


def test_execute_hands_the_kernel_the_commit_it_starts_on(tmp_path, monkeypatch):
    from aukit import runtime
    monkeypatch.delenv(runtime.PIN_ENV, raising=False)
    monkeypatch.delenv(nb.CHANGED_ENV, raising=False)
    monkeypatch.setattr(runtime, "git_info", lambda path=None: {"commit": "c0ffee", "dirty": True})
    seen = []
    monkeypatch.setattr(nb, "_run", lambda *a: seen.append(json.loads(os.environ[runtime.PIN_ENV])) or {})
    nb.execute("tas", tmp_path / "a", {"seeds": [0]})
    monkeypatch.setattr(nb, "_run", lambda *a: seen.append(json.loads(os.environ[nb.CHANGED_ENV])) or {})
    nb.execute("tas", tmp_path / "b", {"seeds": [0], "preset": "full", "steps": 2})
    assert seen == [{"commit": "c0ffee", "dirty": True}, {"steps": 2}]
    assert runtime.PIN_ENV not in os.environ and nb.CHANGED_ENV not in os.environ    # the caller's left as it was


def test_a_parameter_the_notebook_lacks_is_refused(tmp_path):
    """Papermill would inject `epoch` and run on with the preset's epochs: refused before anything runs."""
    with pytest.raises(ValueError, match=r"tas.ipynb has no parameter 'epoch' \(did you mean 'epochs'\?\), 'zzz'; its "
                                         r"parameters: dataset, fold, preset, seeds, .*epochs"):
        nb.execute("tas", tmp_path / "a", {"epoch": 10, "zzz": 1, "seeds": [0]})
    assert not (tmp_path / "a").exists()
    assert "epochs" in nb.check_parameters("tas", ["epochs", "seeds", "out_dir", "model_dir"])


@pytest.mark.parametrize("args, message", [
    (["predict", "x.mp4", "--batch", "0"], "argument --batch: must be at least 1, got 0"),
    (["predict", "x.mp4", "--smooth", "-2"], "argument --smooth: must be 0 or more, got -2"),
    (["predict", "x.mp4", "--workers", "-1"], "argument --workers: must be 0 or more, got -1"),
    (["prepare", "synthau-bp4d", "--workers", "0"], "argument --workers: must be at least 1, got 0"),
    (["sweep", "tas", "--grid", "g.yaml", "--parallel", "0"], "argument --parallel: must be at least 1, got 0"),
    (["train", "tas", "--config", "j.yaml", "--nproc", "0"], "argument --nproc: must be at least 1, got 0"),
])
def test_counts_out_of_range_are_refused_by_name(args, message, capsys):
    """--batch 0 stopped predict with 'range() arg 3 must not be zero'; a negative smoothing
    window or worker count was taken as is."""
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_device_this_machine_lacks_is_one_line(monkeypatch, capsys):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["bench", "--ops-only", "--methods", "tas", "--device", "cuda"]) == 2
    assert capsys.readouterr().err == ("aukit bench: error: device 'cuda' requested but CUDA is not available "
                                       "on this machine\n")
    assert cli.main(["bench", "--ops-only", "--methods", "tas", "--device", "gpu"]) == 2   # a typo: no traceback
    assert capsys.readouterr().err == ("aukit bench: error: device 'gpu' is not a device name: use cpu, cuda, "
                                       "cuda:N or mps\n")


def test_values_are_typed_for_the_parameter_they_set(calls, tmp_path):
    """-p takes YAML, except for a str parameter (the text as given), and one value for a list
    parameter is a list of it."""
    cli.main(["run", "tas", "--out", str(tmp_path), "-p", "seeds", "1", "-p", "weights", "007.pth", "-p", "epochs", "3",
              "-p", "variants", "[A1, A4]", "-p", "lr", "1e-3", "-p", "smoke", "true"])
    (_, _, params), = calls
    assert params == {"seeds": [1], "weights": "007.pth", "epochs": 3, "variants": ["A1", "A4"], "lr": 0.001,
                      "smoke": True}


@pytest.mark.parametrize("params, message", [
    ({"epochs": "ten"}, r"parameter 'epochs' takes an int \(default 0\), got 'ten' \(str\)"),
    ({"epochs": 1.5}, r"parameter 'epochs' takes an int \(default 0\), got 1.5 \(float\)"),
    ({"smoke": 1}, r"parameter 'smoke' takes a bool \(default False\), got 1 \(int\)"),
    ({"epochs": True}, r"parameter 'epochs' takes an int \(default 0\), got True \(bool\)"),
    ({"seeds": 0}, r"parameter 'seeds' takes a list \(default \[\]\), got 0 \(int\)"),
    ({"lr": "fast"}, r"parameter 'lr' takes a float \(default 0.005\), got 'fast' \(str\)"),
])
def test_a_value_of_the_wrong_kind_is_refused(params, message, tmp_path):
    with pytest.raises(ValueError, match=r"tas.ipynb: " + message):
        nb.execute("tas", tmp_path / "a", params)
    assert not (tmp_path / "a").exists()
    nb.check_parameters("tas", {"lr": 1, "seeds": (0, 1), "weights": "", "epochs": 2})   # an int is a float too
    nb.check_parameters("rtatl", {"lambda1": None, "lr": None})                          # None where None is the default


def test_a_run_replaces_the_last_runs_outputs_and_keeps_the_rest(tmp_path, capsys):
    """A quick run after a full one must not sit beside the full run's Table 4; a failed run must not
    leave the last run's metrics.json looking like its result; the last finished run is kept in
    previous/ (a rerun that failed deleted it). checks/ and sweeps/ stay."""
    write_toy(tmp_path / "toy.ipynb", "fail: bool = False\nlate_fail: bool = False\nout_dir: str = '.'\n"
                                       "model_dir: str = ''", 
        "import json, pathlib\nassert not fail, 'asked to fail'\n"
        "pathlib.Path(out_dir, 'tables').mkdir()\npathlib.Path(out_dir, 'tables', 'table1.md').write_text('new')\n"
        "json.dump({'score': 1}, open(pathlib.Path(out_dir, 'metrics.json'), 'w'))\n"
        "assert not late_fail, 'failed after the report'\n"
        "pathlib.Path(model_dir).mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path(model_dir, 'deploy.pt').write_text('model')")
    out = tmp_path / "out"
    last = ("tables/table1.md", "tables/table4.md", "figures/fig5.png", "metrics.json", "reported.json",
            "run.yaml", "toy.html", "toy.ipynb")
    for f in (*last, "checks/t3/README.md", "sweeps/a/metrics.json"):
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        (out / f).write_text("from the last run")
    with pytest.raises(Exception, match="asked to fail"):
        nb.execute(tmp_path / "toy.ipynb", out, {"fail": True}, progress=False, html=False)
    assert not any((out / f).exists() for f in ("tables", "figures", "metrics.json", "reported.json", "run.yaml",
                                                "toy.html"))
    assert all((out / "previous" / f).read_text() == "from the last run" for f in last)   # kept, not deleted
    assert f"the last run's results in {out} moved to {out / 'previous'}" in capsys.readouterr().err
    assert "asked to fail" in (out / "error.txt").read_text()
    assert (out / "checks/t3/README.md").read_text() == (out / "sweeps/a/metrics.json").read_text() == "from the last run"
    assert nb.execute(tmp_path / "toy.ipynb", out, {}, progress=False, html=False) == {"score": 1}
    assert [p.name for p in (out / "tables").iterdir()] == ["table1.md"] and not (out / "figures").exists()
    assert not (out / "error.txt").exists()
    # a failed run is no result to keep: previous/ still holds the last finished run
    assert (out / "previous/metrics.json").read_text() == "from the last run"
    assert "moved to" not in capsys.readouterr().err
    with pytest.raises(Exception, match="failed after the report"):     # metrics written, then a failure
        nb.execute(tmp_path / "toy.ipynb", out, {"late_fail": True}, progress=False, html=False)
    assert not (out / "metrics.json").exists() and (out / "error.txt").exists()
    assert json.loads((out / "previous/metrics.json").read_text()) == {"score": 1}    # the run before it, now
    assert [p.name for p in (out / "previous/tables").iterdir()] == ["table1.md"]
    # its tables are set aside: a killed run's tables (with difference rows) read as its result
    assert not (out / "tables").exists() and (out / "incomplete/tables/table1.md").read_text() == "new"
    assert f"the tables and figures it wrote: {out / 'incomplete'}" in (out / "error.txt").read_text()
    nb.execute(tmp_path / "toy.ipynb", out, {}, progress=False, html=False)
    assert not (out / "incomplete").exists()                           # the next run clears them


def test_a_run_into_the_notebooks_own_folder_is_refused(tmp_path):
    """papermill writes the executed copy as <out>/<name>.ipynb: into the notebook's own folder it
    replaced the notebook (a user's edits with it)."""
    write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'", "x = 1")
    before = (tmp_path / "toy.ipynb").read_text()
    with pytest.raises(ValueError, match="holds toy.ipynb itself"):
        nb.execute(tmp_path / "toy.ipynb", tmp_path, {}, progress=False, html=False)
    assert (tmp_path / "toy.ipynb").read_text() == before


def test_relative_paths_are_the_callers_not_the_repositorys(tmp_path, monkeypatch):
    """papermill runs the kernel in the repository: -p model_dir mymodel from another folder wrote
    <repo>/mymodel."""
    write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'\nmodel_dir: str = ''", 
        "import pathlib\npathlib.Path(model_dir).mkdir(parents=True)\npathlib.Path(model_dir, 'deploy.pt').touch()")
    monkeypatch.chdir(tmp_path)
    nb.execute(tmp_path / "toy.ipynb", "out", {"model_dir": "mymodel"}, progress=False, html=False)
    assert (tmp_path / "mymodel" / "deploy.pt").exists() and (tmp_path / "out").is_dir()
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="afile is a file"):
        nb.execute(tmp_path / "toy.ipynb", tmp_path / "afile", {}, progress=False, html=False)


def test_a_parameter_given_twice_or_as_text_lists(calls, tmp_path, capsys):
    # exit 2 with the error: prefix, as every other -p mistake (it exited 1 without one)
    assert cli.main(["run", "tas", "--out", str(tmp_path), "-p", "fold", "1", "-p", "fold", "3"]) == 2
    assert "aukit run: error: parameter(s) fold given more than once" in capsys.readouterr().err
    cli.main(["run", "tas", "--out", str(tmp_path), "-p", "epochs", "010", "-p", "seeds", "0,1",
              "-p", "variants", "A1, A6"])
    (_, _, params), = calls
    assert params == {"epochs": 10, "seeds": [0, 1], "variants": ["A1", "A6"]}    # 010 is ten, not octal 8


def test_reproduce_passes_smoke_as_the_notebooks_switch_and_keeps_other_papers_times(monkeypatch, tmp_path):
    """--preset smoke reached the notebooks as preset='smoke', which they refuse; --only rewrote
    reproduce_times.json with that paper's time alone."""
    from aukit import report
    from aukit.data import synthau
    seen = []
    monkeypatch.setattr(nb, "execute", lambda name, out, params: seen.append((name, params)) or {})
    monkeypatch.setattr(report, "write_index", lambda reports: reports / "index.md")
    monkeypatch.setattr(synthau, "default_root", lambda: tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"version": synthau.VERSION, "preset": "default", "seed": 0}))
    monkeypatch.setattr(synthau, "generate", lambda *a, **k: pytest.fail("a current tree was regenerated"))
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "reproduce_times.json").write_text(json.dumps({"preset": "quick", "tas_s": 69.0, "scc_s": 164.0}))
    nb.reproduce(only=["cpc"], preset="smoke", reports=reports)
    assert seen == [("cpc", {"preset": "quick", "smoke": True})]
    assert set(json.loads((reports / "reproduce_times.json").read_text())) >= {"preset", "cpc_s", "total_s"}
    assert "tas_s" not in json.loads((reports / "reproduce_times.json").read_text())      # another preset's
    (reports / "reproduce_times.json").write_text(json.dumps({"preset": "quick", "tas_s": 69.0, "scc_s": 164.0}))
    nb.reproduce(only=["cpc"], preset="quick", reports=reports)
    times = json.loads((reports / "reproduce_times.json").read_text())
    assert times["tas_s"] == 69.0 and times["scc_s"] == 164.0 and "cpc_s" in times


def test_piap_df_refuses_a_preset_it_does_not_have():
    from aukit.methods.piap_df.experiment import settings_for
    with pytest.raises(ValueError, match="preset must be 'quick' or 'full'.*got 'fulll'"):
        settings_for("fulll", "synthau-bp4d", 1, 0, False, alpha=1, beta=1, gamma=1, ap_beta=1, disable_prob=0.5,
                     fb_negative=0.1)


def test_a_notebook_without_out_dir_is_not_given_one(tmp_path, capfd):
    """00_synthau declares no out_dir: papermill warned 'Passed unknown parameter: out_dir' on every run."""
    import nbformat
    write_toy(tmp_path / "toy.ipynb", "x: int = 1", "y = x + 1")
    nb.execute(tmp_path / "toy.ipynb", tmp_path / "out", {"x": 2}, progress=False, html=False)
    executed = nbformat.read(tmp_path / "out" / "toy.ipynb", as_version=4)
    injected = [c.source for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "x = 2" in injected[0] and "out_dir" not in injected[0]
    err = capfd.readouterr().err          # the kernel's stderr: no start-up warning on every run
    assert "[IPKernelApp] WARNING" not in err, err


def test_synthau_notebook_smoke_runs_and_removes_its_scratch_tree(tmp_path, monkeypatch):
    """00_synthau's smoke run renders a tiny SynthAU tree in a temporary folder: the notebook
    runs, and the folder is gone when its kernel exits (mkdtemp left ~6 MB per run in /tmp)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the kernel is a child process: it inherits this
    nb.execute("00_synthau", tmp_path / "out", {"smoke": True}, progress=False, html=False)
    executed = (tmp_path / "out" / "00_synthau.ipynb").read_text()
    assert "synthau_" in executed  # the tree was made under TMPDIR and shown
    assert not list(scratch.glob("synthau_*"))


@pytest.mark.parametrize("name, params, message", [
    ("tas", {"dataset": "bp4d", "fold": 4},
     r"fold 4 for bp4d: takes -1, 0, 1, 2, 3 \(-1: the paper's split, 0: the FERA2015 split\)"),
    ("scc", {"dataset": "disfa", "fold": 5}, r"fold 5 for disfa: takes 1, 2, 3$"),
    ("rtatl", {"dataset": "bp4d", "fold": 0}, r"fold 0 for bp4d: takes 1, 2, 3$"),
    ("tas", {"dataset": "disfa", "fold": 0}, r"disfa has no FERA2015 split"),
    ("tas", {"dataset": "synthau-affwild2"}, r"'synthau-affwild2' cannot be used here .*\['cpc'\]"),
    ("tas", {"dataset": "BP4D"}, r"unknown dataset 'BP4D'"),
    ("cpc", {"pool": "affwild"}, r"unknown dataset 'affwild'"),
    ("piap_df", {"unlabelled": "disfa,casia"}, r"unknown dataset 'casia'"),
])
def test_dataset_fold_and_side_sets_are_checked_before_the_kernel(name, params, message):
    """These failed in the kernel after ~17 s, TAS on synthau-affwild2 after preparing its faces
    (hours on a real Aff-Wild2 copy); -p fold fera was refused while the error suggested it."""
    with pytest.raises(ValueError, match=message):
        nb.check_parameters(name, params)


def test_valid_datasets_and_folds_pass_the_check(monkeypatch):
    monkeypatch.setattr(nbdata, "_check_copy", lambda *a: None)     # no real copy here (its own test below)
    nb.check_parameters("tas", {"dataset": "bp4d", "fold": 0})
    nb.check_parameters("cpc", {"dataset": "synthau-bp4d", "fold": 0, "pool": ""})
    nb.check_parameters("cpc", {"dataset": "disfa", "fold": 1, "pool": "auto"})      # the default, spelt out
    nb.check_parameters("rtatl", {"dataset": "bp4d", "fold": 2, "unlabelled": "auto"})
    nb.check_parameters("piap_df", {"dataset": "disfa", "fold": 3, "unlabelled": "auto"})


def _sleepy(path, seconds: float):
    write_toy(path, "out_dir: str = '.'", 
        f"import json, pathlib, time\ntime.sleep({seconds})\n"
        "json.dump({'x': 1}, open(pathlib.Path(out_dir, 'metrics.json'), 'w'))")
    return path


def _wait_for(path, seconds=60):
    for _ in range(int(seconds * 10)):
        if path.exists() and path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def test_a_second_run_into_a_busy_folder_is_refused_and_sigterm_leaves_error_txt(tmp_path):
    """Two `aukit run` into one --out wiped each other's tables and metrics and both exited 0;
    SIGTERM (a scheduler's stop, `timeout`) left the folder with no error.txt and no word."""
    import signal
    import subprocess
    import sys
    from aukit.data.lock import Busy
    from aukit.report import write_index
    toy = _sleepy(tmp_path / "toy.ipynb", 30)
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "aukit.cli", "run", str(toy), "--out", str(out)],
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / nb.RUN_LOCK)
        with pytest.raises(Busy, match=rf"pid {first.pid} is running toy.ipynb into {out}"):
            nb.execute(toy, out, progress=False, html=False)
        (out / "metrics.json").write_text("{}")             # as a notebook that wrote its metrics, then was stopped
        write_index(tmp_path)
        assert "Not listed, their run still running or killed before it ended" in (tmp_path / "index.md").read_text()
        _wait_for(out / "toy.ipynb")      # papermill has started (on a loaded machine the lock came seconds before)
        first.send_signal(signal.SIGTERM)
        err = first.communicate(timeout=120)[1]
    finally:
        first.kill()
    assert first.returncode == 130 and err.strip().splitlines()[-1].startswith("aukit run: interrupted")
    assert f"toy.ipynb stopped: {out / 'error.txt'}" in err          # "named above" names it
    assert (out / "error.txt").exists() and not (out / "metrics.json").exists() and not (out / nb.RUN_LOCK).exists()
    nb.execute(_sleepy(tmp_path / "toy.ipynb", 0), out, progress=False, html=False)   # free again
    assert (out / "metrics.json").exists() and not (out / nb.RUN_LOCK).exists()


def test_ctrl_c_in_a_terminal_ends_in_one_line_not_the_kernel_s_traceback(tmp_path):
    """Ctrl-C reaches the whole process group, the kernel too: its log printed a ZMQError traceback
    (the reply to the stopped cell, sent on a closed socket) above "aukit run: interrupted"."""
    import signal
    import subprocess
    import sys
    out = tmp_path / "out"
    # a terminal's foreground job: SIGINT not ignored (a suite started in the background, `cmd &`, ignores it,
    # and the run it starts would then finish its cell and exit 0)
    run = subprocess.Popen([sys.executable, "-m", "aukit.cli", "run", str(_sleepy(tmp_path / "toy.ipynb", 30)),
                            "--out", str(out)], stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(out / nb.RUN_LOCK)
        time.sleep(5)                                   # the kernel is in the sleeping cell
        os.killpg(run.pid, signal.SIGINT)
        err = run.communicate(timeout=120)[1]
    finally:
        run.kill()
    assert run.returncode == 130 and err.strip().splitlines()[-1].startswith("aukit run: interrupted")
    assert "Traceback" not in err and "ZMQError" not in err


@pytest.mark.parametrize("params, message", [
    ({"preset": "Full"}, "tas.ipynb: preset 'Full': takes 'quick' or 'full'"),
    ({"steps": -5}, "tas.ipynb: steps -5 is below -1 (-1 for the preset's, 0 for no cap)"),
    ({"epochs": -1}, "tas.ipynb: epochs -1 is below 0 (0 for the preset's)"),
    ({"extras": 2}, "tas.ipynb: extras 2: takes -1 (the preset's), 0 (leave out) or 1 (run)"),
])
def test_a_preset_or_schedule_without_meaning_is_refused_before_the_kernel(tmp_path, params, message):
    """-p preset Full failed in cell 3; -p steps -5 ran the whole uncapped paper schedule."""
    with pytest.raises(ValueError, match=re.escape(message)):
        nb.execute("tas", tmp_path / "a", params)
    assert not (tmp_path / "a").exists()


def test_cpc_val_clips_below_zero_is_refused(tmp_path):
    with pytest.raises(ValueError, match=re.escape("cpc.ipynb: val_clips -1 is below 0 (0 for the preset's)")):
        nb.execute("cpc", tmp_path / "a", {"val_clips": -1})
    nb.check_parameters("cpc", {"val_clips": 64})


def test_an_scc_fold_the_fera_split_ignores_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"fold 2 has no effect on synthau-bp4d: .* add -p fera false"):
        nb.execute("scc", tmp_path / "a", {"dataset": "synthau-bp4d", "fold": 2})
    nb.check_parameters("scc", {"dataset": "synthau-bp4d", "fold": 2, "fera": False})
    nb.check_parameters("scc", {"dataset": "synthau-disfa", "fold": 2})


def test_log_shows_what_the_cells_print_as_they_run(tmp_path, capfd):
    """A full run showed only papermill's bar over cells, still for 15-28 minutes in a training cell."""
    write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'", "import os, sys\nprint('epoch 1/2: loss 0.5')\n"
                                                        "print('step bar', file=sys.stderr)\n"
                                                        "print('epoch lines:', os.environ.get('AUKIT_EPOCH_LINES'))")
    nb.execute(tmp_path / "toy.ipynb", tmp_path / "quiet", {}, progress=False, html=False)
    quiet = capfd.readouterr()
    assert "epoch 1/2" not in quiet.out + quiet.err
    nb.execute(tmp_path / "toy.ipynb", tmp_path / "loud", {}, progress=False, html=False, log=True)
    loud = capfd.readouterr()
    assert "epoch 1/2: loss 0.5" in loud.out and "step bar" in loud.err
    # every training in the kernel prints a line per epoch (no method turned its bar on: --log showed none)
    assert "epoch lines: 1" in loud.out and "AUKIT_EPOCH_LINES" not in os.environ


def test_a_real_copy_lacking_subjects_of_the_split_is_refused_before_the_kernel(tmp_path, monkeypatch):
    """`aukit run tas -p dataset bp4d` on a 2-subject copy prepared every face, then refused the fold."""
    from test_data_fixtures import write_bp4d

    from aukit.data import splits
    root = write_bp4d(tmp_path / "BP4D", faces=False)
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(root))
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    monkeypatch.setattr(splits, "USED", {})
    for name, params, split in (("tas", {"dataset": "bp4d"}, "the FERA2015 split"),
                                ("rtatl", {"dataset": "bp4d"}, "fold 1"),
                                ("scc", {"dataset": "bp4d"}, "the FERA2015 split")):
        with pytest.raises(splits.IncompleteCopy, match=f"bp4d {split}: this copy lacks"):
            nb.execute(name, tmp_path / name, params)
        assert not (tmp_path / name).exists()
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    monkeypatch.setattr(splits, "PARTIAL", [])
    nb.check_parameters("tas", {"dataset": "bp4d"})                         # allowed: a warning, the run goes on


def test_relative_path_variables_reach_the_kernel_as_absolute_paths(tmp_path, monkeypatch):
    """The kernel starts in the repository: AUKIT_DATA_BP4D=fakebp4d, found by `aukit data check`
    from the user's folder, was 'not a folder' inside the notebook."""
    write_toy(tmp_path / "env.ipynb", "out_dir: str = '.'", 
        "import json, os, pathlib\njson.dump({k: os.environ.get(k) for k in ('AUKIT_DATA_BP4D', 'AUKIT_CACHE', "
        "'AUKIT_SYNTHAU')}, open(pathlib.Path(out_dir, 'metrics.json'), 'w'))")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUKIT_DATA_BP4D", "fakebp4d")
    monkeypatch.setenv("AUKIT_CACHE", str(tmp_path / "cache"))          # absolute: passed on as it is
    monkeypatch.delenv("AUKIT_SYNTHAU", raising=False)
    m = nb.execute(tmp_path / "env.ipynb", tmp_path / "out", progress=False, html=False)
    assert m == {"AUKIT_DATA_BP4D": str(tmp_path / "fakebp4d"), "AUKIT_CACHE": str(tmp_path / "cache"),
                 "AUKIT_SYNTHAU": None}
    assert os.environ["AUKIT_DATA_BP4D"] == "fakebp4d"                   # the caller's own value is kept


def test_a_real_side_set_named_but_absent_is_refused_before_the_kernel(monkeypatch, capsys):
    """-p unlabelled emotionet without EmotioNet ran 6 of RTATL's 13 cells, then printed 80 lines of
    traceback; now one message before the kernel (exit 2), naming the env variable to set."""
    from aukit.data.manifest import DatasetNotFound
    for k in [k for k in os.environ if k.startswith("AUKIT_DATA")]:
        monkeypatch.delenv(k)
    with pytest.raises(DatasetNotFound, match="AUKIT_DATA_EMOTIONET"):
        nb.check_parameters("rtatl", {"unlabelled": "emotionet"})
    assert cli.main(["run", "rtatl", "-p", "unlabelled", "emotionet"]) == 2
    assert "dataset 'emotionet' not found" in capsys.readouterr().err
    nb.check_parameters("rtatl", {"unlabelled": "synthau-emotionet"})                # a stand-in named: fine


def test_a_cell_that_fails_is_one_paragraph_naming_the_cell_and_the_executed_notebook(tmp_path, capsys):
    """A failing cell printed papermill's and aukit's own traceback (cli.py, nb.py, papermill/execute.py) after the
    run; the error is the cell's, and its traceback is in the executed notebook."""
    write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'", "x = 1", "raise ValueError('no such AU: AU99')")
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "toy.ipynb"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "aukit run: error: the cell starting `raise ValueError('no such AU: AU99')` raised ValueError: no such " \
           "AU: AU99; the executed notebook with the cell's " \
           f"traceback: {out / 'toy.ipynb'} (error.txt beside it)" in err
    assert "Traceback" not in err and "papermill" not in err
    assert "no such AU: AU99" in (out / "error.txt").read_text()


@pytest.mark.parametrize("name,param", [("tas", "weights"), ("piap_df", "finetune_from")])
def test_a_file_parameter_naming_no_file_is_refused_before_the_kernel(tmp_path, name, param):
    """-p weights with a typo failed in a cell ~20 s later, after the data had loaded, with papermill's traceback."""
    with pytest.raises(ValueError, match=f"{name}.ipynb: -p {param} .*nope.pth: no such file"):
        nb.check_parameters(name, {param: str(tmp_path / "nope.pth")})
    (tmp_path / "here.pth").write_bytes(b"x")
    nb.check_parameters(name, {param: str(tmp_path / "here.pth"), "dataset": "synthau-bp4d"})


@pytest.mark.parametrize("name,params,message", [
    ("tas", {"variants": ["A9"]}, r"tas.ipynb: variants 'A9': takes A0, A1,"),
    ("rtatl", {"variants": ["rtatl"]}, r"rtatl.ipynb: variants 'rtatl' \(did you mean 'RTATL'\?\): takes "),
    ("scc", {"tables": ["Table2"]}, r"scc.ipynb: tables 'Table2' \(did you mean 'table2'\?\): takes table1, "),
])
def test_a_variant_or_table_a_notebook_lacks_is_refused_before_the_kernel(name, params, message):
    """These started a kernel and failed in a cell with papermill's traceback (RTATL's after its data had loaded)."""
    with pytest.raises(ValueError, match=message):
        nb.check_parameters(name, params)


def test_a_device_name_that_is_none_is_refused_before_the_kernel(tmp_path, capsys):
    """-p device gpu started a kernel whose cell raised DeviceUnavailable; now one line, exit 2."""
    assert cli.main(["run", "tas", "-p", "device", "gpu", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "aukit run: error: tas.ipynb: device 'gpu' is not a device name: use cpu, cuda, cuda:N or mps" in err
    assert not (tmp_path / "o").exists()


def test_a_quoted_home_path_reaches_the_kernel_expanded(tmp_path, monkeypatch):
    """-p weights '~/w/r18.pth' (quoted: the shell left the ~) passed the pre-run file check, which expands it, and
    reached the kernel as <cwd>/~/w/r18.pth, failing there after the data had loaded."""
    write_toy(tmp_path / "w.ipynb", "weights: str = ''\nout_dir: str = '.'",
              "import json, pathlib\njson.dump({'w': weights}, open(pathlib.Path(out_dir, 'metrics.json'), 'w'))")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "r18.pth").write_bytes(b"x")
    m = nb.execute(tmp_path / "w.ipynb", tmp_path / "out", {"weights": "~/w/r18.pth"}, progress=False, html=False)
    assert m == {"w": str(tmp_path / "w" / "r18.pth")}
