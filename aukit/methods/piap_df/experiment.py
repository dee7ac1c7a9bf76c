"""PIAP-DF experiments: Table 3 ablation, Tables 1/2 comparisons, Fig. 1 PI maps, the
person-feature toy case and the label-noise study of DF; results go to ``aukit.report``.

The notebook calls :func:`settings_for`, :func:`run_seed` per seed, then the figure and
report helpers below. Everything trains through :func:`aukit.train.fit` (see ``runs``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from aukit import ckptdir, metrics
from aukit.data import fold_subjects, index, load_store, pi_maps
from aukit.data.bp4d import NoUnlabelledFrames
from aukit.data.manifest import DatasetNotFound, RootNotFound, resolve_root
from aukit.data.sidesets import lacking, side_or_standin
from aukit.methods import aus as A
from aukit.report.flags import over_seeds
from aukit.runtime import seed_everything

from . import runs
from .config import DFConfig, GeneratorConfig, NetConfig, PersonConfig, StageConfig
from .model import PooledHeadNet, lift_projection
from .person import dlib_descriptors, identification_accuracy
from .step import landmark_step

VARIANTS = ("Baseline", "PI-2", "PI-3", "AP", "DF", "PIAP", "PIAP-DF")  # Table 3 rows
# The quick preset's schedule (the full one takes the config dataclasses'). Choices, for the 2-core CPU budget:
QUICK_EPOCHS = 3     # epochs of QUICK_STEPS steps per supervised stage (DF half): the tiny trunk's run fits the budget
QUICK_STEPS = 40
QUICK_LR = 3e-3      # Adam lr of the stages and the PI generator: 3x the configs' 1e-3 for so few steps (not swept)


@dataclass
class Settings:
    """One experiment: configs per stage plus run-size knobs (presets fill these)."""
    dataset: str = "synthau-bp4d"
    fold: int = 1
    net: NetConfig = field(default_factory=NetConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    person: PersonConfig = field(default_factory=PersonConfig)
    df: DFConfig = field(default_factory=DFConfig)
    max_steps: int | None = None      # per epoch (smoke / quick presets)
    max_train: int | None = None      # subsample labelled training frames
    label_flip: float = 0.0           # label-noise knob: fraction of training labels flipped
    landmark_set: str = "synthau-afew_va"      # PIAP-DF §3.1: DW-UNet trained on AFEW-VA
    identity_set: str = "synthau-casia_webface"  # PIAP-DF §3.2: Encoder P trained on CASIA-WebFace
    finetune_from: str | None = None  # §4.1: DISFA models fine-tune BP4D's PIAP model (its piap.pt); None: scratch
    unlabelled_sets: tuple = ()       # PIAP-DF §3.3: DF's x_u also holds these sets' frames, labels unused
    #                                   (BP4D: bp4d_unlabelled, its training subjects only, and DISFA)
    aus_dropped: dict = field(default_factory=dict)   # AUs of a dataset of your own left out (runs.aus_kept)


def unlabelled_sets_for(dataset: str, spec: str = "auto") -> tuple:
    """The sets whose frames join DF's x_u (PIAP-DF §3.3: "x_u contains unlabeled samples and few
    labeled samples of BP4D and samples of DISFA without labels"; §4.1: no DF on DISFA).

    ``"auto"``: a real BP4D run takes bp4d_unlabelled, the copy's uncoded frames (§4.1.1: 240,000; only
    the fold's training subjects' enter x_u, see :func:`runs.extra_u_rows`), when the copy has any, then
    its DISFA sibling (bp4d -> disfa, synthau-bp4d -> synthau-disfa) when that dataset is found, and says
    which it lacks; SynthAU's BP4D tree codes every frame, so a SynthAU run takes the DISFA stand-in only;
    any other run takes none. ``""``: none. Otherwise a comma-separated list of dataset names, each of
    which must exist."""
    if spec != "auto":
        sets = tuple(n.strip() for n in spec.split(",") if n.strip())
    elif A.family(dataset) != "bp4d":          # DISFA, a dataset of your own: none
        return ()
    else:
        sets = (*(_uncoded_part() if dataset == "bp4d" else ()), *_disfa_sibling(dataset))
    if dataset == "bp4d":                        # the paper's x_u on BP4D: its uncoded frames and DISFA's
        for name, what in (("bp4d_unlabelled", "BP4D's unlabelled frames"), ("disfa", "DISFA's frames")):
            if name not in sets:
                lacking(f"{what} in DF's x_u (§3.3)")
    return sets


def _uncoded_part() -> tuple:
    """("bp4d_unlabelled",) when the BP4D copy has images without any label row, else () with a note."""
    try:
        index("bp4d_unlabelled")
    except RootNotFound:
        raise
    except (NoUnlabelledFrames, DatasetNotFound) as e:
        print(f"note: PIAP-DF's x_u takes BP4D's unlabelled frames (§3.3), but {str(e).splitlines()[0]}; x_u holds "
              "BP4D's labelled frames with labels hidden (and DISFA's) instead")
        return ()
    return ("bp4d_unlabelled",)


def _disfa_sibling(dataset: str) -> tuple:
    sibling = dataset.replace("bp4d", "disfa")
    try:
        resolve_root(sibling)
    except RootNotFound:
        raise
    except DatasetNotFound:
        print(f"note: PIAP-DF's x_u takes {sibling} frames (§3.3), but {sibling} was not found; "
              f"x_u holds {dataset} frames only (a BP4D run's tables say so)")
        return ()
    return (sibling,)


SIDE_SETS = {"landmark_set": "afew_va", "identity_set": "casia_webface"}   # PIAP-DF §3.1, §3.2


def side_set(role: str, dataset: str, spec: str = "auto") -> str:
    """The dataset behind ``role`` (``landmark_set``: AFEW-VA, the PI generator's landmarks;
    ``identity_set``: CASIA-WebFace, Encoder P's identities). ``"auto"``: SynthAU's stand-in for a
    SynthAU run; for a real run the real set when it is found, else the stand-in, said. Otherwise
    the dataset name given, which must exist (both roles need a set: ``""`` is refused).
    See :func:`aukit.data.sidesets.side_or_standin`."""
    return side_or_standin(SIDE_SETS[role], dataset, spec, what=f"PIAP-DF's {role}", ref="§3", param=role,
                           none_ok=False)


def settings_for(preset: str, dataset: str, fold: int, epochs: int, smoke: bool, *, alpha: float, beta: float,
                 gamma: float, ap_beta: float, disable_prob: float, fb_negative: float,
                 person_source: str = "encoder", finetune_from: str | None = None, unlabelled: str = "auto",
                 steps: int = -1, weights: str = "", landmark_set: str = "auto",
                 identity_set: str = "auto") -> Settings:
    """Preset -> Settings. ``full``: the paper's EfficientNet-B1 at 256x256; ``quick``: the
    tiny depthwise trunk at 64x64 with capped steps (2-core CPU); ``smoke``: seconds.
    ``unlabelled``: the extra x_u sets (see :func:`unlabelled_sets_for`). ``steps``: steps per
    epoch in every stage, -1 the preset's (quick 40, full none), 0 no cap (smoke keeps its 2).
    ``weights``: a local ImageNet EfficientNet-B1 state_dict for every EfficientNet trunk (PIAP-DF §3.1;
    the full preset only: the quick trunk has no ImageNet counterpart), empty for random init.
    ``landmark_set``/``identity_set``: the AFEW-VA and CASIA-WebFace roles (see :func:`side_set`).
    ``epochs``: 0 the preset's (full: each config dataclass's own schedule; quick: :data:`QUICK_EPOCHS`;
    smoke: 1); another value sets every supervised stage's and DF half of it (smoke keeps its 1)."""
    if preset not in ("quick", "full"):        # anything else ran the quick trunk under that label
        raise ValueError(f"preset must be 'quick' or 'full' (smoke is its own parameter), got {preset!r}")
    aus, dropped = runs.aus_kept(dataset, fold)
    if weights and (preset != "full" or smoke):
        raise ValueError(f"weights={weights!r} are EfficientNet-B1's: only preset 'full' has that trunk "
                         f"(preset {'smoke' if smoke else preset!r} runs the tiny depthwise one)")
    if epochs < 0:
        raise ValueError(f"epochs must be 0 (the preset's) or positive, got {epochs}")
    full = preset == "full" and not smoke
    if full:
        net = NetConfig(aus=aus, trunk_weights=weights or None)
        max_steps, max_train, ep = None, None, epochs or None       # None: each config's own epochs
    else:
        net = NetConfig(aus=aus, trunk="tiny_dw", image_size=32 if smoke else 64, tiny_width=8 if smoke else 16,
                        unet_width=4 if smoke else 8, unet_depth=3, decoder_width=16 if smoke else 32)
        max_steps, max_train, ep = (2, 64, 1) if smoke else (QUICK_STEPS, 1200, epochs or QUICK_EPOCHS)
    if steps >= 0 and not smoke:
        max_steps = steps or None
    sched = {} if ep is None else {"epochs": ep}                     # the stages' epochs; DF runs half of them
    lr = {} if preset == "full" else {"lr": QUICK_LR}                # (a smoke run of preset full keeps 1e-3)
    stage = StageConfig(alpha=alpha, beta=beta, gamma=gamma, ap_beta=ap_beta, **sched, **lr)
    return Settings(dataset=dataset, fold=fold, net=net, stage=stage,
                    generator=GeneratorConfig(**sched, **lr),
                    person=PersonConfig(source=person_source, **sched),
                    df=DFConfig(disable_prob=disable_prob, fb_negative=fb_negative,
                                **({} if ep is None else {"epochs": max(1, ep // 2)})),
                    max_steps=max_steps, max_train=max_train, finetune_from=finetune_from or None,
                    aus_dropped=dropped,
                    unlabelled_sets=unlabelled_sets_for(dataset, unlabelled),
                    landmark_set=side_set("landmark_set", dataset, landmark_set),
                    identity_set=side_set("identity_set", dataset, identity_set))


def checkpoint_root(s: Settings, checkpoints: int, preset: str, smoke: bool, *, base: str):
    """The notebook's ``checkpoints`` -> the run's checkpoint folder (:func:`aukit.ckptdir.run_root`) or None;
    its knobs are the Settings (sizes, side sets, fine-tuning) but the dataset and fold, which name the folder."""
    knobs = {k: v for k, v in dataclasses.asdict(s).items()
             if k not in ("dataset", "fold", "label_flip", "aus_dropped")}
    return ckptdir.run_root(checkpoints, preset, smoke, base=base, dataset=s.dataset, fold=s.fold, knobs=knobs)


def landmarks(store, dataset: str) -> np.ndarray:
    """:func:`runs.landmark_targets`, saying how many frames had annotated points."""
    points, annotated = runs.landmark_targets(store, dataset)
    if dataset.endswith("afew_va"):
        print(f"PI maps from {dataset}'s annotated landmarks on {annotated} of {len(store)} frames"
              + (f" (dlib's on the {len(store) - annotated} without)" if annotated < len(store) else ""))
    return points


def _aux_rows(store, max_rows: int | None, seed: int) -> np.ndarray:
    rows = np.arange(len(store))
    if max_rows is not None and len(rows) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    return rows


def extra_x_u(s: Settings, data: runs.AUData, seed: int, device, enc=None, need_ap: bool = False) -> dict:
    """{name: (store, rows, person features or None)} of DF's extra x_u sets (``s.unlabelled_sets``):
    rows from :func:`runs.extra_u_rows` (a set from the run's own copy, bp4d_unlabelled, holds only the
    fold's training subjects' frames; at most ``s.max_train``). A set left without a row is said and skipped."""
    out = {}
    for name in s.unlabelled_sets:
        xs = load_store(name, runs.POLICY)
        rows = runs.extra_u_rows(xs, name, data, s.max_train, seed)
        if not len(rows):
            print(f"note: {name} has no frame of {s.dataset} fold {s.fold}'s training subjects: not in DF's x_u")
            continue
        feats = (ap_features(s, xs, rows, enc, device, runs.PIAPNet(s.net).feature_dim, only_rows=True)
                 if need_ap else None)
        out[name] = (xs, rows, feats)
    return out


def person_encoder(s: Settings, device, seed: int, out_dir: str | None = None):
    """Encoder P trained on the identity set's training identities; returns (model, held-out rows, ids).
    ``out_dir``: its checkpoint folder (aukit.ckptdir) or None."""
    store = load_store(s.identity_set, runs.POLICY)
    ids = store.index["subject"].astype(str).to_numpy()
    uniq = np.unique(ids)
    held = set(np.random.default_rng(seed).choice(uniq, max(2, len(uniq) // 4), replace=False))
    train_rows = np.flatnonzero(~np.isin(ids, list(held)))
    enc = runs.train_person_encoder(s.net, store, train_rows, ids, s.person.epochs, s.person.batch_size,
                                    s.person.lr, s.person.weight_decay, device, s.max_steps, seed, out_dir)
    return enc, store, np.flatnonzero(np.isin(ids, list(held))), ids


def ap_features(s: Settings, store, rows: np.ndarray, enc, device, feat_dim: int,
                only_rows: bool = False) -> np.ndarray:
    """v_P for a store's rows (every row for Encoder P, the default, or ``rows`` with ``only_rows``, NaN
    elsewhere; ``rows`` for dlib's descriptor, lifted to feat_dim; zeros elsewhere)."""
    if s.person.source == "encoder":
        return runs.person_features(enc, store, s.net, device, rows=rows if only_rows else None)
    if s.person.source != "dlib":
        raise ValueError(f"person.source must be 'encoder' or 'dlib', got {s.person.source!r}")
    v = np.full((len(store), 128), np.nan, np.float32)
    v[rows] = dlib_descriptors(store.images[rows], store.landmarks[rows])
    q = lift_projection(128, feat_dim, s.person.ap_projection_seed).numpy()
    return np.nan_to_num(v) @ q.T


def run_seed(s: Settings, seed: int, device, variants=VARIANTS, ckpt_root=None, study: str = "") -> dict:
    """Train every variant once; returns {"f1": {variant: per-AU dict}, "models": {...}, ...}.
    ``ckpt_root``: the run's checkpoint folder (:func:`checkpoint_root`), each training in
    ``<stage>_seed<seed>[_<study>]`` there (``study`` tells the noise study's runs apart); None: none."""
    device = torch.device(device)

    def ckpt(stage: str) -> str | None:
        return ckptdir.training_dir(ckpt_root, stage, seed, study or None)
    seed_everything(seed)
    data = runs.load_au_data(s.dataset, s.fold, s.net.aus, s.max_train, seed)
    labels = runs.flip_labels(data.labels, data.train, s.label_flip, seed) if s.label_flip else data.labels
    st, out, models = s.stage, {}, {}
    need_pi = {"PI-2", "PI-3", "PIAP", "PIAP-DF"} & set(variants)
    need_ap = {"AP", "PIAP", "PIAP-DF"} & set(variants)
    gen1 = person = None
    if need_pi:
        lm_store = load_store(s.landmark_set, runs.POLICY)
        points = landmarks(lm_store, s.landmark_set)
        gen0 = runs.train_generator(s.net, s.generator, lm_store, _aux_rows(lm_store, s.max_train, seed), device,
                                    s.max_steps, seed, landmarks=points, out_dir=ckpt("generator0"))
        pi2 = runs.train_pi2(s.net, gen0, data, labels, st, device, s.max_steps, seed, out_dir=ckpt("PI-2"))
        gen1, models["gen0"], models["PI-2"] = pi2.generator, gen0, pi2
        out["PI-2"] = runs.evaluate_f1(pi2, data, s.net, device)
    if need_ap:
        enc = person_encoder(s, device, seed, ckpt("encoderP"))[0] if s.person.source == "encoder" else None
        person = ap_features(s, data.store, np.union1d(data.train, data.unlabelled), enc, device,
                             runs.PIAPNet(s.net).feature_dim)
    # fine-tuning (PIAP-DF §4.1, DISFA from BP4D): the RGB Encoder AU of every variant starts from the
    # given model's trunk; PI-2's 12-channel trunk has no counterpart there and starts from scratch
    init = runs.trunk_state(s.finetune_from, s.net) if s.finetune_from else None
    weights = {"Baseline": (1.0, 0.0, 0.0), "PI-3": (st.alpha, 1.0 - st.alpha, 0.0),
               "AP": (st.ap_beta, 0.0, 1.0 - st.ap_beta), "PIAP": (st.alpha, st.beta, st.gamma)}
    for name in ("Baseline", "PI-3", "AP", "PIAP"):
        if name in variants or (name == "Baseline" and "DF" in variants) or (name == "PIAP" and "PIAP-DF" in variants):
            models[name] = runs.train_piap(s.net, data, labels, weights[name], st, device, gen1=gen1, person=person,
                                           max_steps=s.max_steps, seed=seed, init_trunk=init, out_dir=ckpt(name))
            out[name] = runs.evaluate_f1(models[name], data, s.net, device)
    # under a forked RNG: every variant draws the same random numbers with or without extra x_u sets
    extra = {}   # name -> (store, rows, person) per extra x_u set (§3.3: BP4D's unlabelled frames, DISFA's)
    if {"DF", "PIAP-DF"} & set(variants):
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            extra = extra_x_u(s, data, seed, device, enc if need_ap else None, need_ap)
    extra_u = list(extra.values())
    for name, base in (("DF", "Baseline"), ("PIAP-DF", "PIAP")):
        if name in variants:
            ts = runs.train_df(models[base], data, labels, weights[base], s.df, device, gen1=gen1, person=person,
                               max_steps=s.max_steps, seed=seed, extra_u=extra_u, out_dir=ckpt(name))
            models[name] = ts
            out[name] = runs.evaluate_f1(ts, data, s.net, device)
    x_u = {}       # what DF's x_u held, frames per source
    if {"DF", "PIAP-DF"} & set(variants):
        u_rows, n_hidden = runs.unlabelled_rows(data, s.df, seed)
        # the AU store's frames without a label (every code missing), beside bp4d_unlabelled's uncoded images
        x_u = {f"{s.dataset} frames without a label": len(u_rows) - n_hidden,
               f"{s.dataset} labelled, labels hidden": n_hidden,
               **{name: len(rows) for name, (_, rows, _) in extra.items()}}
    final = models.get("PIAP-DF", models.get("PIAP", models.get("Baseline")))
    exported = (final.student if hasattr(final, "student") else final).export()
    # §4.1: the DISFA models "fine-tune the PIAP model trained on BP4D" (PIAP, before DF): its own export
    piap = models["PIAP"].export() if "PIAP" in models else None
    return {"f1": {k: out[k] for k in variants if k in out}, "models": models, "data": data, "gen1": gen1,
            "constant": runs.constant_f1(data), "exported": exported, "piap_exported": piap, "x_u": x_u,
            "export_params": sum(p.numel() for p in exported.parameters()),
            "export_images_per_s": runs.throughput(exported, s.net.image_size, device)}


def toy_case(s: Settings, device, seed: int = 0, ckpt_root=None) -> dict:
    """§3.2 toy case: 1-NN identification on held-out identities with landmark-task features
    vs face-recognition (Encoder P) features vs dlib's descriptor vs an untrained trunk.
    ``ckpt_root``: as :func:`run_seed`'s (its trainings: ``*_seed<seed>_toy``)."""
    device = torch.device(device)
    seed_everything(seed)
    enc, id_store, held_rows, ids = person_encoder(s, device, seed,
                                                   ckptdir.training_dir(ckpt_root, "encoderP", seed, "toy"))
    lm_store = load_store(s.landmark_set, runs.POLICY)
    lm_net = PooledHeadNet(s.net, 136)
    lm01 = (landmarks(lm_store, s.landmark_set) / lm_store.size).astype(np.float32)
    dl = runs.loader(lm_store, _aux_rows(lm_store, s.max_train, seed), s.net, s.person.batch_size, device, seed=seed,
                     targets={"landmarks01": lm01})
    runs.fit(lm_net, landmark_step, dl, runs.adam(lm_net.parameters(), s.person.lr),
             runs.train_cfg(s.person.epochs, s.max_steps, ckptdir.training_dir(ckpt_root, "landmarks", seed, "toy")),
             device=device, method_config=runs.method_config(s.net, person=s.person))
    feats = {"landmark task": runs.person_features(lm_net, id_store, s.net, device),
             "face recognition (Encoder P)": runs.person_features(enc, id_store, s.net, device),
             "untrained trunk": runs.person_features(PooledHeadNet(s.net, 1).to(device), id_store, s.net, device)}
    acc = {k: identification_accuracy(v[held_rows], ids[held_rows], seed) for k, v in feats.items()}
    acc["dlib descriptor"] = identification_accuracy(
        dlib_descriptors(id_store.images[held_rows], id_store.landmarks[held_rows]), ids[held_rows], seed)
    acc["chance"] = 1.0 / len(np.unique(ids[held_rows]))
    return acc


def noise_study(s: Settings, levels, seeds, device, ckpt_root=None) -> dict:
    """Baseline vs DF F1 as the label-flip fraction grows: {variant: (means, stds)}. ``ckpt_root``: as
    :func:`run_seed`'s (its trainings: ``*_seed<k>_noise<level>``)."""
    res = {"Baseline": [], "DF": []}
    for lv in levels:
        per = [run_seed(dataclasses.replace(s, label_flip=float(lv)), sd, device, variants=("Baseline", "DF"),
                        ckpt_root=ckpt_root, study=f"noise{float(lv):g}")["f1"]
               for sd in seeds]
        for v in res:
            vals = [p[v]["avg"] for p in per]
            res[v].append((float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0))
    return {v: ([m for m, _ in r], [d for _, d in r]) for v, r in res.items()}


# ---- tables and figures ----------------------------------------------------------------------

def f1_frames(per_seed: list[dict], aus) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean and std over seeds: rows = variants, columns = AUs + Avg (F1 as fractions)."""
    cols = runs.au_names(aus)
    mean, std = {}, {}
    for v in per_seed[0]:
        arr = np.array([[r[v][c] for c in cols] + [r[v]["avg"]] for r in per_seed])
        mean[v] = arr.mean(0)
        std[v] = arr.std(0, ddof=1) if len(arr) > 1 else np.zeros(arr.shape[1])
    return (pd.DataFrame.from_dict(mean, orient="index", columns=cols + ["Avg"]),
            pd.DataFrame.from_dict(std, orient="index", columns=cols + ["Avg"]))


def f1_flags(per_seed: list[dict], aus, key: str = "flags") -> dict[str, dict[str, str]]:
    """{variant: {AUxx: flag}} over seeds (``aukit.report.flags.over_seeds``) of :func:`f1_frames`' input: the
    AUs whose F1 is undefined (no positive test label) or the model's 0 (never predicted present), for the tables;
    ``key`` "auc_flags": those whose AUC is undefined (one class), which ``auc_<v>`` leaves out."""
    cols = runs.au_names(aus)
    return {v: f for v in per_seed[0] if (f := over_seeds([r[v].get(key, {}) for r in per_seed], cols))}


def metric_slug(variant: str) -> str:
    """A Table 3 row's part of its metrics.json keys: ``PIAP-DF`` -> ``piap_df``."""
    return variant.replace("-", "_").lower()


def flat_metrics(results: list[dict], mean: pd.DataFrame, std: pd.DataFrame, unlabelled_sets=(),
                 acc: dict | None = None, noise: dict | None = None, noise_levels=()) -> dict:
    """metrics.json's values: per variant ``f1_<v>`` / ``f1_std_<v>`` (over seeds, from :func:`f1_frames`) and
    ``auc_<v>`` (mean over ``results``, :func:`run_seed`'s per seed), ``f1_constant``, DF's x_u frames (all,
    and those of ``unlabelled_sets``) and the export's size and speed (first seed), the toy case's
    ``toy_acc_<feature>`` (``acc``, :func:`toy_case`) and the noise study's ``noise_<v>_<level>``
    (``noise``, :func:`noise_study` over ``noise_levels``). With one seed in ``results`` every ``f1_std_<v>`` is
    None: one run has no spread, and the notebook's summary showed 0.0 where metrics.json has null."""
    flat = {f"f1_{metric_slug(v)}": float(mean.loc[v, "Avg"]) for v in mean.index}
    one_seed = len(results) < 2           # no spread: None, as metrics.json writes it (f1_frames' zeros showed 0.0)
    flat.update({f"f1_std_{metric_slug(v)}": None if one_seed else float(std.loc[v, "Avg"]) for v in mean.index})
    flat.update({f"auc_{metric_slug(v)}": float(np.mean([r["f1"][v]["auc_avg"] for r in results]))
                 for v in mean.index})
    first = results[0]
    flat["f1_constant"] = float(np.mean([r["constant"]["avg"] for r in results]))
    flat["x_u_frames"] = int(sum(first["x_u"].values()))
    flat["x_u_extra_frames"] = int(sum(first["x_u"].get(n, 0) for n in unlabelled_sets))
    flat["export_params"] = int(first["export_params"])
    flat["export_images_per_s"] = float(first["export_images_per_s"])
    flat.update({"toy_acc_" + k.split(" ")[0].lower(): float(v) for k, v in (acc or {}).items()})
    for v, (means, _) in (noise or {}).items():
        flat.update({f"noise_{v.lower()}_{lv:g}": float(x) for lv, x in zip(noise_levels, means)})
    return flat


def pi_map_figure(res: dict, net: NetConfig, device, au_pick=(2, 6)):
    """Fig. 1(b): predefined (binary) vs Generator 1 (heat) PI maps of one test face for AU2, AU6."""
    from aukit.viz import pi_maps as pi_fig
    data = res["data"]
    row = int(data.test[0])
    pick = [i for i, a in enumerate(data.aus) if a in au_pick] or [0]
    pre = pi_maps(data.store.landmarks[row:row + 1], [data.aus[i] for i in pick], net.image_size, src_size=data.store.size)[0]
    batch = next(iter(runs.loader(data.store, np.array([row]), net, 1, device, shuffle=False)))
    with torch.no_grad():
        learned = torch.sigmoid(res["gen1"].to(device).eval()(batch["image"]))[0, pick].float().cpu().numpy()
    face = np.asarray(data.store.images[row])
    import cv2
    face = cv2.resize(face, (net.image_size, net.image_size), interpolation=cv2.INTER_AREA)
    return pi_fig(pre.astype(np.float32), learned, face, [f"AU{data.aus[i]}" for i in pick])


def toy_figure(acc: dict) -> Figure:
    """Bar chart of the toy case's identification accuracies, titled with what it shows (it had no title:
    nothing said these are 1-NN identifications of held-out identities, or why features are compared)."""
    fig = Figure(figsize=(5.5, 2.8), layout="constrained")
    fig.suptitle(_toy_title(acc), fontsize="medium")
    ax = fig.subplots()
    names = [k for k in acc if k != "chance"]
    ax.barh(names, [acc[k] for k in names], color="tab:blue")
    ax.axvline(acc["chance"], ls=":", color="k", label="chance")
    ax.set_xlabel("1-NN identification accuracy (held-out identities)")
    ax.set_xlim(0, 1)
    ax.legend(loc="lower right")
    return fig


def _toy_title(acc: dict) -> str:
    """The toy figure's title: the §3.2 question (is a feature person-specific?) and how it is measured; the
    identity count is 1 / chance."""
    n = f"{round(1.0 / acc['chance'])} " if acc.get("chance") else ""
    return (f"Person-feature toy case (§3.2): how person-specific is each feature?\n"
            f"1-NN identification accuracy on {n}held-out identities (dotted: chance)")


def fold_subject_count(dataset: str, fold: int) -> tuple[int, int]:
    tr, te = fold_subjects(dataset, fold)
    return len(tr), len(te)


__all__ = ["VARIANTS", "Settings", "checkpoint_root", "settings_for", "run_seed", "toy_case", "noise_study",
           "f1_frames", "flat_metrics", "pi_map_figure", "toy_figure", "metrics"]
