"""`prepare`'s progress where no terminal shows tqdm's bar: a notebook kernel under `aukit run --log` printed
nothing for the ~95 s it prepared faces."""
from __future__ import annotations

from aukit.data import preprocess as P
from aukit.data.align import get_policy


def _run(monkeypatch, progress: bool) -> None:
    """Ten jobs of 10 frames each, in-process (the worker's dlib models are not loaded)."""
    monkeypatch.setattr(P, "_init_worker", lambda policy: None)
    P._pool_run(lambda job: (None, job), [10] * 10, get_policy("tas"), 1, "detect synthau-bp4d", 100, progress)


def test_a_line_per_tenth_of_the_frames_without_a_terminal(monkeypatch, capsys):
    _run(monkeypatch, True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and lines[0].startswith("detect synthau-bp4d: 10/100 frames (10%), ")
    assert lines[-1].startswith("detect synthau-bp4d: 100/100 frames (100%), ") and lines[-1].endswith(" s")


def test_no_lines_with_progress_off(monkeypatch, capsys):
    _run(monkeypatch, False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
