"""Mutation audit round 3, aukit.nb: the parameter checks made before a kernel starts, and which parameters
count as a change from the paper's setup."""
import re

import pytest

from aukit import nb
from _toynb import write_toy


def test_none_is_refused_where_the_default_is_no_none():
    """None passes only for a parameter whose default is None (RTATL's lambda1); TAS's epochs is an int."""
    with pytest.raises(ValueError, match=re.escape("tas.ipynb: parameter 'epochs' takes an int (default 0), "
                                                   "got None (NoneType)")):
        nb.check_parameters("tas", {"epochs": None})
    nb.check_parameters("rtatl", {"lambda2": None})


def test_preset_smoke_is_refused_smoke_is_its_own_parameter():
    with pytest.raises(ValueError, match=re.escape("tas.ipynb: preset 'smoke': takes 'quick' or 'full' (-p smoke "
                                                   "true")):
        nb.check_parameters("tas", {"preset": "smoke"})
    nb.check_parameters("tas", {"preset": "full", "smoke": True})


def test_cpc_pretrain_epochs_below_zero_is_refused():
    with pytest.raises(ValueError, match=re.escape("cpc.ipynb: pretrain_epochs -1 is below 0 (0 for the preset's)")):
        nb.check_parameters("cpc", {"pretrain_epochs": -1})
    nb.check_parameters("cpc", {"pretrain_epochs": 0, "val_clips": 0, "steps": -1, "epochs": 0})


def test_extras_minus_one_the_notebooks_default_passes():
    nb.check_parameters("tas", {"extras": -1})
    nb.check_parameters("piap_df", {"extras": -1})
    with pytest.raises(ValueError, match=re.escape("piap_df.ipynb: extras -2: takes -1")):
        nb.check_parameters("piap_df", {"extras": -2})


@pytest.mark.parametrize("spec", ["disfa", "synthau-disfa,disfa", "synthau-disfa, disfa"])
def test_every_real_side_set_named_must_be_found(spec, tmp_path, monkeypatch):
    """Each real set in a comma-separated side-set list is looked for (not only the first)."""
    from aukit.data.manifest import DatasetNotFound
    monkeypatch.setenv("AUKIT_DATA_DISFA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFound, match="AUKIT_DATA_DISFA is .*nowhere, which is not a folder"):
        nb.check_parameters("piap_df", {"unlabelled": spec})
    nb.check_parameters("piap_df", {"unlabelled": "synthau-disfa"})     # SynthAU's are made, not found


def test_extras_choose_what_runs_and_are_no_change():
    """Table 4 / the Fig. 5 sweep on or off does not change how Table 3's models train."""
    assert nb.changed_parameters("tas", {"preset": "full", "extras": 0}) == {}
    assert nb.changed_parameters("piap_df", {"extras": 1, "epochs": 4}) == {"epochs": 4}


def test_a_weights_file_is_no_changed_parameter():
    """The trunk's start is said on its own (the report's trunk_start), not as a changed parameter."""
    assert nb.changed_parameters("scc", {"preset": "full", "weights": "/w/resnet50.pth", "k": 3}) == {"k": 3}


def test_a_str_parameter_takes_the_text_as_given(monkeypatch, tmp_path):
    assert nb.parse_value("01", "str") == "01"
    assert nb.parse_value("true", "str") == "true" and nb.parse_value("null", "str") == "null"
    assert nb.parse_value("01", None) == 1                          # no kind: YAML
    from aukit import cli
    seen = []
    monkeypatch.setattr(nb, "execute", lambda notebook, out, params, **kw: seen.append(params) or {})
    cli.main(["run", "tas", "--out", str(tmp_path), "-p", "device", "0", "-p", "loss_reduction", "sum"])
    assert seen == [{"device": "0", "loss_reduction": "sum"}]


def test_a_smoke_run_into_the_report_folder_never_replaces_the_model_predict_finds(tmp_path):
    from aukit.runtime import repo_root
    report = repo_root() / "reports" / "tas"
    assert nb.model_dir_for("tas", report, smoke=False) == str(repo_root() / "runs" / "tas")
    assert nb.model_dir_for("tas", report, smoke=True) == str(report / "model")
    assert nb.model_dir_for("tas", tmp_path / "x", smoke=False) == str(tmp_path / "x" / "model")


def test_a_failed_run_leaves_no_reported_json(tmp_path):
    """reported.json (the paper's numbers beside the run's) of a run that then failed is no result either."""
    from papermill import PapermillExecutionError
    write_toy(tmp_path / "toy.ipynb", "out_dir: str = '.'", 
        "import pathlib\nfor n in ('metrics.json', 'reported.json'):\n    pathlib.Path(out_dir, n).write_text('{}')\n"
        "raise RuntimeError('late')")
    out = tmp_path / "out"
    with pytest.raises(PapermillExecutionError):
        nb.execute(tmp_path / "toy.ipynb", out, {}, progress=False, html=False)
    assert (out / "error.txt").exists()
    assert not (out / "metrics.json").exists() and not (out / "reported.json").exists()


def test_grid_text_becomes_a_number_only_for_float_parameters():
    assert nb.float_values("tas", {"device": "0", "weights": "1e5", "lr": "1e-5"}) == \
        {"device": "0", "weights": "1e5", "lr": 1e-5}


def test_reproduce_refuses_a_preset_it_has_not_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="preset must be quick, full or smoke, got 'tiny'"):
        nb.reproduce(preset="tiny", reports=tmp_path / "r")
    assert not (tmp_path / "r").exists()
