"""SynthAU generation on the tiny preset: formats parsed directly, folds, determinism, dlib."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from aukit.data.synthau import PRESETS, generate
from aukit.data.synthau.face import dlib_landmarks
from aukit.data.synthau.writers import BP4D_INT_AUS, BP4D_OCC_AUS, DISFA_AUS

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthau")
    meta = generate(out, preset="tiny", seed=0, progress=False)
    return out, meta


def test_meta_and_folds(tiny):
    out, meta = tiny
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk["seed"] == 0 and on_disk["preset"] == "tiny"
    for ds, n in (("bp4d", TINY.bp4d_subjects), ("disfa", TINY.disfa_subjects)):
        folds = on_disk["folds"][ds]
        parts = [set(folds[f"part{k}"]) for k in (1, 2, 3)]
        assert all(parts) and sum(len(p) for p in parts) == n
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    fera = on_disk["folds"]["bp4d"]
    assert set(fera["fera_train"]).isdisjoint(fera["fera_test"])
    assert set(on_disk["spurious"]["absent_in"]).isdisjoint(on_disk["spurious"]["present_in"])
    for name, subj in on_disk["subjects"].items():
        if subj["dataset"] == "bp4d":  # the sex-linked cue matches the F/M name
            assert subj["sex"] == name[0] and (subj["beard"] > 0) == (name[0] == "M")


def test_bp4d_tree(tiny):
    out, _ = tiny
    root = out / "bp4d"
    subjects = sorted(p.name for p in (root / "2D").iterdir())
    assert len(subjects) == TINY.bp4d_subjects and all(s[0] in "FM" and s[1:].isdigit() for s in subjects)
    n_nine = 0
    for s in subjects:
        frames = sorted(int(p.stem) for p in (root / "2D" / s / "T1").glob("*.jpg"))
        assert frames == list(range(1, TINY.bp4d_frames + 1))
        occ = pd.read_csv(root / "AUCoding" / "AU_OCC" / f"{s}_T1.csv")
        assert list(occ.columns) == ["0"] + [str(a) for a in BP4D_OCC_AUS]
        assert occ["0"].tolist() == frames
        assert set(np.unique(occ.iloc[:, 1:].to_numpy())) <= {0, 1, 9}
        n_nine += int((occ.iloc[:, 1:] == 9).all(axis=1).sum())
        for au in BP4D_INT_AUS:
            df = pd.read_csv(root / "AUCoding" / "AU_INT" / f"AU{au:02d}" / f"{s}_T1_AU{au:02d}.csv", header=None)
            assert df.shape == (TINY.bp4d_frames, 2) and df[0].tolist() == frames
            assert set(df[1].unique()) <= {0, 1, 2, 3, 4, 5, 9} and (df[1] == 9).any()
    assert n_nine >= TINY.bp4d_subjects  # a not-coded run in every sequence


def test_labels_agree_with_clean_ground_truth(tiny):
    out, meta = tiny
    diffs = []
    for key, info in meta["ground_truth"]["bp4d"].items():
        clean = pd.read_csv(out / info["labels"])
        lms = np.load(out / info["landmarks"])
        assert lms.shape == (TINY.bp4d_frames, 68, 2) and len(clean) == TINY.bp4d_frames
        occ = pd.read_csv(out / "bp4d" / "AUCoding" / "AU_OCC" / f"{key}.csv")
        written = pd.read_csv(out / "bp4d" / "AUCoding" / "AU_INT" / "AU12" / f"{key}_AU12.csv", header=None)[1]
        valid = written != 9
        diffs.append(np.abs(written[valid].to_numpy() - clean["AU12"][valid].to_numpy()))
        coded = (occ.iloc[:, 1:] != 9).all(axis=1)
        # occurrence = clean intensity >= 1, up to the label-noise perturbations
        agree = (occ.loc[coded, "12"].to_numpy() == (clean.loc[coded, "AU12"] >= 1).to_numpy()).mean()
        assert agree > 0.8
    d = np.concatenate(diffs)
    assert d.max() <= 1  # noise perturbs by +-1 only


def test_disfa_tree(tiny):
    out, meta = tiny
    root = out / "disfa"
    videos = sorted((root / "Videos_LeftCamera").glob("LeftVideoSN*_comp.avi"))
    assert len(videos) == TINY.disfa_subjects
    cap = cv2.VideoCapture(str(videos[0]))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (256, 256, 3)
        n += 1
    assert n == TINY.disfa_frames
    sn = videos[0].name[len("LeftVideo"):-len("_comp.avi")]
    for au in DISFA_AUS:
        df = pd.read_csv(root / "ActionUnit_Labels" / sn / f"{sn}_au{au}.txt", header=None)
        assert df.shape == (TINY.disfa_frames, 2) and df[0].tolist() == list(range(1, n + 1))
        assert df[1].between(0, 5).all()
    assert len(meta["ground_truth"]["disfa"]) == TINY.disfa_subjects


def test_auxiliary_trees(tiny):
    out, _ = tiny
    videos = sorted((out / "affwild2" / "cropped_aligned").iterdir())
    assert len(videos) == TINY.affwild_videos
    assert sorted(p.name for p in videos[0].glob("*.jpg"))[0] == "00001.jpg"
    assert len(list((out / "emotionet" / "images").glob("*.jpg"))) == TINY.emotionet_images
    ids = [p for p in (out / "casia_webface").iterdir() if p.is_dir()]
    assert len(ids) == TINY.casia_identities and all(len(list(p.glob("*.jpg"))) == TINY.casia_images for p in ids)
    clips = sorted(p for p in (out / "afew_va").iterdir() if p.is_dir())
    assert len(clips) == TINY.afew_clips
    ann = json.loads((clips[0] / f"{clips[0].name}.json").read_text())["frames"]
    assert sorted(ann) == [f"{i:05d}" for i in range(TINY.afew_frames)]
    assert np.array(ann["00000"]["landmarks"]).shape == (68, 2)
    assert (clips[0] / "00000.png").exists()


def test_dlib_finds_the_faces(tiny):
    out, meta = tiny
    found, total, errors = 0, 0, []
    for key, info in meta["ground_truth"]["bp4d"].items():
        lms = np.load(out / info["landmarks"])
        for i in range(0, TINY.bp4d_frames, 2):
            img = cv2.cvtColor(cv2.imread(str(out / f"bp4d/2D/{key.replace('_', '/')}/{i + 1}.jpg")), cv2.COLOR_BGR2RGB)
            lm = dlib_landmarks(img)
            total += 1
            if lm is not None:
                found += 1
                errors.append(np.linalg.norm(lm - lms[i], axis=1).mean() / np.linalg.norm(lms[i, 45] - lms[i, 36]))
    assert found / total >= 0.95, f"dlib detected {found}/{total}"
    assert np.median(errors) < 0.06


# a small SynthAU: a few subjects and frames of every dataset
SMALL = dict(bp4d_subjects=3, bp4d_frames=4, disfa_subjects=3, disfa_frames=4, affwild_videos=1,
             affwild_frames=3, emotionet_images=3, emotionet_identities=2, casia_identities=1,
             casia_images=2, afew_clips=1, afew_frames=2)


def _decoded(path: Path) -> list[np.ndarray]:
    """An image, or every frame of a video, decoded."""
    if path.suffix != ".avi":
        return [cv2.imread(str(path))]
    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def _same_dataset(a: Path, b: Path, max_grey: int = 0, mean_grey: float = 0.0) -> None:
    """The same files; decoded images at most ``max_grey`` grey levels apart, ``mean_grey`` on
    average; labels, landmarks and videos byte for byte."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        pa, pb = a / rel, b / rel
        if rel.suffix in (".jpg", ".png") or rel.suffix == ".avi" and max_grey:
            fa, fb = _decoded(pa), _decoded(pb)
            assert len(fa) == len(fb) > 0, rel
            for x, y in zip(fa, fb):
                d = np.abs(x.astype(int) - y.astype(int))
                assert d.max() <= max_grey and d.mean() <= mean_grey, (rel, d.max(), d.mean())
        elif rel.suffix in (".csv", ".txt", ".npy", ".avi") or rel.name.endswith(".json") and rel.name != "meta.json":
            assert pa.read_bytes() == pb.read_bytes(), rel


