"""The output folder of ``aukit predict``, checked before any work: the outputs it plans may replace
only files that predict wrote itself, never an input or a file of the user's."""
from __future__ import annotations

from pathlib import Path

from .frames import InputError

MARK = "# aukit predict: input="    # the first line of every CSV predict writes (a finished run's, a partial one's)


def planned(stem: str, plot: bool = True, annotate: bool = True) -> list[str]:
    """The names one input's run writes into the output folder (the CSVs first)."""
    return ([f"{stem}.csv", f"{stem}.partial.csv"] + ([f"{stem}.png"] if plot else [])
            + ([f"{stem}_annotated{s}.avi" for s in ("", ".part", ".partial")] if annotate else []))


def written_by_predict(csv: Path) -> bool:
    """Whether ``csv`` is a CSV aukit predict wrote (its first line is predict's header comment)."""
    try:
        with open(csv, "rb") as f:
            return f.readline(len(MARK)).decode("utf-8", "replace") == MARK
    except OSError:
        return False


def check_outputs(input: str | Path, out: Path, stem: str, plot: bool = True, annotate: bool = True) -> None:
    """Refuse an output folder where this input's outputs would replace a file predict did not write:
    the input itself (``face.png`` predicted into its own folder), a folder's frames (the plot would join
    them), or the user's own file (``face.jpg`` predicted beside the user's ``face.png``). A CSV is
    predict's when its first line is predict's header; a PNG or AVI when its CSV beside it is, so a
    re-run into the same folder replaces its own outputs."""
    out, src = Path(out), Path(input).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    if Path(input).is_dir() and out.resolve() == src:
        raise InputError(f"--out {out} is the input folder: the plot would join its frames; choose another folder")
    names = planned(stem, plot, annotate)
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
