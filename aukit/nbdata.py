"""What a paper notebook's run is checked for before its kernel starts: its dataset, side sets and fold.

An unknown name, a dataset the notebook cannot use (its manifest entry's ``notebooks:``), a fold the dataset
lacks or a copy missing subjects of the split failed in the kernel before, some after hours of face
preparation. :func:`aukit.nb.check_parameters` calls :func:`check_data`.
"""
from __future__ import annotations

from pathlib import Path

from .nb import FERA_FOLD0, PAPERS

SIDE_SETS = ("pool", "unlabelled", "landmark_set", "identity_set")  # extra datasets (comma-separated; '' none, 'auto')


def check_data(nb: Path, params: dict, records: dict) -> None:
    """A paper notebook's dataset, fold and side sets, checked before a kernel starts: an unknown
    name, a dataset the notebook cannot use (its manifest entry's ``notebooks``) or a fold the
    dataset lacks failed in the kernel, some after hours of face preparation."""
    import ast

    from .data.manifest import base_name, check_name, entry, notebook_names, resolve_root

    if nb.stem not in PAPERS or not {"dataset", "fold", *SIDE_SETS} & set(params):
        return

    def value(name):
        return params[name] if name in params else ast.literal_eval(records[name]["default"])

    dataset = value("dataset")
    check_name(dataset)
    if nb.stem not in notebook_names(entry(dataset).get("notebooks")):
        raise ValueError(_not_for(nb, dataset))
    for side in SIDE_SETS:
        if side in params and params[side] not in ("", "auto", None):
            names = [check_name(n.strip()) for n in str(params[side]).split(",")]
            for name in names:                # a real set named on purpose must be there: the kernel
                if not name.startswith("synthau-"):           # failed after cells of work
                    resolve_root(name)
    if "fold" in records:
        fold = value("fold")
        allowed = [1, 2, 3]
        fera = base_name(dataset) == "bp4d"      # BP4D's FERA2015 split (SynthAU's BP4D tree has one too)
        if nb.stem in FERA_FOLD0:
            allowed = [-1, 0, *allowed] if fera else [-1, *allowed]
        if fold not in allowed:
            raise ValueError(f"{nb.name}: fold {fold!r} for {dataset}: takes {', '.join(map(str, allowed))}"
                             + (" (-1: the paper's split" + (", 0: the FERA2015 split)" if fera else ")")
                                if -1 in allowed else "")
                             + ("" if fera or nb.stem not in FERA_FOLD0 else f"; {dataset} has no FERA2015 split"))
        if nb.stem == "scc" and fera and "fold" in params and fold != 1 and value("fera"):
            raise ValueError(f"{nb.name}: fold {fold} has no effect on {dataset}: SCC runs BP4D on the FERA2015 "
                             f"split (fera true, the paper's); add -p fera false to run fold {fold}")
        if not dataset.startswith("synthau-"):
            _check_copy(nb.stem, dataset, fold, fera and nb.stem == "scc" and value("fera"))


# the labels each paper notebook trains on: an own entry's intensity_aus or its occurrence AUs
LABEL_KIND = {"tas": "intensity", "cpc": "intensity", "scc": "intensity",
              "rtatl": "occurrence", "piap_df": "occurrence"}


def _not_for(nb: Path, dataset: str) -> str:
    """Why ``dataset``'s manifest entry does not let notebook ``nb`` run on it (its ``notebooks:`` key), what
    to change for a dataset of the user's own, and every dataset of the manifest in use that it takes."""
    from .data.manifest import (DATASETS, custom_datasets, dataset_aus, entry, is_custom, manifest_path,
                                notebook_names)
    from .data.schema import ManifestError

    def listed(name):
        try:
            return notebook_names(entry(name).get("notebooks"))
        except (KeyError, ManifestError):       # an entry that cannot be read is not offered
            return []

    have = entry(dataset).get("notebooks")
    where = f"entry {dataset!r} in {manifest_path()}"
    msg = (f"{nb.name}: dataset {dataset!r} cannot be used here ({where} "
           + (f"lists it for {have} in `notebooks:`)" if have else
              "has no `notebooks:` key: an entry is run only by the notebooks it lists)"))
    kind = LABEL_KIND.get(nb.stem)
    if is_custom(dataset) and kind:
        key = "intensity_aus" if kind == "intensity" else "occurrence_aus"
        if dataset_aus(dataset)[kind]:
            msg += f"; its {kind} AUs are what {nb.stem} trains on: add {nb.stem} to that entry's `notebooks:`"
        else:
            paper = nb.stem.upper().replace("_", "-")
            msg += f"; {paper} trains on {kind} AUs and entry {dataset!r} lists none ({key})"
    usable = [d for d in DATASETS + custom_datasets() if nb.stem in listed(d)]
    return f"{msg}. This notebook takes: {', '.join(usable) or 'none'} (the entries of {manifest_path()} listing it)"


def _check_copy(stem: str, dataset: str, fold: int, scc_fera: bool) -> None:
    """A real copy that lacks subjects of the run's split is refused before the kernel starts
    (:class:`aukit.data.splits.IncompleteCopy`, or a warning under AUKIT_ALLOW_PARTIAL=1): the
    notebook refused it after preparing every face of the copy, hours on a real BP4D."""
    from .data.splits import check_copy, notebook_fold

    check_copy(dataset, "fera" if scc_fera else notebook_fold(stem, dataset, fold) if stem in FERA_FOLD0 else fold)
