"""An entry of the user's own that lists some of the AUs its files code, on purpose: the others are not read,
not counted as problems, and `aukit data check` says once which it leaves out."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from aukit.data import catalog
from test_data_custom import IMG, use


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def _bp4d_layout(tmp_path, monkeypatch):
    """Occurrence CSVs of AU 1, 2, 4, 5 (AU 4 and 5 not coded: 9), an entry listing AU 1 and 2."""
    root = use(tmp_path, monkeypatch, layout="bp4d", label_kind=None, intensity_aus=None, occurrence_aus=[1, 2],
               patterns={"frames": "2D/{subject}/{task}/{frame}.jpg", "occurrence": "AU_OCC/{subject}_{task}.csv"})
    (root / "AU_OCC").mkdir(parents=True)
    for s in ("P1", "P2"):
        d = root / "2D" / s / "T1"
        d.mkdir(parents=True)
        for n in range(1, 5):
            cv2.imwrite(str(d / f"{n}.jpg"), IMG)
        (root / "AU_OCC" / f"{s}_T1.csv").write_text("frame,1,2,4,5\n" + "".join(f"{f},1,{f % 2},9,9\n"
                                                                                  for f in range(1, 5)))
    return root


def test_a_bp4d_layout_entry_reads_only_the_occurrence_columns_it_lists(tmp_path, monkeypatch):
    _bp4d_layout(tmp_path, monkeypatch)
    df = catalog.index("mylab")
    assert [c for c in df.columns if c.startswith("occ_")] == ["occ_AU01", "occ_AU02"]
    assert df.attrs["qa"]["invalid_codes"] == 0                  # the 9s are all in AU 4 and 5, not read
    left = [n for n in df.attrs["qa"]["notes"] if "not read" in n and "AU 4, 5" in n]
    assert len(left) == 1 and left[0].startswith("info: ") and "occurrence_aus [1, 2]" in left[0]


def test_a_disfa_layout_entry_listing_some_aus_is_not_a_problem(tmp_path, monkeypatch, capsys):
    from test_data_fixtures import write_video
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, layout="disfa", label_kind=None, invalid_code=None, intensity_aus=[1, 12],
               patterns={"video": "Videos/{subject}.avi", "labels": "Labels/{subject}/{subject}_au{au}.txt"})
    for s in ("P1", "P2"):
        write_video(root / "Videos" / f"{s}.avi", [np.full((16, 16, 3), 20 * k, np.uint8) for k in range(4)])
        (root / "Labels" / s).mkdir(parents=True)
        for au in (1, 12, 25, 26):
            (root / "Labels" / s / f"{s}_au{au}.txt").write_text("".join(f"{k + 1},{k}\n" for k in range(4)))
    df = catalog.index("mylab")
    assert df.attrs["qa"]["ignored_file"] == 0
    assert "AU25" not in df.columns and "AU12" in df.columns
    assert main(["data", "check", "mylab"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["mylab"])
    assert row[2] == "ok"
    assert out.count("AU 25, 26") == 1 and "4 files" in out and "not read" in out
