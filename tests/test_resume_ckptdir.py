"""aukit.ckptdir: when a notebook run checkpoints, and the folder each training resumes from."""
import json

import pytest

from aukit import ckptdir
from aukit.checkpoint import ConfigMismatchError

CLEAN = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False}


@pytest.mark.parametrize("checkpoints,preset,smoke,on", [
    (-1, "full", False, True), (-1, "quick", False, False), (-1, "full", True, False), (-1, "smoke", True, False),
    (0, "full", False, False), (1, "quick", False, True), (1, "full", True, True)])
def test_wanted_rule(checkpoints, preset, smoke, on):
    assert ckptdir.wanted(checkpoints, preset, smoke) is on


def test_wanted_rejects_other_values():
    with pytest.raises(ValueError, match="checkpoints is -1"):
        ckptdir.wanted(2, "full", False)


def test_code_key_is_the_code_by_content_whatever_the_commit(tmp_path):
    """A commit that touched only the README or reports/ changed the key (it was the commit's hash), and a
    job or notebook run killed on a cluster could not resume after a pull."""
    (tmp_path / "aukit").mkdir()
    (tmp_path / "aukit" / "a.py").write_text("x = 1\n")
    key = ckptdir.code_key(CLEAN, tmp_path)
    assert key == "src" + ckptdir.source_hash(tmp_path) and len(key) == len("src") + 12
    for git in ({**CLEAN, "dirty": True}, {**CLEAN, "commit": "f" * 40}, {"commit": "unknown", "dirty": None}):
        assert ckptdir.code_key(git, tmp_path) == key          # commit, dirty flag, no git: the same code
    (tmp_path / "README.md").write_text("docs")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "index.md").write_text("a report")
    ckptdir._cached_source_hash.cache_clear()
    assert ckptdir.code_key(None, tmp_path) == key


def test_source_hash_follows_every_edit(tmp_path):
    (tmp_path / "aukit" / "m").mkdir(parents=True)
    (tmp_path / "aukit" / "m" / "a.py").write_text("x = 1\n")
    h0 = ckptdir.source_hash(tmp_path)
    (tmp_path / "aukit" / "m" / "a.py").write_text("x = 2\n")
    h1 = ckptdir.source_hash(tmp_path)
    (tmp_path / "aukit" / "new.py").write_text("")                 # an untracked module counts too
    h2 = ckptdir.source_hash(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "x.py").write_text("")                 # outputs do not
    assert len({h0, h1, h2}) == 3 and ckptdir.source_hash(tmp_path) == h2


def _notebook(params: str, code: str, output: str = "") -> str:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": [params], "outputs": [],
              "execution_count": None},
             {"cell_type": "code", "metadata": {}, "source": [code], "execution_count": 3 if output else None,
              "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}] if output else []}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_saved_with_outputs_or_other_parameters_keeps_the_code_key(tmp_path):
    """JupyterLab's autosave wrote outputs into the notebook: the tree turned dirty, the key changed and a
    kernel restarted after a crash trained everything again. Its code cells are what count."""
    (tmp_path / "aukit").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "aukit" / "a.py").write_text("x = 1\n")
    nb = tmp_path / "notebooks" / "t.ipynb"
    nb.write_text(_notebook("epochs = 1", "print(epochs)"))

    def key():
        ckptdir._cached_source_hash.cache_clear()
        return ckptdir.code_key(None, tmp_path)
    k0 = key()
    nb.write_text(_notebook("epochs = 5", "print(epochs)", output="5\n"))     # saved after a run, a value edited
    assert key() == k0
    nb.write_text(_notebook("epochs = 5", "print(epochs * 2)"))                # its code edited: other code
    assert key() != k0
    nb.write_text(_notebook("epochs = 1", "print(epochs)"))
    (tmp_path / "aukit" / "a.py").write_text("x = 2\n")                        # a module edited
    assert key() != k0
    assert ckptdir.notebook_code(b"not json") == b"not json"


