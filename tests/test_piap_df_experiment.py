"""PIAP-DF experiment plumbing on a small in-memory stand-in for the frame stores
(every variant of Table 3, the toy case and the figures run end to end)."""
import numpy as np
import pandas as pd
import pytest
import torch

from aukit.methods.piap_df import experiment as X
from aukit.methods.piap_df import runs


class FakeStore:
    """Duck-typed FrameStore: 256x256 faces = one real face (astronaut) + AU-dependent blobs."""

    def __init__(self, n=48, n_subjects=6, seed=0, aus=(1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)):
        import cv2
        from skimage.data import astronaut
        from aukit.data.synthau.face import dlib_landmarks
        rng = np.random.default_rng(seed)
        img = astronaut()
        lm = dlib_landmarks(img)
        base = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
        self.size = 256
        self.landmarks = np.repeat((lm * 256 / img.shape[0])[None], n, 0).astype(np.float32)
        occ = (rng.random((n, len(aus))) < 0.4).astype(np.float32)
        images = np.repeat(base[None], n, 0).astype(np.int16)
        for j in range(len(aus)):  # AU j brightens a stripe of its own
            y0 = 16 * (j % 12) + 40
            images[:, y0:y0 + 12, 60:200] += (occ[:, j] * 80)[:, None, None, None].astype(np.int16)
        subj = np.array([f"S{i % n_subjects}" for i in range(n)])
        self.images = np.clip(images + rng.integers(-10, 10, images.shape), 0, 255).astype(np.uint8)
        self.index = pd.DataFrame({"subject": subj, "sequence": subj, "frame": np.arange(n), "source": "x"})
        for j, a in enumerate(aus):
            self.index[f"occ_AU{a:02d}"] = occ[:, j]
        self.index.loc[n - 4:, [c for c in self.index.columns if c.startswith("occ_")]] = np.nan  # unlabelled frames
        self.index["row"] = np.arange(n)

    def __len__(self):
        return len(self.index)


@pytest.fixture
def fake_data(monkeypatch):
    store = FakeStore()
    monkeypatch.setattr(runs, "load_store", lambda *a, **k: store)
    monkeypatch.setattr(X, "load_store", lambda *a, **k: store)
    split = (["S0", "S1", "S2", "S3"], ["S4", "S5"])
    monkeypatch.setattr(runs, "fold_subjects", lambda *a, **k: split)
    return store


def test_run_seed_all_variants_and_figures(fake_data):
    torch.manual_seed(0)
    s = X.settings_for("quick", "synthau-bp4d", 1, 1, True, alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5,
                       disable_prob=0.05, fb_negative=-0.1)
    res = X.run_seed(s, 0, "cpu")
    assert list(res["f1"]) == list(X.VARIANTS)
    for v, r in res["f1"].items():
        assert 0.0 <= r["avg"] <= 1.0 and np.isfinite(r["avg"])
    assert 0.0 < res["constant"]["avg"] <= 1.0
    assert res["export_params"] > 0 and res["export_images_per_s"] > 0
    # deploy.pt is the PIAP-DF student; §4.1's DISFA fine-tuning starts from the PIAP model (piap.pt)
    student, piap = res["models"]["PIAP-DF"].student, res["models"]["PIAP"]
    for name, exported in (("exported", student), ("piap_exported", piap)):
        for k, v in res[name].trunk.state_dict().items():
            assert torch.equal(v, exported.trunk.state_dict()[k]), (name, k)
    assert not all(torch.equal(v, piap.trunk.state_dict()[k]) for k, v in student.trunk.state_dict().items())
    data = res["data"]
    assert len(data.unlabelled) > 0  # the all-NaN frames of training subjects feed DF
    cols = runs.au_names(s.net.aus) + ["avg"]
    shifted = {v: {k: r[k] + 0.1 for k in cols} for v, r in res["f1"].items()}   # a second "seed", 0.1 higher
    mean, std = X.f1_frames([res["f1"], shifted], s.net.aus)
    assert list(mean.index) == list(X.VARIANTS)
    want = np.array([[res["f1"][v][k] + 0.05 for k in cols] for v in X.VARIANTS])
    np.testing.assert_allclose(mean.to_numpy(), want, atol=1e-9)
    np.testing.assert_allclose(std.to_numpy(), 0.1 / np.sqrt(2), atol=1e-9)       # sample std of (a, a + 0.1)
    fig = X.pi_map_figure(res, s.net, torch.device("cpu"))
    assert len(fig.axes) >= 4
    acc = X.toy_case(s, "cpu")
    assert set(acc) >= {"landmark task", "face recognition (Encoder P)", "dlib descriptor", "chance"}
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    X.toy_figure(acc)


