"""Frames from a video file, an image, or a folder of images, with bad frames reported.

Each item is ``Frame(index, timestamp, image | None, error)``: an unreadable frame keeps
its row (``image=None`` and the reason) so the output has one row per frame.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class InputError(ValueError):
    """The input cannot be read at all (missing, empty, no images, not a video)."""


@dataclass
class Frame:
    index: int
    timestamp: float            # seconds (video) or 0.0 (images)
    image: np.ndarray | None    # RGB uint8, None if unreadable
    error: str = ""
    name: str = ""              # file name for image inputs


def natural_key(name: str) -> list:
    """Sort key that orders numbered frames by number: 2.jpg before 10.jpg (BP4D names frames
    without zero padding; a plain sort would put 10.jpg, 100.jpg, ... before 2.jpg)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t]


def kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return "image"
    return "video"


def _read_image(path: Path) -> tuple[np.ndarray | None, str]:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        return None, f"unreadable image {path.name}"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), ""


def read_frames(path: str | Path) -> tuple[Iterator[Frame], dict]:
    """Iterator over frames plus info (``kind``, ``fps``, ``n_frames`` expected)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    k = kind(path)
    if k == "folder":
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))
        if not files:
            raise InputError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")

        def gen():
            for i, f in enumerate(files):
                img, err = _read_image(f)
                yield Frame(i, 0.0, img, err, f.name)
        return gen(), {"kind": k, "fps": 0.0, "n_frames": len(files)}
    if k == "image":
        img, err = _read_image(path)
        if img is None:
            raise InputError(f"cannot read image {path}")
        return iter([Frame(0, 0.0, img, "", path.name)]), {"kind": k, "fps": 0.0, "n_frames": 1}
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video OpenCV can read, or corrupt)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    ok, first = cap.read()
    if not ok:
        cap.release()
        raise InputError(f"video {path} has no readable frames")

    def gen():
        i, ok_, img = 0, True, first
        try:
            while True:
                ts = i / fps if fps else 0.0
                if ok_ and img is not None and img.size:
                    yield Frame(i, ts, cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
                elif i < n:
                    yield Frame(i, ts, None, f"unreadable frame {i}")
                else:
                    return
                i += 1
                if n and i >= n:
                    # the container may hold more frames than it declares; read until it stops
                    ok_, img = cap.read()
                    if not ok_:
                        return
                    continue
                ok_, img = cap.read()
                if not ok_ and not n:
                    return
        finally:
            cap.release()
    return gen(), {"kind": k, "fps": fps, "n_frames": n}
