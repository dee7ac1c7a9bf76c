"""prepare / load_store: caching by hash, atomic completion, resume, QA counts, flow cache."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from aukit import data as D
from aukit.data import preprocess as prep_mod
from aukit.data.optflow import has_flow
from test_data_fixtures import write_bp4d, write_disfa


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    return {"bp4d": write_bp4d(d / "bp4d"), "disfa": write_disfa(d / "disfa", n=5), "cache": d / "cache"}


@pytest.fixture(scope="module")
def bp4d_store(env):
    return D.prepare("bp4d", "tas", root=env["bp4d"], workers=1, out=env["cache"], progress=False)


def test_store_contents_and_qa(bp4d_store, capsys):
    s = bp4d_store
    # 14 indexed frames: 735.jpg unreadable, F001/T2 frame 13 has no face
    assert len(s) == 12 and s.images.shape == (12, 256, 256, 3) and s.images.dtype == np.uint8
    assert isinstance(s.images, np.memmap)
    assert s.landmarks.shape == (12, 68, 2) and s.size == 256 and s.policy.name == "tas"
    assert s.index["row"].tolist() == list(range(12))
    kept = set(zip(s.index.sequence, s.index.frame))
    assert ("T1", 735) not in kept and ("T2", 13) not in kept and ("T1", 734) in kept
    assert s.qa["unreadable"] == 1 and s.qa["no_face"] == 1 and s.qa["aligned"] == 12
    assert s.qa["per_subject"]["F001"]["unreadable"] == 1
    assert s.qa["per_subject"]["M001"]["invalid_codes"] == 1
    # labels travel with the rows; nothing was zero-filled
    r = s.index[(s.index.sequence == "T1") & (s.index.frame == 731)].iloc[0]
    assert np.isnan(r["AU06"]) and r["AU12"] == 2.0
    assert s.images[s.index.row].reshape(12, -1).std(1).min() > 10
    # eye centres of every aligned frame on the template
    eyes = np.stack([s.landmarks[:, 36:42].mean(1), s.landmarks[:, 42:48].mean(1)], 1)
    assert np.abs(eyes - s.policy.template()[:2]).max() < 1e-2
    c = s.au_centres([1, 12])
    assert c.shape == (12, 2, 2, 2) and c.dtype == np.float32


def test_frames_without_a_face_are_named_in_qa_json(bp4d_store, capsys):
    """README: prepare 'counts frames without a face ... and names them in qa.json'; only the count was there."""
    s = bp4d_store
    assert s.qa["no_face_frames"] == {"F001/T2": "13"}
    assert json.loads((s.path / "qa.json").read_text())["no_face_frames"] == {"F001/T2": "13"}
    prep_mod.print_summary(s)
    assert "frames without a face:\n    F001/T2: frames 13" in capsys.readouterr().out


def test_no_face_frames_are_runs_per_sequence():
    df = pd.DataFrame({"subject": ["a"] * 6 + ["b"], "sequence": ["a"] * 6 + ["b"], "frame": [1, 2, 3, 5, 9, 10, 0]})
    status = np.array([1, 1, 1, 0, 1, 1, 1], np.int8)
    assert prep_mod.no_face_frames(df, status) == {"a": "1-3, 9-10", "b": "0"}


def test_a_current_store_opens_without_the_prepare_lock(env, bp4d_store, monkeypatch):
    """A read-only cache (a shared, finished one) made `aukit prepare` fail opening its lock file,
    although the store was complete and nothing had to be written."""
    def no_lock(*a, **k):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(prep_mod, "exclusive", no_lock)
    again = D.prepare("bp4d", "tas", root=env["bp4d"], workers=1, out=env["cache"], progress=False)
    assert again.path == bp4d_store.path


def test_second_load_is_instant_and_same_hash(env, bp4d_store):
    t = time.perf_counter()
    s2 = D.load_store("bp4d", "tas", root=env["bp4d"], out=env["cache"], prepare=False)
    assert time.perf_counter() - t < 1.0
    assert s2.cache_hash == bp4d_store.cache_hash and s2.path == bp4d_store.path
    from aukit.data.store import OPENED                     # run.yaml's record of the data a run read
    assert OPENED[s2.path.name] == {"frames": len(s2), "fingerprint": s2.meta["fingerprint"], "indexed": 14,
                                    "no_face": 1, "unreadable": 1}         # the fake copy's 14 frames
    np.testing.assert_array_equal(s2.images[:], bp4d_store.images[:])
    # a parameter change is a new cache
    with pytest.raises(FileNotFoundError, match="aukit prepare bp4d --policy rtatl"):
        D.load_store("bp4d", "rtatl", root=env["bp4d"], out=env["cache"], prepare=False)
    other = D.store.find_store("bp4d", D.align.get_policy("tas", det_threshold=0.5), env["bp4d"],
                               out=env["cache"])
    assert other[2] != bp4d_store.cache_hash


def test_interrupted_prepare_never_looks_complete_and_resumes(env, monkeypatch):
    calls = []
    real = prep_mod._run_unit

    def flaky(job):
        calls.append(job[0])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interrupt")
        return real(job)

    monkeypatch.setattr(prep_mod, "_run_unit", flaky)
    kw = dict(root=env["bp4d"], workers=1, out=env["cache"], progress=False, chunk=2)
    with pytest.raises(KeyboardInterrupt):
        D.prepare("bp4d", "cpc", **kw)
    path, _, _ = D.store.find_store("bp4d", "cpc", env["bp4d"], out=env["cache"])
    assert not path.exists()
    assert path.with_name(path.name + ".partial").is_dir()
    with pytest.raises(FileNotFoundError):
        D.FrameStore(path.with_name(path.name + ".partial"))
    done = len(list(path.with_name(path.name + ".partial").glob("chunks/*.npz")))
    assert done == 1
    calls.clear()
    monkeypatch.setattr(prep_mod, "_run_unit", real)
    s = D.prepare("bp4d", "cpc", **kw)  # resumes: only the missing units run
    assert path.is_dir() and not path.with_name(path.name + ".partial").exists()
    assert len(s) == 12 and s.size == 128
    assert not (path / "chunks").exists()


def test_video_store_with_workers_and_flow(env):
    s = D.prepare("disfa", "rtatl", root=env["disfa"], workers=2, out=env["cache"], progress=False)
    # SN001 5/5, SN002 5 (6 labels), SN010 4 labels for 5 frames
    assert len(s) == 14 and s.size == 200
    assert s.qa["label_without_frame"] == 1 and s.qa["frame_without_label"] == 1
    f = D.flow(s, 3, size=32, workers=1, progress=False)
    assert f.shape == (14, 2, 32, 32) and f.dtype == np.float16
    ok = has_flow(f)
    # frames t with t+3 in the same video: 1,2 of each 5-frame and 4-frame sequence
    expect = [fr + 3 <= n for fr, n in zip(s.index.frame, s.index.subject.map(
        {"SN001": 5, "SN002": 5, "SN010": 4}))]
    assert ok.tolist() == expect
    # the same flow from a pool of 2 spawned workers, 2 pairs per task, finishing in any order
    from aukit.data.optflow import flow as compute_flow
    one = np.array(f)
    s.derived("flow_s3_32.npy").unlink()
    two = compute_flow(s, 3, size=32, workers=2, chunk=2, progress=False)
    np.testing.assert_array_equal(np.array(two), one)
    # the fixture shifts the face 2 px per frame: flow is non-zero where it exists, NaN elsewhere
    assert np.isnan(np.asarray(f[~ok], np.float32)).all()
    moved = np.asarray(f[ok], np.float32)                       # (n, 2, 32, 32): x then y displacement
    assert moved[:, 0].mean() > 0.8 and abs(moved[:, 1].mean()) < 0.3, (moved[:, 0].mean(), moved[:, 1].mean())
    t = time.perf_counter()
    f2 = D.flow(s, 3, size=32)
    assert time.perf_counter() - t < 1.0 and np.array_equal(np.asarray(f2), np.asarray(f), equal_nan=True)


def test_store_pi_maps_cached(bp4d_store):
    m = D.store_pi_maps(bp4d_store, [6, 12], size=32)
    assert m.shape == (12, 2, 32, 32) and m.dtype == np.uint8
    np.testing.assert_array_equal(m[:3], D.pi_maps(bp4d_store.landmarks[:3], [6, 12], 32, src_size=256))
    assert bp4d_store.derived("pimaps_32_AU06-AU12.npy").is_file()
    assert isinstance(D.store_pi_maps(bp4d_store, [6, 12], size=32), np.memmap)


def test_policies_share_one_detection_pass(env, bp4d_store, monkeypatch):
    """A second policy reuses the cached dlib faces: no detector call, same landmarks."""
    faces = list(env["cache"].glob("bp4d__faces__*/faces.npz"))
    assert len(faces) == 1

    def no_detect(*a, **k):
        raise AssertionError("detector called although the faces are cached")

    monkeypatch.setattr(D.align.FaceAligner, "detect", no_detect)
    monkeypatch.setattr(D.align, "dlib_models", no_detect)  # warping alone never loads dlib's models
    scc = D.prepare("bp4d", "scc", root=env["bp4d"], workers=1, out=env["cache"], progress=False)
    assert len(scc) == len(bp4d_store) and scc.size == 256
    # same frames, same image-space landmarks, different alignment
    back = np.einsum("nij,nkj->nki", np.linalg.inv(np.concatenate(
        [scc.affine, np.tile([[[0, 0, 1]]], (len(scc), 1, 1))], 1))[:, :2],
        np.concatenate([scc.landmarks, np.ones((*scc.landmarks.shape[:2], 1))], -1))
    back0 = np.einsum("nij,nkj->nki", np.linalg.inv(np.concatenate(
        [bp4d_store.affine, np.tile([[[0, 0, 1]]], (len(scc), 1, 1))], 1))[:, :2],
        np.concatenate([bp4d_store.landmarks, np.ones((*scc.landmarks.shape[:2], 1))], -1))
    np.testing.assert_allclose(back, back0, atol=0.05)


def test_prepare_pool_runs_jobs_in_spawned_workers(monkeypatch):
    """The pool branch of prepare's job runner (real frames need >= 300 to reach it): every job
    runs once in a spawned worker started with the policy, and its frame count reaches the bar."""
    import aukit.data.preprocess as P
    from aukit.data.align import get_policy
    counted = []

    class Bar:
        def __init__(self, **kw):
            pass

        def update(self, n):
            counted.append(n)

        def close(self):
            pass
    monkeypatch.setattr(P, "tqdm", Bar)
    P._pool_run(tuple, [("a", 200), ("b", 150), ("c", 100)], get_policy("tas"), 2, "test", 450, False)
    assert sorted(counted) == [100, 150, 200]


def test_a_fold_on_an_incomplete_real_copy_is_refused_or_labelled(bp4d_store, monkeypatch, tmp_path):
    """A copy with 2 of BP4D's 41 subjects trained on 2, tested on 2 and printed its scores beside
    the paper's as a BP4D result. The fold is refused, naming what is missing; AUKIT_ALLOW_PARTIAL=1
    runs it with a warning, and every report table and metrics.json say PARTIAL COPY."""
    from aukit.data import splits
    from aukit.methods.tas.data import load_data
    from aukit.report import Report
    monkeypatch.delenv(splits.ALLOW_PARTIAL, raising=False)
    monkeypatch.setattr(splits, "PARTIAL", [])
    monkeypatch.setattr(splits, "USED", {})
    with pytest.raises(splits.IncompleteCopy, match=r"bp4d fold 1: this copy lacks 27 of 27 training and 12 of 14 "
                                                     r"test subjects .*AUKIT_ALLOW_PARTIAL=1"):
        load_data("bp4d", 1, store=bp4d_store)
    splits.check_present("synthau-bp4d", 1, ["F001", "F002"], ["M001"], ["F001"])   # SynthAU: any size
    monkeypatch.setenv(splits.ALLOW_PARTIAL, "1")
    train, test = splits.fold_subjects("bp4d", "fera", present=bp4d_store.index["subject"])
    assert len(train) == 21 and len(test) == 20
    assert splits.PARTIAL == ["bp4d the FERA2015 split: this copy lacks 19 of 21 training and 20 of 20 test "
                              "subjects (F003, F005, F007, F009, F011, F013, F015, F017, ...)"]
    rep = Report("tas", folder=tmp_path / "r", dataset="bp4d", preset="quick", seeds=[0], device="cpu")
    assert rep.measured_label == "measured (bp4d, FERA2015 split, PARTIAL COPY, quick, seeds 0)"
    rep.add_metrics(icc_avg=0.5)
    rep.add_table("t", pd.DataFrame({"AU06": [0.5], "Avg": [0.5]}, index=["m"]))
    assert "PARTIAL COPY: bp4d the FERA2015 split: this copy lacks 19 of 21" in (tmp_path / "r/tables/t.md").read_text()
    rep.write()
    assert json.loads((tmp_path / "r/metrics.json").read_text())["partial_copy"] == splits.PARTIAL


def test_a_synthau_tree_of_another_version_gets_other_stores(tmp_path):
    """The index fingerprint ignores pixels (codec noise must not rebuild a store), so SynthAU version 2's
    tree (other faces, the same labels) kept serving version 1's aligned faces and dlib landmarks."""
    from aukit.data.align import get_policy
    from aukit.data.store import cache_key
    pol = get_policy("tas")
    (tmp_path / "bp4d").mkdir()
    keys = []
    for version in (1, 2):
        (tmp_path / "meta.json").write_text(json.dumps({"version": version}))
        keys.append(cache_key("synthau-bp4d", pol, tmp_path / "bp4d"))
    assert keys[0]["synthau_version"] == 1 and keys[1]["synthau_version"] == 2
    assert "synthau_version" not in cache_key("bp4d", pol, tmp_path / "bp4d")   # real copies keep their caches
