"""`aukit train --nproc N` killed with SIGKILL (OOM killer, `kill -9`, a scheduler's hard stop) takes its
torchrun along: before, torchrun and its ranks trained on, orphaned, holding the GPUs."""
import os
import signal
import subprocess
import sys
import time



def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:            # a zombie waiting for its reaper is gone for our purpose
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_killed_launcher_takes_torchrun_along(tmp_path):
    fake = tmp_path / "bin" / "torchrun"
    fake.parent.mkdir()
    pidfile = tmp_path / "torchrun.pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 120\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    launcher = subprocess.Popen([sys.executable, "-c", "from aukit import jobs; jobs._torchrun('tas', 'x.yaml', 2)"],
                                env=env)
    try:
        for _ in range(300):
            if pidfile.is_file() and pidfile.read_text().strip():
                break
            time.sleep(0.05)
        child = int(pidfile.read_text())
        assert _alive(child)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        for _ in range(100):
            if not _alive(child):
                break
            time.sleep(0.05)
        survived = _alive(child)
    finally:
        if pidfile.is_file() and _alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert not survived, "torchrun outlived the killed launcher"
