"""Mutation audit round 3, aukit.cli: exit codes and argument checks."""
import pytest

from aukit import cli, nb
from _toynb import write_toy


def test_run_exit_code_no_metrics_fails_a_paper_notebook_only(tmp_path, monkeypatch, capsys):
    """A paper notebook always writes metrics.json (none: exit 1); a notebook of one's own need not (exit 0)."""
    monkeypatch.setattr(nb, "execute", lambda notebook, out, params, **kw: {})
    assert cli.main(["run", str(write_toy(tmp_path / "toy.ipynb")), "--out", str(tmp_path / "o")]) == 0
    assert cli.main(["run", "tas", "--out", str(tmp_path / "t")]) == 1
    assert f"aukit run: tas wrote no metrics.json into {tmp_path / 't'}" in capsys.readouterr().err
    monkeypatch.setattr(nb, "execute", lambda notebook, out, params, **kw: {"f1": 0.5})
    assert cli.main(["run", "tas", "--out", str(tmp_path / "t")]) == 0


@pytest.fixture
def sweeps(monkeypatch, tmp_path):
    from aukit import sweep
    seen = []

    def run_sweep(notebook, grid, **kw):
        seen.append(kw)
        (tmp_path / "sweep.yaml").write_text(record[0])
        return tmp_path
    record = ["{}\n"]
    monkeypatch.setattr(sweep, "run_sweep", run_sweep)
    return seen, record


def test_sweep_time_limit_is_taken_by_submitit_local_only(sweeps, capsys):
    seen, _ = sweeps
    assert cli.main(["sweep", "tas", "--grid", "g.yaml", "--executor", "submitit-local", "--time-min", "5"]) == 0
    assert seen[-1]["slurm"] == {"time_min": 5} and seen[-1]["executor"] == "submitit-local"
    assert cli.main(["sweep", "tas", "--grid", "g.yaml", "--time-min", "5"]) == 2
    assert "--time-min: SLURM options, for --executor slurm (this sweep's executor: local)" in capsys.readouterr().err
    assert cli.main(["sweep", "tas", "--grid", "g.yaml", "--executor", "submitit-local", "--gpus", "1"]) == 2
    assert len(seen) == 1


@pytest.mark.parametrize("record, code", [("{}\n", 0), ("failed: [a]\n", 1), ("unfinished: [b]\n", 3),
                                          ("failed: [a]\nunfinished: [b]\n", 1)])
def test_sweep_exit_code_follows_its_record(sweeps, record, code):
    sweeps[1][0] = record
    assert cli.main(["sweep", "tas", "--grid", "g.yaml"]) == code


@pytest.mark.parametrize("mem, ok", [("32G", True), ("64000M", True), ("4096", True), ("0G", False), ("0", False),
                                     ("032G", False), ("1.5G", False)])
def test_sweep_mem_as_sbatch_takes_it(mem, ok, capsys):
    parser = cli.build_parser()
    if ok:
        assert parser.parse_args(["sweep", "tas", "--grid", "g.yaml", "--mem", mem]).mem == mem
    else:
        with pytest.raises(SystemExit):
            parser.parse_args(["sweep", "tas", "--grid", "g.yaml", "--mem", mem])
        assert "argument --mem: memory as sbatch --mem takes it" in capsys.readouterr().err


def test_predict_min_face_zero_means_never_and_small_faces_are_refused(capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["predict", "x.mp4", "--min-face", "0"]).min_face == 0
    assert parser.parse_args(["predict", "x.mp4"]).min_face == 100
    for bad, message in (("20", "dlib finds faces of 30 px and more"), ("-1", "must be 0 or more pixels, got -1")):
        with pytest.raises(SystemExit):
            parser.parse_args(["predict", "x.mp4", "--min-face", bad])
        assert message in capsys.readouterr().err


@pytest.fixture
def bench(monkeypatch):
    from aukit.bench import run
    seen = []
    monkeypatch.setattr(run, "run_bench", lambda methods, **kw: seen.append((methods, kw)))
    return seen


def test_bench_skip_parts_and_data_overrides(bench):
    assert cli.main(["bench", "--methods", "tas", "--skip", "predict, train", "--data", "rtatl.flow_size=32"]) == 0
    (methods, kw), = bench
    assert methods == ["tas"] and kw["data"] == {"rtatl": {"flow_size": 32}}
    assert (kw["prepare"], kw["train"], kw["inference"], kw["predict"]) == (True, False, True, False)
    with pytest.raises(SystemExit, match=r"unknown parts \['trian'\]"):
        cli.main(["bench", "--skip", "trian"])


@pytest.mark.parametrize("item", ["rtatl.=32", ".flow_size=32", "rtatl.flow_size", "flow_size=32"])
def test_bench_data_needs_method_key_and_value(bench, item):
    with pytest.raises(SystemExit, match="expected METHOD.KEY=VALUE"):
        cli.main(["bench", "--data", item])
    assert not bench


def test_predict_interrupted_line_says_what_was_left(capsys):
    from types import SimpleNamespace
    cli._interrupted(None, [])
    cli._interrupted(SimpleNamespace(left=[]), [])                 # the model loaded, no input started
    cli._interrupted(SimpleNamespace(left=[]), ["a.mp4"])
    cli._interrupted(SimpleNamespace(left=["out/b.csv"]), ["a.mp4", "b.mp4"])
    assert capsys.readouterr().err.splitlines() == [
        "aukit predict: interrupted while loading the model; nothing was written",
        "aukit predict: interrupted while loading the model; nothing was written",
        "aukit predict: interrupted in a.mp4; it left nothing of that input (stopped before its first rows)",
        "aukit predict: interrupted in b.mp4; it left out/b.csv (1 input(s) before it finished, named above)"]


def test_a_key_error_is_one_line_and_exit_code_2(monkeypatch, tmp_path, capsys):
    def fail(*a, **kw):
        raise KeyError("no such AU")
    monkeypatch.setattr(nb, "execute", fail)
    assert cli.main(["run", "tas", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "aukit run: error: 'no such AU'\n"


@pytest.mark.parametrize("command,argv,said", [
    ("prepare", ["prepare", "synthau-bp4d"], "the faces aligned so far are kept: the same command resumes from them"),
    ("synth", ["synth"], "the tree is unfinished (no meta.json, readers refuse it): run aukit synth again"),
])
def test_an_interrupted_command_says_what_it_left(monkeypatch, capsys, command, argv, said):
    """`aukit prepare` interrupted ended with "what it left is named above (a notebook run: error.txt)": nothing was
    named above, and it runs no notebook."""
    def stop(a):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, f"cmd_{command}", stop)
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.strip() == f"aukit {command}: interrupted; {said}"
