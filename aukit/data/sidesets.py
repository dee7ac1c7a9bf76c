"""Side datasets: the sets a method reads beside its labelled one (CPC's pre-training pool, RTATL's
unlabelled faces, PIAP-DF's landmark and identity sets), and their ``"auto"`` choice.

``"auto"`` is SynthAU's stand-in (``synthau-<real>``) for a SynthAU run; for a real run (BP4D, DISFA)
the real set when its root is found, else the stand-in with a printed note saying how to name the
real one. A real run never reads a synthetic side set without saying so.
"""
from __future__ import annotations

from .manifest import REAL_DATASETS, DatasetNotFound, RootNotFound, _env_key, check_name, resolve_root

AUTO = "auto"
# real side set -> (the role its SynthAU stand-in plays, the notebook parameter naming it, whether "" runs without it)
ROLES = {"affwild2": ("CPC's pre-training pool", "pool", True),
         "emotionet": ("RTATL's unlabelled faces", "unlabelled", True),
         "afew_va": ("PIAP-DF's landmark set", "landmark_set", False),
         "casia_webface": ("PIAP-DF's identity set", "identity_set", False)}
# what this process's run left out that the paper read beside a real dataset (RTATL's unlabelled faces,
# PIAP-DF's x_u sets): every report table names it and gives no difference rows (Report.setup_gap)
LACKING: list[str] = []


def lacking(what: str) -> None:
    """Record that a run on a real dataset goes without ``what``, a side set its paper read."""
    if what not in LACKING:
        LACKING.append(what)


def side_or_standin(real: str, dataset: str, spec: str | None = AUTO, *, what: str, param: str,
                    ref: str = "", none_ok: bool = True) -> str | None:
    """The dataset a side role reads, for a run on ``dataset``.

    ``real``: the paper's set for the role (``affwild2``, ``emotionet``, ``afew_va``, ``casia_webface``).
    ``spec``: the notebook parameter's value: ``"auto"`` (see the module docstring); ``""`` or None
    stays as given (none, where the method allows it: ``none_ok``; otherwise it is refused as an unknown
    name); any other value is a dataset name, checked and returned. ``what`` (e.g. ``"CPC's pre-training
    pool"``), ``ref`` (the paper's section) and ``param`` (the notebook parameter) word the note printed
    when a real run falls back to the stand-in. A root given for ``real`` that is not a folder (env
    AUKIT_DATA_<REAL>) raises :class:`RootNotFound`: a typo must not silently read synthetic data."""
    check_name(real)
    if real not in REAL_DATASETS:
        raise ValueError(f"{what}: {real!r} is not a real dataset (its SynthAU stand-in is synthau-<real>)")
    if spec != AUTO:
        if not spec and none_ok:
            return spec
        return check_name(spec)
    standin = f"synthau-{real}"
    if dataset.startswith("synthau-"):
        return standin
    try:
        resolve_root(real)
    except RootNotFound:
        raise
    except DatasetNotFound:
        print(f"note: {what} is {real}{f' ({ref})' if ref else ''}, which was not found: SynthAU's stand-in "
              f"{standin} is used (set {_env_key(real)} or -p {param} to choose)")
        return standin
    return real


def standin_hint(real: str) -> str | None:
    """For the error of a missing SynthAU stand-in ``synthau-<real>``: the role it plays and the ways on besides
    ``aukit synth`` (a run on a dataset of the user's own reads it when ``real`` is not found); None for a
    dataset that is no side set."""
    if real not in ROLES:
        return None
    what, param, none_ok = ROLES[real]
    return (f"  It stands in for {what} when {real} is not found: set {_env_key(real)}=PATH to a copy of {real}, "
            + (f'or run without it: -p {param} ""' if none_ok else f"or name another dataset: -p {param} NAME"))
