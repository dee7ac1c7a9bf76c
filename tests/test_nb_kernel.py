"""aukit.nb runs notebooks in a kernel that starts this interpreter: a "python3" kernelspec found first on
JUPYTER_PATH (a cluster module, an old `ipykernel install --user`) that starts another Python is passed over
for the aukit kernel, or stops the run with the spec and the fix named, before the last results are moved."""
import json
import os
import sys

import pytest

from aukit import kernel, nb, runtime


def _spec(root, name, python):
    d = root / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({"argv": [python, "-m", "ipykernel_launcher", "-f",
                                                        "{connection_file}"], "display_name": name,
                                               "language": "python"}))


@pytest.fixture
def other_python(tmp_path):
    """An interpreter of another environment: a script that reports another sys.prefix."""
    exe = tmp_path / "elsewhere" / "bin" / "python"
    exe.parent.mkdir(parents=True)
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -I -c 'print(\"/opt/other-env\")'\n")
    exe.chmod(0o755)
    return str(exe)


@pytest.fixture
def ran_with(monkeypatch):
    import papermill
    seen = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: seen.append(kw["kernel_name"]))
    monkeypatch.setattr(nb, "check_parameters", lambda path, params: {})
    monkeypatch.delenv(runtime.PIN_ENV, raising=False)
    return seen


def test_a_shadowing_python3_spec_is_passed_over_for_the_aukit_kernel(tmp_path, monkeypatch, other_python,
                                                                     ran_with, capsys):
    _spec(tmp_path / "jp", "python3", other_python)
    _spec(tmp_path / "jp", "aukit", sys.executable)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    nb.execute("00_synthau", tmp_path / "a", {}, html=False, progress=False)
    assert ran_with == ["aukit"]
    assert "starts another Python" in capsys.readouterr().err


def test_no_kernel_of_this_interpreter_stops_before_the_last_results_move(tmp_path, monkeypatch, other_python,
                                                                         ran_with):
    _spec(tmp_path / "jp", "python3", other_python)
    _spec(tmp_path / "jp", "aukit", other_python)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    out = tmp_path / "a"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    with pytest.raises(RuntimeError, match="ipykernel install --sys-prefix --name aukit") as e:
        nb.execute("00_synthau", out, {}, html=False, progress=False)
    assert other_python in str(e.value) and ran_with == []
    assert (out / "metrics.json").is_file()


def test_specs_that_start_this_interpreter():
    major, minor = sys.version_info[:2]
    assert kernel.runs_here(["python", "-m", "ipykernel_launcher"])
    assert kernel.runs_here([f"python{major}.{minor}"])
    assert kernel.runs_here([sys.executable])
    assert not kernel.runs_here([])
    assert not kernel.runs_here([os.path.join(os.sep, "no", "such", "python")])


def test_the_environments_own_kernels_are_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "empty"))
    assert kernel.resolve("python3") == "python3"
