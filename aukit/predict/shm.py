"""Frame chunks to the detection workers through reusable shared-memory blocks.

Pickled down a ``ProcessPoolExecutor`` pipe, a frame crosses 64 KiB at a time with a
context switch for each piece. On the 2-core development CPU the round trip of one frame
(the frame out, its 256x256 aligned crop back) took 3.2 ms at 512x512 and 19.7 ms at
1920x1080: more than detecting and aligning it (7.9 ms a frame at 512x512). Copied into
shared memory instead, the same round trips took 0.19 ms and 1.05 ms.

The main process owns a :class:`Blocks`: one block for each chunk in the workers' hands,
reused, and replaced by a larger one when a chunk needs more room. A block holds the
chunk's frames, then room for their aligned crops, which the worker writes in place
(:func:`frames`, :func:`crops`). When /dev/shm has no room (Docker's default is 64 MB),
the chunk goes down the pipe as before, and a single warning says so.
"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

_ALIGN = 64              # every frame starts on a cache line
_GROW = 1.25             # a new block leaves room for a somewhat larger chunk (folders of mixed sizes)
_ATTACHED: OrderedDict = OrderedDict()   # worker side: blocks mapped so far, most recent last
_KEEP_ATTACHED = 64


@dataclass(frozen=True)
class Layout:
    """Where one chunk lies in a block: ``(offset, shape)`` per frame (None: unreadable), then
    ``slots`` aligned crops a frame (frame i's k-th face at ``i * slots + k``) of ``side`` x
    ``side`` x 3 at offset ``crops``."""
    name: str
    frames: tuple
    crops: int
    side: int
    slots: int = 1


def _up(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def shm_free_bytes() -> float:
    """Free bytes under /dev/shm (inf where there is no such mount: creation decides)."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return float("inf")
    return st.f_bavail * st.f_frsize


class Blocks:
    """The main process's shared-memory blocks for chunks of frames (``slots`` crops of ``side``
    px a frame: the most faces a frame may have)."""

    def __init__(self, side: int, slots: int = 1):
        self.side, self.slots = side, slots
        self.piped = 0                       # chunks sent by pipe: /dev/shm had no room
        self._free: list[shared_memory.SharedMemory] = []
        self._busy: dict[str, shared_memory.SharedMemory] = {}
        self._warned = False

    @property
    def blocks(self) -> int:
        return len(self._free) + len(self._busy)

    def put(self, images: list) -> Layout | None:
        """Copy ``images`` (BGR uint8 frames, None for unreadable ones) into a free block and
        say where; None when they must go by pipe instead."""
        spots, end = [], 0
        for im in images:
            if im is None:
                spots.append(None)
                continue
            if im.dtype != np.uint8 or im.ndim != 3:
                return None
            spots.append((end, tuple(im.shape)))
            end = _up(end + im.nbytes)
        if not images:
            return None
        need = end + len(images) * self.slots * self.side * self.side * 3
        block = self._take(need)
        if block is None:
            self.piped += 1
            return None
        for im, spot in zip(images, spots):
            if spot is not None:
                np.ndarray(spot[1], np.uint8, buffer=block.buf, offset=spot[0])[...] = im
        self._busy[block.name] = block
        return Layout(block.name, tuple(spots), end, self.side, self.slots)

    def collect(self, layout: Layout) -> np.ndarray:
        """A copy of the crops the worker wrote, (n * slots, side, side, 3); the block is free again."""
        block = self._busy.pop(layout.name)
        try:
            n, s = len(layout.frames) * layout.slots, layout.side
            return np.ndarray((n, s, s, 3), np.uint8, buffer=block.buf, offset=layout.crops).copy()
        finally:
            self._free.append(block)

    def _take(self, need: int) -> shared_memory.SharedMemory | None:
        fits = [b for b in self._free if b.size >= need]
        if fits:
            block = min(fits, key=lambda b: b.size)
            self._free.remove(block)
            return block
        if self._free:                      # all too small: the smallest makes way for a larger one
            _drop(self._free.pop(self._free.index(min(self._free, key=lambda b: b.size))))
        size = _up(int(need * _GROW))
        room = shm_free_bytes()
        if size > 0.9 * room:
            self._warn(f"/dev/shm has {room / 2**20:.0f} MiB free and a chunk needs {size / 2**20:.0f} MiB")
            return None
        try:
            return shared_memory.SharedMemory(create=True, size=size)
        except (OSError, ValueError) as e:
            self._warn(f"a {size / 2**20:.0f} MiB shared-memory block could not be made ({e})")
            return None

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"aukit predict: {why}; frames go to the detection workers by pipe, which is "
                          "slower (in Docker, raise --shm-size; or lower --workers)", RuntimeWarning, stacklevel=3)

    def drop_busy(self) -> None:
        """Unlink the blocks still in workers' hands (the stream was left early; a worker that
        still maps one keeps it until it lets it go). The free blocks stay for the next input."""
        for block in self._busy.values():
            _drop(block)
        self._busy = {}

    def close(self) -> None:
        """Unlink every block (those still in a worker's hands too: the pipeline has stopped)."""
        for block in self._free + list(self._busy.values()):
            _drop(block)
        self._free, self._busy = [], {}


def _drop(block: shared_memory.SharedMemory) -> None:
    block.close()
    try:
        block.unlink()
    except FileNotFoundError:
        pass


def attach(name: str) -> shared_memory.SharedMemory:
    """Worker side: the block ``name``, mapped once and kept (the oldest are let go)."""
    block = _ATTACHED.pop(name, None) or shared_memory.SharedMemory(name=name)
    _ATTACHED[name] = block
    while len(_ATTACHED) > _KEEP_ATTACHED:
        old = _ATTACHED.popitem(last=False)[1]
        try:
            old.close()
        except BufferError:                # a view still alive (never between chunks): unmapped at exit
            pass
    return block


def frames(block: shared_memory.SharedMemory, layout: Layout) -> list:
    """Worker side: the chunk's frames as arrays over the block (None where unreadable)."""
    return [None if spot is None else np.ndarray(spot[1], np.uint8, buffer=block.buf, offset=spot[0])
            for spot in layout.frames]


def crops(block: shared_memory.SharedMemory, layout: Layout) -> np.ndarray:
    """Worker side: the (n * slots, side, side, 3) array the aligned crops are written into."""
    n, s = len(layout.frames) * layout.slots, layout.side
    return np.ndarray((n, s, s, 3), np.uint8, buffer=block.buf, offset=layout.crops)
