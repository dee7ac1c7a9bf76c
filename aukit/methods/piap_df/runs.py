"""Building blocks of the PIAP-DF experiments: data, loaders, one training per stage, evaluation.

All training goes through :func:`aukit.train.fit`. Images come from the ``piap`` store
(256x256) and are resized on the device to ``NetConfig.image_size`` (the quick CPU
preset uses 64x64; the paper uses 256).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from aukit import checkpoint as ckpt
from aukit import metrics
from aukit.data import fold_subjects, load_store, pi_maps
from aukit.data.labelio import au_col
from aukit.data.manifest import part_of
from aukit.data.splits import subset_rows
from aukit.data.loader import BatchLoader
from aukit.runtime import evaluating, image_layout
from aukit.methods import aus as A
from aukit.models.input_norm import input_norm
from aukit.train import TrainConfig, fit

from .config import BP4D_AUS, DISFA_AUS, DFConfig, GeneratorConfig, NetConfig, StageConfig
from .df import DFStep, PairedLoader, TeacherStudent
from .losses import AULoss, PIAPLoss
from .model import DWUNet, PI2Net, PIAPNet, PooledHeadNet
from .person import encoder_features
from .step import PIAPStep, PITargets, generator_step, person_step, pi2_step

POLICY = "piap"  # aukit.data store policy: 256x256 faces (PIAP-DF §3.1)


def aus_for(dataset: str) -> tuple:
    """The paper's AU set on BP4D (12, Table 1) and DISFA (8, Table 2) and their SynthAU trees; a dataset of
    your own's occurrence AUs (its manifest entry's)."""
    return A.method_aus(dataset, "occurrence", {"bp4d": BP4D_AUS, "disfa": DISFA_AUS}, "PIAP-DF")


def aus_kept(dataset: str, fold: int) -> tuple[tuple, dict[str, str]]:
    """(the AUs PIAP-DF trains on ``dataset``, {AU name: why left out}): :func:`aus_for`; on a dataset of your
    own, less those without an occ_AUxx column, a coded frame of the fold's training subjects or a PI-map
    region (read from its store's index)."""
    aus = aus_for(dataset)
    if not A.is_own(dataset):
        return aus, {}
    from aukit.data.pimaps import REGIONS
    train_s, _ = fold_subjects(dataset, fold)
    return A.kept_aus(dataset, load_store(dataset, POLICY).index, aus, train_s, "PIAP-DF", occurrence=True,
                      located=REGIONS)


def au_names(aus) -> list[str]:
    return [f"AU{int(a):02d}" for a in aus]


class Resized:
    """Wrap a loader: batch["image"] resized (area) to ``size`` on the device; len/set_epoch pass through."""

    def __init__(self, loader, size: int):
        self.loader, self.size = loader, int(size)

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self):
        for b in self.loader:
            if b["image"].shape[-1] != self.size:
                b = {**b, "image": F.interpolate(b["image"], size=(self.size, self.size), mode="area")}
            yield b


@dataclass
class AUData:
    """One labelled AU dataset split: store, labels (N, C) 0/1/NaN, train/test/unlabelled rows, and the
    fold's training subjects (the only ones whose frames may enter training, x_u included)."""
    dataset: str
    store: object
    aus: tuple
    labels: np.ndarray
    train: np.ndarray
    test: np.ndarray
    unlabelled: np.ndarray
    train_subjects: tuple = ()


def load_au_data(dataset: str, fold: int, aus=None, max_train: int | None = None, seed: int = 0) -> AUData:
    """Store + occurrence labels; ``max_train`` subsamples training frames (quick presets)."""
    aus = tuple(aus or aus_for(dataset))
    store = load_store(dataset, POLICY)
    idx = store.index
    cols = [au_col(a, occurrence=True) for a in aus]
    missing = [c for c in cols if c not in idx.columns]
    if missing:
        raise KeyError(f"{dataset}: store index lacks occurrence columns {missing}")
    labels = idx[cols].to_numpy(np.float32)
    train_s, test_s = fold_subjects(dataset, fold, present=idx)    # the index: its gaps are checked too
    labelled = np.isfinite(labels).any(1)
    is_train = idx["subject"].isin(train_s).to_numpy()
    is_test = idx["subject"].isin(test_s).to_numpy()
    train = np.flatnonzero(is_train & labelled)
    if max_train is not None and len(train) > max_train:
        train = np.sort(np.random.default_rng(seed).choice(train, max_train, replace=False))
    return AUData(dataset, store, aus, labels, train, np.flatnonzero(is_test & labelled),
                  np.flatnonzero(is_train & ~labelled), tuple(str(t) for t in train_s))