def test_deterministic_across_runs(tmp_path):
    a = generate(tmp_path / "a", preset="tiny", seed=7, progress=False, workers=1, **SMALL)
    b = generate(tmp_path / "b", preset="tiny", seed=7, progress=False, workers=1, **SMALL)
    generate(tmp_path / "c", preset="tiny", seed=8, progress=False, workers=1, **SMALL)
    assert a["subjects"] == b["subjects"] and a["folds"] == b["folds"]
    _same_dataset(tmp_path / "a", tmp_path / "b")
    img_a = cv2.imread(str(tmp_path / "a" / "bp4d/2D/F001/T1/1.jpg"))
    img_c = cv2.imread(str(tmp_path / "c" / "bp4d/2D/F001/T1/1.jpg"))
    assert not np.array_equal(img_a, img_c)  # the seed matters


def test_two_workers_give_the_same_dataset(tmp_path):
    """The pool path (2 spawned workers, jobs finishing in any order): the same files, labels,
    landmarks and decoded pixels as one process. (The base face was once built with the main
    process's multi-threaded BLAS and the workers' single thread: +-1 grey level before JPEG,
    up to 6 after.)"""
    a = generate(tmp_path / "a", preset="tiny", seed=7, progress=False, workers=1, **SMALL)
    b = generate(tmp_path / "b", preset="tiny", seed=7, progress=False, workers=2, **SMALL)
    assert a["subjects"] == b["subjects"] and a["folds"] == b["folds"]
    _same_dataset(tmp_path / "a", tmp_path / "b")


