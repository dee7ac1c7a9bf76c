"""aukit.nb runs a notebook's kernel with AUKIT_STATIC=1 (headless: static figures) and leaves the
calling process's own value as it was: a JupyterLab kernel that ran a notebook kept its widgets."""
import os

import pytest

from aukit import nb, runtime


@pytest.fixture
def kernel_env(monkeypatch):
    """AUKIT_STATIC as each (fake) papermill run sees it; a run given fail=True raises after."""
    import papermill
    seen = []

    def fake(src, dst, **kw):
        seen.append(os.environ.get("AUKIT_STATIC"))
        if kw["parameters"].get("fail"):
            raise RuntimeError("a cell failed")
    monkeypatch.setattr(papermill, "execute_notebook", fake)
    monkeypatch.setattr(nb, "check_parameters", lambda path, params: {})
    monkeypatch.delenv(runtime.PIN_ENV, raising=False)   # execute() sets it; restored after the test
    return seen


@pytest.mark.parametrize("fail", [False, True])
def test_the_kernel_gets_static_figures_and_the_caller_keeps_its_widgets(kernel_env, tmp_path, monkeypatch, fail):
    monkeypatch.delenv("AUKIT_STATIC", raising=False)
    try:
        nb.execute("00_synthau", tmp_path / "a", {"fail": fail}, html=False, progress=False)
    except RuntimeError:
        assert fail
    assert kernel_env == ["1"]
    assert "AUKIT_STATIC" not in os.environ


def test_a_callers_own_value_is_passed_on_and_kept(kernel_env, tmp_path, monkeypatch):
    monkeypatch.setenv("AUKIT_STATIC", "0")
    nb.execute("00_synthau", tmp_path / "a", {}, html=False, progress=False)
    assert kernel_env == ["0"] and os.environ["AUKIT_STATIC"] == "0"
