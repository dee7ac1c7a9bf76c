"""One :class:`StepCase` per method, built from the method's own public model, step,
optimizer and data builders (``aukit/methods/<slug>/``), at the configuration its
notebook trains with (all losses and auxiliary heads on).

    case = build_case("tas", device=dev, size="default")   # paper model + batch, aukit numerics
    case = build_case("tas", device=dev, size="paper")     # the same in fp32, NCHW, TF32 off
    case = build_case("tas", device=dev, size="tiny")      # seconds on a 2-core CPU (tests)

``default`` and ``paper`` share the paper's model and batch size; they differ only in
numerics (bf16 autocast + channels_last vs fp32), so their ratio is what aukit's runtime
choices buy. ``tiny`` shrinks inputs, batches and trunks. The ceiling batch is random
tensors of the real batch's shapes; the real loader reads the prepared SynthAU store
(``data`` overrides the dataset, the auxiliary set and the fold).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import numpy as np
import torch

from ..runtime import image_layout
from .harness import StepCase, paper_variant

METHODS = ("tas", "cpc", "rtatl", "piap_df", "scc")
SIZES = ("tiny", "default", "paper")
# The notebook's main configuration: (labelled/target set, auxiliary set) per method.
DATASETS = {"tas": ("synthau-bp4d", None), "cpc": ("synthau-affwild2", None),
            "rtatl": ("synthau-bp4d", "synthau-emotionet"), "piap_df": ("synthau-bp4d", None),
            "scc": ("synthau-disfa", None)}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _epochs(loader) -> Callable[[int], object]:
    """epoch -> iterator over a loader with ``set_epoch`` (the loop's own protocol)."""
    def start(epoch: int):
        loader.set_epoch(epoch)
        return iter(loader)
    return start


def _centres(b: int, n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Random AU centres (B, N, 2, 2) inside the middle of a size x size face."""
    return (0.3 + 0.4 * torch.rand(b, n, 2, 2, generator=g)) * size


def as_loaded(x: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
    """An image batch in the memory layout the real loader hands over (``BatchLoader._finish``):
    (N, 3, S, S) in ``layout``; (B, T, 3, S, S) clips as per-frame NHWC views when ``layout`` is
    channels_last. Otherwise the ceiling would pay (or skip) a conversion the real path does not."""
    if x.ndim == 4:
        return x.contiguous(memory_format=layout)
    if x.ndim == 5 and layout == torch.channels_last:
        return x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    return x


def _dev(batch: dict, device) -> dict:
    """The synthetic batch on ``device``; its "image" entries in the device's loader layout."""
    layout = image_layout(device)
    return {k: _dev(v, device) if isinstance(v, dict) else
            as_loaded(v.to(device), layout) if k == "image" else v.to(device) for k, v in batch.items()}


# ---- TAS: Eq. 5 (L_reg + rank + speed mixup + subject), keyframe segments -------------------

def _tas(device, tiny: bool, data: dict, real: bool) -> StepCase:
    from aukit.methods.tas import TASConfig, TASNet
    from aukit.methods.tas import data as tdata
    from aukit.methods.tas.config import default_lambda_sub
    from aukit.methods.tas.experiment import make_optimizer
    from aukit.methods.tas.step import TASStep

    ds = data.get("dataset", DATASETS["tas"][0])
    cfg = TASConfig()
    cfg.loss.lambda_sub = default_lambda_sub(ds)
    if tiny:
        cfg.train.T, cfg.train.batch_size = 4, 2
        cfg.model.depth, cfg.model.attention_hidden, cfg.model.mlp_hidden = 18, 16, 16
    cfg.train.batch_size = int(data.get("batch_size", cfg.train.batch_size))
    T, B, S = cfg.train.T, cfg.train.batch_size, 32 if tiny else cfg.train.image_size
    n_aus = len(tdata.wanted_aus(ds))
    cfg.model.n_aus = n_aus
    model = TASNet(cfg.model)

    def synthetic():
        g = _gen()
        target = torch.full((B, T, n_aus), float("nan"))
        au = torch.randint(0, n_aus, (B,), generator=g)
        target[torch.arange(B), 0, au] = torch.rand(B, generator=g)
        target[torch.arange(B), T - 1, au] = torch.rand(B, generator=g)
        return _dev({"image": torch.randn(B, T, 3, S, S, generator=g), "target": target, "seg_au": au,
                     "subject": torch.arange(B)}, device)

    loader = None
    if real:
        d = tdata.load_data(ds, data.get("fold", 1), T=T)
        batches = tdata.segment_batches(d, "keyframe", batch_size=B, device=device, seed=0,
                                        size=None if S == d.store.size else S)
        loader = _epochs(batches)
    return StepCase("tas", model, TASStep(cfg.loss), make_optimizer(model, cfg), B, B * T, synthetic, loader,
                    notes={"dataset": ds, "T": T, "image_size": S, "depth": cfg.model.depth})


# ---- CPC: stage-1 contrastive predictive coding (Eq. 1), the 300-epoch stage -----------------

def _cpc(device, tiny: bool, data: dict, real: bool) -> StepCase:
    from aukit.data import load_store
    from aukit.data.loader import BatchLoader
    from aukit.methods.cpc import CPCModelConfig, CPCNet, PretrainConfig, make_pretrain_step
    from aukit.methods.cpc.augment import ClipAugment
    from aukit.methods.cpc.data import clip_rows, make_split
    from aukit.methods.cpc.losses import InfoNCELoss

    ds = data.get("dataset", DATASETS["cpc"][0])
    p = PretrainConfig()
    mc = CPCModelConfig()
    if tiny:
        p.seq_len, p.context, p.stride, p.batch_size = 6, 4, 1, 2
        mc.image_size = 32
    p.batch_size = int(data.get("batch_size", p.batch_size))
    T, B, S = p.seq_len, p.batch_size, mc.image_size
    model = CPCNet(mc)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    step = make_pretrain_step(p.context, InfoNCELoss(p.batch_negatives, p.temperature))

    def synthetic():
        return _dev({"image": torch.randn(B, T, 3, S, S, generator=_gen())}, device)

    loader = None
    if real:
        store = load_store(ds, "cpc")
        split = make_split(store, store.index["subject"].astype(str).unique().tolist(), [], aus=[])
        clips = clip_rows(split.frames, split.train_rows, T, p.stride, None, seed=0)
        aug = ClipAugment.from_config(p, out_size=None if S == store.size else S)
        loader = _epochs(BatchLoader(store, clips, min(B, len(clips)), device=device, seed=0, augment=aug))
    return StepCase("cpc", model, step, opt, B, B * T, synthetic, loader,
                    notes={"dataset": ds, "T": T, "context": p.context, "image_size": S, "stage": "pretrain"})


# ---- RTATL: L_sup + RoI inpainting GAN (G, D, C) + optical-flow estimation (Eq. 9) ------------

def _rtatl(device, tiny: bool, data: dict, real: bool) -> StepCase:
    from aukit.data.align import get_policy
    from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLStep, RTATLTrainConfig
    from aukit.methods.rtatl.config import crop_side, patch_side
    from aukit.methods.rtatl import data as rdata
    from aukit.methods.rtatl.experiment import preset_config

    ds, aux = data.get("dataset", DATASETS["rtatl"][0]), data.get("aux", DATASETS["rtatl"][1])
    e = preset_config("smoke" if tiny else "full", dataset=ds, unlabelled=aux)
    e.flow_size = int(data.get("flow_size", e.flow_size))
    B, Bu, S_in = e.batch_size, e.unlabelled_batch_size, e.input_size
    if tiny or "batch_size" in data:                         # an override sets both halves of the batch
        B = Bu = int(data.get("batch_size", 4))
    d = None
    if real:
        d = rdata.load_data(ds, data.get("fold", 1), e.aus, unlabelled=aux, flow_size=e.flow_size, seed=0)
    size = d.store.size if d is not None else get_policy("rtatl").size
    mc = RTATLModelConfig(aus=e.aus, input_size=S_in, patch=patch_side(S_in))
    tc = RTATLTrainConfig(aus=e.aus, image_size=size, crop_size=crop_side(size), batch_size=B,
                          unlabelled_batch_size=Bu)
    model = RTATLNet(mc, tc)
    n = len(e.aus)
    r = e.flow_size // max(1, e.flow_size // 32)              # the grid rdata.load_data keeps

    def synthetic():
        g = _gen()
        bt = B + Bu
        labels = (torch.rand(bt, n, generator=g) < 0.3).float()
        labels[B:] = float("nan")
        return _dev({"image": torch.randn(bt, 3, size, size, generator=g), "centres": _centres(bt, n, size, g),
                     "labels": labels, "flow": torch.randn(bt, 2, r, r, generator=g),
                     "flow_valid": torch.arange(bt) < B}, device)

    loader = None
    if d is not None:
        loader = _epochs(rdata.PairedLoader(d, B, Bu, device=device, seed=0))
    return StepCase("rtatl", model, RTATLStep(tc, S_in, mc.patch), model.optimizers(), B + Bu, B + Bu, synthetic,
                    loader, notes={"dataset": ds, "unlabelled": aux, "input_size": S_in, "labelled": B,
                                   "unlabelled_batch": Bu, "flow_size": e.flow_size})


# ---- PIAP-DF: the DF teacher/student step (Eqs. 7-11) on L_PIAP (Eq. 6: AU + PI + AP) ---------

def _piap_df(device, tiny: bool, data: dict, real: bool) -> StepCase:
    from aukit.methods.piap_df import DFConfig, NetConfig, StageConfig
    from aukit.methods.piap_df import runs
    from aukit.methods.piap_df.df import DFStep, PairedLoader, TeacherStudent
    from aukit.methods.piap_df.losses import PIAPLoss
    from aukit.methods.piap_df.model import DWUNet, PIAPNet
    from aukit.methods.piap_df.step import PITargets

    ds = data.get("dataset", DATASETS["piap_df"][0])
    aus = runs.aus_for(ds)
    net = NetConfig(aus=aus)
    if tiny:  # the notebook's smoke trunk
        net = NetConfig(aus=aus, trunk="tiny_dw", image_size=32, tiny_width=8, unet_width=4, unet_depth=3,
                        decoder_width=16)
    df, st = DFConfig(), StageConfig()
    B, S = int(data.get("batch_size", 4 if tiny else df.batch_size)), net.image_size
    teacher = PIAPNet(net)
    model = TeacherStudent(teacher, copy.deepcopy(teacher))
    opts = {"teacher": torch.optim.SGD(model.teacher.parameters(), lr=df.lr, momentum=df.momentum),
            "student": torch.optim.SGD(model.student.parameters(), lr=df.lr, momentum=df.momentum)}
    gen1 = DWUNet(len(aus), net.unet_width, net.unet_depth).to(device)  # frozen PI Generator 1 (random weights)
    step = DFStep(PIAPLoss(st.alpha, st.beta, st.gamma), opts["student"], df, PITargets(gen1))
    dim = teacher.feature_dim

    def synthetic():
        g = _gen()
        lab = {"image": torch.randn(B, 3, S, S, generator=g), "au": (torch.rand(B, len(aus), generator=g) < 0.3).float(),
               "person": torch.randn(B, dim, generator=g)}
        unl = {"image": torch.randn(B, 3, S, S, generator=g), "person": torch.randn(B, dim, generator=g)}
        return _dev({"l": lab, "u": unl}, device)

    loader = None
    if real:
        from aukit.data import load_store
        from aukit.methods.piap_df.experiment import unlabelled_sets_for
        d = runs.load_au_data(ds, data.get("fold", 1), aus)
        # v_P comes from the frozen Encoder P, computed once before DF: a fixed per-row target here
        rng = np.random.default_rng(0)
        person = rng.standard_normal((len(d.store), dim)).astype(np.float32)
        u_rows, _ = runs.unlabelled_rows(d, dataclasses.replace(df, batch_size=B), seed=0)
        lab = runs.loader(d.store, d.train, net, B, device, seed=0, targets={"au": d.labels, "person": person})
        extra = unlabelled_sets_for(ds)   # the notebook's x_u: BP4D's uncoded frames and DISFA's on a BP4D run (§3.3)
        stores = [load_store(name, runs.POLICY) for name in extra]
        extra_u = [(xs, runs.extra_u_rows(xs, name, d, None, 0), rng.standard_normal((len(xs), dim)).astype(np.float32))
                   for name, xs in zip(extra, stores)]   # the fold's training subjects only, as the notebook's
        unl = runs.x_u_loaders(d, u_rows, net, B, device, seed=0, person=person, extra_u=extra_u)
        loader = _epochs(PairedLoader(lab, unl))
        x_u = ["unlabelled + labels hidden", *extra]
    return StepCase("piap_df", model, step, opts, B, 2 * B, synthetic, loader,
                    notes={"dataset": ds, "trunk": net.trunk, "image_size": S, "weights": [st.alpha, st.beta, st.gamma],
                           "person_features": "random fixed v_P (Encoder P output stand-in)",
                           **({"x_u": x_u} if real else {})})


# ---- SCC: heatmap regression (Eq. 2) through ResNet-50 + deconv + SCC modules ------------------

def _scc(device, tiny: bool, data: dict, real: bool) -> StepCase:
    from aukit.data.align import get_policy
    from aukit.data.loader import BatchLoader
    from aukit.methods.scc import SCCModelConfig, SCCTrainConfig, build
    from aukit.methods.scc import data as sdata
    from aukit.methods.scc.config import k_for
    from aukit.methods.scc.step import make_step

    ds = data.get("dataset", DATASETS["scc"][0])
    aus = sdata.dataset_aus(ds)
    k = k_for(ds)
    mc = SCCModelConfig(k=k, n_points=2 * len(aus))
    tc = SCCTrainConfig()
    if tiny:  # the notebook's smoke model
        mc = SCCModelConfig(depth=18, input_size=64, deconv_channels=32, k=k, n_points=2 * len(aus))
        tc = SCCTrainConfig(batch_size=4)
    tc.batch_size = int(data.get("batch_size", tc.batch_size))
    model_over = {f.name: data[f.name] for f in dataclasses.fields(mc) if f.name in data}   # e.g. gather_backward
    mc = dataclasses.replace(mc, **model_over)
    B = tc.batch_size
    model = build(mc)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    d = sdata.load_data(ds, sdata.resolve_fold(ds, data.get("fold", 1))) if real else None
    size = d.store.size if d is not None else get_policy("scc").size

    def synthetic():
        g = _gen()
        return _dev({"image": torch.randn(B, 3, size, size, generator=g),
                     "centres": _centres(B, len(aus), size, g),
                     "intensity": 5 * torch.rand(B, len(aus), generator=g)}, device)

    loader = None
    if d is not None:
        loader = _epochs(BatchLoader(d.store, d.train_rows, min(B, len(d.train_rows)), device=device, seed=0,
                                     targets=d.targets))
    return StepCase("scc", model, make_step(tc, mc.input_size), opt, B, B, synthetic, loader,
                    notes={"dataset": ds, "depth": mc.depth, "input_size": mc.input_size, "k": k, **model_over})


_BUILDERS = {"tas": _tas, "cpc": _cpc, "rtatl": _rtatl, "piap_df": _piap_df, "scc": _scc}
_DATA_KEYS = {"tas": {"dataset", "fold", "batch_size"}, "cpc": {"dataset", "batch_size"},
              "rtatl": {"dataset", "aux", "fold", "flow_size", "batch_size"},
              "piap_df": {"dataset", "fold", "batch_size"}, "scc": {"dataset", "fold", "batch_size"}}


def data_keys(method: str) -> set:
    """The ``data`` keys ``method``'s case reads (SCC also takes any SCCModelConfig field)."""
    keys = set(_DATA_KEYS[method])
    if method == "scc":
        from aukit.methods.scc import SCCModelConfig
        keys |= {f.name for f in dataclasses.fields(SCCModelConfig)}
    return keys


def check_data(method: str, data: dict | None) -> None:
    """A ValueError naming the keys of ``data`` that ``method``'s case does not read."""
    unknown = set(data or {}) - data_keys(method)
    if unknown:
        raise ValueError(f"bench data for {method}: unknown keys {sorted(unknown)}; known: {sorted(data_keys(method))}")


def build_case(method: str, *, device, size: str = "tiny", data: dict | None = None, real: bool = True) -> StepCase:
    """The training step of ``method`` at ``size`` (tiny | default | paper); ``real=False``
    builds the ceiling only (no store is opened). ``data``: {"dataset", "aux", "fold"}, RTATL's
    "flow_size", a "batch_size" (never applied to ``paper``, which keeps the paper's batch; for
    RTATL both the labelled and the unlabelled half), for SCC any model setting (e.g.
    "gather_backward"); see :func:`data_keys`."""
    if method not in _BUILDERS:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    check_data(method, data)
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    device = torch.device(device)
    data = dict(data or {})
    if size == "paper":
        data.pop("batch_size", None)
    case = _BUILDERS[method](device, size == "tiny", data, real)
    case.notes = {**case.notes, "size": size, "batch_size": case.batch_size,
                  "images_per_batch": case.images_per_batch}
    return paper_variant(case) if size == "paper" else case
