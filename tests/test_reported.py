"""The reported-numbers YAML files: schema, loader, and the papers' own averages."""
import numpy as np
import pytest

from aukit import reported as R

# Tables each paper must encode (paper table numbers), from the papers' texts.
EXPECTED_TABLES = {"tas": {1, 2, 3, 4}, "cpc": {1, 2, 3, 4, 5}, "rtatl": {1, 2, 3},
                   "piap_df": {1, 2, 3}, "scc": {1, 2, 3}}


@pytest.mark.parametrize("paper", R.PAPERS)
def test_every_table_is_encoded_with_sources(paper):
    data = R.load(paper)
    assert data["paper"] == paper
    assert {b["table"] for b in data["tables"].values()} == EXPECTED_TABLES[paper]
    for key, block in data["tables"].items():
        assert block["dataset"] and block["metric"] and block["caption"]
        for row in block["rows"]:
            assert f"Table {block['table']}" in row["source"] and row["method"] in row["source"]


@pytest.mark.parametrize("paper", R.PAPERS)
def test_averages_match_within_rounding_or_are_documented(paper):
    """Each row's per-AU values average to the paper's Avg within rounding; the only
    exceptions are rows carrying an ``avg_note`` that explains the paper's inconsistency,
    and such a note must not outlive its reason."""
    mismatches = R.avg_mismatches(paper)
    undocumented = [m for m in mismatches if not m["avg_note"]]
    assert not undocumented, undocumented
    flagged = {(k, r["method"]) for k, b in R.load(paper)["tables"].items() for r in b["rows"] if r.get("avg_note")}
    assert flagged == {(m["key"], m["method"]) for m in mismatches}


def test_known_exceptions_are_few():
    total = sum(len(R.avg_mismatches(p)) for p in R.PAPERS)
    assert total <= 9  # 3 CPC, 1 RTATL, 5 PIAP-DF rows, each explained in its YAML


def test_table_frame_layout_and_values():
    df = R.table("tas", "table1_disfa_icc")
    assert list(df.columns) == ["AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15",
                                "AU17", "AU20", "AU25", "AU26", "Avg"]
    assert df.shape == (8, 13)
    # transcription anchors (reported numbers, checked by eye against TAS Table 1)
    assert df.loc["Ours", "Avg"] == pytest.approx(0.52)
    assert df.loc["Ladder", "AU01"] == pytest.approx(-0.01)
    assert df.attrs["dataset"] == "disfa" and df.attrs["metric"] == "ICC" and df.attrs["paper"] == "tas"
    assert df.attrs["sources"]["Ours"] == "TAS Table 1, DISFA ICC, row Ours"

    t2 = R.table("tas", "table2_bp4d")
    assert list(t2.columns) == ["ICC", "MAE"] and np.isnan(t2.loc["HBN", "MAE"])  # "-" -> NaN
    assert R.table("scc", "table1_bp4d_mae").loc["SCC-Heatmap (Ours)", "Avg"] == pytest.approx(0.58)
    rt = R.table("rtatl", "table3")  # printed transposed in the paper
    assert rt.loc["RTATL", "AU01"] == pytest.approx(57.8) and rt.loc["RTATL", "Avg"] == pytest.approx(63.1)
    assert R.table("piap_df", "table3").loc["PIAP", "AU24"] == pytest.approx(52.0)
    assert R.table("cpc", "table5_mae").loc["Ours 2%", "Avg"] == pytest.approx(0.376)


def test_unknown_paper_or_table_is_a_clear_error():
    with pytest.raises(ValueError, match="no reported numbers"):
        R.load("nope")
    with pytest.raises(KeyError, match="no table"):
        R.table("tas", "table9")
