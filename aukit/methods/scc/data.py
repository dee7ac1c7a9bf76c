"""SCC's data: aligned 256x256 faces (policy ``scc``), AU intensities and AU centres per store row.

``load_data`` splits a store subject-exclusively (DISFA: 3 folds; BP4D: the FERA2015
train/test split the paper uses) and keeps the per-row arrays that ``BatchLoader``
gathers into each batch: ``intensity`` (N, A) 0..5/NaN and ``centres`` (N, A, 2, 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aukit import data as D
from aukit.data.splits import labelled_fold_rows
from aukit.data.centres import SUPPORTED_AUS
from aukit.methods import aus as A

from .config import BP4D_AUS, DISFA_AUS


def dataset_aus(dataset: str) -> tuple[str, ...]:
    """The paper's AUs on BP4D, DISFA and their SynthAU trees (exact names); a dataset of your own's
    manifest ``intensity_aus``."""
    aus = A.method_aus(dataset, "intensity", {"bp4d": BP4D_AUS, "disfa": DISFA_AUS}, "SCC")
    return tuple(A.au_name(a) for a in aus)


def resolve_fold(dataset: str, fold: int, fera: bool = True) -> int | str:
    """BP4D (and SynthAU's BP4D tree) uses the FERA2015 split (SCC §Datasets) when ``fera`` and the split
    exists; else ``fold`` (a dataset of your own: always, no paper's protocol applies)."""
    if fera and A.family(dataset) == "bp4d" and "fera_train" in D.folds(dataset):
        return "fera"
    return fold


@dataclass
class SCCData:
    store: D.FrameStore
    aus: tuple
    intensity: np.ndarray       # (N, A) float32, 0..5, NaN = not labelled
    centres: np.ndarray         # (N, A, 2, 2) float32, aligned pixels
    train_rows: np.ndarray      # (n_train,) int
    test_rows: np.ndarray       # (n_test,) int
    info: dict = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, np.ndarray]:
        return {"intensity": self.intensity, "centres": self.centres}


def intensity_labels(index, aus) -> np.ndarray:
    """(N, A) float32 intensities from the index's AU columns (NaN where not labelled)."""
    missing = [a for a in aus if a not in index.columns]
    if missing:
        raise KeyError(f"index lacks intensity columns {missing}; has {D.au_columns(index)}")
    return index[list(aus)].to_numpy(np.float32)


def load_data(dataset: str, fold: int | str, aus=None, *, max_train: int | None = None,
              max_test: int | None = None, seed: int = 0, policy: str = "scc") -> SCCData:
    """Store of ``dataset`` split by ``fold``; ``max_*`` subsample frames (quick/smoke presets)."""
    aus = tuple(aus or dataset_aus(dataset))
    store = D.load_store(dataset, policy)
    idx = store.index
    train_s, test_s = D.fold_subjects(dataset, fold, present=idx)    # the index: its gaps are checked too
    aus, dropped = (A.kept_aus(dataset, idx, aus, train_s, "SCC", located=SUPPORTED_AUS) if A.is_own(dataset)
                    else (aus, {}))
    labels = intensity_labels(idx, aus)
    train, test = labelled_fold_rows(idx, labels, train_s, test_s, where=f"{dataset} fold {fold}",
                                     max_train=max_train, max_test=max_test, seed=seed)
    info = {"dataset": dataset, "fold": str(fold), "store_hash": store.cache_hash, "frames": len(store),
            "train_frames": len(train), "test_frames": len(test),
            "train_subjects": int(idx["subject"].iloc[train].nunique()),
            "test_subjects": int(idx["subject"].iloc[test].nunique()), "aus_dropped": dropped}
    return SCCData(store, aus, labels, store.au_centres(aus), train, test, info)


def sequence_rows(data: SCCData, subject: str, max_frames: int) -> np.ndarray:
    """Rows of the first labelled sequence of ``subject``, in frame order, at most ``max_frames``."""
    idx = data.store.index
    rows = np.flatnonzero((idx["subject"] == subject).to_numpy() & ~np.isnan(data.intensity).all(1))
    if len(rows) == 0:
        raise ValueError(f"no labelled frames of subject {subject!r}")
    seq = idx["sequence"].iloc[rows[0]]
    rows = rows[(idx["sequence"].iloc[rows] == seq).to_numpy()]
    rows = rows[np.argsort(idx["frame"].iloc[rows].to_numpy(), kind="stable")]
    return rows[:max_frames]
