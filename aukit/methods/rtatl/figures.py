"""RTATL's figures: Fig. 4 (labelled-subject sweep, from the arrays ``experiment.label_sweep`` returns),
Fig. 5 (flow), Fig. 6 (RoI inpainting), Fig. 7 (AU-indicator similarity)."""
from __future__ import annotations

import numpy as np
import torch

from aukit import viz
from aukit.viz.matrices import cosine_similarity

from .config import crop_side
from .geometry import augment, mask_rois


def _test_batch(data, rows, device, norm):
    """Centre-cropped test images (B, 3, S', S'), centres and flow for ``rows`` (S' = the crop); the images
    normalised as the net's inputs (``norm``)."""
    img = torch.from_numpy(np.asarray(data.store.images[rows])).to(device).permute(0, 3, 1, 2).float() / 255
    img = (img - img.new_tensor(norm.mean).view(1, 3, 1, 1)) / img.new_tensor(norm.std).view(1, 3, 1, 1)
    cen = torch.from_numpy(data.centres[rows]).to(device)
    flow = torch.from_numpy(data.flow[rows]).to(device) if data.flow is not None else None
    return img, cen, flow


def _pixels(x: torch.Tensor, norm) -> np.ndarray:
    """Normalised images (B, 3, S, S) -> (B, S, S, 3) pixels 0..1 to draw."""
    x = x.float() * x.new_tensor(norm.std, dtype=torch.float32).view(1, 3, 1, 1) + \
        x.new_tensor(norm.mean, dtype=torch.float32).view(1, 3, 1, 1)
    return x.permute(0, 2, 3, 1).cpu().numpy().clip(0, 1)


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
def flow_figure(net, data, device, n: int = 6):
    """Fig. 5: TV-L1 vs predicted flow (I_x, I_y) on test frames of different subjects."""
    rows = _pick(data, n, need_flow=True)
    img, cen, flow = _test_batch(data, rows, device, net.norm)
    crop = crop_side(data.store.size)
    x, _, f = augment(img, cen, flow, crop=crop, out=net.model_cfg.input_size, train=False, flip=False)
    net.eval()
    pred = net.flow_head(net.backbone.features(x)[-1])
    faces = _pixels(x, net.norm)
    return viz.flow_compare(f.cpu().numpy(), pred.float().cpu().numpy(), faces)


@torch.no_grad()
def inpainting_figure(net, data, device, n: int = 6, seed: int = 0):
    """Fig. 6: masked input / original / recovered (G's patches pasted back) for a random AU each."""
    rows = _pick(data, n, need_flow=False)
    img, cen, _ = _test_batch(data, rows, device, net.norm)
    crop = crop_side(data.store.size)
    x, c, _ = augment(img, cen, None, crop=crop, out=net.model_cfg.input_size, train=False, flip=False)
    b, n_au = c.shape[:2]
    au = torch.from_numpy(np.random.default_rng(seed).integers(0, n_au, b)).to(device)
    pts = c[torch.arange(b, device=device), au]
    s = net.model_cfg.patch
    masked = mask_rois(x, pts, s, net.mask_fill, torch.ones(b, dtype=torch.bool, device=device))
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
    return viz.inpainting_panels(_pixels(masked, net.norm), _pixels(x, net.norm), _pixels(rec, net.norm))


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


def label_sweep_figure(counts, means: dict[str, list], stds: dict[str, list], dataset: str, fold: int):
    """Fig. 4: F1 (%) vs number of labelled training subjects, one line per method (mean +/- std over seeds);
    the arrays come from :func:`aukit.methods.rtatl.experiment.label_sweep`."""
    return viz.sweep_plot(counts, means, stds, xlabel="labelled training subjects", ylabel="F1 (%)",
                          title=f"F1 vs labelled subjects ({dataset}, fold {fold})")


__all__ = ["flow_figure", "inpainting_figure", "indicator_figure", "qualitative", "label_sweep_figure"]
