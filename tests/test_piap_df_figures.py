"""PIAP-DF's toy figure and run summary from hand-made results (no training)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from aukit.methods.piap_df import experiment as X


def test_the_toy_figure_says_what_it_shows():
    """The §3.2 toy figure had no title: nothing said its bars are 1-NN identification accuracies of
    held-out identities, asked to tell how person-specific each feature is."""
    acc = {"landmark task": 0.3, "face recognition (Encoder P)": 0.9, "dlib descriptor": 0.8, "chance": 0.125}
    title = X.toy_figure(acc)._suptitle.get_text()
    assert "toy case" in title and "1-NN identification" in title and "8 held-out identities" in title
