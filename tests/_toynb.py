"""A toy notebook for the papermill tests: a tagged parameters cell, then code cells, on the python3 kernel."""
from __future__ import annotations

from pathlib import Path

import nbformat


def write_toy(path: str | Path, params: str = "out_dir: str = '.'", *code: str) -> Path:
    """``path`` holding a ``parameters`` cell with ``params`` and one cell per ``code``; returns the path."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, *(nbformat.v4.new_code_cell(c) for c in code)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, Path(path))
    return Path(path)
