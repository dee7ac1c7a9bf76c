"""aukit.workers: process pools that stream, keep order, and fail loudly when a worker dies."""
from __future__ import annotations

import math
import os

import pytest

from aukit.workers import WorkerError, imap, process_pool


def test_ordered_unordered_and_bounded():
    consumed = []

    def items():
        for i in range(8):
            consumed.append(i)
            yield i * i
    with process_pool(2) as pool:
        it = imap(pool, math.sqrt, items(), "roots", inflight=3)
        first = next(it)
        assert first == (0, 0.0) and len(consumed) == 3         # no more than `inflight` read ahead
        assert [r for _, r in it] == [float(i) for i in range(1, 8)]
        got = dict(imap(pool, math.sqrt, [1, 4, 9, 16], "roots", ordered=False, inflight=2))
        assert got == {1: 1.0, 4: 2.0, 9: 3.0, 16: 4.0}
        pairs = list(imap(pool, abs, [("a", -2), ("b", -5)], "abs", arg=lambda it: it[1]))
        assert pairs == [(("a", -2), 2), (("b", -5), 5)]


def test_a_task_error_is_raised_as_it_is():
    with process_pool(1) as pool, pytest.raises(ValueError, match="math domain"):
        list(imap(pool, math.sqrt, [4, -1], "roots"))


def test_a_dead_worker_raises_instead_of_hanging():
    with process_pool(2) as pool, pytest.raises(WorkerError, match="exiting jobs: a worker process died"):
        list(imap(pool, os._exit, [3, 3], "exiting jobs"))


def test_a_failed_start_up_raises_instead_of_hanging():
    """multiprocessing.Pool respawns workers whose initializer fails, forever; this pool breaks."""
    with process_pool(2, initializer=os._exit, initargs=(3,)) as pool, \
            pytest.raises(WorkerError, match="a worker process died"):
        list(imap(pool, abs, [-1, -2], "start-up check"))
    with pytest.raises(ValueError, match="workers"):
        process_pool(0)


@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_a_main_guard_is_told_so(tmp_path, guarded):
    """Spawned workers import the parent's script again; one that starts a pool at its top level
    kills them all at start-up. The error names the script and the fix; a guarded script runs."""
    import subprocess
    import sys
    body = "with process_pool(1) as pool:\n    print(list(imap(pool, abs, [-4], 'abs jobs')))\n"
    if guarded:
        body = 'if __name__ == "__main__":\n' + "".join(f"    {line}\n" for line in body.splitlines())
    script = tmp_path / "my_study.py"
    script.write_text("from aukit.workers import imap, process_pool\n" + body)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    if guarded:
        assert run.returncode == 0 and "[(-4, 4)]" in run.stdout, run.stderr
    else:
        assert run.returncode != 0
        last = run.stderr.strip().splitlines()[-1]
        assert last.startswith("aukit.workers.WorkerError: abs jobs: a worker process died")
        assert f"If {script} starts this work at its top level" in last and "__main__" in last


def test_no_script_hint_for_an_installed_command(monkeypatch, tmp_path):
    """`aukit` or `pytest` (under sys.prefix) guard their own code; only a user's script is told."""
    import sys
    from aukit.workers import script_hint
    monkeypatch.setattr(sys.modules["__main__"], "__file__", f"{sys.prefix}/bin/pytest", raising=False)
    assert script_hint() == ""
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(tmp_path / "study.py"))
    assert "study.py starts this work at its top level" in script_hint()


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """kill -9 of `aukit prepare`/`predict`/`sweep` left their workers running for good (parent pid 1)."""
    import signal
    import subprocess
    import sys
    import time
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal\n"
        "from aukit.workers import process_pool\n"
        "if __name__ == '__main__':\n"
        "    pool = process_pool(1)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL
    worker = int(out.stdout.split()[0])
    for _ in range(100):                   # the worker notices within a second or so
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError(f"worker {worker} outlived its killed parent")


def _signals():
    import signal
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


def test_a_signal_to_the_process_group_is_left_to_the_parent(tmp_path):
    """`timeout` (SIGTERM to the group) killed predict's workers mid-write: the pool's reader waited for
    the rest of a result for good and the parent hung in shutdown. Workers now ignore SIGINT and
    SIGTERM; the parent shuts the pool down, and a group SIGTERM ends the whole run promptly."""
    import signal
    import subprocess
    import sys
    import time
    with process_pool(1) as pool:
        assert pool.submit(_signals).result() == (True, True)
    script = tmp_path / "parent.py"
    script.write_text(
        "import signal, sys, time\n"
        "from aukit.workers import imap, process_pool\n"
        # a background job of a non-interactive shell starts with SIGINT ignored (POSIX), and so did this
        # script when the suite ran as one: Ctrl-C's handler, as in a terminal
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "def work(i):\n"
        "    time.sleep(0.05)\n"
        "    return b'x' * (1 << 20)\n"                      # results large enough to be mid-write when signalled
        "if __name__ == '__main__':\n"
        "    pool = process_pool(2)\n"
        "    print('STARTED', flush=True)\n"
        "    try:\n"
        "        for _ in imap(pool, work, range(100000), 'test', inflight=4):\n"
        "            pass\n"
        "    except KeyboardInterrupt:\n"
        "        pool.shutdown(wait=True, cancel_futures=True)\n"   # as predict's FacePipeline.close
        "        sys.exit(130)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "STARTED"
        time.sleep(1.0)
        # SIGTERM as the CLI sees it: aukit.cli maps it to KeyboardInterrupt; here SIGINT does the same
        os.killpg(parent.pid, signal.SIGINT)
        assert parent.wait(30) == 130
        time.sleep(0.5)
        left = subprocess.run(["pgrep", "-a", "-s", str(parent.pid)], capture_output=True,
                              text=True).stdout.splitlines()
        assert [p for p in left if "<defunct>" not in p] == []      # ended (a zombie waits for init to reap it)
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
