"""TAS training data from the shared data layer: keyframe segments and the Table 4 settings.

    data = load_data("synthau-bp4d", fold=1, T=16)          # store, AUs, splits, segments
    batches = segment_batches(data, "keyframe", batch_size=16, device=dev, seed=0, size=256)

Settings (TAS Table 4): "keyframe" (the paper's: only the two ends of each segment carry
the label of the segment's AU), "S1" (every frame of a segment, all AUs), "S2" (two random
frames per segment, the segment's AU), "S3" (random ``label_fraction`` of the training
frames, all AUs, single images).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from aukit.data import fold_subjects, load_store, sampling
from aukit.data.loader import BatchLoader
from aukit.data.store import FrameStore
from aukit.methods import aus as A
from aukit.models.input_norm import RANDOM_INIT, InputNorm

from .config import BP4D_AUS, DISFA_AUS, INTENSITY_MAX

SETTINGS = ("keyframe", "S1", "S2", "S3")


@dataclass
class TASData:
    """A store plus what TAS needs of it; labels are intensity/5 (NaN = not coded)."""

    dataset: str
    store: FrameStore
    aus: list[str]              # ['AU06', ...]
    labels: np.ndarray          # (N, C) float32 in [0, 1], NaN where not coded
    subject_id: np.ndarray      # (N,) int64 code of each row's subject
    train_rows: np.ndarray      # (n_train,) store rows of training subjects
    test_rows: np.ndarray       # (n_test,) store rows of test subjects
    seg_rows: np.ndarray        # (n_seg, T) store rows, valley -> peak
    seg_au: np.ndarray          # (n_seg,) AU index of each segment
    train_subjects: list[str]
    test_subjects: list[str]
    aus_dropped: dict = field(default_factory=dict)    # {'AU25': why} AUs of the dataset's list left out

    @property
    def n_aus(self) -> int:
        return len(self.aus)

    def keyframe_fraction(self) -> float:
        """Labelled (frame, AU) entries of the keyframe setting over all labelled training entries."""
        ends = {(int(r), int(c)) for seg, c in zip(self.seg_rows, self.seg_au) for r in (seg[0], seg[-1])}
        total = int(np.isfinite(self.labels[self.train_rows]).sum())
        return len(ends) / max(total, 1)


def wanted_aus(dataset: str) -> tuple[int, ...]:
    """The intensity AUs TAS evaluates: the paper's on BP4D (5) and DISFA (12) and their SynthAU trees, the
    manifest entry's ``intensity_aus`` on a dataset of your own."""
    return A.method_aus(dataset, "intensity", {"bp4d": BP4D_AUS, "disfa": DISFA_AUS}, "TAS")


def dataset_aus(dataset: str, columns) -> list[str]:
    """The AUs of :func:`wanted_aus` present in the index."""
    wanted = wanted_aus(dataset)
    aus = [f"AU{a:02d}" for a in wanted if f"AU{a:02d}" in set(columns)]
    if not aus:
        raise ValueError(f"{dataset}: none of the AUs {wanted} has an intensity column; columns: {list(columns)}")
    return aus


def load_data(dataset: str, fold: int | str = 1, T: int = 16, *, root=None, store: FrameStore | None = None) -> TASData:
    """Store rows, labels and keyframe segments of one fold (``fold`` 1..3 or 'fera')."""
    store = store or load_store(dataset, "tas", root)
    df = store.index
    train_s, test_s = fold_subjects(dataset, fold, present=df)    # the index: its gaps are checked too
    aus, dropped = dataset_aus(dataset, df.columns), {}
    if A.is_own(dataset):               # its AUs without a column or a coded training frame are left out, named
        aus, dropped = A.kept_aus(dataset, df, [A.au_name(a) for a in wanted_aus(dataset)], train_s, "TAS")
        aus = list(aus)
    labels = (df[aus].to_numpy(np.float32) / INTENSITY_MAX)
    bad = np.isfinite(labels) & ((labels < 0) | (labels > 1))
    if bad.any():
        raise ValueError(f"{store.path}/index.csv: {int(bad.sum())} intensities outside 0..5")
    subj = df["subject"].astype(str).to_numpy()
    codes = {s: i for i, s in enumerate(sorted(set(subj)))}
    rows = np.arange(len(df), dtype=np.int64)
    if "row" in df and not np.array_equal(df["row"].to_numpy(), rows):
        raise ValueError(f"{store.path}/index.csv: column 'row' is not 0..N-1 (row i must be image i)")
    train_rows, test_rows = rows[np.isin(subj, train_s)], rows[np.isin(subj, test_s)]
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ValueError(f"{dataset} fold {fold}: {len(train_rows)} training and {len(test_rows)} test frames "
                         f"(train subjects {train_s}, test {test_s}, store subjects {sorted(codes)})")
    train_df = df[np.isin(subj, train_s)]
    segs, seg_au = [], []
    for c, au in enumerate(aus):
        s = sampling.segments(train_df, au, T=T)
        segs.append(s)
        seg_au.append(np.full(len(s), c, np.int64))
    seg_rows = np.concatenate(segs) if segs else np.zeros((0, T), np.int64)
    if len(seg_rows) == 0:
        raise ValueError(f"{dataset} fold {fold}: no keyframe segments in the training subjects")
    return TASData(dataset, store, aus, labels, np.array([codes[s] for s in subj], np.int64), train_rows,
                   test_rows, seg_rows, np.concatenate(seg_au),
                   [s for s in train_s if s in codes], [s for s in test_s if s in codes],   # the subjects read
                   dropped)


