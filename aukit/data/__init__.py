"""aukit data layer: dataset indexes, folds, the aligned-frame store, derived caches, sampling, loaders.

    index(dataset, root=None) -> DataFrame        one row per frame, AU intensity/occurrence columns
    folds(dataset) / fold_subjects(dataset, k)    committed subject-exclusive splits
    load_store(dataset, policy) -> FrameStore     aligned uint8 faces (memmap) + landmarks, cached
    prepare(dataset, policy, root, workers, out)  build a store (what `aukit prepare` runs)
    check() / print_check()                       validate present datasets against data_manifest.yaml
    pi_maps(landmarks, aus, size)                 PIAP-DF predefined PI maps
    flow(store)                                   RTATL TV-L1 flow t -> t+3, cached
Submodules not imported here (they import torch): aukit.data.loader, aukit.data.augment.
"""
from .catalog import au_columns, index, parse_source
from .centres import au_centres
from .datacheck import check, print_check
from .optflow import flow
from .splits import fold_subjects, folds
from .manifest import DATASETS, DatasetNotFound
from .pimaps import pi_maps, store_pi_maps
from .preprocess import prepare
from .store import FrameStore, load_store
from . import sampling

__all__ = ["index", "folds", "fold_subjects", "load_store", "prepare", "FrameStore", "check",
           "print_check", "pi_maps", "store_pi_maps", "flow", "au_centres", "au_columns", "parse_source", "DATASETS",
           "DatasetNotFound", "sampling"]
