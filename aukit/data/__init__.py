"""aukit data layer: dataset indexes, folds, the aligned-frame store, derived caches, sampling, loaders.

    index(dataset, root=None) -> DataFrame        one row per frame, AU intensity/occurrence columns
    folds(dataset) / fold_subjects(dataset, k)    committed subject-exclusive splits
    load_store(dataset, policy) -> FrameStore     aligned uint8 faces (memmap) + landmarks, cached
    prepare(dataset, policy, root, workers, out)  build a store (what `aukit prepare` runs)
    check() / print_check()                       validate present datasets against data_manifest.yaml
    pi_maps(landmarks, aus, size)                 PIAP-DF predefined PI maps
    flow(store, step)                             RTATL TV-L1 flow t -> t+step, cached
Submodules not imported here (they import torch): aukit.data.loader, aukit.data.augment.
"""
from __future__ import annotations

import importlib

# Each public name and the submodule that defines it. They are imported on first use, so a process
# that needs one part (a predict worker needs only ``align``) does not pay for pandas and the rest.
_HOME = {
    "index": "catalog", "au_columns": "catalog", "parse_source": "catalog", "au_centres": "centres",
    "check": "datacheck", "print_check": "datacheck", "flow": "optflow", "fold_subjects": "splits",
    "folds": "splits", "DATASETS": "manifest", "DatasetNotFound": "manifest", "pi_maps": "pimaps",
    "store_pi_maps": "pimaps", "prepare": "preprocess", "FrameStore": "store", "load_store": "store",
}
__all__ = [*_HOME, "sampling"]


def __getattr__(name: str):
    if name == "sampling":
        return importlib.import_module(".sampling", __name__)
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
