"""``aukit predict`` with a TAS model trained here on the tiny SynthAU tree (CPU, ~1 min).

The tiny tree is too small for a model trained in seconds to generalise to a new subject, so
the video is one the model was trained on: what this checks is the plumbing between training
and ``aukit predict`` (decoding, detection, the alignment policy, normalisation, input size,
AU order and scale). A mismatch in any of them breaks both assertions below.
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

pytestmark = pytest.mark.slow


def test_trained_tas_model_on_a_synthau_video(synthau_tiny, tmp_path):
    from aukit.metrics import pcc
    from aukit.methods.tas import TASConfig, TASLossConfig, TASModelConfig, TASTrainConfig
    from aukit.methods.tas import experiment as E
    from aukit.methods.tas.data import load_data, segment_batches
    from aukit.methods.tas.deploy import export_deployable
    from aukit.methods.tas.step import TASStep
    from aukit.predict import predict
    from aukit.train import TrainConfig, fit

    size = 64
    data = load_data("synthau-disfa", fold=1, T=4)
    cfg = TASConfig(model=TASModelConfig(n_aus=data.n_aus, depth=18, attention_hidden=8, mlp_hidden=16),
                    loss=TASLossConfig(lambda_rank=0.0, lambda_spd=0.0, lambda_sub=0.0),
                    train=TASTrainConfig(T=4, batch_size=4, label_fraction=1.0))
    torch.manual_seed(0)
    model = E.build_model(data, cfg)
    batches = segment_batches(data, "S3", batch_size=4, seed=0, size=size, label_fraction=1.0)
    hist = fit(model, TASStep(cfg.loss), batches, torch.optim.Adam(model.parameters(), 1e-3),
               TrainConfig(epochs=20, progress=False), device=torch.device("cpu"))
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
    path = export_deployable(model, data.aus, tmp_path / "deploy.pt", "synthau-disfa", size=size)

    idx = data.store.index
    subj = idx["subject"].to_numpy()
    n_varying = {s: int((np.nanstd(data.labels[subj == s] * 5, 0) > 0.2).sum()) for s in data.train_subjects}
    subject = max(n_varying, key=n_varying.get)                       # the training video with most AU activity
    video = synthau_tiny / "disfa" / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"
    cap = cv2.VideoCapture(str(video))
    n_video = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    res = predict(video, str(path), tmp_path / "out", workers=0, detect_every=1, plot=False)
    df = pd.read_csv(res.csv, comment="#")
    assert len(df) == n_video == res.n_frames
    assert list(df.frame) == list(range(1, n_video + 1))

    # the same frames through the training data path (prepared store): the CSV's frame numbers are
    # DISFA's (both count from 1), so they join as they are
    rows = np.flatnonzero(subj == subject)
    ev = E.evaluate(model, data, E.RunOptions(size=size), rows=rows)
    frame = idx["frame"].to_numpy()[rows]
    ok = df.set_index("frame").loc[frame, "success"].to_numpy() == 1
    assert ok.mean() > 0.9
    cols = [f"{au}_r" for au in data.aus]
    csv_pred = df.set_index("frame").loc[frame[ok], cols].to_numpy(float)
    assert np.isfinite(csv_pred).all()
    assert pcc(csv_pred.ravel(), ev["pred"][ok].ravel()) > 0.9     # predict == training path
    gap = np.abs(csv_pred - ev["pred"][ok]).mean(0)                # on the 0..5 scale: same scale, AU by AU
    print("mean |predict - training path| per AU", np.round(gap, 4))
    assert gap.max() < 0.01

    truth = ev["label"][ok]
    varying = [j for j in range(data.n_aus) if np.nanstd(truth[:, j]) > 0.2 and np.isfinite(truth[:, j]).all()]
    assert len(varying) >= 2
    r = [pcc(csv_pred[:, j], truth[:, j]) for j in varying]
    pooled = pcc(csv_pred[:, varying].ravel(), truth[:, varying].ravel())
    print("r on", subject, "pooled", round(pooled, 3), dict(zip([data.aus[j] for j in varying], np.round(r, 3))))
    assert pooled > 0.5 and max(r) > 0.8 and np.mean(r) > 0.2