def flip_labels(labels: np.ndarray, rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Copy of ``labels`` with ``fraction`` of the (row, AU) occurrence labels of ``rows`` flipped
    (the label-noise knob of the DF study; NaN labels stay NaN)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"label-flip fraction must lie in [0, 1], got {fraction}")
    out = labels.copy()
    rng = np.random.default_rng(seed)
    sub = out[rows]
    flip = (rng.random(sub.shape) < fraction) & np.isfinite(sub)
    sub[flip] = 1.0 - sub[flip]
    out[rows] = sub
    return out


def loader(store, rows, net: NetConfig, batch_size: int, device, *, shuffle=True, seed=0, targets=None):
    """Every PIAP-DF loader: faces at ``net.image_size``, normalised for the trunks' start (``net.trunk_weights``)."""
    drop = shuffle and len(rows) >= batch_size
    norm = input_norm(net.trunk_weights)
    return Resized(BatchLoader(store, rows, batch_size, device=device, shuffle=shuffle, seed=seed,
                               drop_last=drop, targets=targets, mean=norm.mean, std=norm.std), net.image_size)


def train_cfg(epochs: int, max_steps: int | None, out_dir: str | None = None) -> TrainConfig:
    """``out_dir``: the training's checkpoint folder (aukit.ckptdir), where a rerun resumes; None: none."""
    return TrainConfig(epochs=epochs, max_steps_per_epoch=max_steps, progress=False, out_dir=out_dir)


def method_config(net: NetConfig, **parts) -> dict:
    """What one stage trains with, for fit's ``method_config`` (a checkpoint of another is refused):
    the shared NetConfig and the stage's own configs or values."""
    return {"net": dataclasses.asdict(net),
            **{k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}}


def adam(params, lr: float, wd: float = 0.0):
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


# ---- stages ----------------------------------------------------------------------------------

def landmark_targets(store, dataset: str) -> tuple[np.ndarray, int]:
    """The landmark set's 68 points in the store's aligned pixels, and how many frames have
    annotated ones: AFEW-VA's (and SynthAU's stand-in's) annotations, which are why PIAP-DF §3.1
    trains the DW-UNet on AFEW-VA, mapped through each frame's alignment; dlib's points where a
    frame has none, and for any other set."""
    if not dataset.endswith("afew_va"):
        return store.landmarks, 0
    from aukit.data.auxsets import afew_va_landmarks
    from aukit.data.manifest import DatasetNotFound, resolve_root
    index = store.index.copy()
    try:
        index.attrs["root"] = str(resolve_root(dataset))
    except DatasetNotFound:      # a store that travelled without its dataset: its annotations are not here
        return store.landmarks, 0
    src = afew_va_landmarks(index, dataset)                                   # (N, 68, 2) source pixels, NaN: none
    if not np.isfinite(src).any():
        return store.landmarks, 0
    a = np.asarray(store.affine, np.float32)                                  # (N, 2, 3) source -> aligned
    aligned = np.einsum("nij,nkj->nki", a[:, :, :2], src) + a[:, None, :, 2]
    have = np.isfinite(aligned).all(axis=(1, 2))
    return np.where(have[:, None, None], aligned, store.landmarks).astype(np.float32), int(have.sum())


def train_generator(net: NetConfig, gc: GeneratorConfig, store, rows, device, max_steps=None,
                    seed: int = 0, landmarks: np.ndarray | None = None, out_dir: str | None = None) -> DWUNet:
    """PI stage 1: Generator 0 on predefined PI maps drawn from ``landmarks`` (aligned pixels, one
    set per store row; default the store's dlib points) (Eq. 1)."""
    points = store.landmarks if landmarks is None else landmarks
    maps = pi_maps(points, net.aus, net.image_size, src_size=store.size)  # uint8 (N, K, s, s)
    gen = DWUNet(len(net.aus), net.unet_width, net.unet_depth)
    dl = loader(store, rows, net, gc.batch_size, device, seed=seed, targets={"pi": maps})
    fit(gen, generator_step, dl, adam(gen.parameters(), gc.lr, gc.weight_decay),
        train_cfg(gc.epochs, max_steps, out_dir), device=device, method_config=method_config(net, generator=gc))
    return gen