def test_f1_frames_mean_and_sample_std_over_seeds():
    seed0 = {"DF": {"AU01": 0.2, "AU02": 0.6, "avg": 0.4}, "Baseline": {"AU01": 0.5, "AU02": 0.5, "avg": 0.5}}
    seed1 = {"DF": {"AU01": 0.4, "AU02": 1.0, "avg": 0.7}, "Baseline": {"AU01": 0.1, "AU02": 0.5, "avg": 0.3}}
    mean, std = X.f1_frames([seed0, seed1], (1, 2))
    assert list(mean.index) == ["DF", "Baseline"] and list(mean.columns) == ["AU01", "AU02", "Avg"]
    np.testing.assert_allclose(mean.to_numpy(), [[0.3, 0.8, 0.55], [0.3, 0.5, 0.4]], atol=1e-12)
    # ddof = 1 over two seeds: |a - b| / sqrt(2)
    np.testing.assert_allclose(std.to_numpy(), np.array([[0.2, 0.4, 0.3], [0.4, 0.0, 0.2]]) / np.sqrt(2), atol=1e-12)
    mean, std = X.f1_frames([seed1], (1, 2))
    assert mean.loc["DF"].tolist() == [0.4, 1.0, 0.7] and (std.to_numpy() == 0).all()


def test_flip_labels_and_constant_floor():
    labels = np.array([[0, 1], [1, np.nan], [0, 0]], np.float32)
    out = runs.flip_labels(labels, np.array([0, 1]), 1.0, seed=0)
    assert np.array_equal(out[0], [1, 0]) and out[1, 0] == 0 and np.isnan(out[1, 1])
    assert np.array_equal(out[2], labels[2])  # rows outside the training set untouched
    assert np.array_equal(runs.flip_labels(labels, np.array([0, 1]), 0.0, seed=0), labels, equal_nan=True)
    with pytest.raises(ValueError):
        runs.flip_labels(labels, np.array([0]), 1.5, seed=0)


def test_finetune_from_a_bp4d_model(monkeypatch, tmp_path):
    """PIAP-DF §4.1: the DISFA models start from the BP4D model's Encoder AU trunk (new AU head)."""
    import dataclasses

    from aukit.methods.piap_df.config import DISFA_AUS
    from aukit.methods.piap_df.deploy import export_deployable
    from aukit.methods.piap_df.model import AUEncoder

    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)
    bp4d = X.settings_for("quick", "synthau-bp4d", 1, 1, True, **kw)
    torch.manual_seed(0)
    source = AUEncoder(bp4d.net)
    path = export_deployable(source, bp4d.net, tmp_path / "bp4d" / "deploy.pt", "synthau-bp4d")

    store = FakeStore(aus=DISFA_AUS)
    monkeypatch.setattr(runs, "load_store", lambda *a, **k: store)
    monkeypatch.setattr(X, "load_store", lambda *a, **k: store)
    monkeypatch.setattr(runs, "fold_subjects", lambda *a, **k: (["S0", "S1", "S2", "S3"], ["S4", "S5"]))
    disfa = X.settings_for("quick", "synthau-disfa", 1, 1, True, finetune_from=str(path), **kw)
    assert disfa.net.aus == DISFA_AUS and disfa.finetune_from == str(path)

    trunk = runs.trunk_state(disfa.finetune_from, disfa.net)
    for k, v in source.trunk.state_dict().items():
        assert torch.equal(trunk[k], v), k
    # with lr 0 training moves nothing: the DISFA model's trunk parameters are the BP4D ones
    data = runs.load_au_data(disfa.dataset, 1, disfa.net.aus, None, 0)
    frozen = dataclasses.replace(disfa.stage, lr=0.0, weight_decay=0.0)
    model = runs.train_piap(disfa.net, data, data.labels, (1.0, 0.0, 0.0), frozen, torch.device("cpu"),
                            max_steps=1, init_trunk=trunk)
    for (k, p), q in zip(model.trunk.named_parameters(), source.trunk.parameters()):
        assert torch.equal(p.detach(), q.detach()), k
    assert model.fc.out_features == len(DISFA_AUS)
    res = X.run_seed(disfa, 0, "cpu", variants=("Baseline",))
    assert np.isfinite(res["f1"]["Baseline"]["avg"]) and res["piap_exported"] is None

    wide = dataclasses.replace(disfa.net, tiny_width=disfa.net.tiny_width * 2)
    with pytest.raises(ValueError, match="deploy.pt"):
        runs.trunk_state(str(path), wide)


