"""RTATL's data: labelled frames (+ TV-L1 flow t -> t+flow_step) and unlabelled faces, from the data layer.

``load_data`` gathers, per store row, the AU occurrence labels (N, n_aus) 0/1/NaN, the AU
centres (N, n_aus, 2, 2) and the flow targets; ``PairedLoader`` yields one batch made of a
labelled batch and an unlabelled one (labels NaN, no flow), as ``RTATLStep`` expects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from aukit import data as D
from aukit.data.sidesets import lacking, side_or_standin
from aukit.data.splits import labelled_fold_rows, subset_rows
from aukit.data.centres import SUPPORTED_AUS
from aukit.methods import aus as A
from aukit.models.input_norm import RANDOM_INIT, InputNorm

from .config import RTATLTrainConfig


@dataclass
class RTATLData:
    """Stores and the per-row arrays a run needs. Rows index the labelled store."""
    store: D.FrameStore
    aus: tuple
    labels: np.ndarray          # (N, n_aus) float32 0/1/NaN
    centres: np.ndarray         # (N, n_aus, 2, 2) float32, aligned pixels
    train_rows: np.ndarray      # (n_train,) int
    test_rows: np.ndarray       # (n_test,) int
    flow: np.ndarray | None = None        # (N, 2, r, r) float32, pixels of the aligned face (NaN-free)
    flow_valid: np.ndarray | None = None  # (N,) bool
    unlabelled: D.FrameStore | None = None
    unlabelled_rows: np.ndarray | None = None
    unlabelled_centres: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def occurrence_labels(index, aus) -> np.ndarray:
    """(N, n_aus) float32 from the index's occ_AUxx columns (NaN where not coded)."""
    cols = [f"occ_AU{int(a):02d}" for a in aus]
    missing = [c for c in cols if c not in index.columns]
    if missing:
        raise KeyError(f"index lacks occurrence columns {missing}; has {D.au_columns(index, occurrence=True)}")
    return index[cols].to_numpy(np.float32)


def unlabelled_for(dataset: str, unlabelled: str | None = "auto") -> str | None:
    """The unlabelled faces' dataset for a run on ``dataset``: ``"auto"`` is EmotioNet (RTATL §4.1) on a
    real run when it is found, else SynthAU's stand-in synthau-emotionet (said on a real run); a name is
    checked; ``""`` or None: no unlabelled pool (None). See :func:`aukit.data.sidesets.side_or_standin`."""
    name = side_or_standin("emotionet", dataset, unlabelled, what="RTATL's unlabelled faces", ref="§4.1",
                           param="unlabelled") or None
    if name is None and not dataset.startswith("synthau-"):
        lacking("RTATL's unlabelled faces (§4.1: 100,000 EmotioNet images)")
    return name


