"""The options of ``aukit predict`` that depend on what an input is (a video, an image, a folder of photos or,
with ``--frames``, of one video's frames), checked before the model loads: given to the wrong kind of input
they are a usage error, one line and exit 2, not a failure after the model and the workers have started
(``--fps 30`` on a video was ``webcam.mp4 failed: ValueError: ...``, exit 3)."""
from __future__ import annotations

from pathlib import Path


def check_options(input: str | Path, *, frames: bool = False, fps: float | None = None, smooth: int = 0) -> None:
    """Raise ValueError, naming ``input``, where ``fps`` or ``smooth`` does not fit it. An input that is not
    there is left to the reader, which says so."""
    path = Path(input)
    if not path.exists():
        return
    if fps is not None and not (fps > 0 and path.is_dir() and frames):
        raise ValueError(f"fps times the frames of a folder given with --frames (a video has its own clock, "
                         f"photos have none); got fps {fps} for {input}" + ("" if fps > 0 else ": must be > 0"))
    if smooth > 1 and path.is_dir() and not frames:
        raise ValueError(f"--smooth {smooth} averages each face over time, and {input} is a folder of photos "
                         "(no time between them); give --frames if it holds one video's frames")