def train_person_encoder(net: NetConfig, store, rows, identities: np.ndarray, epochs: int, batch_size: int,
                         lr: float, wd: float, device, max_steps=None, seed: int = 0,
                         out_dir: str | None = None) -> PooledHeadNet:
    """Encoder P (§3.2): same trunk as Encoder AU, softmax over the training identities."""
    codes, uniq = np.full(len(store), -1, np.int64), np.unique(identities[rows])
    codes[rows] = np.searchsorted(uniq, identities[rows])
    model = PooledHeadNet(net, len(uniq))
    dl = loader(store, rows, net, batch_size, device, seed=seed, targets={"identity": codes})
    fit(model, person_step, dl, adam(model.parameters(), lr, wd), train_cfg(epochs, max_steps, out_dir), device=device,
        method_config=method_config(net, person={"epochs": epochs, "batch_size": batch_size, "lr": lr,
                                                  "weight_decay": wd, "identities": len(uniq)}))
    return model.eval()


def person_features(encoder: nn.Module, store, net: NetConfig, device, rows=None) -> np.ndarray:
    """v_P for every row of ``store`` (float32 (N, D)), from the frozen Encoder P; with ``rows``, for
    those only (NaN elsewhere: an extra x_u set capped at a few of its frames)."""
    rows = np.arange(len(store)) if rows is None else np.asarray(rows)
    dl = loader(store, rows, net, 64, device, shuffle=False)
    return encoder_features(encoder, dl, len(store))


def au_pos_weight(labels: np.ndarray, rows: np.ndarray) -> torch.Tensor:
    """(C,) #negatives / #positives of each AU over ``rows`` (NaN skipped); 1 where an AU lacks either."""
    y = labels[rows]
    pos, neg = (y >= 0.5).sum(0), (y < 0.5).sum(0)
    return torch.tensor(np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1), 1.0), dtype=torch.float32)


def stage_pos_weight(st: StageConfig, labels: np.ndarray, rows: np.ndarray) -> torch.Tensor | None:
    """L_AU's pos_weight for the supervised stages: None (plain BCE, Eq. 2) unless ``st.pos_weight``."""
    return au_pos_weight(labels, rows) if st.pos_weight else None


def train_pi2(net: NetConfig, gen0: DWUNet, data: AUData, labels, st: StageConfig, device, max_steps=None,
              seed: int = 0, out_dir: str | None = None) -> PI2Net:
    """PI stage 2: masked greyscale input; L_AU also updates the generator (-> Generator 1)."""
    model = PI2Net(net, generator=copy.deepcopy(gen0))
    opt = torch.optim.Adam([{"params": model.generator.parameters(), "lr": st.generator_lr},
                            {"params": [p for n, p in model.named_parameters() if not n.startswith("generator.")]}],
                           lr=st.lr, weight_decay=st.weight_decay)
    dl = loader(data.store, data.train, net, st.batch_size, device, seed=seed, targets={"au": labels})
    step = functools.partial(pi2_step, au_loss=AULoss(stage_pos_weight(st, labels, data.train)).to(device))
    fit(model, step, dl, opt, train_cfg(st.epochs, max_steps, out_dir), device=device,
        method_config=method_config(net, stage=st))
    return model


