"""SCC's Fig. 7 from tiny arrays (no training): a title and a label on each face row saying what it is."""
from __future__ import annotations

import numpy as np
import pytest

from aukit.methods.scc import figures as F
from aukit.methods.scc import report_figures as RF

AUS = ["AU06", "AU12"]


def _fig7(**kw):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    return F.channel_patterns(rng.normal(size=(4, 8)), AUS, faces, rng.random((2, 2, 8, 8)), **kw)


def _face_rows(fig):
    """The face panels (first column of part (b)): images without a bar chart, with a y label."""
    return [ax for ax in fig.axes if ax.images and ax.get_ylabel()]


def test_fig7_has_a_title_and_labelled_face_rows():
    """Fig. 7 had no title and its face rows no labels: nothing said they are the faces that most activate
    channel 1 and channel 2."""
    act = np.array([[0.9, 0.2], [0.1, 0.8], [0.3, 0.3]])           # face 0 tops channel 1, face 1 channel 2
    labels = RF._fig7_face_labels(act, 0, 1)
    assert labels[0].startswith("most activates\nchannel 1\n") and "0.90" in labels[0]
    assert labels[1].startswith("most activates\nchannel 2\n(") and "0.80" in labels[1]
    fig = _fig7(face_labels=labels, title=RF._fig7_title(64))
    assert "Fig. 7" in fig._suptitle.get_text() and "64 test faces" in fig._suptitle.get_text()
    assert [ax.get_ylabel() for ax in _face_rows(fig)] == labels
    # the defaults still say what the figure is and number the faces
    fig = _fig7()
    assert fig._suptitle.get_text().startswith("Fig. 7: channels 1 and 2")
    assert [ax.get_ylabel() for ax in _face_rows(fig)] == ["face 1", "face 2"]
    with pytest.raises(ValueError, match="1 face labels for 2 faces"):
        _fig7(face_labels=["one"])


def test_fig7s_second_face_is_said_to_be_the_runner_up_when_the_first_tops_both_channels():
    act = np.array([[0.9, 0.9], [0.1, 0.8]])
    assert RF._fig7_face_labels(act, 0, 1)[1].startswith("most activates\nchannel 2\nof the rest")
