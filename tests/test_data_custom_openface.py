"""A dataset of the user's own in ``layout: table``: OpenFace's column names (AU06_r, AU06_c), integer codes
against a model's fractional intensities, CSVs that give no AU, and the names an entry's ``notebooks:`` takes."""
from __future__ import annotations

import numpy as np
import pytest

from aukit import nb
from aukit.data import catalog, manifest
from aukit.data.labelio import LabelFormatError
from aukit.data.schema import ManifestError
from test_data_custom import csv, images, lab, use

OPENFACE = ["frame", "face_id", "timestamp", "confidence", "success", "AU06_r", "AU12_r", "AU06_c", "AU12_c"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("AUKIT_DATA") or k == "AUKIT_MANIFEST"]:
        monkeypatch.delenv(key)


def _openface(root, rows, subject="P1"):
    """Frames 1..len(rows) of ``subject`` and a CSV in OpenFace's columns: rows are (AU06_r, AU12_r, AU06_c,
    AU12_c); timestamp and confidence are fractions, as OpenFace writes them."""
    images(root, subject, "S1", range(1, len(rows) + 1))
    csv(root, subject, "S1", OPENFACE, [[f, 0, round(f / 30, 3), 0.98, 1, *r] for f, r in enumerate(rows, start=1)])


def test_openface_r_columns_are_the_intensities_and_c_columns_are_not_read(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)                        # label_kind intensity, intensity_aus [6, 12]
    _openface(root, [("2.0", 0, 1, 0), (3, "1.0", 1, 1), (0, 5, 0, 1)])
    df = catalog.index("mylab")
    assert df["AU06"].tolist() == [2, 3, 0] and df["AU12"].tolist() == [0, 1, 5]     # 2.0 reads as 2
    assert df["occ_AU12"].tolist() == [0, 1, 1]               # from AU12_r at the threshold, not from AU12_c
    notes = [n for n in df.attrs["qa"]["notes"] if n.startswith("ignored_column: ")]
    assert "not an AU column, not read: face_id, timestamp, confidence, success" in notes[0]
    assert "occurrence columns (_c), not read under label_kind: intensity" in notes[0]
    assert notes[0].endswith("AU06_c, AU12_c")


def test_openface_c_columns_are_read_under_label_kind_occurrence(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6, 12])
    _openface(root, [(0, 2, 0, 1), (1, 0, 1, 0)])              # coders' labels in OpenFace's columns
    df = catalog.index("mylab")
    assert df["occ_AU06"].tolist() == [0, 1] and df["occ_AU12"].tolist() == [1, 0]
    assert not [c for c in df.columns if c.startswith("AU")]


def test_openface_s_own_output_is_refused_under_label_kind_occurrence(tmp_path, monkeypatch):
    """OpenFace's output: its _c presence is 0/1 and passed for labels while the _r beside it held fractions."""
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6, 12])
    _openface(root, [("0.4", "2.7", 0, 1), ("1.9", 0, 1, 0)])
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:2: AU06_r is 0.4, a fraction: with its _c columns this "
                                               r"looks like OpenFace's output"):
        catalog.index("mylab")


def test_a_plain_au_column_beside_its_openface_twin_is_read_and_the_twin_named(tmp_path, monkeypatch):
    """A coders' AU06 beside OpenFace's AU06_c loaded before OpenFace's names were read; then both mapped to AU 6:
    'an AU column appears twice'."""
    root = use(tmp_path, monkeypatch, label_kind="occurrence", intensity_aus=None, occurrence_aus=[6, 12])
    lab(root, subjects=("P1",), header=("frame", "AU06", "AU12", "AU06_c", "AU12_c"), value=lambda f: [1, 0, 0, 1])
    df = catalog.index("mylab")
    assert set(df["occ_AU06"]) == {1} and set(df["occ_AU12"]) == {0}
    assert any("have a plain column too, not read: AU06_c, AU12_c" in n for n in df.attrs["qa"]["notes"])


