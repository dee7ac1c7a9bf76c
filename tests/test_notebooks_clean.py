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
