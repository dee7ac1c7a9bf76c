"""Which Jupyter kernel runs a notebook: one that starts this interpreter, never another environment's.

papermill starts the kernel named in the call ("python3" by default). Jupyter looks kernelspecs up along
``JUPYTER_PATH`` first, then the user's and the environment's folders, so a cluster module or an old
``ipykernel install --user`` can make "python3" start another Python: its aukit (or none) would run the
notebook, and the report would name this checkout's commit. :func:`resolve` checks the spec's interpreter and
falls back to the ``aukit`` kernel that ``make setup`` installs into the environment.
"""
from __future__ import annotations

import os
import subprocess
import sys

FALLBACK = "aukit"       # make setup: ipykernel install --sys-prefix --name aukit


def _prefix_of(python: str) -> str | None:
    """``sys.prefix`` of the interpreter at ``python`` (None if it does not start)."""
    try:
        r = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def runs_here(argv: list[str]) -> bool:
    """Does a kernelspec's ``argv`` start this interpreter? A bare ``python``/``python3``/``python3.X`` is
    replaced by ``sys.executable`` when jupyter_client starts the kernel; an absolute path must be this
    environment's (same ``sys.prefix``: venvs share the base interpreter's binary, so the file is no proof)."""
    if not argv:
        return False
    exe = argv[0]
    major, minor = sys.version_info[:2]
    if exe in ("python", f"python{major}", f"python{major}.{minor}"):
        return True
    if os.path.abspath(exe) == os.path.abspath(sys.executable):
        return True
    prefix = _prefix_of(exe)
    return prefix is not None and os.path.realpath(prefix) == os.path.realpath(sys.prefix)


def resolve(name: str = "python3") -> str:
    """``name`` if its kernelspec starts this interpreter, else the ``aukit`` kernel if that does, else a
    RuntimeError naming the spec, its interpreter and the command that installs the right one."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    ksm = KernelSpecManager()
    tried = []
    for cand in dict.fromkeys((name, FALLBACK)):
        try:
            spec = ksm.get_kernel_spec(cand)
        except NoSuchKernel:
            tried.append(f"'{cand}' (not installed)")
            continue
        if runs_here(spec.argv):
            if cand != name:
                print(f"[aukit] the Jupyter kernel '{name}' starts another Python; running the notebook with "
                      f"'{cand}' ({spec.resource_dir})", file=sys.stderr)
            return cand
        tried.append(f"'{cand}' ({spec.resource_dir}: starts {spec.argv[0]})")
    raise RuntimeError(f"no Jupyter kernel starts this interpreter ({sys.executable}): " + "; ".join(tried)
                       + f". Install one with: {sys.executable} -m ipykernel install --sys-prefix --name aukit "
                       "(make setup does)")
