"""Parallel preparation: one prepare (and one TV-L1 flow) of a dataset at a time; the others wait,
then open what the first built (a sweep's cells start together on a dataset not yet prepared)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from aukit import data as D
from aukit.data.lock import exclusive
from test_data_fixtures import write_bp4d, write_disfa


@pytest.fixture()
def env(tmp_path):
    return {"bp4d": write_bp4d(tmp_path / "bp4d"), "disfa": write_disfa(tmp_path / "disfa", n=5),
            "cache": tmp_path / "cache"}


def _in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("result", fn()))
    t.start()
    return t, out


def test_a_prepare_waits_for_the_one_under_way(env, capsys):
    kw = dict(root=env["bp4d"], workers=1, out=env["cache"], progress=False)
    lock = env["cache"] / "bp4d.prepare.lock"
    with exclusive(lock, "preparing bp4d"):                       # another run holds the dataset
        t, out = _in_thread(lambda: D.prepare("bp4d", "tas", **kw))
        time.sleep(1.5)
        assert t.is_alive() and not list(env["cache"].glob("bp4d__tas*"))   # it waits, touching nothing
    t.join(60)
    store = out["result"]
    assert len(store) > 0 and (store.path / "meta.json").is_file()
    said = capsys.readouterr().out
    assert f"waiting: {socket.gethostname()} pid {os.getpid()} is preparing bp4d ({lock})" in said
    assert lock.read_text() == ""                                  # no holder once released
    assert "ended without finishing" not in said                   # the holder released it


def test_a_waiter_says_when_the_holder_was_killed(tmp_path):
    """A holder killed mid-way leaves its name in the file: the waiter says it takes over rather
    than 'waited 6 s for host pid N', which read as if that run had done the work."""
    lock = tmp_path / "x.lock"
    code = ("import sys, time; from aukit.data.lock import exclusive\n"
            f"with exclusive({str(lock)!r}, 'preparing x'):\n    print('HELD', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        said = []
        t, _ = _in_thread(lambda: exclusive(lock, "preparing x", announce=said.append).__enter__())
        time.sleep(0.5)
        assert t.is_alive() and said == [f"waiting: {socket.gethostname()} pid {holder.pid} is preparing x ({lock})"]
        holder.kill()
        t.join(30)
    finally:
        holder.kill()
        holder.wait()
    assert said[1].startswith("waited ") and said[1].endswith(
        f"for {socket.gethostname()} pid {holder.pid}; it ended without finishing (killed or crashed): "
        "this process takes over"), said


def test_a_flow_waits_for_the_one_under_way(env, monkeypatch):
    from aukit.data import optflow
    store = D.prepare("disfa", "rtatl", root=env["disfa"], workers=1, out=env["cache"], progress=False)
    path = store.derived("flow_s3_32.npy")
    started = []
    compute = optflow._compute
    monkeypatch.setattr(optflow, "_compute", lambda *a: started.append(1) or compute(*a))
    with exclusive(path.with_name(path.stem + ".lock"), "computing a flow", announce=lambda _: None):
        t, out = _in_thread(lambda: D.flow(store, step=3, size=32, workers=1, progress=False))
        time.sleep(1.0)
        assert t.is_alive() and not started                         # waiting, not computing
    t.join(60)
    assert started == [1] and out["result"].shape == (len(store), 2, 32, 32) and path.is_file()
    assert D.flow(store, step=3, size=32, workers=1, progress=False).shape == out["result"].shape and started == [1]


def test_two_processes_prepare_one_dataset_together(env):
    """Started together, both finish with the same store; the detection ran once (the second found
    it done: it says it waited, and its own call only opened the store)."""
    code = ("import sys, time; from aukit import data as D; t = time.perf_counter(); "
            f"s = D.prepare('bp4d', 'scc', root={str(env['bp4d'])!r}, workers=1, out={str(env['cache'])!r}, "
            "progress=False); print('STORE', s.path, len(s), round(time.perf_counter() - t, 2))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    stores = [next(line.split()[1:3] for line in o.splitlines() if line.startswith("STORE")) for o in outs]
    assert stores[0] == stores[1]
    assert sum("waiting:" in o and "is preparing bp4d" in o for o in outs) == 1, outs
    built, waited = sorted(outs, key=lambda o: "waiting:" in o)
    assert "bp4d/scc: " in built and "frames aligned" in built       # the builder's summary
    assert "frames aligned" not in waited                           # the other only opened the store
    assert len(list(env["cache"].glob("bp4d__faces__*"))) == 1 and not list(env["cache"].glob("*.partial"))


def test_a_filesystem_without_locks_runs_unlocked_and_says_so(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(f, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    said = []
    with exclusive(tmp_path / "x.lock", "preparing x", announce=said.append):
        ran = True
    assert ran and said == [f"note: cannot lock {tmp_path / 'x.lock'} (No locks available); parallel runs may "
                            "each be preparing x"]


def test_a_script_without_a_main_guard_fails_instead_of_waiting_for_good(tmp_path):
    """`load_store` at the top level of a user's script: each spawned detection worker imported the script
    again, prepared at its top level, and waited for the parent's prepare lock while the parent waited
    for it (0%, "waiting: ... is preparing", for ever). The worker now stops with the main-guard advice."""
    script = tmp_path / "my_analysis.py"
    script.write_text(
        "import multiprocessing as mp\nfrom concurrent.futures import ProcessPoolExecutor\n"
        "from aukit.data.lock import exclusive\n"
        f"with exclusive({str(tmp_path / 'x.lock')!r}, 'preparing x'):\n"
        "    with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as pool:\n"
        "        pool.submit(abs, -1).result()\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})
    assert run.returncode != 0
    assert "preparing x: a worker process waits for its own parent (pid " in run.stderr
    assert f"{script} starts this work at its top level" in run.stderr and 'if __name__ == "__main__":' in run.stderr