def test_unlabelled_sets_follow_the_paper(monkeypatch, capsys):
    """§3.3: a BP4D run's x_u also holds BP4D's unlabelled frames and DISFA's; §4.1: a DISFA run does
    no DF, so takes none. SynthAU's BP4D tree codes every frame: it has no unlabelled part."""
    from aukit.data.bp4d import NoUnlabelledFrames
    from aukit.data.manifest import DatasetNotFound, RootNotFound

    found, read = [], []
    monkeypatch.setattr(X, "resolve_root", lambda name: found.append(name) or "/data/" + name)
    monkeypatch.setattr(X, "index", lambda name: read.append(name) or pd.DataFrame({"subject": ["F001"]}))
    assert X.unlabelled_sets_for("synthau-bp4d") == ("synthau-disfa",) and found == ["synthau-disfa"] and not read
    assert X.unlabelled_sets_for("bp4d") == ("bp4d_unlabelled", "disfa") and read == ["bp4d_unlabelled"]
    assert X.unlabelled_sets_for("synthau-disfa") == () and X.unlabelled_sets_for("bp4d", "") == ()
    assert X.unlabelled_sets_for("disfa") == () and read == ["bp4d_unlabelled"]
    assert X.unlabelled_sets_for("bp4d", "disfa, synthau-affwild2") == ("disfa", "synthau-affwild2")

    def coded(name):
        raise NoUnlabelledFrames(f"{name}: every image under /data/BP4D has a label row")
    monkeypatch.setattr(X, "index", coded)                           # a copy of the coded frames only
    assert X.unlabelled_sets_for("bp4d") == ("disfa",)
    assert "BP4D's unlabelled frames (§3.3), but bp4d_unlabelled: every image" in capsys.readouterr().out

    def missing(name):
        raise DatasetNotFound(f"dataset {name!r} not found")
    monkeypatch.setattr(X, "resolve_root", missing)
    monkeypatch.setattr(X, "index", lambda name: pd.DataFrame({"subject": ["F001"]}))
    assert X.unlabelled_sets_for("bp4d") == ("bp4d_unlabelled",)
    assert "disfa was not found" in capsys.readouterr().out      # said, not silently dropped

    def misconfigured(name):
        raise RootNotFound("env AUKIT_DATA_DISFA is /nowhere, which is not a folder")
    monkeypatch.setattr(X, "resolve_root", misconfigured)
    with pytest.raises(RootNotFound, match="/nowhere"):                # a root set on purpose is never skipped
        X.unlabelled_sets_for("bp4d")
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)
    kw.update(landmark_set="synthau-afew_va", identity_set="synthau-casia_webface")
    assert X.settings_for("quick", "bp4d", 1, 1, True, unlabelled="x,y", **kw).unlabelled_sets == ("x", "y")


