"""Batched inference of ``aukit predict``, for frame models and for sequence models.

A frame model (TAS, RTATL, PIAP-DF, SCC) scores each face alone: the faces of a group go
to the device in batches. A sequence model (CPC: ``Deployed.context`` > 0) reads a batch
as one sequence, frame t from the ``context`` frames before it. Its faces are cut into
sequences first: per face track, runs of consecutive frames (a frame without the face, a
new track, or photos that are not one video's frames start a new one). A run that goes on
from the previous group gets that group's last ``context`` faces in front (their outputs
dropped), and so does every batch after a run's first, so a frame's output does not depend
on where the batches fall: it equals that of the whole run read at once.
"""
from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np
import torch
import torch.nn as nn

from .. import deploy
from ..runtime import autocast


class CompiledOrEager(nn.Module):
    """``torch.compile`` of a model, falling back to the model itself, with a warning, when
    compiling fails on this machine (no C++ compiler for a CPU backend, an operator the
    compiler lacks). On the 2-core CPU TAS's ResNet-34 at 256 px ran at 34 images/s compiled
    against 24 eager, after 15 s of compiling: worth it for a recording of minutes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.failed = model, None
        self._compiled = torch.compile(model)

    def forward(self, x: torch.Tensor):
        if self.failed is None:
            try:
                return self._compiled(x)
            except Exception as e:                   # noqa: BLE001 - any compiler failure: run eager
                self.failed = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                warnings.warn(f"torch.compile failed ({self.failed}); running the model uncompiled", stacklevel=2)
        return self.model(x)


def _call(model: deploy.Deployed, aligned: list[np.ndarray], device) -> dict[str, np.ndarray]:
    """One forward pass over a list of aligned uint8 faces."""
    x = torch.from_numpy(np.stack(aligned)).to(device, non_blocking=True)
    with autocast(device):          # bf16 on CUDA, fp32 elsewhere; AUKIT_PRECISION overrides, as in training
        y = model(x)
    return {k: v.float().cpu().numpy() for k, v in y.items()}


class TrackHistory:
    """A sequence model's context across groups: per track id, the frame of its last face and
    up to ``context`` aligned faces ending there. ``consecutive``: the input's frames follow one
    another in time (a video, or a folder of one video's frames); False for photos."""

    def __init__(self, context: int, consecutive: bool):
        self.context, self.consecutive = context, consecutive
        self.tracks: dict[int, tuple[int, list[np.ndarray]]] = {}

    def split(self, faces: list, frame_index: list[int]) -> list[tuple[list[int], list[np.ndarray]]]:
        """This group's successful faces (``faces[i]``, from frame ``frame_index[i]``) as sequences:
        ``(indices into faces, aligned faces to read before them)``, and the history updated. A run
        breaks at a gap in the frames and at a face detected afresh after a failed track check."""
        first = min(frame_index, default=0)
        self.tracks = {t: h for t, h in self.tracks.items() if h[0] >= first - 1}  # ended tracks let go
        by_track: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for i, (r, f) in enumerate(zip(faces, frame_index)):
            if r.success:
                by_track[r.face].append((f, i))
        seqs = []
        for track, items in by_track.items():
            last, hist = self.tracks.get(track, (None, []))
            run: list[int] = []
            before: list[np.ndarray] = []
            for f, i in items:
                # a face detected afresh after its track failed the check (a cut to another person, say)
                # starts a new sequence: its context held the face before
                if not (self.consecutive and last is not None and f == last + 1) or faces[i].redetected:
                    if run:                                   # a gap: the run so far is one sequence
                        seqs.append((run, before))
                    run, before, hist = [], [], []
                elif not run:                                 # goes on from the last group
                    before = hist
                run.append(i)
                last = f
            seqs.append((run, before))
            tail = before + [faces[i].aligned for i in run]
            self.tracks[track] = (last, tail[-self.context:])
        return seqs


def infer(model: deploy.Deployed, faces: list, batch: int, device,
          sequences: list[tuple[list[int], list[np.ndarray]]] | None = None) -> dict[str, np.ndarray]:
    """Model outputs per face (n, n_aus), NaN rows where ``faces[i]`` has no face. A frame model
    takes the successful faces in batches; a sequence model takes ``sequences``
    (:meth:`TrackHistory.split`), each in batches of ``batch`` with ``model.context`` faces of
    overlap in front."""
    n, k = len(faces), len(model.spec.aus)
    outs: dict[str, np.ndarray] = {}

    def put(idx: list[int], y: dict[str, np.ndarray]) -> None:
        for key, v in y.items():
            outs.setdefault(key, np.full((n, k), np.nan, np.float32))[idx] = v

    if sequences is None:
        ok = [i for i, r in enumerate(faces) if r.success]
        for s in range(0, len(ok), batch):
            idx = ok[s:s + batch]
            put(idx, _call(model, [faces[i].aligned for i in idx], device))
    else:
        c = model.context
        for idx, before in sequences:
            seq = before + [faces[i].aligned for i in idx]
            for s in range(len(before), len(seq), batch):
                lo = max(0, s - c)
                y = _call(model, seq[lo:s + batch], device)
                put(idx[s - len(before):s - len(before) + batch], {key: v[s - lo:] for key, v in y.items()})
    if not outs:
        outs["intensity" if model.spec.output == "intensity" else "occurrence"] = np.full((n, k), np.nan, np.float32)
    return outs
