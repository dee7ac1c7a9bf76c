"""``aukit prepare`` throughput: dlib detection + 68 landmarks + alignment frames/s, then
RTATL's TV-L1 flow pairs/s (``aukit.data.flow``; only when RTATL is benchmarked), both on a
fresh cache folder so that nothing is read back from an earlier run.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np


def time_prepare(dataset: str = "synthau-bp4d", policy: str = "tas", *, max_frames: int | None = None,
                 flow_size: int = 64, flow_step: int | None = None, workers: int | None = None,
                 with_flow: bool = True) -> dict:
    """Frames/s of `prepare` (decode, detect, landmarks, align, write the store) and, with
    ``with_flow``, TV-L1 pairs/s. ``flow_step`` None: RTATL's (``RTATLTrainConfig.flow_step``)."""
    from aukit.data import flow, prepare
    from aukit.data.optflow import has_flow
    from aukit.methods.rtatl.config import RTATLTrainConfig
    from aukit.workers import usable_cores

    flow_step = RTATLTrainConfig().flow_step if flow_step is None else flow_step
    with tempfile.TemporaryDirectory(prefix="aukit-bench-") as tmp:
        t0 = time.perf_counter()
        store = prepare(dataset, policy, out=tmp, workers=workers, max_frames=max_frames, progress=False)
        wall = time.perf_counter() - t0
        n = int(store.meta["frames"])
        row = {"dataset": dataset, "policy": policy, "frames": n, "aligned": int(store.meta["aligned"]),
               "frames_per_s": n / wall, "frames_per_s_detect_align": float(store.meta["frames_per_s"]),
               "wall_s": wall, "workers": workers or usable_cores()}
        if not with_flow:
            return row
        t1 = time.perf_counter()
        f = flow(store, step=flow_step, size=flow_size, workers=workers, progress=False)
        flow_wall = time.perf_counter() - t1
        pairs = int(np.count_nonzero(has_flow(f)))
        del f
        return {**row, "flow_size": flow_size, "flow_step": flow_step, "flow_pairs": pairs,
                "flow_pairs_per_s": pairs / flow_wall if flow_wall > 0 else float("nan"), "flow_wall_s": flow_wall}