def test_df_draws_x_u_from_every_source(monkeypatch):
    """train_df takes x_u batches in turn from the AU store's unlabelled rows and each extra set;
    run_seed counts what x_u held and gives the extra set person features when L_AP is on."""
    import dataclasses

    bp4d, disfa = FakeStore(), FakeStore(n=40, seed=1, aus=(1, 2, 4, 6, 9, 12, 25, 26))
    disfa.images[:] = 0                                      # DISFA batches are recognisable: all black
    stores = {"synthau-bp4d": bp4d, "synthau-disfa": disfa}
    opened = []

    def load(name, *a, **k):
        opened.append(name)
        return stores.get(name, bp4d)
    monkeypatch.setattr(runs, "load_store", load)
    monkeypatch.setattr(X, "load_store", load)
    monkeypatch.setattr(runs, "fold_subjects", lambda *a, **k: (["S0", "S1", "S2", "S3"], ["S4", "S5"]))
    seen = []

    class Spy(runs.DFStep):
        def __call__(self, model, batch):
            seen.append((float(batch["u"]["image"].std()), "person" in batch["u"]))
            return super().__call__(model, batch)
    monkeypatch.setattr(runs, "DFStep", Spy)
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)
    s = X.settings_for("quick", "synthau-bp4d", 1, 1, True, unlabelled="synthau-disfa", **kw)
    s = dataclasses.replace(s, max_steps=4, df=dataclasses.replace(s.df, batch_size=4))
    res = X.run_seed(s, 0, "cpu", variants=("PIAP-DF",))
    assert "synthau-disfa" in opened
    black = [m == 0.0 for m, _ in seen]
    assert black == [False, True] * (len(seen) // 2) and len(seen) >= 4     # BP4D x_u, DISFA x_u, in turn
    assert all(p for _, p in seen)                                             # L_AP's targets on both
    data = res["data"]
    assert res["x_u"]["synthau-disfa"] == 40
    assert res["x_u"]["synthau-bp4d frames without a label"] == len(data.unlabelled)
    assert res["x_u"]["synthau-bp4d labelled, labels hidden"] == round(s.df.labelled_as_unlabelled * len(data.train))
    none = X.run_seed(dataclasses.replace(s, unlabelled_sets=()), 0, "cpu", variants=("PIAP-DF",))
    assert set(none["x_u"]) == {"synthau-bp4d frames without a label", "synthau-bp4d labelled, labels hidden"}
    for (k, a), b in zip(res["models"]["PIAP"].state_dict().items(), none["models"]["PIAP"].state_dict().values()):
        assert torch.equal(a, b), k       # the extra set leaves the supervised variants' random draws alone
    assert X.run_seed(s, 0, "cpu", variants=("Baseline",))["x_u"] == {}


def test_steps_caps_every_stage_of_any_preset():
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)
    assert X.settings_for("quick", "synthau-bp4d", 1, 3, False, **kw).max_steps == 40
    assert X.settings_for("full", "synthau-bp4d", 1, 3, False, **kw).max_steps is None
    assert X.settings_for("full", "synthau-bp4d", 1, 3, False, steps=2, **kw).max_steps == 2
    assert X.settings_for("quick", "synthau-bp4d", 1, 3, False, steps=0, **kw).max_steps is None
    assert X.settings_for("quick", "synthau-bp4d", 1, 3, True, steps=9, **kw).max_steps == 2     # smoke keeps its own


def test_imagenet_weights_reach_the_full_trunk_only():
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)
    full = X.settings_for("full", "synthau-bp4d", 1, 3, False, weights="/data/effnet_b1.safetensors", **kw)
    assert full.net.trunk == "efficientnet_b1" and full.net.trunk_weights == "/data/effnet_b1.safetensors"
    assert X.settings_for("full", "synthau-bp4d", 1, 3, False, **kw).net.trunk_weights is None
    for preset, smoke in (("quick", False), ("full", True)):
        with pytest.raises(ValueError, match="only preset 'full' has that trunk"):
            X.settings_for(preset, "synthau-bp4d", 1, 3, smoke, weights="/data/effnet_b1.safetensors", **kw)