def trunk_state(path: str, net: NetConfig) -> dict:
    """The Encoder AU trunk weights of a trained PIAP-DF model (its ``deploy.pt`` or any aukit
    checkpoint of an AUEncoder/PIAPNet) for fine-tuning on another dataset (PIAP-DF §4.1:
    the DISFA models start from the BP4D ones). The AU head is left out: its AUs differ.
    Raises ValueError naming ``path`` when the trunks do not match, or when its deploy spec says it was
    trained on inputs normalised otherwise than this run's (``net.trunk_weights`` decides them)."""
    saved = ckpt.read(path)
    state = saved.get("model")
    if not isinstance(state, dict):
        raise ValueError(f"{path}: an aukit checkpoint holds its weights under 'model'; this file has none")
    spec, norm = (saved.get("extra") or {}).get("deploy") or {}, input_norm(net.trunk_weights)
    if "mean" in spec and (tuple(spec["mean"]), tuple(spec["std"])) != (tuple(norm.mean), tuple(norm.std)):
        raise ValueError(f"{path}: its trunk was trained on inputs normalised with mean {tuple(spec['mean'])}, std "
                         f"{tuple(spec['std'])}; this run's trunk_weights={net.trunk_weights!r} normalise with mean "
                         f"{norm.mean}, std {norm.std} ({norm.source}): fine-tune with the weights its run started "
                         "from (-p weights)")
    trunk = {k[len("trunk."):]: v for k, v in state.items() if k.startswith("trunk.")}
    want = PIAPNet(net).trunk.state_dict()
    missing, unexpected = sorted(set(want) - set(trunk)), sorted(set(trunk) - set(want))
    shapes = [k for k in want if k in trunk and trunk[k].shape != want[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"{path}: its Encoder AU trunk does not match trunk={net.trunk!r} "
                         f"(tiny_width={net.tiny_width}): missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"other shapes {shapes[:5]}; fine-tune from a model of the same preset")
    return trunk


def train_piap(net: NetConfig, data: AUData, labels, weights: tuple, st: StageConfig, device, *,
               gen1: DWUNet | None = None, person: np.ndarray | None = None, max_steps=None,
               seed: int = 0, init_trunk: dict | None = None, out_dir: str | None = None) -> PIAPNet:
    """Baseline (1,0,0) / PI-3 (a,1-a,0) / AP (b,0,1-b) / PIAP (a,b,g): Eqs. 2, 3, 5, 6.
    ``init_trunk``: Encoder AU weights to start from (:func:`trunk_state`; fine-tuning)."""
    loss = PIAPLoss(*weights, pos_weight=stage_pos_weight(st, labels, data.train)).to(device)
    model = PIAPNet(net)
    if init_trunk is not None:
        model.trunk.load_state_dict(init_trunk, strict=True)
    targets = {"au": labels}
    if loss.uses_ap:
        targets["person"] = person
    step = PIAPStep(loss, PITargets(gen1.to(device)) if loss.uses_pi else None)
    dl = loader(data.store, data.train, net, st.batch_size, device, seed=seed, targets=targets)
    fit(model, step, dl, adam(model.parameters(), st.lr, st.weight_decay), train_cfg(st.epochs, max_steps, out_dir),
        device=device,
        method_config=method_config(net, stage=st, weights=list(weights), finetuned=init_trunk is not None))
    return model


def unlabelled_rows(data: AUData, df: DFConfig, seed: int) -> tuple[np.ndarray, int]:
    """x_u's rows of the AU store: the training subjects' unlabelled frames plus a random
    ``df.labelled_as_unlabelled`` of the labelled ones (labels hidden); (rows, number hidden).
    With fewer than a batch of such rows every labelled frame doubles as unlabelled."""
    rng = np.random.default_rng(seed)
    hidden = rng.choice(data.train, int(round(df.labelled_as_unlabelled * len(data.train))), replace=False)
    rows = np.concatenate([data.unlabelled, hidden])
    if len(rows) < df.batch_size:
        return data.train, len(data.train)
    return rows, len(hidden)


def train_df(init: PIAPNet, data: AUData, labels, weights: tuple, df: DFConfig, device, *,
             gen1: DWUNet | None = None, person: np.ndarray | None = None, max_steps=None,
             seed: int = 0, extra_u=(), out_dir: str | None = None) -> TeacherStudent:
    """DF (§3.3): teacher and student start as copies of ``init``; x_u = unlabelled frames of
    the training subjects + a fraction of labelled frames with their labels hidden
    (:func:`unlabelled_rows`) + the frames of each ``extra_u`` entry ``(store, rows, person
    features or None)`` (BP4D's uncoded frames and DISFA's for a BP4D run: :func:`extra_u_rows`).
    Each step draws its x_u batch from one source, the sources taken in turn (the paper does not say
    how x_u is mixed)."""
    net = init.cfg
    loss = PIAPLoss(*weights)
    fresh = PIAPNet(net) if df.init == "scratch" else None
    teacher = copy.deepcopy(init) if fresh is None else fresh
    student = copy.deepcopy(teacher)
    model = TeacherStudent(teacher, student)
    opts = {"teacher": torch.optim.SGD(teacher.parameters(), lr=df.lr, momentum=df.momentum),
            "student": torch.optim.SGD(student.parameters(), lr=df.lr, momentum=df.momentum)}
    step = DFStep(loss, opts["student"], df, PITargets(gen1.to(device)) if loss.uses_pi else None)
    targets = {"au": labels}
    if loss.uses_ap:
        targets["person"] = person
    lab = loader(data.store, data.train, net, df.batch_size, device, seed=seed, targets=targets)
    unl = x_u_loaders(data, unlabelled_rows(data, df, seed)[0], net, df.batch_size, device, seed=seed,
                      person=person if loss.uses_ap else None, extra_u=extra_u)
    fit(model, step, PairedLoader(lab, unl), opts, train_cfg(df.epochs, max_steps, out_dir), device=device,
        method_config=method_config(net, df=df, weights=list(weights), extra_u=len(extra_u)))
    return model


def same_copy(name: str, dataset: str) -> bool:
    """Whether dataset ``name`` is read from ``dataset``'s copy: itself, or a part of it (manifest
    ``part_of``: bp4d_unlabelled for bp4d), whose subjects are the run's."""
    return (part_of(name) or name) == (part_of(dataset) or dataset)


def extra_u_rows(store, name: str, data: AUData, max_rows: int | None, seed: int) -> np.ndarray:
    """The rows of extra x_u set ``name`` (its ``store``): from the run's own copy (:func:`same_copy`:
    bp4d_unlabelled on a BP4D run) only the frames of the fold's training subjects, so the test subjects'
    faces never reach training (subject-exclusive folds); any other set (DISFA on a BP4D run) whole.
    Then at most ``max_rows`` of them, a seeded draw (the preset's cap on training frames)."""
    rows = np.arange(len(store))
    if same_copy(name, data.dataset):
        rows = np.flatnonzero(store.index["subject"].astype(str).isin(list(data.train_subjects)).to_numpy())
    return subset_rows(rows, max_rows, seed)


def x_u_loaders(data: AUData, u_rows: np.ndarray, net: NetConfig, batch_size: int, device, *, seed: int,
                person: np.ndarray | None = None, extra_u=()) -> list:
    """DF's x_u as loaders, one per source (:class:`PairedLoader` takes them in turn): ``u_rows``
    of the AU store, then each ``extra_u`` entry ``(store, rows, person features)``. With
    ``person`` (L_AP on) every batch carries its v_P, so each extra set needs its own."""
    unl = [loader(data.store, u_rows, net, batch_size, device, seed=seed + 1,
                  targets=None if person is None else {"person": person})]
    for i, (store, rows, feats) in enumerate(extra_u):
        if person is not None and feats is None:
            raise ValueError(f"extra x_u set {i} has no person features, which L_AP needs")
        unl.append(loader(store, rows, net, batch_size, device, seed=seed + 2 + i,
                          targets=None if person is None else {"person": feats}))
    return unl


# ---- evaluation ------------------------------------------------------------------------------

def predict(model: nn.Module, data: AUData, net: NetConfig, device, rows=None) -> np.ndarray:
    """Sigmoid AU probabilities (len(rows), C) of ``model`` on ``rows`` (default: the test rows),
    in training's precision (:func:`aukit.runtime.evaluating`)."""
    rows = data.test if rows is None else rows
    out = np.empty((len(rows), len(data.aus)), np.float32)
    pos = {r: i for i, r in enumerate(rows)}
    kw = {"pi": False} if isinstance(model, (PIAPNet, TeacherStudent)) else {}
    with evaluating(model):
        for b in loader(data.store, rows, net, 64, device, shuffle=False):
            p = torch.sigmoid(model(b["image"], **kw)["logits"].float()).cpu().numpy()
            out[[pos[int(r)] for r in b["rows"].cpu().numpy()]] = p
    return out


def evaluate_f1(model: nn.Module, data: AUData, net: NetConfig, device) -> dict:
    """Per-AU F1 (threshold 0.5) on the test subjects: {AUxx: f1, "avg": mean, "flags": {...}}, plus
    "auc_avg", the AU-averaged ROC-AUC (threshold-free: does the model rank frames before it calibrates) and its
    "auc_flags" (an AU of one class among the test frames: left out of auc_avg)."""
    prob = predict(model, data, net, device)
    y = data.labels[data.test]
    out = metrics.per_au("f1", prob, y, au_names(data.aus))
    auc = metrics.per_au("auc", prob, y, au_names(data.aus))
    out["auc_avg"], out["auc_flags"] = auc["avg"], auc["flags"]
    return out


def constant_f1(data: AUData) -> dict:
    """F1 of the best constant predictor (always 'present'), the floor any model must beat."""
    y = data.labels[data.test]
    return metrics.per_au("f1", np.ones_like(y), y, au_names(data.aus))


def throughput(model: nn.Module, size: int, device, batch: int = 32, reps: int = 3) -> float:
    """Inference images/s of ``model`` on random (batch, 3, size, size) input, in the numerics and layout
    ``aukit predict`` runs it (bf16 and channels_last on CUDA; it was timed fp32 NCHW)."""
    layout = image_layout(device)
    model = model.to(device, memory_format=layout).eval()
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=layout)
    with evaluating(model):
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return batch * reps / (time.perf_counter() - t0)
