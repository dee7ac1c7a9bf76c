"""CPC data plumbing on top of ``aukit.data``: splits, pre-training clips, labelled windows.

Every random choice is a pure function of a seed (and the epoch for windows), so runs
are reproduced from their seeds and a resumed run sees the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from aukit.data import sampling
from aukit.data.loader import BatchLoader


@dataclass
class Split:
    """One dataset in a store: frames of the train and test subjects, AU labels by store row."""
    store: object                 # aukit.data.FrameStore
    frames: pd.DataFrame          # store.index with `row` = store row, sorted by subject/sequence/frame
    train_rows: np.ndarray        # (n_train,) store rows, temporal order within sequences
    test_rows: np.ndarray
    aus: list                     # AU columns with labels
    labels: np.ndarray            # (len(store), n_aus) float32, NaN = not coded
    seq_id: np.ndarray            # (len(store),) int sequence id of each store row
    run_id: np.ndarray            # (len(store),) int id of its run of consecutive frames (sampling.runs)
    aus_dropped: dict = field(default_factory=dict)   # {'AU25': why}: a dataset of your own's AUs left out


def make_split(store, train_subjects, test_subjects, aus=None) -> Split:
    """Frames of ``store`` split by subject; ``aus`` defaults to every AU column with a label."""
    from aukit.data import au_columns

    df = store.index.assign(row=np.arange(len(store))).sort_values(["subject", "sequence", "frame"], kind="stable")
    aus = list(aus) if aus is not None else [c for c in au_columns(df) if df[c].notna().any()]
    labels = store.index[aus].to_numpy(np.float32) if aus else np.zeros((len(store), 0), np.float32)
    seq = np.empty(len(store), np.int64)
    seq[df["row"].to_numpy()] = df.groupby(["subject", "sequence"], sort=False).ngroup().to_numpy()
    subj = df["subject"].astype(str)
    train = df["row"].to_numpy()[subj.isin([str(s) for s in train_subjects]).to_numpy()]
    test = df["row"].to_numpy()[subj.isin([str(s) for s in test_subjects]).to_numpy()]
    if len(train) == 0:
        raise ValueError(f"no frames of the training subjects {list(train_subjects)[:5]} in {store!r}")
    run = np.empty(len(store), np.int64)
    order, run_of, _ = sampling.runs(df)
    run[order] = run_of
    return Split(store, df, train, test, aus, labels, seq, run)


def clip_rows(frames: pd.DataFrame, rows: np.ndarray, length: int, stride: int, n: int | str | None,
              seed: int, *, announce=print) -> np.ndarray:
    """(n, length) pre-training clips (§4: T frames at a stride) inside the sequences of ``rows``.

    ``n`` "tile": the non-overlapping clips that tile each run of consecutive frames
    (``sampling.tiles``; §4's 33,509 training sequences of Aff-Wild2 are such a set: about one clip
    per (T - 1) * stride + 1 frames). Otherwise anchors are ``n`` random rows (all rows when None
    or larger) among those a whole clip can
    hold inside their run of consecutive frames (``sampling.fits``); ``sampling.windows`` keeps
    each clip inside that run, so a clip never jumps over frames missing from the store (no face
    found, or absent from the copy) nor repeats edge frames. The others are counted through
    ``announce``.
    """
    rng = np.random.default_rng(seed)
    rows = np.asarray(rows, np.int64)
    sub = frames[frames["row"].isin(rows)]
    if n == "tile":
        clips = sampling.tiles(sub, length, stride)
        if not len(clips):
            raise ValueError(f"no run of {(length - 1) * stride + 1} consecutive frames among {len(rows)} frames: "
                             f"no pre-training clip of {length} frames at stride {stride} fits "
                             "(lower seq_len or stride)")
        announce(f"pre-training clips: {len(clips)} non-overlapping clips tile {len(rows)} frames")
        return clips
    whole = sampling.fits(sub, rows, length, stride)
    span = (length - 1) * stride + 1
    if not whole.all():
        announce(f"note: {int((~whole).sum())} of {len(rows)} frames cannot sit in a whole clip ({length} frames "
                 f"at stride {stride}: {span} consecutive frames) inside their sequence's stretch between missing "
                 "frames (no face found, or absent from the copy); no clip is drawn around them")
    if not whole.any():
        raise ValueError(f"no run of {span} consecutive frames among {len(rows)} frames: no pre-training clip of "
                         f"{length} frames at stride {stride} fits (lower seq_len or stride)")
    rows = rows[whole]
    anchors = rows if n is None or n >= len(rows) else np.sort(rng.choice(rows, n, replace=False))
    return sampling.windows(sub, anchors, length, stride, seed=seed)


def split_sequences(split: Split, rows: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a random ``val_fraction`` of the sequences (validation) vs the rest (§4: 351/71 videos)."""
    seqs = np.unique(split.seq_id[rows])
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(val_fraction * len(seqs)))) if len(seqs) > 1 else 0
    val = set(rng.choice(seqs, n_val, replace=False).tolist())
    is_val = np.isin(split.seq_id[rows], list(val))
    return rows[~is_val], rows[is_val]