def test_only_c_columns_under_label_kind_intensity_say_which_kind_reads_them(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    lab(root, subjects=("P1",), header=("frame", "AU06_c", "AU12_c"), value=lambda f: [1, 0])
    with pytest.raises(LabelFormatError, match=r"no column for AU 6, 12; occurrence columns \(_c\), not read under "
                                               r"label_kind: intensity .*label_kind: occurrence reads them"):
        catalog.index("mylab")


def test_a_fraction_in_an_au_column_is_refused_as_a_models_prediction(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    _openface(root, [(0, 0, 0, 0), ("0.98", 1, 1, 1)])
    with pytest.raises(LabelFormatError) as err:
        catalog.index("mylab")
    msg = str(err.value)
    assert "P1_S1.csv:3: field 6 (AU06_r) is '0.98', expected an integer" in msg
    assert "AU labels are coders' integer codes (0-5)" in msg and "model's predicted intensity" in msg
    assert "entry 'mylab'" in msg


def test_a_fraction_or_nan_in_the_columns_read_names_the_column(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch)
    images(root, "P1", "S1", range(1, 3))
    csv(root, "P1", "S1", ["frame", "AU06", "AU12"], [[1, 0, 1], ["2.5", 0, 1]])
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:3: field 1 \(frame\) is '2.5', expected an integer "
                                               r"frame number"):
        catalog.index("mylab")
    csv(root, "P1", "S1", ["frame", "AU06", "AU12"], [[1, 0, 1], [2, 0, "nan"]])
    with pytest.raises(LabelFormatError, match=r"P1_S1.csv:3: field 3 \(AU12\) is 'nan'; .*write the invalid "
                                               r"code \(9\) there"):
        catalog.index("mylab")


def test_an_entry_whose_csvs_hold_no_au_column_is_unusable(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, intensity_aus=None)
    lab(root, header=("frame", "face_id", "success"), value=lambda f: [0, 1])
    assert main(["data", "check", "mylab"]) == 1
    out = capsys.readouterr().out
    assert "unusable" in out and "aus_from_csv" not in out
    assert f"problem: entry 'mylab' of {tmp_path / 'manifest_0.yaml'} lists no intensity_aus and none of the 3 " \
           "CSVs read has an AU column (e.g. " in out
    assert "P1_S1.csv:1: frame,face_id,success)" in out
    assert "AU01, AU1, AU_01, 1, and OpenFace's AU01_r (label_kind: intensity) or AU01_c" in out


def test_a_csv_lacking_an_au_column_the_others_have_is_counted(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, intensity_aus=None)
    lab(root, subjects=("P1", "P2"))
    lab(root, subjects=("P3",), header=("frame", "AU06"), value=lambda f: [1])
    df = catalog.index("mylab")
    assert np.isnan(df.loc[df.subject == "P3", "AU12"]).all()
    qa = df.attrs["qa"]
    assert qa["missing_au_column"] == 1 and qa["per_subject"]["P3"]["missing_au_column"] == 1
    assert any(n.startswith("missing_au_column: ") and "P3_S1.csv:1: no column for AU12" in n for n in qa["notes"])


def test_notebook_names_ignore_case_and_dash_in_data_check_and_runs(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, notebooks=["TAS", "PIAP-DF"])
    lab(root)
    assert main(["data", "check", "mylab"]) == 0
    assert "tas,piap_df" in capsys.readouterr().out
    nb.check_parameters("tas", {"dataset": "mylab", "smoke": True})      # refused the entry before


def test_an_unknown_notebook_name_is_named_with_the_closest_one(tmp_path, monkeypatch, capsys):
    from aukit.cli import main
    root = use(tmp_path, monkeypatch, notebooks=["tass", "scc"])
    lab(root)
    assert main(["data", "check", "mylab"]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'manifest_0.yaml'}: entry 'mylab': notebooks: unknown notebook 'tass' (did you mean " \
           "'tas'?)" in out
    with pytest.raises(ManifestError, match=r"unknown notebook 'tass' \(did you mean 'tas'\?\)"):
        nb.check_parameters("scc", {"dataset": "mylab", "smoke": True})


def test_notebooks_written_as_one_string_are_refused(tmp_path, monkeypatch):
    root = use(tmp_path, monkeypatch, notebooks="tas, scc")      # matched 'scc' as a substring before
    lab(root)
    with pytest.raises(ManifestError, match=r"entry 'mylab': notebooks must be a list of notebook names"):
        nb.check_parameters("scc", {"dataset": "mylab", "smoke": True})


def test_the_manifests_notebook_names_are_the_paper_notebooks():
    assert manifest.NOTEBOOKS == nb.PAPERS
