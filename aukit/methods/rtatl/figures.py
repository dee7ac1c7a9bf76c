"""RTATL's figures and efficiency numbers: Fig. 4 (labelled-subject sweep), Fig. 5 (flow),
Fig. 6 (RoI inpainting), Fig. 7 (AU-indicator similarity); parameters and GFLOPs (§4.2)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from aukit import viz
from aukit.viz.matrices import cosine_similarity

from .config import crop_side
from .geometry import augment, mask_rois
from .heads import count_parameters


def _test_batch(data, rows, device):
    """Centre-cropped test images (B, 3, S', S'), centres and flow for ``rows`` (S' = the crop)."""
    img = torch.from_numpy(np.asarray(data.store.images[rows])).to(device).permute(0, 3, 1, 2).float() / 255
    img = (img - 0.5) / 0.5
    cen = torch.from_numpy(data.centres[rows]).to(device)
    flow = torch.from_numpy(data.flow[rows]).to(device) if data.flow is not None else None
    return img, cen, flow


def _pick(data, n: int, need_flow: bool) -> np.ndarray:
    """Up to ``n`` test rows (with a flow target when asked), taken in turn from each subject and
    spread over each subject's frames: with 3 test subjects the first six rows were six consecutive,
    near-identical frames of one subject."""
    rows = data.test_rows
    if need_flow and data.flow_valid is not None:
        rows = rows[data.flow_valid[rows]]
    subj = data.store.index["subject"].to_numpy()[rows]
    _, first = np.unique(subj, return_index=True)
    groups = [rows[subj == s] for s in subj[np.sort(first)]]
    per = -(-min(n, len(rows)) // max(len(groups), 1))              # rows wanted from each subject
    spread = [g[np.unique(np.linspace(0, len(g) - 1, min(per, len(g))).round().astype(int))] for g in groups]
    turns = [g[k] for k in range(per) for g in spread if k < len(g)]  # one from each subject in turn
    return np.asarray(turns[:n], dtype=rows.dtype)


@torch.no_grad()
def efficiency(net, data, device) -> dict:
    """Parameters (M) and forward GFLOPs for one image: training (all modules) vs inference (backbone only)."""
    net.eval()
    s = net.model_cfg.input_size
    x = torch.zeros(1, 3, s, s, device=device)
    c = torch.from_numpy(data.centres[data.test_rows[:1]]).to(device) * (s / data.store.size)
    c = c if net.model_cfg.roi else None
    with FlopCounterMode(display=False) as fc:
        out = net.backbone(x, c)
    infer = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        if hasattr(net, "generator"):
            fake = net.generator(out["relation"][0, :2])
            p = torch.zeros(4, 3, net.model_cfg.patch, net.model_cfg.patch, device=device)
            net.discriminator(p), net.classifier(p), fake
        if hasattr(net, "flow_head"):
            net.flow_head(out["global_map"])
    aux = fc.get_total_flops()
    return {"params_train_m": count_parameters(net) / 1e6, "params_infer_m": count_parameters(net.backbone) / 1e6,
            "gflops_infer": infer / 1e9, "gflops_train": (infer + aux) / 1e9, "input_size": s}


@torch.no_grad()
def flow_figure(net, data, device, n: int = 6):
    """Fig. 5: TV-L1 vs predicted flow (I_x, I_y) on test frames of different subjects."""
    rows = _pick(data, n, need_flow=True)
    img, cen, flow = _test_batch(data, rows, device)
    crop = crop_side(data.store.size)
    x, _, f = augment(img, cen, flow, crop=crop, out=net.model_cfg.input_size, train=False, flip=False)
    net.eval()
    pred = net.flow_head(net.backbone.features(x)[-1])
    faces = (x.permute(0, 2, 3, 1).cpu().numpy() * 0.5 + 0.5).clip(0, 1)
    return viz.flow_compare(f.cpu().numpy(), pred.float().cpu().numpy(), faces)


@torch.no_grad()
def inpainting_figure(net, data, device, n: int = 6, seed: int = 0):
    """Fig. 6: masked input / original / recovered (G's patches pasted back) for a random AU each."""
    rows = _pick(data, n, need_flow=False)
    img, cen, _ = _test_batch(data, rows, device)
    crop = crop_side(data.store.size)
    x, c, _ = augment(img, cen, None, crop=crop, out=net.model_cfg.input_size, train=False, flip=False)
    b, n_au = c.shape[:2]
    au = torch.from_numpy(np.random.default_rng(seed).integers(0, n_au, b)).to(device)
    pts = c[torch.arange(b, device=device), au]
    s = net.model_cfg.patch
    masked = mask_rois(x, pts, s, net.train_cfg.mask_fill, torch.ones(b, dtype=torch.bool, device=device))
    net.eval()
    rel = net.backbone(masked, c)["relation"]
    tok = rel.reshape(b, n_au, 2, -1)[torch.arange(b, device=device), au].reshape(2 * b, -1)
    fake = net.generator(tok).float().reshape(b, 2, 3, s, s)
    rec = masked.clone()
    for i in range(b):
        for j in range(2):
            cx, cy = [int(v) for v in pts[i, j].round().tolist()]
            x0, y0 = cx - s // 2, cy - s // 2
            xs, ys = slice(max(x0, 0), min(x0 + s, rec.shape[-1])), slice(max(y0, 0), min(y0 + s, rec.shape[-2]))
            rec[i, :, ys, xs] = fake[i, j, :, ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    to_img = lambda t: (t.permute(0, 2, 3, 1).cpu().numpy() * 0.5 + 0.5).clip(0, 1)  # noqa: E731
    return viz.inpainting_panels(to_img(masked), to_img(x), to_img(rec))


def indicator_figure(net, aus):
    """Fig. 7: cosine similarity of the learned AU indicators of the transformer decoder."""
    w = net.backbone.relation.indicators.detach().float().cpu().numpy()
    return viz.similarity_heatmap(cosine_similarity(w), [f"AU{int(a):02d}" for a in aus],
                                  title="AU indicators: cosine similarity")


def qualitative(net, data, device) -> dict:
    """The figures this model supports: {name: Figure}."""
    figs = {}
    if hasattr(net, "flow_head") and data.flow is not None:
        figs["fig5_flow"] = flow_figure(net, data, device)
    if hasattr(net, "generator"):
        figs["fig6_inpainting"] = inpainting_figure(net, data, device)
    if net.model_cfg.roi and net.model_cfg.relation == "transformer":
        figs["fig7_au_indicators"] = indicator_figure(net, net.model_cfg.aus)
    return figs


def label_sweep(ecfg, data, device, train_variant, predict_rows, f1_scores):
    """Fig. 4: F1 vs number of labelled training subjects, unlabelled pool fixed.

    Returns (Figure, flat metrics ``sweep_<method>_<n>`` = mean F1 over ``ecfg.sweep_seeds``).
    """
    from .data import load_data
    present = len(set(data.store.index["subject"].iloc[data.train_rows]))
    counts = [k for k in ecfg.sweep_subjects if k < present] + [present]
    means = {m: [] for m in ecfg.sweep_methods}
    stds = {m: [] for m in ecfg.sweep_methods}
    flat = {}
    for k in counts:
        for m in ecfg.sweep_methods:
            vals = []
            for seed in ecfg.sweep_seeds:
                sub = load_data(ecfg.dataset, ecfg.fold, ecfg.aus, unlabelled=ecfg.unlabelled,
                                max_train=ecfg.max_train, max_test=ecfg.max_test,
                                max_unlabelled=ecfg.max_unlabelled, flow_step=ecfg.flow_step,
                                flow_size=ecfg.flow_size, labelled_subjects=None if k == present else k, seed=seed)
                net, _ = train_variant(ecfg, m, sub, seed, device)
                res = f1_scores(predict_rows(net, sub, sub.test_rows, device), sub.labels[sub.test_rows], ecfg.aus)
                vals.append(res["avg"])
            means[m].append(100 * float(np.mean(vals)))
            stds[m].append(100 * float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
            flat[f"sweep_{m.lower()}_{k}"] = float(np.mean(vals))
    fig = viz.sweep_plot(counts, means, stds, xlabel="labelled training subjects", ylabel="F1 (%)",
                         title=f"F1 vs labelled subjects ({ecfg.dataset}, fold {ecfg.fold})")
    return fig, flat


__all__ = ["efficiency", "flow_figure", "inpainting_figure", "indicator_figure", "qualitative", "label_sweep"]
