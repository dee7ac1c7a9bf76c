"""PIAP-DF's toy figure and run summary from hand-made results (no training)."""
from __future__ import annotations

import numpy as np

from aukit.methods.piap_df import experiment as X


def test_the_toy_figure_says_what_it_shows():
    """The §3.2 toy figure had no title: nothing said its bars are 1-NN identification accuracies of
    held-out identities, asked to tell how person-specific each feature is."""
    acc = {"landmark task": 0.3, "face recognition (Encoder P)": 0.9, "dlib descriptor": 0.8, "chance": 0.125}
    title = X.toy_figure(acc)._suptitle.get_text()
    assert "toy case" in title and "1-NN identification" in title and "8 held-out identities" in title


def test_a_one_seed_summary_has_no_std_as_metrics_json():
    """One seed: the notebook's summary (flat_metrics) showed f1_std_* = 0.0 while metrics.json has null and
    the markdown says null. It is None; two seeds keep the sample std."""
    def seed_result(i):
        f1 = {v: {"avg": 0.4 + 0.1 * i, "auc_avg": 0.6} for v in ("Baseline", "PIAP-DF")}
        return {"f1": f1, "constant": {"avg": 0.3}, "x_u": {"a": 5}, "export_params": 10, "export_images_per_s": 2.0}

    per_seed = [seed_result(0)]
    mean, std = X.f1_frames([r["f1"] for r in per_seed], ())
    flat = X.flat_metrics(per_seed, mean, std)
    assert flat["f1_std_baseline"] is None and flat["f1_std_piap_df"] is None
    assert not any(v == 0.0 for k, v in flat.items() if "std" in k)
    per_seed.append(seed_result(1))
    mean, std = X.f1_frames([r["f1"] for r in per_seed], ())
    assert abs(X.flat_metrics(per_seed, mean, std)["f1_std_piap_df"] - 0.1 / np.sqrt(2)) < 1e-9
