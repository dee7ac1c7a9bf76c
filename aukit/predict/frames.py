"""Frames from a video file, an image, or a folder of images, with bad frames reported.

Each item is ``Frame(index, timestamp, image | None, error)``: an unreadable frame keeps
its row (``image=None`` and the reason) so the output has one row per frame.

Images stay in OpenCV's BGR order: the reader thread is the one serial stage of ``aukit
predict``, and converting a 1080p frame to RGB cost it 0.7 ms of its 4.3 ms. The detection
workers convert what needs RGB (the detector's downscaled input, the aligned crop).
"""
from __future__ import annotations

import itertools
import os
import queue
import re
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..data.imagefile import read_bgr
from ..data.labelio import frame_number

LEAD_TRIES = 100   # frames tried at a video's start before it counts as unreadable
MAX_DECLARED = 10 ** 9   # frames a container may declare (a month at 300 frames/s); more is no count at all
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}


class InputError(ValueError):
    """The input cannot be read at all (missing, empty, no images, not a video)."""


@dataclass
class Frame:
    index: int                  # position in the input, from 0 (a video's decode position)
    timestamp: float            # seconds (video) or 0.0 (images)
    image: np.ndarray | None    # BGR uint8 (as OpenCV decodes it), None if unreadable
    error: str = ""
    name: str = ""              # file name for image inputs
    number: int | None = None   # a folder of numbered images ('0007.jpg'): the file's own frame number

    @property
    def frame(self) -> int:
        """The frame number the CSV writes: a numbered image's own number (a folder with frames missing keeps
        them missing: 6.jpg after a dropped 5.jpg is frame 6, as the dataset readers number it), else the
        position counted from 1, as OpenFace and DISFA count."""
        return self.index + 1 if self.number is None else self.number


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


def input_stem(path: str | Path) -> str:
    """The name an input's outputs take (``<stem>.csv``, ``.png``): a file's stem, a folder's name."""
    path = Path(path)
    return path.stem if path.is_file() else path.name


def output_names(inputs: list) -> list[str]:
    """A distinct output name per input: its :func:`input_stem`, with as many parent folders in
    front as it takes to tell apart inputs of one name (``2D/F001/T1`` and ``2D/M001/T1``, BP4D's
    layout, become ``F001_T1`` and ``M001_T1``). The same input twice is an error. Names come from
    the paths as given, not from where symlinks point (a git-annex or DataLad dataset links
    ``sub01.mp4`` to ``.git/annex/objects/.../SHA256E-...mp4``; two recordings with the same bytes
    share one object and stay two inputs)."""
    paths = [Path(os.path.normpath(Path(p).absolute())) for p in inputs]
    if len(set(paths)) < len(paths):
        twice = sorted(str(p) for p, n in Counter(paths).items() if n > 1)
        raise InputError(f"an input is given twice: {', '.join(twice)}")
    stems = [input_stem(p) for p in paths]
    in_folder = Counter(zip((p.parent for p in paths), stems))
    base = [p.name.replace(".", "_") if in_folder[p.parent, s] > 1 else s   # clip/ and clip.mp4 side by side
            for p, s in zip(paths, stems)]
    names = [[b] + [q.name for q in p.parents if q.name] for p, b in zip(paths, base)]
    depth = [1] * len(paths)
    while True:
        cur = ["_".join(reversed(n[:d])) for n, d in zip(names, depth)]
        count = Counter(cur)
        if max(count.values()) == 1:
            return cur
        deeper = [d + 1 if count[c] > 1 and d < len(n) else d for n, d, c in zip(names, depth, cur)]
        if deeper == depth:                   # nothing left to tell them apart by: number them
            return [f"{c}_{i}" if count[c] > 1 else c for i, c in enumerate(cur)]
        depth = deeper


