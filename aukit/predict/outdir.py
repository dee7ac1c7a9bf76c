"""The output folder of ``aukit predict``, checked before any work: the outputs it plans may replace
only files that predict wrote itself from the same input, never an input, a file of the user's or another
input's predictions; and while a run writes them, no other run may (:func:`claimed`)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .frames import InputError

MARK = "# aukit predict: input="    # the first line of every CSV predict writes (a finished run's, a partial one's)
PATH = " path="                     # then the input's absolute path, which decides whether two inputs are one
# what follows the input on that line: its path, a finished run's clock (run.py's header), a partial CSV's note
AFTER_PATH = (" timestamps=", ": the rows of a run that did not finish")
AFTER_INPUT = (PATH,) + AFTER_PATH


def absolute(input: str | Path) -> str:
    """The input's path from the working folder, symlinks not followed (a DataLad dataset links two recordings of
    the same bytes to one file: still two inputs), as the header's ``path=`` records it."""
    return os.path.normpath(Path(input).absolute())


def planned(stem: str, plot: bool = True, annotate: bool = True) -> list[str]:
    """The names one input's run writes into the output folder (the CSVs first)."""
    return ([f"{stem}.csv", f"{stem}.partial.csv"] + ([f"{stem}.png"] if plot else [])
            + ([f"{stem}_annotated{s}.avi" for s in ("", ".part", ".partial")] if annotate else []))


def written_by_predict(csv: Path) -> bool:
    """Whether ``csv`` is a CSV aukit predict wrote (its first line is predict's header comment)."""
    return made_from(csv) is not None


def _field(csv: Path, key: str, ends: tuple[str, ...]) -> str | None:
    """What follows ``key`` on ``csv``'s first line up to the first of ``ends``; None where that line is not
    predict's header (:data:`MARK`) or lacks ``key``."""
    try:
        with open(csv, "rb") as f:
            line = f.readline(1 << 16).decode("utf-8", "replace").rstrip("\n")
    except OSError:
        return None
    if not line.startswith(MARK) or key not in line:
        return None
    line = line.split(key, 1)[1]
    for after in ends:
        line = line.split(after)[0]
    return line


def made_from(csv: Path) -> str | None:
    """The input, as it was given, that predict wrote ``csv`` from (its first line's ``input=``); None where
    predict did not write it."""
    return _field(csv, MARK, AFTER_INPUT)


def made_from_path(csv: Path) -> str | None:
    """The absolute path of the input ``csv`` was made from (its first line's ``path=``); None where predict did not
    write it, or wrote it before the header had the path."""
    return _field(csv, PATH, AFTER_PATH)


def same_input(csv: Path, input: str | Path) -> bool:
    """Whether ``csv`` was made from ``input``: the same absolute path (:func:`absolute`; a relative path given in
    two working folders is two inputs). A CSV from before the header had the path: the input as given, or the same
    path from this working folder."""
    recorded = made_from_path(csv)
    if recorded is not None:
        return recorded == absolute(input)
    given = made_from(csv)
    return given == str(input) or absolute(given) == absolute(input)


def check_outputs(input: str | Path, out: Path, stem: str, plot: bool = True, annotate: bool = True) -> None:
    """Refuse an output folder where this input's outputs would replace a file predict did not write:
    the input itself (``face.png`` predicted into its own folder), a folder's frames (the plot would join
    them), or the user's own file (``face.jpg`` predicted beside the user's ``face.png``). A CSV is
    predict's when its first line is predict's header; a PNG or AVI when its CSV beside it is, so a
    re-run of the same input into the same folder replaces its own outputs; another input's are refused
    (:func:`_check_made_from`)."""
    out, src = Path(out), Path(input).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    if Path(input).is_dir() and out.resolve() == src:
        raise InputError(f"--out {out} is the input folder: the plot would join its frames; choose another folder")
    names = planned(stem, plot, annotate)
    _check_made_from(input, out, names[:2])
    ours = any(written_by_predict(out / n) for n in names[:2])
    for name in names:
        path = out / name
        if path.resolve() == src:
            raise InputError(f"--out {out}: {name} would overwrite the input {input}; choose another folder")
        csv = name.endswith(".csv")
        if path.exists() and not (written_by_predict(path) if csv else ours):
            why = "its first line is not predict's header" if csv else f"no predict CSV {stem}.csv beside it"
            raise InputError(f"--out {out}: {path} is there and aukit predict did not write it ({why}); "
                             f"predicting {input} would replace it: choose another folder or move the file")


def _check_made_from(input, out: Path, csvs: list[str]) -> None:
    """Refuse CSVs predict wrote from another input: two recordings named ``webcam.mp4`` in two folders
    predicted into one ``--out`` both wrote ``webcam.csv``, the second run replacing the first's without a word.
    The same input predicted again replaces its own."""
    for name in csvs:
        other = made_from(out / name)
        if other is not None and not same_input(out / name, input):
            where = made_from_path(out / name)
            raise InputError(f"--out {out}: {out / name} holds the predictions of {other}"
                             + (f" ({where})" if where and where != other else "") + f", not of {input}: "
                             f"give another --out, or remove {out / name} to replace it")


@contextlib.contextmanager
def claimed(input, out: Path, stem: str, plot: bool = True, annotate: bool = True):
    """Hold ``out/.<stem>.predict.lock`` (:func:`aukit.data.lock.hold`) while one input's outputs are written,
    and check them (:func:`check_outputs`) once it is held: two runs into one ``--out`` at once both wrote
    ``webcam.csv`` (and its ``.partial.csv``), the last to finish winning. The second is refused, naming the
    first's host and pid; one that starts after the first finished sees its CSV. The lock file goes at the end."""
    from ..data.lock import Busy, drop, hold
    path = Path(out) / f".{stem}.predict.lock"
    try:
        held = hold(path, f"--out {out}: {{holder}} is writing {stem}.csv there now (another aukit predict): "
                          "wait for it to finish, or give another --out")
    except Busy as e:
        raise InputError(str(e)) from None
    try:
        check_outputs(input, out, stem, plot, annotate)
        yield
    finally:
        drop(path, held)


def check_writable(out: Path) -> None:
    """Create ``out`` and write a file into it, so that a read-only disk or a folder without permission
    is one line before any work, not tracebacks after the model and the workers have started."""
    import tempfile
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".aukit-probe-"):
            pass
    except OSError as e:
        raise InputError(f"--out {out} cannot be written: {e.strerror or e}") from None
