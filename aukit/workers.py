"""Process pools that fail loudly instead of hanging.

``multiprocessing.Pool`` replaces a worker that dies, whether its initializer raised (dlib
missing, a bad policy), the kernel killed it for memory or a native library crashed, and
the caller waits forever for the lost task. ``concurrent.futures.ProcessPoolExecutor``
marks the pool broken instead; :func:`imap` turns that into a :class:`WorkerError` naming
the work, and keeps at most ``inflight`` tasks submitted, so long inputs are streamed.

    with process_pool(4, initializer=init, initargs=(cfg,)) as pool:
        for job, result in imap(pool, work, jobs, "align synthau-bp4d", ordered=False):
            ...
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator


class WorkerError(RuntimeError):
    """A worker process died: its start-up raised, it ran out of memory, or it crashed."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a SLURM or container share), else all."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                   # macOS, Windows
        return max(1, os.cpu_count() or 1)


def start_method() -> str:
    """'spawn' by default: forking a process that already runs torch/OpenMP threads (a notebook
    kernel) can deadlock the workers. Env AUKIT_MP=fork overrides."""
    return os.environ.get("AUKIT_MP") or "spawn"


def process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = (),
                 method: str | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started with ``method`` (default :func:`start_method`);
    each worker exits when the process that started it dies (:func:`watch_parent`) and leaves
    SIGINT/SIGTERM to it (:func:`leave_signals_to_parent`)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method or start_method()),
                               initializer=_start_worker, initargs=(initializer, initargs))


def _start_worker(initializer: Callable | None, initargs: tuple) -> None:
    watch_parent()
    leave_signals_to_parent()
    if initializer is not None:
        initializer(*initargs)


def leave_signals_to_parent() -> None:
    """In a pool worker: ignore SIGINT and SIGTERM, which the parent handles by shutting the pool
    down (the workers finish their chunk and exit; :func:`watch_parent` ends them if the parent
    dies). Sent to the whole process group (Ctrl-C, ``timeout``, a service stop), SIGTERM killed a
    worker in the middle of writing its result, and the pool's reader waited for the rest of that
    message for good: the parent hung in shutdown. Every :func:`process_pool` worker computes
    (dlib, TV-L1, SynthAU); the sweep's pool, whose workers start kernels that would inherit the
    ignored signals, does not use it."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def watch_parent(every_s: float = 1.0) -> None:
    """Exit this worker once its parent is gone. A parent killed with SIGKILL (or SIGTERM sent to
    its pid alone) left its prepare, predict and sweep workers running for good, reparented to
    init, a few hundred MB each, some still writing into the cache. A daemon thread checks the
    parent pid every second (prctl's PDEATHSIG would fire when the *thread* that started the worker
    ends, which is not always the main one)."""
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="aukit-watch-parent", daemon=True).start()


def script_hint() -> str:
    """A spawned worker imports the parent's script again; one whose top level starts the work
    (no ``if __name__ == "__main__":``) kills every worker at start-up. When the parent runs a
    script of the user's, the error says so (not in a notebook or ``python -c``, which have no script,
    nor for an installed command such as ``aukit`` or ``pytest``, which lives under ``sys.prefix``)."""
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if not script or start_method() == "fork" or Path(script).resolve().is_relative_to(Path(sys.prefix).resolve()):
        return ""
    return (f" If {script} starts this work at its top level, put that code under "
            f"`if __name__ == \"__main__\":` (each spawned worker imports the script again).")


def _died(what: str, e: BaseException) -> WorkerError:
    return WorkerError(f"{what}: a worker process died (its start-up raised, see the traceback above; it ran "
                       f"out of memory; or a native library crashed): {str(e).rstrip('.')}.{script_hint()}")


def imap(pool: ProcessPoolExecutor, fn: Callable, items: Iterable, what: str, *, ordered: bool = True,
         inflight: int | None = None, arg: Callable[[Any], Any] | None = None) -> Iterator[tuple[Any, Any]]:
    """``(item, fn(arg(item)))`` for every item, read lazily with at most ``inflight`` tasks
    submitted (default: twice the usable cores). ``ordered``: in the items' order, else as
    they finish. ``arg`` picks what travels to the worker (default: the item itself). An
    exception raised by ``fn`` is raised here as it is; a dead worker raises WorkerError.
    Closed early, it cancels the tasks not yet started."""
    limit = max(1, inflight or 2 * usable_cores())
    arg = arg or (lambda item: item)
    pending: deque = deque()
    try:
        for item in items:
            pending.append((item, pool.submit(fn, arg(item))))
            while len(pending) >= limit:
                yield from _collect(pending, ordered)
        while pending:
            yield from _collect(pending, ordered)
    except BrokenProcessPool as e:
        raise _died(what, e) from e
    finally:                                 # left early (an error, or the caller stopped): drop what has not started
        for _, fut in pending:
            fut.cancel()


def _collect(pending: deque, ordered: bool) -> Iterator[tuple[Any, Any]]:
    """The oldest task's result (ordered), or every finished one (unordered)."""
    if ordered:
        item, fut = pending.popleft()
        yield item, fut.result()
        return
    done, _ = wait([f for _, f in pending], return_when=FIRST_COMPLETED)
    keep = [(i, f) for i, f in pending if f not in done]
    finished = [(i, f) for i, f in pending if f in done]
    pending.clear()
    pending.extend(keep)
    for item, fut in finished:
        yield item, fut.result()
