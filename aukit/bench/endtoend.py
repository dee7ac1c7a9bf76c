"""``aukit predict`` end to end (issue #13): frames/s from a video file to the CSV, decode,
dlib detection every k-th frame with landmark tracking in between (a process pool over the
CPU cores), alignment, batched inference on the device, all included.

The clip is the real face shipped with scikit-image (``astronaut``), moving a few pixels per
frame so that the tracker works as on a recording, in two sizes: ``512`` (512x512 MJPG, the face
about 150 px) and ``1080p`` (1920x1080 MPEG-4, the face about 320 px, as in an interview
recording: the reader thread is predict's one serial stage, and OpenCV's FFmpeg reader decodes with
a thread per core, 3.4 ms a frame on one core of the development CPU and 2.5 on two). The model is TAS's deployable
network (random weights: the speed does not depend on them) at its trained input size.
Py-Feat's best published figure (batch 16, RTX 3090) is the reference: 202 frames/s. Two
numbers: the whole call (model load and the start of the detection workers included, a cost
paid once per video) and the steady rate once they are up (what a long recording sees; the
one to compare with Py-Feat's per-frame figure). ``stages_ms_per_frame`` says where the
time goes: decoding (a reader thread, overlapped with the rest), the main thread waiting on
the detection workers, inference, building the table, writing the CSV.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

PYFEAT_FRAMES_S = 202.0   # Py-Feat, batch 16, RTX 3090 (issue #13): the GPU target for end-to-end frames/s


def clip_frame(face, t: int):
    """Frame ``t`` of the bench clip: ``face`` (BGR) rotated by up to 4 degrees and shifted by up to 6 px."""
    import cv2
    h, w = face.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 4.0 * np.sin(t / 15), 1.0)
    m[:, 2] += (6.0 * np.sin(t / 10), 4.0 * np.cos(t / 13))
    return cv2.warpAffine(face, m, (w, h), borderMode=cv2.BORDER_REFLECT)


CLIPS = {"512": ("MJPG", ".avi", "512x512 MJPG"), "1080p": ("mp4v", ".mp4", "1920x1080 MPEG-4")}  # codec, container, name


def write_clip(path: str | Path, frames: int, fps: float = 30.0, clip: str = "512") -> Path:
    """A video of ``frames`` frames, the astronaut face drifting and swaying: ``clip="512"`` an
    MJPG .avi at 512x512; ``"1080p"`` the picture scaled to 1080x1080 and widened to 1920x1080
    with mirrored sides, MPEG-4 in .mp4 (an inter-frame codec, like a camera's). ``path``'s
    suffix is replaced by the clip's container."""
    import cv2
    from skimage import data as skdata
    if clip not in CLIPS:
        raise ValueError(f"clip must be one of {sorted(CLIPS)}, got {clip!r}")
    codec, suffix, _ = CLIPS[clip]
    path = Path(path).with_suffix(suffix)
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    if clip == "1080p":
        face = cv2.resize(face, (1080, 1080), interpolation=cv2.INTER_CUBIC)
        face = cv2.copyMakeBorder(face, 0, 0, 420, 420, cv2.BORDER_REFLECT)
    h, w = face.shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    if not vw.isOpened():
        raise RuntimeError(f"OpenCV cannot write {codec} video to {path}")
    for t in range(frames):
        vw.write(clip_frame(face, t))
    vw.release()
    return path


def time_predict(device, preset: str = "default", *, frames: int | None = None, batch: int = 16,
                 detect_every: int = 5, workers: int | None = None, reps: int = 2, clip: str = "512") -> dict:
    """Median end-to-end frames/s of ``aukit predict`` on the ``clip`` (a warm-up run excluded; each
    run starts its own detection pool, as a user's call does)."""
    import torch

    from aukit.deploy import export
    from aukit.predict import predict
    from aukit.workers import usable_cores

    from .deployable import deployable
    tiny = preset == "tiny"
    n = frames or (96 if tiny else 600) // (2 if clip == "1080p" else 1)
    model, size = deployable("tas", "tiny" if tiny else "default")
    with tempfile.TemporaryDirectory(prefix="aukit-bench-predict-") as tmp:
        tmp = Path(tmp)
        video = write_clip(tmp / "clip", n, clip=clip)
        ckpt = export(tmp / "deploy.pt", model.model, model.spec)
        run = lambda: predict(video, str(ckpt), tmp / "out", batch=batch, device=str(device),  # noqa: E731
                              detect_every=detect_every, workers=workers, plot=False)
        run()                                                      # warm-up: worker pool, dlib models, kernels
        walls, starts, stages = [], [], []
        for _ in range(reps):
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            res = run()
            walls.append(time.perf_counter() - t0)
            starts.append(res.startup_s)
            stages.append(res.stages)
    fps = [n / w for w in walls]
    steady = [n / max(w - s, 1e-9) for w, s in zip(walls, starts)]
    return {"clip": f"astronaut {CLIPS[clip][2]}, {n} frames", "model": f"tas deployable at {size}px", "batch": batch,
            "detect_every": detect_every, "workers": usable_cores() if workers is None else workers,
            "frames": n, "faces": res.n_faces, "redetected": res.redetected, "frames_per_s": float(np.median(fps)),
            "frames_per_s_min": float(min(fps)), "frames_per_s_max": float(max(fps)),
            "startup_s": float(np.median(starts)), "steady_frames_per_s": float(np.median(steady)),
            "pyfeat_frames_per_s": PYFEAT_FRAMES_S,
            "stages_ms_per_frame": {k.removesuffix("_s"): float(np.median([s[k] for s in stages])) / n * 1e3
                                    for k in stages[0]}}