def test_side_sets_are_parameters_and_real_ones_are_taken_when_found(monkeypatch, capsys):
    """PIAP-DF's AFEW-VA and CASIA-WebFace roles were fixed to SynthAU's stand-ins, even on BP4D."""
    from aukit.data import sidesets
    from aukit.data.manifest import DatasetNotFound
    monkeypatch.setattr(sidesets, "resolve_root", lambda name: "/data/" + name)   # side_set's shared check
    assert X.side_set("landmark_set", "synthau-bp4d") == "synthau-afew_va"
    assert X.side_set("landmark_set", "bp4d") == "afew_va" and X.side_set("identity_set", "disfa") == "casia_webface"
    assert X.side_set("identity_set", "bp4d", "synthau-casia_webface") == "synthau-casia_webface"
    with pytest.raises(ValueError, match="unknown dataset 'casia'"):
        X.side_set("identity_set", "bp4d", "casia")

    def missing(name):
        raise DatasetNotFound(f"dataset {name!r} not found")
    monkeypatch.setattr(sidesets, "resolve_root", missing)
    assert X.side_set("landmark_set", "bp4d") == "synthau-afew_va"
    assert "landmark_set is afew_va (§3), which was not found: SynthAU's stand-in" in capsys.readouterr().out
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1, unlabelled="")
    s = X.settings_for("quick", "bp4d", 1, 1, True, landmark_set="afew_va", identity_set="synthau-casia_webface", **kw)
    assert (s.landmark_set, s.identity_set) == ("afew_va", "synthau-casia_webface")


def test_the_pi_generator_learns_afew_vas_annotated_landmarks(synthau_tiny):
    """§3.1 trains the DW-UNet on AFEW-VA for its annotated landmarks; dlib's points were used instead."""
    from aukit.data import load_store
    store = load_store("synthau-afew_va", runs.POLICY)
    points, annotated = runs.landmark_targets(store, "synthau-afew_va")
    assert annotated == len(store) and points.shape == store.landmarks.shape
    gap = np.linalg.norm(points - store.landmarks, axis=2)
    assert 0 < np.median(gap) < 8                     # the annotations, in the crop's pixels (dlib's differ a little)
    same, none = runs.landmark_targets(store, "synthau-bp4d")
    assert same is store.landmarks and none == 0


def test_x_u_takes_bp4ds_unlabelled_frames_of_the_training_subjects_only(monkeypatch):
    """A real BP4D run's x_u reads bp4d_unlabelled (§3.3, §4.1.1's 240,000 uncoded frames), but only the
    fold's training subjects' frames: the test subjects' faces must never reach training. DISFA, another
    dataset's subjects, stays whole."""
    import dataclasses

    bp4d = FakeStore()
    uncoded = FakeStore(n=36, seed=2)                  # subjects S0..S5, every label NaN, test subjects white
    uncoded.index.loc[:, [c for c in uncoded.index.columns if c.startswith("occ_")]] = np.nan
    test_subjects = ["S4", "S5"]
    is_test = uncoded.index["subject"].isin(test_subjects).to_numpy()
    uncoded.images[is_test] = 255
    disfa = FakeStore(n=40, seed=1, aus=(1, 2, 4, 6, 9, 12, 25, 26))
    disfa.index["subject"] = "S4"                      # a DISFA subject named like a BP4D test subject: kept
    stores = {"bp4d": bp4d, "bp4d_unlabelled": uncoded, "disfa": disfa}
    monkeypatch.setattr(runs, "load_store", lambda name, *a, **k: stores.get(name, bp4d))
    monkeypatch.setattr(X, "load_store", lambda name, *a, **k: stores.get(name, bp4d))
    monkeypatch.setattr(runs, "fold_subjects", lambda *a, **k: (["S0", "S1", "S2", "S3"], test_subjects))
    given, seen = [], []
    real_train_df = runs.train_df

    def train_df(*a, extra_u=(), **k):
        given.append(list(extra_u))
        return real_train_df(*a, extra_u=extra_u, **k)
    monkeypatch.setattr(runs, "train_df", train_df)

    class Spy(runs.DFStep):
        def __call__(self, model, batch):
            seen.append(batch["u"]["image"].float())
            return super().__call__(model, batch)
    monkeypatch.setattr(runs, "DFStep", Spy)
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1,
              landmark_set="synthau-afew_va", identity_set="synthau-casia_webface")
    s = X.settings_for("quick", "bp4d", 1, 1, True, unlabelled="bp4d_unlabelled,disfa", **kw)
    s = dataclasses.replace(s, max_steps=6, df=dataclasses.replace(s.df, batch_size=4))
    res = X.run_seed(s, 0, "cpu", variants=("PIAP-DF",))
    assert res["data"].train_subjects == ("S0", "S1", "S2", "S3")
    (extra,) = given
    (xs, rows, feats), (ds, drows, _) = extra
    assert xs is uncoded and ds is disfa
    assert set(uncoded.index["subject"].iloc[rows]) == {"S0", "S1", "S2", "S3"}       # every training subject's
    assert len(rows) == int((~is_test).sum()) and not is_test[rows].any()
    assert np.isfinite(feats[rows]).all() and np.isnan(feats[is_test]).all()          # v_P where x_u reads it only
    assert len(drows) == len(disfa)                                                   # DISFA whole
    assert res["x_u"]["bp4d_unlabelled"] == len(rows) and res["x_u"]["disfa"] == 40
    white = [bool((b.flatten(1) > 0.99).all(1).any()) for b in seen]                  # images in [-1, 1]
    assert len(seen) >= 6 and not any(white)                                          # no test subject's face
    # the smoke preset's cap (max_train) draws among the training subjects' frames, never past them
    capped = X.extra_x_u(dataclasses.replace(s, max_train=5), res["data"], 0, "cpu")
    assert len(capped["bp4d_unlabelled"][1]) == 5 and not is_test[capped["bp4d_unlabelled"][1]].any()
    # no training subject's frame in the set: said, and x_u names the sets it did read
    uncoded.index["subject"] = "S5"
    assert list(X.extra_x_u(s, res["data"], 0, "cpu")) == ["disfa"]
    res = X.run_seed(dataclasses.replace(s, max_steps=2), 0, "cpu", variants=("DF",))
    assert "bp4d_unlabelled" not in res["x_u"] and res["x_u"]["disfa"] == 40


