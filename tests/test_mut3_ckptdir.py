"""Mutation audit round 3, aukit.ckptdir: the folder names a training resumes from, and run_root's guards."""
import json
from pathlib import Path

import pytest

from aukit import ckptdir

CLEAN = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}


def test_slug_drops_underscores_left_at_the_ends():
    # "(A6)" -> "_A6_" after the character swap; the ends are stripped, the inner ones stay
    assert ckptdir.slug("(A6)") == "A6"
    assert ckptdir.slug(" Ours(*pool) ") == "Ours_pool"
    assert ckptdir.training_dir(Path("/r"), "(A6)", 0, "(s1)") == str(Path("/r") / "A6_seed0_s1")


def test_slug_of_a_name_with_no_usable_character_is_run():
    # "()" -> "__" -> "_" -> "" : a folder needs a name
    assert ckptdir.slug("()") == "run"
    assert ckptdir.slug("") == "run"
    assert ckptdir.training_dir(Path("/r"), "", 1) == str(Path("/r") / "run_seed1")


def test_run_root_needs_a_base_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)             # the mutant would write checkpoints/ here
    with pytest.raises(ValueError, match="checkpoints need a folder"):
        ckptdir.run_root(1, "quick", False, base="", dataset="d", fold=1, knobs={}, git=CLEAN, log=lambda *_: None)
    assert not (tmp_path / "checkpoints").exists()
    # off: no folder is needed, and none is asked for
    assert ckptdir.run_root(0, "full", False, base="", dataset="d", fold=1, knobs={}, git=CLEAN) is None


def test_run_json_records_knobs_json_cannot_hold_as_read_back(tmp_path):
    """A tuple is recorded as the list it reads back as, a path as its text; the same knobs again match."""
    knobs = {"root": tmp_path / "frames", "sizes": (32, 64), "steps": None}
    kw = dict(base=str(tmp_path), dataset="synthau-disfa", fold=2, git=CLEAN, log=lambda *_: None)
    root = ckptdir.run_root(1, "quick", False, knobs=knobs, **kw)
    assert root == tmp_path / "checkpoints" / ckptdir.code_key() / "synthau-disfa_fold2"
    assert json.loads((root / "run.json").read_text()) == {"root": str(tmp_path / "frames"), "sizes": [32, 64],
                                                            "steps": None}
    assert ckptdir.run_root(1, "quick", False, knobs=dict(knobs), **kw) == root


def test_a_notebook_resume_over_a_changed_imagenet_file_is_refused(tmp_path):
    """Notebook runs checked the weights path (knobs, configs) but not its content: the same resnet34.pth replaced by
    other weights resumed the old training, recorded as started from the new file. aukit train already refused it."""
    w = tmp_path / "resnet34.pth"
    w.write_bytes(b"first weights")
    kw = dict(base=str(tmp_path), dataset="synthau-bp4d", fold=1, knobs={"size": 64, "weights": str(w)}, git=CLEAN,
              log=lambda *_: None)
    root = ckptdir.run_root(1, "quick", False, **kw)
    w.write_bytes(b"other weights")                      # before any checkpoint: the new file is recorded
    assert ckptdir.run_root(1, "quick", False, **kw) == root
    (root / "A6_seed0").mkdir()
    (root / "A6_seed0" / "last.pt").write_bytes(b"x")
    w.write_bytes(b"third weights")
    with pytest.raises(ckptdir.ConfigMismatchError, match=r"resnet34.pth \(sha256 [0-9a-f]+\), which now holds other"):
        ckptdir.run_root(1, "quick", False, **kw)


def test_a_finetune_from_file_is_recorded_and_checked_like_weights(tmp_path):
    """PIAP-DF's -p finetune_from piap.pt (a BP4D run's, rewritten when that run is rerun) was never hashed: a DISFA
    resume continued from the old file's weights while run.yaml named the new one."""
    from aukit.runtime import weights_files
    f = tmp_path / "piap.pt"
    f.write_bytes(b"bp4d run 1")
    assert list(weights_files({"finetune_from": str(f), "net": {"trunk_weights": ""}})) == [str(f)]
    kw = dict(base=str(tmp_path), dataset="synthau-disfa", fold=1, knobs={"finetune_from": str(f)}, git=CLEAN,
              log=lambda *_: None)
    root = ckptdir.run_root(1, "quick", False, **kw)
    (root / "PIAP_seed0").mkdir()
    (root / "PIAP_seed0" / "last.pt").write_bytes(b"x")
    f.write_bytes(b"bp4d run 2")
    with pytest.raises(ckptdir.ConfigMismatchError, match=r"piap.pt \(sha256"):
        ckptdir.run_root(1, "quick", False, **kw)