def test_a_tree_of_another_version_is_named_regenerated_by_reproduce_and_warned_about(monkeypatch, tmp_path):
    """`make reproduce` reused any tree with a meta.json: after the renderer changed (version 2:
    neutral mouth, lid folds) an older tree gave reports that the committed ones are not, silently."""
    import warnings
    from aukit import nb, report
    from aukit.data import splits, synthau
    meta = {"version": 1, "preset": "default", "seed": 0, "folds": {"bp4d": {"part1": ["F001"]}}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    why = synthau.stale(tmp_path, preset="default", seed=0)
    assert why and "SynthAU version 1" in why and f"renders version {synthau.VERSION}" in why
    assert "seed is 0, not 3" in synthau.stale(tmp_path, seed=3)
    made = []
    monkeypatch.setattr(synthau, "default_root", lambda: tmp_path)
    monkeypatch.setattr(synthau, "generate", lambda root, **k: made.append((root, k)))
    monkeypatch.setattr(nb, "execute", lambda name, out, params: {})
    monkeypatch.setattr(report, "write_index", lambda reports: reports / "index.md")
    (tmp_path / "reports").mkdir()
    nb.reproduce(only=["tas"], preset="quick", reports=tmp_path / "reports")
    assert made == [(tmp_path, {"preset": "default", "seed": 0})]
    # a hand-run notebook reading the old tree is warned, once per process
    monkeypatch.setenv("AUKIT_SYNTHAU", str(tmp_path))
    monkeypatch.setattr(splits, "_WARNED", set())
    with pytest.warns(UserWarning, match="SynthAU version 1.*regenerate it with `aukit synth`"):
        assert splits.folds("synthau-bp4d") == {"part1": ["F001"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits.folds("synthau-bp4d")
    meta["version"] = synthau.VERSION
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert synthau.stale(tmp_path, preset="default", seed=0) is None
    made.clear()
    nb.reproduce(only=["tas"], preset="quick", reports=tmp_path / "reports")
    assert made == []


def test_generating_into_a_folder_with_other_data_is_refused_and_a_synthau_tree_is_replaced(tmp_path):
    """`aukit synth --out $AUKIT_DATA` deleted the licensed bp4d/ and disfa/ copies there (generation replaced
    every bp4d/, disfa/, ... subfolder it found); a SynthAU tree, finished or cut short, is still replaced."""
    licensed = tmp_path / "data" / "bp4d" / "2D" / "F001" / "T1" / "0001.jpg"
    licensed.parent.mkdir(parents=True)
    licensed.write_bytes(b"licensed frame")
    with pytest.raises(ValueError, match=r"data holds bp4d/ that are not SynthAU's .* would delete them"):
        generate(tmp_path / "data", preset="tiny", seed=0, progress=False, workers=1, **SMALL)
    assert licensed.read_bytes() == b"licensed frame" and not (tmp_path / "data" / "disfa").exists()
    tree = tmp_path / "synth"
    generate(tree, preset="tiny", seed=0, progress=False, workers=1, **SMALL)
    (tree / "meta.json").unlink()                      # a generation cut short: its mark lets the next one replace it
    (tree / "bp4d" / "stale.txt").write_text("x")
    generate(tree, preset="tiny", seed=0, progress=False, workers=1, **SMALL)
    assert not (tree / "bp4d" / "stale.txt").exists() and (tree / "meta.json").is_file()
