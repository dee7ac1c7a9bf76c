"""One preparation of a dataset at a time, across processes and machines that share the cache.

A sweep with ``--parallel 4`` (or SLURM jobs on a shared filesystem) on a dataset not yet prepared
starts four ``prepare`` calls at once. They share the dataset's dlib detection cache: without a lock
each would detect every frame again, and the first to finish removed the working folder the others
were still writing into. With it the others wait, then find the store built and open it.

The lock is ``flock`` on a file in the cache folder: the system frees it when its holder exits,
however it exits, so a killed run never leaves a stale lock (Linux NFS clients take it as a POSIX
lock, which the server keeps across machines).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path


class Busy(ValueError):
    """Another process holds a lock the caller does not wait for (:func:`hold`)."""


def hold(path: str | os.PathLike, busy: str):
    """Take the lock file ``path`` without waiting and name this process in it; when another live
    process holds it, :class:`Busy` with ``busy`` formatted with its ``holder``. Returns the open
    file, which keeps the lock until :func:`drop` (or this process's end: a killed holder holds
    nothing, and leaves the file behind as a trace). A filesystem without locks runs unguarded."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(f)
        f.close()
        raise Busy(busy.format(holder=holder)) from None
    except OSError:
        pass
    _sign(f)
    return f


def drop(path: str | os.PathLike, f) -> None:
    """Release :func:`hold`'s lock and remove its file: the holder ended as it meant to."""
    Path(path).unlink(missing_ok=True)
    f.close()


def _holder(f) -> str:
    f.seek(0)
    return f.read().strip() or "another process"


def _refuse_own_parent(holder: str, what: str) -> None:
    """A worker waiting for a lock its own parent holds waits for good: the parent waits for its workers. A
    script without ``if __name__ == "__main__":`` that prepares a dataset does this: each spawned worker
    imports the script again, prepares at its top level, and hung at 0% with "waiting: ... is preparing"."""
    import sys
    spawned = "__mp_main__" in sys.modules      # multiprocessing's spawn runs the parent's script under that name
    if spawned and holder == f"{socket.gethostname()} pid {os.getppid()}":
        script = getattr(sys.modules["__mp_main__"], "__file__", None) or "the parent's script"
        raise RuntimeError(f"{what}: a worker process waits for its own parent (pid {os.getppid()}), which waits "
                           f"for it: {script} starts this work at its top level, where each spawned worker imports it "
                           f"again. Put that code under `if __name__ == \"__main__\":`.")


def _sign(f) -> None:
    f.seek(0)
    f.truncate()
    f.write(f"{socket.gethostname()} pid {os.getpid()}")
    f.flush()


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, what: str, *, announce=print):
    """Hold the lock file ``path`` for the block; when another process holds it, say so through
    ``announce`` (naming its host and pid and ``what`` it does) and wait for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        locked = _lock(f, path, what, announce)
        try:
            yield
        finally:
            if locked:
                f.seek(0)
                f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)


def _lock(f, path: Path, what: str, announce) -> bool:
    """Take the lock of the open file ``f``, waiting (and saying so) while another process holds
    it, and name this process in it; False on a filesystem without locks (said, and run unlocked)."""
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(f)
        _refuse_own_parent(holder, what)
        announce(f"waiting: {holder} is {what} ({path})")
        t0 = time.perf_counter()
        fcntl.flock(f, fcntl.LOCK_EX)
        ended = ("" if _holder(f) == "another process"   # a holder that finishes empties the file
                 else "; it ended without finishing (killed or crashed): this process takes over")
        announce(f"waited {time.perf_counter() - t0:.0f} s for {holder}{ended}")
    except OSError as e:
        announce(f"note: cannot lock {path} ({e.strerror}); parallel runs may each be {what}")
        return False
    _sign(f)
    return True