def labelled_rows(split: Split, fraction: float, seed: int) -> np.ndarray:
    """The seeded random ``fraction`` of training frames that keep their labels (§4 Frame selection).

    Drawn among training frames with at least one coded AU.
    """
    coded = split.train_rows[np.isfinite(split.labels[split.train_rows]).any(1)]
    if len(coded) == 0:
        raise ValueError("no training frame has an AU label")
    keep = coded[sampling.sparse_labels(len(coded), fraction, seed)]
    if len(keep) < 2:      # the R18 baselines' batch of one frame stops BatchNorm with a torch error
        raise ValueError(f"label_fraction {fraction:g} of the {len(coded)} labelled training frames keeps "
                         f"{len(keep)}: the labelled models need at least 2 (a copy this small: raise "
                         "-p label_fraction, or use more subjects)")
    return keep


class WindowLoader:
    """Batches of windows around labelled frames, re-drawn every epoch (§3.4, Fig. 4).

    Yields ``image`` (B, T, 3, S, S), ``au`` (B, T, N) and ``mask`` (B, T): True at the
    labelled frame of each window, whose position in the window is random and changes
    with the epoch. ``labels`` (len(store), N) gives the targets (true or pseudo labels).
    """

    def __init__(self, split: Split, anchors: np.ndarray, labels: np.ndarray, length: int, stride: int,
                 batch_size: int, *, device, seed: int = 0, augment=None):
        self.split, self.anchors, self.length, self.stride = split, np.asarray(anchors), length, stride
        self.batch_size, self.device, self.seed, self.augment = batch_size, device, seed, augment
        self.labels = np.asarray(labels, np.float32)
        self.frames = split.frames[split.frames["row"].isin(split.train_rows)]
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rows, slots = sampling.windows(self.frames, self.anchors, self.length, self.stride,
                                       seed=self.seed * 100_003 + epoch, return_position=True)
        self.slots = torch.as_tensor(slots, device=self.device)
        self.loader = BatchLoader(self.split.store, rows, min(self.batch_size, len(rows)), device=self.device,
                                  seed=self.seed, targets={"au": self.labels}, augment=self.augment)
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            slot = self.slots[batch["index"]]
            mask = torch.zeros(batch["rows"].shape, dtype=torch.bool, device=slot.device)
            mask[torch.arange(len(slot), device=slot.device), slot] = True
            batch["mask"] = mask
            yield batch


def frame_loader(split: Split, rows: np.ndarray, batch_size: int, *, device, labels=None, shuffle=True,
                 seed: int = 0, augment=None) -> BatchLoader:
    """Single frames (R18 baselines; evaluation with ``shuffle=False``)."""
    targets = {"au": np.asarray(labels, np.float32)} if labels is not None else None
    return BatchLoader(split.store, rows, min(batch_size, len(rows)), device=device, shuffle=shuffle,
                       drop_last=shuffle, seed=seed, targets=targets, augment=augment)