def test_auto_x_u_of_a_real_bp4d_run_reads_the_copys_uncoded_frames(tmp_path, monkeypatch):
    """On a BP4D copy (a tiny tree in its format, found as any copy is) "auto" names bp4d_unlabelled when
    the copy has images without any label row, and not when every image is coded."""
    import os

    from test_data_fixtures import _jpg, write_bp4d
    for k in [k for k in os.environ if k.startswith("AUKIT_DATA")]:
        monkeypatch.delenv(k)
    root = write_bp4d(tmp_path / "BP4D", faces=False)
    monkeypatch.setenv("AUKIT_DATA_BP4D", str(root))
    monkeypatch.setenv("AUKIT_DATA", str(tmp_path / "no_other_sets"))
    assert X.unlabelled_sets_for("bp4d") == ()                            # every image coded; no DISFA
    _jpg(root / "2D/F001/T1/900.jpg", np.full((32, 32, 3), 90, np.uint8))
    assert X.unlabelled_sets_for("bp4d") == ("bp4d_unlabelled",)
    assert X.unlabelled_sets_for("synthau-bp4d", "") == ()


def test_epochs_0_takes_the_presets_schedule_and_another_value_overrides_every_stage():
    """The full preset trained every stage for the notebook's 3 epochs (DF 1): the config dataclasses'
    schedules (20 per stage, DF 10) were never used. 0 is now the preset's; any other value sets all."""
    from aukit.methods.piap_df.config import DFConfig, GeneratorConfig, PersonConfig, StageConfig
    kw = dict(alpha=0.5, beta=0.25, gamma=0.25, ap_beta=0.5, disable_prob=0.05, fb_negative=-0.1)

    def schedule(s):
        return s.stage.epochs, s.generator.epochs, s.person.epochs, s.df.epochs, s.stage.lr, s.generator.lr

    full = X.settings_for("full", "synthau-bp4d", 1, 0, False, **kw)
    assert schedule(full) == (StageConfig.epochs, GeneratorConfig.epochs, PersonConfig.epochs, DFConfig.epochs,
                              StageConfig.lr, GeneratorConfig.lr) == (20, 20, 20, 10, 1e-3, 1e-3)
    quick = X.settings_for("quick", "synthau-bp4d", 1, 0, False, **kw)
    assert schedule(quick) == (3, 3, 3, 1, 3e-3, 3e-3) == schedule(X.settings_for("quick", "synthau-bp4d", 1, 3,
                                                                                   False, **kw))
    assert schedule(X.settings_for("full", "synthau-bp4d", 1, 6, False, **kw)) == (6, 6, 6, 3, 1e-3, 1e-3)
    assert schedule(X.settings_for("quick", "synthau-bp4d", 1, 5, False, **kw))[:4] == (5, 5, 5, 2)
    assert schedule(X.settings_for("full", "synthau-bp4d", 1, 0, True, **kw))[:4] == (1, 1, 1, 1)   # smoke: 1
    with pytest.raises(ValueError, match="epochs must be 0"):
        X.settings_for("full", "synthau-bp4d", 1, -1, False, **kw)


