"""What a paper notebook's kernel does when a run starts (:func:`start_run`, the first line of each
paper notebook's setup cell): for a notebook run by hand in JupyterLab, what :func:`aukit.nb.execute`
does before it starts one; under ``aukit run`` the same again, on the values the kernel holds.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .nb import (CHANGED_ENV, PAPERS, PRESET_ENV, _literal, changed_parameters, check_parameters, clear_outputs,
                 declared_parameters, notebook_path)

__all__ = ["full_on_cpu", "misspelt", "reset_run_records", "start_run"]


def full_on_cpu(notebook: str | Path, params: dict) -> str | None:
    """A warning for a paper notebook's full preset (the paper's sizes and schedules: hours on a GPU)
    about to train on a CPU, which nothing said before the hours began; None otherwise."""
    from .runtime import DeviceUnavailable, pick_device
    stem = notebook_path(str(notebook)).stem
    records = declared_parameters(notebook)

    def value(name):
        return params[name] if name in params else _literal(records[name]["default"]) if name in records else None
    if stem not in PAPERS or value("smoke") or value("preset") != "full":
        return None
    try:
        if pick_device(value("device") or None).type != "cpu":
            return None
    except DeviceUnavailable:
        return None                    # the run itself says why the device it names is not there
    return (f"{stem}: the full preset trains the paper's sizes and schedules, which takes hours on a GPU and "
            "far longer on this CPU (-p preset quick runs in minutes; -p steps N caps each epoch)")


_PLAIN = (bool, int, float, str, list, tuple, dict, type(None))


def misspelt(declared: dict, namespace: dict) -> list[str]:
    """Warnings for plain values (numbers, text, lists) the notebook's globals hold under a name close to a
    parameter's that is none itself: ``epoch = 1`` typed in the parameters cell set nothing, and the run
    went on with the preset's epochs."""
    import difflib
    out = []
    for name, value in namespace.items():
        if name.startswith("_") or name in declared or not isinstance(value, _PLAIN):
            continue
        close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.8)
        if close:
            out.append(f"warning: {name} = {value!r} is no parameter of this notebook (did you mean {close[0]}?): "
                       "it changes nothing")
    return out


def start_run(notebook: str, namespace: dict) -> dict:
    """The first line of a paper notebook's setup cell: in the kernel, what :func:`aukit.nb.execute` does
    before it starts one, for a notebook run by hand in JupyterLab too (``namespace``: its globals).

    * its parameters' values are checked as ``-p`` values are (:func:`check_parameters`): ``fera =
      "false"`` ran the FERA2015 split, ``tables = "table2"`` ran Table 1 only, ``epochs = "2"`` failed
      deep in the code; a value set under a near miss of a parameter's name (``epoch = 1``) is named
      (:func:`misspelt`);
    * the ones set away from the committed defaults are recorded (:data:`CHANGED_ENV`), so the tables and
      deploy.pt name them: a full run edited to ``steps = 2`` by hand got difference rows against the paper;
    * this process's records of the run (its trainings, stores, folds, side sets it lacked) start empty:
      a second run in one kernel listed the first one's as its own in run.yaml and its tables' caveats;
    * its ``out_dir`` loses the last run's outputs (:func:`clear_outputs`; a finished run moves to
      ``previous/``): CPC writes its report at the end, and a rerun that failed showed the last run's
      tables and figures as its own.

    Returns the changed parameters."""
    declared = declared_parameters(notebook)
    values = {name: namespace[name] for name in declared if name in namespace}
    for line in misspelt(declared, namespace):
        print(line)
    check_parameters(notebook, values)
    changed = changed_parameters(notebook, values)
    os.environ[CHANGED_ENV] = json.dumps(changed, default=str)
    if "preset" in values:
        os.environ[PRESET_ENV] = "smoke" if values.get("smoke") else str(values["preset"])
    if (slow := full_on_cpu(notebook, values)) is not None:
        print(slow)
    if values.get("out_dir") and (kept := clear_outputs(Path(values["out_dir"]))) is not None:
        print(f"the last run's results in {values['out_dir']} moved to {kept}")
    reset_run_records()
    return changed


def reset_run_records() -> None:
    """Forget this process's records of a run, which its report and run.yaml read: the trainings
    (``aukit.train.FITS``), the stores opened (``aukit.data.store.OPENED``), the folds and partial
    copies (``aukit.data.splits.USED``, ``SUBJECTS``, ``PARTIAL``) and the side sets it lacked
    (``aukit.data.sidesets.LACKING``). :func:`start_run` calls it; so does every test."""
    from .data import sidesets, splits, store
    from .train import FITS
    FITS.clear()
    store.OPENED.clear()
    splits.PARTIAL.clear()
    splits.USED.clear()
    splits.SUBJECTS.clear()
    sidesets.LACKING.clear()
