"""Committed notebooks: valid, output-free, with a papermill `parameters` cell and kernelspec."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")], \
        f"{path.name} is committed with outputs; strip them (executed copies go to reports/)"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert "smoke" in tagged[0].source, f"{path.name}: parameters cell lacks a `smoke` parameter"
    assert nb.metadata.get("kernelspec", {}).get("name"), f"{path.name}: kernelspec metadata missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    """A comment papermill cannot parse (an '=' or '<=' in it) hides that parameter from
    `papermill --help-notebook` and makes it warn 'unknown parameter' on every run."""
    import re

    from papermill.translators import PythonTranslator
    nb = nbformat.read(path, as_version=4)
    src = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source
    declared = [m.group(1) for m in re.finditer(r"^(\w+)\s*[:=]", src, re.M)]
    seen = {p.name for p in PythonTranslator.inspect({"source": src})}
    assert declared and not [n for n in declared if n not in seen], \
        f"{path.name}: papermill cannot parse the lines of {[n for n in declared if n not in seen]}"