def test_the_notebooks_epochs_default_is_the_presets_and_counts_as_unchanged():
    from aukit import nb
    assert nb.declared_parameters("piap_df")["epochs"]["default"] == "0"
    assert nb.changed_parameters("piap_df", {"epochs": 0}) == {}
    assert nb.changed_parameters("piap_df", {"epochs": 4}) == {"epochs": 4}


def test_flat_metrics_are_the_notebooks_last_cell():
    """The notebook's last cell flattened the results inline (18 lines); flat_metrics gives the same keys
    and values, checked against that cell's code kept here."""
    import pandas as pd
    rng = np.random.default_rng(0)

    def seed_result(i):
        f1 = {v: {"AU01": rng.random(), "AU02": rng.random(), "avg": rng.random(), "auc_avg": rng.random()}
              for v in ("Baseline", "DF", "PIAP-DF")}
        return {"f1": f1, "constant": {"avg": 0.3 + 0.1 * i}, "x_u": {"a frames": 5, "synthau-disfa": 7},
                "export_params": 1234, "export_images_per_s": 56.5}

    results = [seed_result(i) for i in range(2)]
    mean = pd.DataFrame({"Avg": [0.5, 0.6, 0.7]}, index=["Baseline", "DF", "PIAP-DF"])
    std = pd.DataFrame({"Avg": [0.01, 0.02, 0.03]}, index=["Baseline", "DF", "PIAP-DF"])
    acc = {"landmark task": 0.1, "face recognition (Encoder P)": 0.8, "chance": 0.05}
    noise_levels = [0.0, 0.2]
    noise = {"Baseline": ([0.5, 0.4], [0.0, 0.0]), "DF": ([0.55, 0.45], [0.0, 0.0])}
    unlabelled_sets = ("synthau-disfa",)

    # the notebook's former last cell, verbatim
    const = np.mean([r["constant"]["avg"] for r in results])
    flat = {f"f1_{v.replace('-', '_').lower()}": float(mean.loc[v, "Avg"]) for v in mean.index}
    flat.update({f"f1_std_{v.replace('-', '_').lower()}": float(std.loc[v, "Avg"]) for v in mean.index})
    flat.update({f"auc_{v.replace('-', '_').lower()}": float(np.mean([r["f1"][v]["auc_avg"] for r in results]))
                 for v in mean.index})
    flat["f1_constant"] = float(const)
    flat["x_u_frames"] = int(sum(results[0]["x_u"].values()))
    flat["x_u_extra_frames"] = int(sum(results[0]["x_u"].get(n, 0) for n in unlabelled_sets))
    flat["export_params"] = int(results[0]["export_params"])
    flat["export_images_per_s"] = float(results[0]["export_images_per_s"])
    flat.update({"toy_acc_" + k.split(" ")[0].lower(): float(v) for k, v in acc.items()})
    if noise:
        for v, (m, _) in noise.items():
            flat.update({f"noise_{v.lower()}_{lv:g}": float(x) for lv, x in zip(noise_levels, m)})

    got = X.flat_metrics(results, mean, std, unlabelled_sets, acc, noise, noise_levels)
    assert list(got) == list(flat) and got == flat
    assert got["x_u_extra_frames"] == 7 and got["noise_df_0.2"] == 0.45 and got["f1_piap_df"] == 0.7
    bare = X.flat_metrics(results, mean, std)                    # no extra x_u set, toy case or noise study
    assert bare == {**{k: v for k, v in flat.items() if not k.startswith(("toy_", "noise_"))}, "x_u_extra_frames": 0}