def test_slug_and_training_dir(tmp_path):
    assert ckptdir.slug("R18+GRU-scratch 2%") == "R18plusGRU-scratch_2pct"
    assert ckptdir.slug("Ours(*pool)-2%") == "Ours_pool_-2pct"
    assert ckptdir.slug("Backbone^T") == "Backbone_T"
    assert ckptdir.slug("lambda_rank=0.1") == "lambda_rank=0.1"
    assert ckptdir.training_dir(None, "A6", 0) is None
    assert ckptdir.training_dir(tmp_path, "A6", 2) == str(tmp_path / "A6_seed2")
    assert ckptdir.training_dir(tmp_path, "S1 + L_all", 0, "pretrain pool") == str(
        tmp_path / "S1_plus_L_all_seed0_pretrain_pool")


def test_run_root_layout_and_off(tmp_path):
    lines = []
    kw = dict(base=str(tmp_path / "runs/tas"), dataset="synthau-bp4d", fold="fera", knobs={"size": None, "steps": 2},
              git=CLEAN, log=lines.append)
    assert ckptdir.run_root(-1, "quick", False, **kw) is None and not (tmp_path / "runs").exists()
    root = ckptdir.run_root(-1, "full", False, **kw)
    assert root == tmp_path / "runs/tas/checkpoints" / ckptdir.code_key() / "synthau-bp4d_foldfera"
    assert json.loads((root / "run.json").read_text()) == {"size": None, "steps": 2}
    assert "checkpoints:" in lines[0] and str(root) in lines[0]
    assert ckptdir.run_root(1, "quick", False, **kw) == root            # same knobs: the same folder again


def test_run_root_other_knobs_same_code_refused(tmp_path, monkeypatch):
    kw = dict(base=str(tmp_path), dataset="d", fold=1, git=CLEAN, log=lambda *_: None)
    ckptdir.run_root(1, "full", False, knobs={"steps": None, "sizes": (1, 2)}, **kw)
    ckptdir.run_root(1, "full", False, knobs={"steps": None, "sizes": (1, 2), "epochs": 5}, **kw)  # epochs are free
    with pytest.raises(ConfigMismatchError, match="steps: None -> 2"):
        ckptdir.run_root(1, "full", False, knobs={"steps": 2, "sizes": (1, 2)}, **kw)
    first = ckptdir.code_key()
    monkeypatch.setattr(ckptdir, "_cached_source_hash", lambda root: "f" * 12)      # other code
    other = ckptdir.run_root(1, "full", False, knobs={"steps": 2}, **kw)
    assert other.parent.name == "src" + "f" * 12 and (tmp_path / "checkpoints" / first).is_dir()   # old one left


def test_a_training_folder_refuses_data_that_changed_since(tmp_path, monkeypatch):
    """A run on a partial copy, rerun after the copy was completed, loaded its models ('nothing left to train')
    and reported them as trained on the complete copy: the folder keys no data. Each training folder records
    the index fingerprints of the stores open at its first use; a changed one is refused."""
    from aukit.checkpoint import ConfigMismatchError
    from aukit.data import store
    monkeypatch.setattr(store, "OPENED", {"bp4d__tas256__aaaa": {"frames": 9, "fingerprint": "f1"}})
    path = ckptdir.training_dir(tmp_path, "A6", 0)
    assert json.loads((tmp_path / "A6_seed0" / "data.json").read_text()) == {"bp4d__tas256": "f1"}
    # the same data from another root (another store hash): the same training, resumed
    monkeypatch.setattr(store, "OPENED", {"bp4d__tas256__bbbb": {"frames": 9, "fingerprint": "f1"},
                                          "casia_webface__piap256__cc": {"frames": 3, "fingerprint": "c"}})
    assert ckptdir.training_dir(tmp_path, "A6", 0) == path
    monkeypatch.setattr(store, "OPENED", {"bp4d__tas256__dddd": {"frames": 12, "fingerprint": "f2"}})
    with pytest.raises(ConfigMismatchError, match=r"A6_seed0 holds a training on other data \(bp4d__tas256: frames "
                                                  r"or labels changed since"):
        ckptdir.training_dir(tmp_path, "A6", 0)
    assert ckptdir.training_dir(tmp_path, "A6", 1) == str(tmp_path / "A6_seed1")   # another training: its own record
