"""Frames to the detection workers through shared memory (aukit.predict.shm)."""
from __future__ import annotations

from multiprocessing import shared_memory

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from aukit.predict import chunk_size, shm
from aukit.predict.faces import FacePipeline


def _images(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [None if s is None else rng.integers(0, 256, s, dtype=np.uint8) for s in shapes]


def test_a_chunk_goes_in_and_its_crops_come_back():
    """Frames of mixed sizes (and an unreadable one) read back exactly where a worker looks;
    what the worker writes as crops is what ``collect`` hands over; the block is reused for a
    chunk that fits, replaced by a larger one for a chunk that does not, unlinked at close."""
    blocks = shm.Blocks(side=8)
    images = _images([(5, 7, 3), None, (9, 4, 3)])
    layout = blocks.put(images)
    block = shm.attach(layout.name)                 # what a worker maps (same process here)
    got = shm.frames(block, layout)
    assert got[1] is None
    np.testing.assert_array_equal(got[0], images[0])
    np.testing.assert_array_equal(got[2], images[2])
    assert all(spot is None or spot[0] % 64 == 0 for spot in layout.frames)
    written = np.arange(3 * 8 * 8 * 3, dtype=np.uint8).reshape(3, 8, 8, 3)
    shm.crops(block, layout)[...] = written
    del got
    np.testing.assert_array_equal(blocks.collect(layout), written)

    again = blocks.put(_images([(5, 7, 3)], seed=1))
    assert again.name == layout.name and blocks.blocks == 1
    blocks.collect(again)
    big = blocks.put(_images([(64, 64, 3)] * 4))
    assert big.name != layout.name and blocks.blocks == 1
    with pytest.raises(FileNotFoundError):          # the small block was let go
        shared_memory.SharedMemory(name=layout.name)
    blocks.close()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=big.name)


def test_no_room_in_dev_shm_sends_the_chunk_by_pipe(monkeypatch):
    monkeypatch.setattr(shm, "shm_free_bytes", lambda: 1000.0)
    blocks = shm.Blocks(side=8)
    with pytest.warns(RuntimeWarning, match="/dev/shm has 0 MiB free"):
        assert blocks.put(_images([(50, 50, 3)])) is None
    assert blocks.put(_images([(50, 50, 3)])) is None      # counted again, warned once
    assert blocks.piped == 2 and blocks.blocks == 0
    assert shm.Blocks(side=8).put([]) is None                # nothing to ship


def _run(workers, chunks, **kw):
    pipe = FacePipeline("tas", detect_every=2, workers=workers, **kw)
    try:
        return [[faces[0] for faces in res] for _, res in pipe.stream(iter(enumerate(chunks)), inflight=2)], pipe.blocks
    finally:
        pipe.close()


def test_workers_over_shared_memory_or_pipe_match_the_in_process_run(monkeypatch):
    """The same landmarks and aligned crops from two worker processes, by shared memory and by
    pipe, as from the caller's own process; a faceless and an unreadable frame stay failures."""
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)       # frames travel as OpenCV decodes them
    big = cv2.resize(face, (600, 560))               # another frame size in the same stream
    chunks = [[face, np.roll(face, 4, axis=1), None], [np.zeros_like(face), big], [big, face]]
    want, _ = _run(0, chunks)
    assert [[r.success for r in c] for c in want] == [[True, True, False], [False, True], [True, True]]
    got, blocks = _run(2, chunks)
    assert blocks.piped == 0 and blocks.blocks <= 2
    monkeypatch.setattr(shm, "shm_free_bytes", lambda: 0.0)
    with pytest.warns(RuntimeWarning, match="by pipe"):
        piped, blocks = _run(2, chunks)
    assert blocks.piped == 3 and blocks.blocks == 0
    for run in (got, piped):
        for c_want, c_got in zip(want, run):
            for a, b in zip(c_want, c_got):
                assert a.success == b.success
                if a.success:
                    np.testing.assert_array_equal(a.landmarks, b.landmarks)
                    np.testing.assert_array_equal(a.aligned, b.aligned)


def test_chunks_are_whole_detection_periods_spread_over_the_workers():
    assert chunk_size(32, 5, 0, 16) == 30                 # unknown length: the cap, rounded down to k
    assert chunk_size(32, 5, 600, 16) == 10               # 60 chunks: about four for each of 16 workers
    assert chunk_size(32, 5, 96, 2) == 10
    assert chunk_size(32, 5, 20, 16) == 5                 # never below one detection period
    assert chunk_size(32, 1, 100_000, 16) == 32
    assert chunk_size(2, 1, 7, 0) == 2                    # in-process: the caller's chunk


def test_decoded_frames_in_flight_fit_the_buffer():
    """Chunks queued by the reader and held by the workers (two of each per worker) shrink to fit
    1 GiB of decoded frames: a 4K phone video on 16 workers held about 50 GiB before."""
    from aukit.predict.run import pipeline_sizes
    mb = 1 << 20
    hd, uhd, small = 1920 * 1080 * 3, 3840 * 2160 * 3, 512 * 512 * 3
    assert pipeline_sizes(32, 5, 0, 2, small, 1024) == (30, 4, 4)                 # fits as it was
    c, ahead, inflight = pipeline_sizes(32, 5, 0, 2, hd, 1024)
    assert (c, ahead, inflight) == (20, 4, 4) and (ahead + inflight) * c * hd <= 1024 * mb
    c, ahead, inflight = pipeline_sizes(32, 5, 0, 16, hd, 1024)
    assert c == 5 and inflight >= 16 and (ahead + inflight) * c * hd <= 1024 * mb          # one chunk per worker at least
    # 4K on 16 workers: one detection period per worker and one chunk queued is the floor (about 2 GiB)
    assert pipeline_sizes(32, 5, 0, 16, uhd, 1024) == (5, 1, 16)
    assert pipeline_sizes(32, 5, 0, 16, 0, 1024) == (30, 32, 32)                  # size unknown: as before
    assert pipeline_sizes(32, 1, 0, 0, hd, 64) == (2, 2, 2)                        # in-process, a 64 MiB buffer