def resizer(size: int | None):
    """An ``augment`` hook for BatchLoader that resizes (B[, T], 3, S, S) to ``size`` (None: keep)."""
    def resize(x: torch.Tensor, gen=None) -> torch.Tensor:
        if size is None or x.shape[-1] == size:
            return x
        flat = x.flatten(0, 1) if x.ndim == 5 else x
        out = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return out.view(*x.shape[:-2], size, size)
    return resize


class SegmentBatches:
    """Iterates the TAS batch dict of ``step.py`` on top of a :class:`BatchLoader`.

    The loader yields store rows and their positions (``index``); the per-segment facts
    (AU, labelled positions) are looked up by position, so epoch order and resume stay
    the loader's (a pure function of seed and epoch).
    """

    def __init__(self, loader: BatchLoader, labels: torch.Tensor, subject: torch.Tensor,
                 seg_au: torch.Tensor | None, label_pos: torch.Tensor | None, multi_au: bool):
        self.loader, self.labels, self.subject = loader, labels, subject
        self.seg_au, self.label_pos, self.multi_au = seg_au, label_pos, multi_au

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            rows, pos = batch["rows"], batch["index"]
            full = self.labels[rows]                                         # (B, T, C) or (B, C)
            if self.multi_au and self.label_pos is None:
                target = full                                                # S1, S3: all AUs of all frames
            else:
                b, t, c = full.shape
                keep = torch.zeros_like(full, dtype=torch.bool)
                lp = self.label_pos[pos]                                     # (B, k) labelled positions
                au = self.seg_au[pos]
                for k in range(lp.shape[1]):
                    keep[torch.arange(b, device=full.device), lp[:, k], au] = True
                target = torch.where(keep, full, torch.full_like(full, float("nan")))
            out = {"image": batch["image"], "target": target, "subject": self.subject[rows[:, 0] if rows.ndim == 2 else rows]}
            if self.seg_au is not None:
                out["seg_au"] = self.seg_au[pos]
            yield out


def segment_batches(data: TASData, setting: str = "keyframe", *, batch_size: int = 16, device="cpu", seed: int = 0,
                    size: int | None = None, label_fraction: float = 0.02, max_segments: int | None = None,
                    augment=None, norm: InputNorm = RANDOM_INIT) -> SegmentBatches:
    """Training batches of one setting (module docstring); ``size`` resizes the 256 faces; ``norm``: the
    trunk's input normalisation (``input_norm(cfg.model.weights)``)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    dev = torch.device(device)
    rng = np.random.default_rng(seed)
    seg_rows, seg_au = data.seg_rows, data.seg_au
    if max_segments is not None and len(seg_rows) > max_segments:
        pick = np.sort(rng.choice(len(seg_rows), max_segments, replace=False))
        seg_rows, seg_au = seg_rows[pick], seg_au[pick]
    T = seg_rows.shape[1]
    resize = resizer(size)
    hook = resize if augment is None else (lambda x, g: augment(resize(x, g), g))
    labels = torch.as_tensor(data.labels, device=dev)
    subject = torch.as_tensor(data.subject_id, device=dev)
    if setting == "S3":
        frames = data.train_rows[sampling.sparse_labels(len(data.train_rows), label_fraction, seed)]
        frames = frames[np.isfinite(data.labels[frames]).any(1)]
        loader = BatchLoader(data.store, frames, min(batch_size * T, len(frames)), device=dev, seed=seed,
                             augment=hook, mean=norm.mean, std=norm.std)
        return SegmentBatches(loader, labels, subject, None, None, multi_au=True)
    if len(seg_rows) < batch_size:
        raise ValueError(f"{len(seg_rows)} segments, fewer than one batch of {batch_size}")
    loader = BatchLoader(data.store, seg_rows, batch_size, device=dev, seed=seed, augment=hook, mean=norm.mean,
                         std=norm.std)
    au_t = torch.as_tensor(seg_au, device=dev)
    if setting == "S1":
        return SegmentBatches(loader, labels, subject, au_t, None, multi_au=True)
    if setting == "keyframe":
        pos = np.tile(np.array([0, T - 1]), (len(seg_rows), 1))
    else:  # S2: two random frames per segment
        pos = np.sort(np.argsort(rng.random((len(seg_rows), T)), axis=1)[:, :2], axis=1)
    return SegmentBatches(loader, labels, subject, au_t, torch.as_tensor(pos, device=dev), multi_au=False)


def frame_batches(data: TASData, rows: np.ndarray, *, batch_size: int = 64, device="cpu",
                  size: int | None = None, norm: InputNorm = RANDOM_INIT) -> BatchLoader:
    """Single-image batches in row order (inference, TAS §Overview), normalised as in training (``norm``)."""
    return BatchLoader(data.store, rows, batch_size, device=torch.device(device), shuffle=False, drop_last=False,
                       augment=resizer(size), mean=norm.mean, std=norm.std)


def eval_index(data: TASData) -> pd.DataFrame:
    """The test rows of the index (subject, sequence, frame) in store-row order."""
    return data.store.index.iloc[data.test_rows].reset_index(drop=True)
