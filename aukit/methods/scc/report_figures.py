"""Figures of the SCC report from trained models: Fig. 5 (heatmaps on faces, intensity
curves of two test subjects), Fig. 7 (channel weights and responses), Fig. 8 (with vs
without SCC). Called by ``experiment.run``; returns figures and a few measured numbers."""
from __future__ import annotations

import numpy as np
import torch

from aukit import metrics
from aukit.viz import heatmap_overlay, intensity_curves
from aukit.viz.style import new_figure, theme

from .data import sequence_rows
from .figures import channel_patterns, compare_heatmaps
from .step import batch_targets, model_input


@torch.no_grad()
def heatmaps_for(runner, model, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted and target maps (n, N, R, R), last-block features of channels 0-1, faces (n, S, S, 3)."""
    from .experiment import configs
    _, tc = configs(runner.ecfg, {})
    batch = next(iter(runner.loader(np.asarray(rows), False, batch_size=len(rows))))
    x = model_input(batch["image"], model.cfg.input_size)
    feats = model.features(x)
    pred = model.head(feats)
    target, _ = batch_targets(batch, pred.shape[-1], tc)
    return {"pred": pred.float().cpu().numpy(), "true": target.cpu().numpy(),
            "feats": feats[:, :2].float().cpu().numpy(), "faces": np.asarray(runner.data.store.images[np.asarray(rows)])}


def curves(runner, model, subjects) -> tuple[object, dict]:
    """Fig. 5 (bottom): predicted vs labelled intensity of the first two AUs over one sequence per subject."""
    data = runner.data
    aus = list(data.aus[:2])
    out = {}
    with theme("whitegrid"):
        fig, axes = new_figure(len(aus), len(subjects), size=(5.0, 1.8), sharey=True)
        for c, subj in enumerate(subjects):
            rows = sequence_rows(data, subj, runner.ecfg.curve_frames)
            res = runner.predict(model, rows)
            icc = metrics.per_au("icc", res["pred"], res["label"], list(data.aus))["avg"]
            out[f"curve_icc_{subj}"] = icc
            intensity_curves(res["label"][:, :2], {"SCC-Heatmap": res["pred"][:, :2]}, aus=aus,
                             title=f"{subj} (ICC {icc:.2f}, all AUs)", axes=list(axes[:, c]))
    return fig, out


def make(runner, scc_model, plain_model) -> tuple[dict, dict]:
    data = runner.data
    test = data.test_rows
    # Fig. 5 / 8: the most expressive test faces (largest summed intensity)
    expressive = test[np.argsort(-np.nan_to_num(data.intensity[test]).sum(1), kind="stable")[:2]]
    hs = heatmaps_for(runner, scc_model, expressive)
    hp = heatmaps_for(runner, plain_model, expressive[:1])
    figs = {"fig5_heatmaps": heatmap_overlay(hs["faces"], hs["pred"], hs["true"])}
    subjects = sorted(set(data.store.index["subject"].iloc[test]))[:2]
    figs["fig5_curves"], measured = curves(runner, scc_model, subjects)
    figs["fig8_scc_vs_plain"] = compare_heatmaps(
        hs["faces"][0], {"SCC-Heatmap": hs["pred"][0], "ResNet-Deconv": hp["pred"][0], "target": hs["true"][0]},
        data.aus, data.intensity[expressive[0]])
    # Fig. 7: the face that most activates channel 1 and the one that most activates channel 2
    pool = test[:: max(1, len(test) // 64)][:64]
    hpool = heatmaps_for(runner, scc_model, pool)
    act = hpool["feats"].mean(axis=(2, 3))                    # (n, 2)
    i1 = int(np.argmax(act[:, 0]))
    i2 = int(np.argmax(np.where(np.arange(len(pool)) == i1, -np.inf, act[:, 1])))
    head = scc_model.head.weight.detach()[:, :, 0, 0].float().cpu().numpy()   # (N, C)
    figs["fig7_channels"] = channel_patterns(head, data.aus, hpool["faces"][[i1, i2]], hpool["feats"][[i1, i2]],
                                             face_labels=_fig7_face_labels(act, i1, i2),
                                             title=_fig7_title(len(pool)))
    return figs, measured


def _fig7_face_labels(act: np.ndarray, i1: int, i2: int) -> list[str]:
    """Fig. 7's face-row labels: the face that most activates channel 1, and of the others the one that most
    activates channel 2, with their mean responses (``act`` (n, 2), a face's mean response per channel)."""
    second = "channel 2" + ("\nof the rest" if int(np.argmax(act[:, 1])) == i1 else "")
    return [f"most activates\nchannel 1\n(mean response {act[i1, 0]:.2f})",
            f"most activates\n{second}\n(mean response {act[i2, 1]:.2f})"]


def _fig7_title(n_pool: int) -> str:
    """Fig. 7's title: what the two parts show and where the faces come from."""
    return (f"Fig. 7: SCC-Heatmap's last-layer feature channels 1 and 2\n(a) their weights toward each output map; "
            f"(b) of {n_pool} test faces sampled evenly,\nthe one that most activates each channel, "
            f"with both channels' responses")