def load_data(dataset: str, fold: int, aus, *, unlabelled: str | None = None, flow: bool = True,
              flow_step: int | None = None, flow_size: int = 64, max_train: int | None = None,
              max_test: int | None = None, max_unlabelled: int | None = None, labelled_subjects: int | None = None,
              seed: int = 0, policy: str = "rtatl") -> RTATLData:
    """Labelled store of ``dataset`` split by ``fold`` (subject-exclusive), flow targets and the
    unlabelled pool (``unlabelled``: see :func:`unlabelled_for`). ``labelled_subjects`` keeps that
    many random training subjects (Fig. 4);
    ``max_*`` subsample frames (quick/smoke presets); ``flow_step`` None: RTATLTrainConfig.flow_step."""
    unlabelled = unlabelled_for(dataset, unlabelled)
    store = D.load_store(dataset, policy)
    idx = store.index
    train_s, test_s = D.fold_subjects(dataset, fold, present=idx)    # the index: its gaps are checked too
    aus, dropped = A.kept_aus(dataset, idx, aus, train_s, "RTATL", occurrence=True,
                                   located=SUPPORTED_AUS) \
        if A.is_own(dataset) else (aus, {})
    info = {"dataset": dataset, "fold": fold, "store_hash": store.cache_hash, "frames": len(store),
            "aus_dropped": dropped}
    if labelled_subjects is not None:
        present = sorted(set(train_s) & set(idx["subject"]))
        if labelled_subjects > len(present):
            raise ValueError(f"asked for {labelled_subjects} labelled subjects, fold {fold} has {len(present)}")
        train_s = list(np.random.default_rng(seed).choice(present, labelled_subjects, replace=False))
    labels = occurrence_labels(idx, aus)
    train, test = labelled_fold_rows(idx, labels, train_s, test_s, where=f"{dataset} fold {fold}",
                                     max_train=max_train, max_test=max_test, seed=seed)
    out = RTATLData(store=store, aus=tuple(aus), labels=labels, centres=store.au_centres(aus),
                    train_rows=train, test_rows=test, info=info)
    if flow:
        step = RTATLTrainConfig().flow_step if flow_step is None else flow_step
        raw = D.flow(store, step=step, size=flow_size)
        k = max(1, flow_size // 32)  # choice: keep a 32x32 grid (OFE predicts 24x24 at 192), 4x less memory
        r = flow_size // k
        f = np.empty((len(raw), 2, r, r), np.float32)
        for i in range(0, len(raw), 1024):
            chunk = np.asarray(raw[i:i + 1024, :, :r * k, :r * k], np.float32)
            f[i:i + 1024] = chunk.reshape(len(chunk), 2, r, k, r, k).mean(axis=(3, 5))
        valid = ~np.isnan(f).any(axis=(1, 2, 3))
        # the data layer gives pixels of its size x size grid; the step wants pixels of the aligned face
        out.flow = np.nan_to_num(f) * (store.size / flow_size)
        out.flow_valid = valid
        info["flow_pairs"] = int(valid.sum())
    if unlabelled:
        u = D.load_store(unlabelled, policy)
        out.unlabelled = u
        out.unlabelled_rows = subset_rows(np.arange(len(u)), max_unlabelled, seed + 2)
        out.unlabelled_centres = u.au_centres(aus)
        info.update(unlabelled=unlabelled, unlabelled_frames=len(out.unlabelled_rows), unlabelled_hash=u.cache_hash)
    info.update(train_frames=len(train), test_frames=len(test), train_subjects=len(set(idx["subject"].iloc[train])))
    return out


class PairedLoader:
    """One labelled + one unlabelled batch per step, concatenated (unlabelled labels are NaN).

    Its length is the labelled loader's; the unlabelled loader cycles. ``set_epoch`` reaches both.
    ``norm``: the trunk's input normalisation (``RTATLNet.norm``), for both.
    """

    def __init__(self, data: RTATLData, batch_size: int, unlabelled_batch_size: int, *, device, seed: int = 0,
                 use_unlabelled: bool = True, use_flow: bool = True, norm: InputNorm = RANDOM_INIT):
        from aukit.data.loader import BatchLoader
        t = {"labels": data.labels, "centres": data.centres}
        if use_flow and data.flow is not None:
            t.update(flow=data.flow, flow_valid=data.flow_valid)
        self.labelled = BatchLoader(data.store, data.train_rows, min(batch_size, len(data.train_rows)),
                                    device=device, seed=seed, targets=t, mean=norm.mean, std=norm.std)
        self.unlabelled = None
        if use_unlabelled and data.unlabelled is not None and unlabelled_batch_size > 0:
            n_u = len(data.unlabelled_rows)
            self.unlabelled = BatchLoader(data.unlabelled, data.unlabelled_rows, min(unlabelled_batch_size, n_u),
                                          device=device, seed=seed + 1, targets={"centres": data.unlabelled_centres},
                                          mean=norm.mean, std=norm.std)
        self.n_aus = data.labels.shape[1]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.labelled.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.labelled)

    def _unlabelled_stream(self):
        e = self.epoch * 1000
        while True:
            self.unlabelled.set_epoch(e)
            yield from self.unlabelled
            e += 1

    def __iter__(self):
        stream = self._unlabelled_stream() if self.unlabelled is not None else None
        for lab in self.labelled:
            if stream is None:
                yield lab
                continue
            unl = next(stream)
            b_u = unl["image"].shape[0]
            dev = lab["image"].device
            batch = {"image": torch.cat([lab["image"], unl["image"]]),
                     "centres": torch.cat([lab["centres"], unl["centres"]]),
                     "labels": torch.cat([lab["labels"], torch.full((b_u, self.n_aus), float("nan"), device=dev)])}
            if "flow" in lab:
                f = lab["flow"]
                batch["flow"] = torch.cat([f, torch.zeros((b_u, *f.shape[1:]), dtype=f.dtype, device=dev)])
                batch["flow_valid"] = torch.cat([lab["flow_valid"], torch.zeros(b_u, dtype=torch.bool, device=dev)])
            yield batch