def in_threads(fn, items: list, threads: int, ahead: int) -> Iterator:
    """``fn(item)`` for each item, in order, computed by ``threads`` threads at most ``ahead``
    items before the consumer (OpenCV's image decoding releases the GIL). Left early, the
    items not started are dropped."""
    ex = ThreadPoolExecutor(max(1, threads), thread_name_prefix="aukit-imread")
    pending: deque = deque()
    try:
        for item in items:
            pending.append(ex.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _frame_bytes(path: Path) -> int:
    """Bytes of one decoded BGR frame of the size of the image at ``path`` (its header only), 0 if unknown."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size[0] * im.size[1] * 3
    except Exception:                           # noqa: BLE001 - not readable here: read_bgr will say why
        return 0


def _few(names: list[str], show: int = 3) -> str:
    return ", ".join(names[:show]) + (", ..." if len(names) > show else "")


def file_numbers(files: list[Path]) -> list[int] | None:
    """Each image's frame number when every name is one ('7.jpg', '0007.png') and no two are the same number,
    else None (the frames are then numbered by position)."""
    numbers = [frame_number(p.stem) for p in files]      # the dataset readers' rule for numbered frames
    if not numbers or None in numbers or len(set(numbers)) < len(numbers):
        return None
    return numbers


def predict_plots(entries: list[Path]) -> set[str]:
    """The names of the plots aukit predict wrote among a folder's ``entries``: ``<name>.png`` beside a
    ``<name>.csv`` predict wrote. They are not photos: a photo predicted into its own folder left its plot
    there, and the folder predicted next read the plot as one more photo."""
    from .outdir import written_by_predict      # here: outdir imports this module
    names = {p.name for p in entries}
    return {p.name for p in entries if p.suffix.lower() == ".png" and f"{p.stem}.csv" in names
            and written_by_predict(p.with_suffix(".csv"))}


def read_frames(path: str | Path, threads: int = 4, every: int = 1) -> tuple[Iterator[Frame], dict]:
    """Iterator over frames plus info (``kind``, ``fps``, ``n_frames`` expected). ``every``: only
    frames 0, every, 2 * every, ... (a folder's images in name order; a video's others are grabbed,
    not decoded to images), keeping their own frame numbers and times. A folder's
    images are decoded by ``threads`` threads (a 1392x1040 JPEG, BP4D's size, takes 7.5 ms on the
    development CPU, so one thread would cap the call near 130 frames/s); a video is decoded in order
    by one."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input not found: {path}")
    k = kind(path)
    if k == "folder":
        entries = list(path.iterdir())   # listed once: a network share's folder of 100k frames is slow to list
        plots = predict_plots(entries)
        # hidden files are not frames: macOS's AppleDouble '._0001.jpg' beside each image holds metadata
        listed = sorted((p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                         and not p.is_dir() and p.name not in plots), key=lambda p: natural_key(p.name))
        files = listed[::every]
        # other files are named, not dropped unseen (a phone's .heic photos, a stray video)
        skipped = sorted((p.name for p in entries if p.is_file() and not p.name.startswith(".")
                          and p.suffix.lower() not in IMAGE_SUFFIXES), key=natural_key)
        skipped += [f"{n} (aukit predict's plot)" for n in sorted(plots, key=natural_key)]
        if not listed:
            subs = sorted(p.name for p in entries if p.is_dir())
            hint = f"; it has {len(subs)} subfolder(s) ({_few(subs)}): give them as inputs ({path}/*) to predict each" \
                if subs else ""
            videos = [n for n in skipped if Path(n).suffix.lower() in VIDEO_SUFFIXES]
            if videos:
                hint += f"; it has {len(videos)} video(s) ({_few(videos)}): give them as inputs ({path}/*) to predict each"
            elif skipped:
                hint += f"; it has {len(skipped)} other file(s) ({_few(skipped)})"
            raise InputError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}){hint}")

        numbers = file_numbers(listed)

        def gen():
            for i, (f, (img, err)) in enumerate(zip(files, in_threads(read_bgr, files, threads, 4 * threads))):
                yield Frame(i * every, 0.0, img, err, f.name, numbers[i * every] if numbers else None)
        # subfolders beside the images are not read either: named with a trailing '/'
        skipped += sorted((f"{p.name}/" for p in entries if p.is_dir() and not p.name.startswith(".")), key=natural_key)
        return gen(), {"kind": k, "fps": 0.0, "n_frames": len(files), "skipped": skipped,
                       "frame_bytes": _frame_bytes(files[0]), "numbered": bool(numbers)}
    if k == "image":
        img, err = read_bgr(path)
        if img is None:
            raise InputError(f"cannot read image {path}: {err}")
        return iter([Frame(0, 0.0, img, "", path.name)]), {"kind": k, "fps": 0.0, "n_frames": 1,
                                                             "frame_bytes": img.nbytes}
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{path} is neither an image ({', '.join(sorted(IMAGE_SUFFIXES))}) nor a video "
                             "OpenCV can read")
        if path.stat().st_size == 0:
            raise InputError(f"cannot open video {path}: the file is empty (0 bytes)")
        raise InputError(f"cannot open video {path} (corrupt, no video stream, or a container this OpenCV lacks)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    n = declared_frames(cap)
    lead = []                      # frames read to find the first one that decodes (a damaged start)
    for _ in range(min(n, LEAD_TRIES) or LEAD_TRIES):
        lead.append(cap.read())
        if lead[-1][0]:
            break
    if not lead[-1][0]:
        why = _why_no_frames(cap, len(lead))
        cap.release()
        raise InputError(f"video {path} has no readable frames ({why})")
    first, n_lead = lead[-1][1], len(lead)
    clock = VideoClock(cap, fps)

    def read(decode: bool):
        if lead:                   # the frames read above, in order
            ok, img = lead.pop(0)
            return ok, img if decode else None
        return cap.read() if decode else (cap.grab(), None)

    def gen():
        i = 0
        ok_, img = read(True)
        try:
            while True:
                if i % every == 0:
                    ts = clock.stamp(i, ok_)
                    if ok_ and img is not None and img.size:
                        yield Frame(i, ts, img)
                    elif i < max(n, n_lead):
                        yield Frame(i, ts, None, "the video's frame does not decode")
                    else:
                        return
                i += 1
                # a frame left out is grabbed (decoded, not converted into an image)
                ok_, img = read(i % every == 0)
                if not ok_ and i >= n_lead and (not n or i >= n):
                    # the container may hold more frames than it declares: read until it stops
                    return
        finally:
            cap.release()
    return gen(), {"kind": k, "fps": fps, "n_frames": -(-n // every), "clock": clock, "frame_bytes": first.nbytes}


def _why_no_frames(cap, tried: int) -> str:
    """Why a video that opened gives no frame: none declared (an audio-only file, a recording
    stopped before its first frame), or frames of a codec this OpenCV does not decode (AV1 printed
    300 lines of ffmpeg's and 'the first 100 frames do not decode', never naming the codec)."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    fourcc = "".join(chr((code >> 8 * k) & 0xFF) for k in range(4)).strip("\0 ") if code > 0 else ""
    if cap.get(cv2.CAP_PROP_FRAME_COUNT) == 0:
        return "it declares no video frames: an audio-only file, or a recording stopped before its first frame"
    why = f"the first {tried} frames do not decode" if tried > 1 else "no frame decodes"
    known = fourcc and fourcc.isprintable()
    return why + (f"; codec {fourcc!r}: damaged frames, or a codec this OpenCV does not decode" if known else "")


def declared_frames(cap) -> int:
    """The frames the container declares; 0 when it declares none. A browser's WebM (MediaRecorder), a
    streamed MKV and raw H.264 have no count: OpenCV reports -1 or -1.4e17 there, which emptied the
    start-up read and crashed predict. 0 reads until the stream ends, the progress bar without a total."""
    n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(n) if 0 < n < MAX_DECLARED else 0


class VideoClock:
    """Each frame's time in seconds: the container's presentation time when the backend reports
    one, else ``index / fps``. Phones record at a variable frame rate: there ``index / fps`` (fps
    an average) drifts from the real time, and AU curves no longer line up with what was
    recorded beside them (speech, physiology). A frame that could not be read is placed as many
    average frames after the previous one as lie between them. Container times that go back or
    repeat (a damaged or badly muxed file: 86 of 150 repeated) are not passed on: from the first such
    frame (``broken``, its index) every time is the previous one plus the average frames between."""

    def __init__(self, cap, fps: float):
        self.cap, self.step, self.last, self.last_i = cap, 1 / fps if fps else 0.0, None, 0
        self.container: bool | None = None    # decided on the first frame after frame 0
        self.broken: int | None = None
        self.last_container = -1.0

    def stamp(self, i: int, read_ok: bool) -> float:
        t = None
        if read_ok and self.broken is None:
            ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
            if i > 0 and self.container is None:
                self.container = ms > 0
            t = ms / 1000 if i == 0 or self.container else i * self.step
            if (i == 0 or self.container) and t <= self.last_container:
                self.broken, t = i, None      # back or repeated: index / fps from here on
            elif i == 0 or self.container:
                self.last_container = t
        if t is None:
            t = i * self.step if self.last is None else self.last + (i - self.last_i) * self.step
        self.last, self.last_i = t, i
        return t

    @property
    def source(self) -> str:
        return "container+index/fps" if self.broken is not None else "container" if self.container else "index/fps"

    @property
    def note(self) -> str:
        """What the CSV header and the summary say when the container's times could not be used."""
        if self.broken is None:
            return ""
        return (f"the container's timestamps go back or repeat at frame {self.broken + 1}: from there "
                "timestamps are the previous one plus frames / fps")


class ChunkReader:
    """Frames decoded in a background thread, handed over in chunks of ``size``.

    OpenCV releases the GIL while it decodes, so the next chunks are read while the caller
    runs detection and inference on the previous ones. At most ``ahead`` chunks wait in the
    queue (bounded memory on long videos). ``busy_s`` is the time spent reading; an error
    raised while reading is raised again in the caller's thread.
    """

    _END = object()

    def __init__(self, frames: Iterator[Frame], size: int, ahead: int = 4):
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}")
        self.size, self.busy_s, self._stop = size, 0.0, threading.Event()
        self._q: queue.Queue = queue.Queue(maxsize=max(1, ahead))
        self._thread = threading.Thread(target=self._run, args=(frames,), daemon=True, name="aukit-decode")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, frames: Iterator[Frame]) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                part = list(itertools.islice(frames, self.size))
                self.busy_s += time.perf_counter() - t0
                if not part or not self._put(part):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(e)
        finally:
            self._put(self._END)

    def __iter__(self):
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop reading (early exit of the caller); the thread ends at its next chunk."""
        self._stop.set()
        self._thread.join(timeout=5)
