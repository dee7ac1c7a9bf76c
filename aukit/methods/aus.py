"""Which AUs a method trains and scores on a dataset, and which paper's dataset family it is.

The papers' datasets (``bp4d``, ``disfa`` and their SynthAU trees, matched by exact name: ``bp4d_plus`` is
none of them) keep each paper's AU lists and dataset-dependent defaults. A dataset of the user's own (a
manifest entry with a ``layout:``, :func:`aukit.data.manifest.is_custom`) takes the AUs its entry lists:
``intensity_aus`` for the intensity methods (TAS, CPC, SCC), its occurrence AUs (``occurrence_aus``, or the
``intensity_aus`` its reader derives occurrence from: :func:`aukit.data.manifest.occurrence_threshold`) for the
detection methods (RTATL, PIAP-DF).

    aus = method_aus("mylab", "intensity", {"bp4d": (6, 10, 12, 14, 17), "disfa": (...)}, method="TAS")
"""
from __future__ import annotations

from typing import Collection, Mapping

PAPER_FAMILY = {"bp4d": "bp4d", "synthau-bp4d": "bp4d", "disfa": "disfa", "synthau-disfa": "disfa"}
KINDS = ("intensity", "occurrence")


def family(dataset: str) -> str | None:
    """'bp4d' or 'disfa' for the papers' datasets (their exact names, SynthAU trees included), else None: the
    manifest refuses an own entry named like them in another case ('DISFA'), which would be the user's dataset
    to the data layer and DISFA to the methods."""
    return PAPER_FAMILY.get(dataset)


def family_or_bp4d(dataset: str) -> str:
    """The paper family whose hyper-parameter defaults a run takes: DISFA's on a DISFA copy, else BP4D's
    (a dataset of your own takes BP4D's, the papers' main benchmark)."""
    return family(dataset) or "bp4d"


def is_own(dataset: str) -> bool:
    """Whether ``dataset`` is a dataset of the user's own (a manifest entry with a ``layout:``)."""
    from aukit.data import manifest
    return family(dataset) is None and manifest.is_custom(dataset)


def _key_hint(dataset: str, kind: str) -> str:
    """What to add to the entry of ``dataset`` for ``kind`` AUs, in keys its layout accepts (the schema refused
    ``occurrence_aus`` in a DISFA-layout entry, and ``intensity_aus`` beside ``label_kind: occurrence``)."""
    from aukit.data import manifest
    e = manifest.entry(dataset)
    layout = e.get("layout")
    intensity = "`intensity_aus: [1, 4, 12]` (AU numbers coded 0..5)"
    if layout == "table" and e.get("label_kind", "intensity") != "intensity":
        if kind == "intensity":
            return ("`label_kind: intensity` with `intensity_aus` (its CSVs hold 0/1 occurrence now: intensity "
                    "methods need CSVs of 0..5)")
        return "`occurrence_aus: [1, 4, 12]` (the CSVs' AU columns, coded 0/1)"
    if kind == "intensity":
        return intensity + (" and `patterns.intensity` (one file an AU)" if layout == "bp4d" else "")
    if layout == "bp4d":
        return "`occurrence_aus: [1, 4, 12]` (AU numbers coded 0/1 in patterns.occurrence's CSVs)"
    thr = manifest.occurrence_threshold(dataset)
    return f"{intensity}: occurrence is intensity >= {thr:g} (occurrence_threshold)"


def own_aus(dataset: str, kind: str, method: str) -> tuple[int, ...]:
    """The ``kind`` AUs (numbers) the manifest entry of the user's dataset lists; an error naming the
    entry and the key to add when it lists none."""
    from aukit.data import manifest
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    aus = manifest.dataset_aus(dataset)[kind]
    if not aus:
        raise ValueError(f"{method} trains on {kind} AUs, and the manifest entry {dataset!r} in "
                         f"{manifest.manifest_path()} lists none: add {_key_hint(dataset, kind)} to it")
    return aus


def method_aus(dataset: str, kind: str, paper: Mapping[str, tuple], method: str) -> tuple:
    """A method's AUs on ``dataset``: ``paper[family]`` (the paper's list, as the method writes it) on the
    papers' datasets; the entry's ``kind`` AUs (numbers) on a dataset of your own."""
    fam = family(dataset)
    if fam is not None:
        return tuple(paper[fam])
    if is_own(dataset):
        return own_aus(dataset, kind, method)
    raise ValueError(f"{method} trains on bp4d, disfa, their SynthAU trees (synthau-bp4d, synthau-disfa) or a "
                     f"dataset of your own (a manifest entry with a `layout:`), got {dataset!r}")


def au_name(au) -> str:
    """6 -> 'AU06'; 'AU06' stays."""
    return au if isinstance(au, str) else f"AU{int(au):02d}"


def kept_aus(dataset: str, idx, aus, train_subjects, method: str, *, occurrence: bool = False,
             located: Collection[int] | None = None) -> tuple[tuple, dict[str, str]]:
    """(the AUs of ``aus`` a method can train on ``dataset``'s index ``idx``, {AU name: why left out}): an AU
    needs its column (``occ_AUxx`` when ``occurrence``), a coded frame of ``train_subjects`` and, when the
    method places AUs by landmarks, to be one of ``located`` (:data:`aukit.data.centres.SUPPORTED_AUS` for
    RoIs and heatmaps, :data:`aukit.data.pimaps.REGIONS` for PI maps). AUs keep the form given (numbers or
    'AUxx'); an error when none is left."""
    import numpy as np
    prefix = "occ_" if occurrence else ""
    cols = set(idx.columns)
    train = idx["subject"].astype(str).isin(set(map(str, train_subjects))).to_numpy()
    kept, dropped = [], {}
    for a in aus:
        name, number = au_name(a), int(au_name(a)[2:])
        if prefix + name not in cols:
            dropped[name] = f"the index has no {prefix}{name} column"
        elif located is not None and number not in located:
            dropped[name] = f"{method} places AUs by landmarks, and aukit has no place for AU{number:02d}"
        elif not np.isfinite(idx.loc[train, prefix + name].to_numpy(np.float64)).any():
            dropped[name] = "no frame of the training subjects has it coded"
        else:
            kept.append(a)
    if not kept:
        why = "; ".join(f"{a}: {w}" for a, w in dropped.items())
        raise ValueError(f"{method} on {dataset}: none of its AUs can be trained ({why})")
    return tuple(kept), dropped
