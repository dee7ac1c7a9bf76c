"""aukit bench on a CPU in the tiny configuration: numbers, ratios and the report files.

No timing thresholds (a shared 2-core machine): only that every number exists, is
positive and finite, and that the ratios are the quotients of the reported numbers.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from aukit.bench import StepCase, paper_variant, profile_case, time_case
from aukit.bench.cases import METHODS, build_case
from aukit.bench.run import run_bench, targets
from aukit.train import StepOutput

KEYS = ("ceiling_img_s", "real_img_s", "paper_img_s", "ratio", "speedup_vs_paper", "peak_mem_gb", "loader_wait_ms")


def _pos(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_run_bench_tiny_end_to_end(synthau_tiny, tmp_path):
    res = run_bench(["tas", "piap_df"], device="cpu", preset="tiny", out=tmp_path, reps=2, steps=2, warmup=1,
                    inference_batch_sizes=(1, 8), on_error="raise")
    on_disk = json.loads((tmp_path / "bench.json").read_text())
    assert on_disk["methods"]["tas"]["real_img_s"] == res["methods"]["tas"]["real_img_s"]   # what it returns is what it wrote
    assert {"device", "commit", "methods", "prepare", "inference"} <= set(on_disk)
    assert on_disk["device"].startswith("cpu") and on_disk["commit"]
    for m in ("tas", "piap_df"):
        row = on_disk["methods"][m]
        assert set(KEYS) <= set(row), m
        for k in ("ceiling_img_s", "real_img_s", "paper_img_s", "ratio", "speedup_vs_paper"):
            assert _pos(row[k]), (m, k, row[k])
        assert row["loader_wait_ms"] >= 0
        assert row["peak_mem_gb"] is None  # no device memory on a CPU: null, never a made-up 0
        assert row["ratio"] == pytest.approx(row["real_img_s"] / row["ceiling_img_s"], rel=1e-12)
        assert row["speedup_vs_paper"] == pytest.approx(row["real_img_s"] / row["paper_img_s"], rel=1e-12)
        assert row["real"]["img_s_min"] <= row["real_img_s"] <= row["real"]["img_s_max"]
        assert row["paper"]["precision"] == "fp32" and row["paper"]["tf32"] is False
        prof = row["profile"]
        if m == "piap_df":   # the notebook's x_u: a BP4D run adds its DISFA frames (PIAP-DF §3.3)
            assert row["config"]["x_u"] == ["unlabelled + labels hidden", "synthau-disfa"]
        assert all(prof[f"{p}_ms"] >= 0 for p in ("loader_wait", "forward", "backward", "optimizer"))
        assert prof["total_ms"] == pytest.approx(sum(prof[f"{p}_ms"] for p in ("loader_wait", "forward",
                                                                               "backward", "optimizer")))
        assert _pos(on_disk["inference"][m]["bs1_img_s"]) and _pos(on_disk["inference"][m]["bs8_img_s"])
        assert _pos(row["gflop_per_image"]) and row["chip_utilisation"]["real"] is None   # no CPU peak listed
        assert row["real_tflop_s"] == pytest.approx(row["real_img_s"] * row["gflop_per_image"] / 1e3, rel=1e-9)
    assert on_disk["methods"]["piap_df"]["profile"]["manual"] is True  # DF fills its own gradients
    assert on_disk["targets"]["tas"]["applies"] is False and "speedup_vs_paper" in on_disk["targets"]["tas"]
    assert "speedup_vs_paper" not in on_disk["targets"]["piap_df"]
    p = on_disk["prepare"]
    assert p["frames"] == 40 and _pos(p["frames_per_s"])
    assert "flow_pairs" not in p             # RTATL's TV-L1 flow is timed only when RTATL is benchmarked
    assert "TV-L1 flow: not timed (RTATL not among the methods)" in (tmp_path / "bench.md").read_text()
    e2e = on_disk["predict"]
    assert e2e["frames"] == 96 and e2e["faces"] >= 90 and _pos(e2e["frames_per_s"])
    assert e2e["redetected"] == 0              # one face throughout: the track check never fails
    stages = e2e["stages_ms_per_frame"]
    assert set(stages) == {"decode", "faces_wait", "infer", "rows", "write"} and min(stages.values()) >= 0
    assert _pos(stages["decode"]) and _pos(stages["infer"])   # every frame was decoded and inferred
    assert "waiting on the detection workers" in (tmp_path / "bench.md").read_text()
    assert "## Compute (matrix FLOPs per image" in (tmp_path / "bench.md").read_text()
    assert e2e["frames_per_s_min"] <= e2e["frames_per_s"] <= e2e["frames_per_s_max"]
    assert e2e["startup_s"] > 0 and e2e["steady_frames_per_s"] > e2e["frames_per_s"]
    hd = on_disk["predict_1080p"]                     # the same pipeline on an interview-sized MPEG-4 clip
    assert hd["clip"] == "astronaut 1920x1080 MPEG-4, 48 frames" and hd["frames"] == 48 and hd["faces"] >= 45
    assert hd["redetected"] == 0 and _pos(hd["steady_frames_per_s"]) and _pos(hd["stages_ms_per_frame"]["decode"])
    assert "astronaut 1920x1080 MPEG-4" in (tmp_path / "bench.md").read_text()
    md = (tmp_path / "bench.md").read_text()
    assert on_disk["commit"] in md and "aukit predict end to end" in md and "torch" in md and "| tas |" in md and "| piap_df |" in md


@pytest.mark.parametrize("method", METHODS)
def test_every_ceiling_step_runs(method):
    """Each method's full step, built from its own package, trains on synthetic tensors."""
    case = build_case(method, device="cpu", size="tiny", real=False)
    before = [p.detach().clone() for p in case.model.parameters()]
    r = time_case(case, "cpu", warmup=1, steps=1, reps=1)
    assert _pos(r["img_s"]) and r["precision"] == "fp32"
    assert any(not torch.equal(a, p.detach()) for a, p in zip(before, case.model.parameters()))


def test_ceiling_images_come_in_the_loaders_layout():
    """The synthetic batch's images carry the strides BatchLoader gives real ones: frames decoded as
    (N, S, S, 3) uint8 and viewed as (N, 3, S, S), clips reshaped to (B, T, 3, S, S)."""
    from aukit.bench.cases import as_loaded

    B, T, S = 2, 3, 8
    loaded = torch.rand(B * T, S, S, 3).permute(0, 3, 1, 2)
    x4, x5 = torch.randn(B * T, 3, S, S), torch.randn(B, T, 3, S, S)
    assert as_loaded(x4, torch.channels_last).stride() == loaded.stride()
    assert as_loaded(x5, torch.channels_last).stride() == loaded.reshape(B, T, 3, S, S).stride()
    assert torch.equal(as_loaded(x5, torch.channels_last), x5) and torch.equal(as_loaded(x4, torch.channels_last), x4)
    assert as_loaded(x4, torch.contiguous_format).is_contiguous() and as_loaded(x5, torch.contiguous_format) is x5
    case = build_case("scc", device="cpu", size="tiny", real=False)   # on the CPU: plain NCHW, as the loader
    assert case.synthetic_batch()["image"].is_contiguous()


@pytest.fixture()
def prepared_default(monkeypatch):
    """The SynthAU default tree and the stores `gpu_session.sh setup` prepared: not the tiny tree another
    test's session-wide ``synthau_tiny`` left in the environment, which the GPU machine (no dlib) cannot prepare."""
    monkeypatch.delenv("AUKIT_SYNTHAU", raising=False)
    monkeypatch.delenv("AUKIT_CACHE", raising=False)


@pytest.mark.gpu
@pytest.mark.parametrize("method", METHODS)
def test_ceiling_and_real_images_share_a_layout_on_gpu(prepared_default, method):
    case = build_case(method, device="cuda", size="tiny", real=True)

    def images(batch):
        return {k: v.stride() for k, v in batch.items() if k == "image"} | {
            f"{k}.image": v["image"].stride() for k, v in batch.items() if isinstance(v, dict)}

    assert images(case.synthetic_batch()) == images(next(case.loader(0)))


def _toy_case(n_batches: int = 3) -> StepCase:
    model = torch.nn.Linear(4, 1)
    data = [{"x": torch.randn(5, 4)} for _ in range(n_batches)]

    def step(m, batch):
        return StepOutput(m(batch["x"]).pow(2).mean(), n_images=5)

    return StepCase("toy", model, step, torch.optim.SGD(model.parameters(), lr=0.1), 5, 5, lambda: data[0],
                    loader=lambda epoch: iter(data))


def test_real_loader_wraps_epochs_and_profile_phases():
    case = _toy_case(n_batches=2)
    r = time_case(case, "cpu", real=True, warmup=1, steps=5, reps=2)  # 11 batches from 2 per epoch
    assert _pos(r["img_s"]) and r["loader_wait_ms"] >= 0
    p = profile_case(case, "cpu", real=True, warmup=1, steps=3)
    assert p["manual"] is False and p["backward_ms"] > 0 and sum(p["share"].values()) == pytest.approx(1.0)


def test_errors_are_clear():
    case = _toy_case()
    case.loader = None
    with pytest.raises(ValueError, match="no real loader"):
        time_case(case, "cpu", real=True, warmup=0, steps=1, reps=1)
    empty = _toy_case(n_batches=0)
    with pytest.raises(RuntimeError, match="yields no batch"):
        time_case(empty, "cpu", real=True, warmup=1, steps=1, reps=1)
    with pytest.raises(ValueError, match="unknown method"):
        build_case("nope", device="cpu")
    with pytest.raises(ValueError, match="size must be"):
        build_case("tas", device="cpu", size="huge")
    with pytest.raises(ValueError, match="unknown methods"):
        run_bench(["nope"], device="cpu", out=None)
    with pytest.raises(ValueError, match=r"bench data for scc: unknown keys \['gather_backwards'\]"):
        run_bench(["tas"], device="cpu", out=None, data={"scc": {"gather_backwards": "index"}})
    with pytest.raises(ValueError, match="unknown keys"):
        build_case("tas", device="cpu", data={"flow_size": 32})     # RTATL's key


def test_a_failed_part_is_recorded_and_the_step_timings_kept(synthau_tiny, tmp_path, monkeypatch):
    """A machine without dlib's models still gets its training-step table; the failure is named."""
    import aukit.bench.run as R

    asked = []

    def no_dlib(preset, flow=True):
        asked.append(flow)
        raise FileNotFoundError("dlib model missing: /nowhere/shape_predictor_68_face_landmarks.dat")

    monkeypatch.setattr(R, "bench_prepare", no_dlib)
    res = run_bench(["tas"], device="cpu", preset="tiny", out=tmp_path, reps=1, steps=1, warmup=0,
                    inference=False, predict=False)
    assert _pos(res["methods"]["tas"]["real_img_s"])
    assert res["prepare"] == {"error": "FileNotFoundError: dlib model missing: /nowhere/shape_predictor_68_face_landmarks.dat"}
    assert asked == [False]              # RTATL's TV-L1 flow is timed only when RTATL is benchmarked
    md = (tmp_path / "bench.md").read_text()
    assert "## prepare: failed" in md and "shape_predictor_68" in md and "| tas |" in md
    with pytest.raises(FileNotFoundError, match="dlib model missing"):
        run_bench(["tas"], device="cpu", preset="tiny", out=None, reps=1, steps=1, warmup=0, inference=False,
                  predict=False, on_error="raise")


def test_paper_variant_and_targets():
    assert _toy_case().fused_optimizer is True
    case = paper_variant(_toy_case())
    assert (case.precision, case.channels_last, case.tf32, case.fused_optimizer) == ("fp32", False, False, False)
    row = {"ratio": 0.8, "speedup_vs_paper": 6.0}
    t = targets("tas", row, torch.device("cpu"))
    assert t["ratio"]["met"] is False and t["ratio"]["short_by"] == pytest.approx(0.05)
    assert t["speedup_vs_paper"]["met"] is True and t["speedup_vs_paper"]["short_by"] == 0.0
    assert "speedup_vs_paper" not in targets("rtatl", row, torch.device("cpu"))
    # a real path faster than its own ceiling is a disturbed timing, not a target met (a busy CPU gave 2.67)
    busy = {"ratio": 2.67, "speedup_vs_paper": 6.0, "ceiling": {"img_s_min": 2.0, "img_s_max": 5.4},
            "real": {"img_s_min": 5.5, "img_s_max": 11.0}}
    t = targets("tas", busy, torch.device("cpu"))
    assert t["ratio"]["met"] is False and "real faster than its ceiling by 167%" in t["ratio"]["invalid"]
    assert "invalid" not in targets("tas", {**busy, "ratio": 1.05}, torch.device("cpu"))["ratio"]


@pytest.mark.gpu
def test_run_bench_default_on_gpu(prepared_default, tmp_path):
    """The paper-sized cases on a GPU: the real path, bf16 numerics and the memory peak."""
    res = run_bench(["tas", "scc"], device="cuda", preset="default", out=tmp_path, reps=2, steps=3, warmup=2,
                    prepare=False, predict=False, on_error="raise")
    for m in ("tas", "scc"):
        row = res["methods"][m]
        assert row["real"]["precision"] == "bf16" and row["paper"]["precision"] == "fp32"
        assert _pos(row["peak_mem_gb"]) and _pos(row["ratio"]) and _pos(row["speedup_vs_paper"])
    assert (tmp_path / "bench.md").is_file()


@pytest.mark.parametrize("method,paper_batch", [("tas", 16), ("scc", 32)])
def test_batch_override_applies_to_the_default_configuration_only(method, paper_batch):
    default = build_case(method, device="cpu", size="default", real=False, data={"batch_size": 3})
    paper = build_case(method, device="cpu", size="paper", real=False, data={"batch_size": 3})
    assert default.batch_size == 3 and default.notes["batch_size"] == 3
    assert default.synthetic_batch()["image"].shape[0] == 3
    assert paper.batch_size == paper_batch and paper.precision == "fp32"


def test_scc_model_settings_reach_the_benched_network():
    from aukit.methods.scc.graph import SCC
    case = build_case("scc", device="cpu", size="tiny", real=False, data={"gather_backward": "index"})
    modes = {m.gather_backward for m in case.model.modules() if isinstance(m, SCC)}
    assert modes == {"index"} and case.notes["gather_backward"] == "index"
    assert {m.gather_backward for m in build_case("scc", device="cpu", size="tiny", real=False).model.modules()
            if isinstance(m, SCC)} == {"auto"}


@pytest.mark.parametrize("method,label", [("tas", "tas.speed_mixup"), ("cpc", "cpc.gru"), ("scc", "scc.knn"),
                                          ("rtatl", "rtatl.gan"), ("piap_df", "df.teacher")])
def test_label_profile_finds_each_methods_inner_cost(method, label):
    """The part issue #11 asks to see (mixup forward, GRU recurrence, k-NN, GAN heads, teacher/student)
    is a named range inside the step, timed per step."""
    from aukit.bench import label_profile
    case = build_case(method, device="cpu", size="tiny", real=False)
    if method == "rtatl":
        case.step_fn.cfg.mask_prob = 1.0                                    # every image masked: the GAN runs
    r = label_profile(case, "cpu", real=False, warmup=1, steps=2)
    assert label in r["labels"], (method, sorted(r["labels"]))
    v = r["labels"][label]
    assert 0 < v["ms"] <= r["step_ms"] and 0 < v["share"] <= 1 and v["calls_per_step"] >= 1
    if method == "piap_df":
        assert "df.student" in r["labels"]


def test_label_profile_lists_the_costliest_operators():
    """SCC's tiny step is convolution work: the top operators are real aten ops, sorted by self
    time, each a share of the step, with no profiler bookkeeping or method label among them."""
    from aukit.bench import label_profile
    case = build_case("scc", device="cpu", size="tiny", real=False)
    r = label_profile(case, "cpu", real=False, warmup=1, steps=2, top_ops=6)
    top = r["top_ops"]
    assert len(top) == 6 and all(o["op"].startswith("aten::") for o in top), top
    assert [o["ms"] for o in top] == sorted((o["ms"] for o in top), reverse=True)
    assert 0 < sum(o["share"] for o in top) <= 1 and all(o["calls_per_step"] > 0 for o in top)
    assert any("conv" in o["op"] or "mm" in o["op"] for o in top[:3]), top


def test_bench_without_training_steps_says_so(tmp_path):
    """--skip train (a predict-only run on the GPU machine): no method rows, no targets judged,
    and bench.md says the training steps were not run."""
    from aukit.bench import run_bench
    res = run_bench(["tas"], device="cpu", preset="tiny", out=tmp_path, train=False, prepare=False,
                    inference=False, predict=False)
    assert res["methods"] == {} and res["targets"] == {}
    md = (tmp_path / "bench.md").read_text()
    assert "Not run (`aukit bench --skip train`)" in md and "## Targets" not in md and "| tas |" not in md


def test_step_flops_counts_a_known_step():
    """Two linear layers, batch 8: forward 2*B*(20*30 + 30*5); backward counts the weight
    gradients of both and the input gradient of the second only (the batch needs no gradient)."""
    from aukit.bench.harness import chip_peak, step_flops
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(30, 5, bias=False))
    x = torch.randn(8, 20)
    case = StepCase("lin", model, lambda m, b: StepOutput(loss=m(b["x"]).square().mean()),
                    torch.optim.SGD(model.parameters(), lr=0.1), 8, 8, lambda: {"x": x})
    fwd = 2 * 8 * (20 * 30 + 30 * 5)
    assert step_flops(case, "cpu") == fwd + 2 * 8 * (20 * 30 + 30 * 5) + 2 * 8 * 30 * 5
    assert chip_peak("NVIDIA H100 80GB HBM3", "bf16") == 989.4 and chip_peak("NVIDIA H200", "fp32") == 66.9
    assert chip_peak("cpu (x86_64, 2 cores)", "fp32") is None


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_step_flops_counts_grouped_convolutions(groups):
    """A grouped (e.g. depthwise) conv's step is forward + input gradient + weight gradient, each
    2*B*H*W*C_out*(C_in/groups)*k*k; the first layer's input needs no gradient."""
    from aukit.bench.harness import step_flops
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1, bias=False),
                                torch.nn.Conv2d(16, 16, 3, padding=1, groups=groups, bias=False))
    x = torch.randn(2, 16, 8, 8)
    case = StepCase("conv", model, lambda m, b: StepOutput(loss=m(b["x"]).mean()),
                    torch.optim.SGD(model.parameters(), lr=0.1), 2, 2, lambda: {"x": x})
    dense, grouped = 2 * 2 * 8 * 8 * 16 * 16 * 9, 2 * 2 * 8 * 8 * 16 * (16 // groups) * 9
    assert step_flops(case, "cpu") == 2 * dense + 3 * grouped


def test_declared_data_keys_are_the_ones_each_builder_reads():
    """``cases._DATA_KEYS`` is written by hand: it must list exactly the ``data.get("...")`` keys
    each method's builder reads, or a valid key is refused / a mistyped one passes silently."""
    import inspect
    import re

    from aukit.bench import cases
    for method, builder in cases._BUILDERS.items():
        read = set(re.findall(r'data\.get\("(\w+)"', inspect.getsource(builder)))
        assert read == cases._DATA_KEYS[method], method


def test_flow_step_is_the_callers_and_the_prepare_bench_passes_rtatls(monkeypatch, tmp_path):
    """The shared data layer imported RTATL's config for its default step (aukit.data.optflow.default_step):
    the step is now the caller's, and ``time_prepare`` passes RTATLTrainConfig().flow_step itself."""
    import dataclasses
    import inspect
    from types import SimpleNamespace

    import numpy as np

    import aukit.data
    from aukit.bench import prep
    from aukit.data import optflow
    from aukit.methods.rtatl import config as C

    assert not hasattr(optflow, "default_step") and "aukit.methods" not in inspect.getsource(optflow)
    index = {"subject": ["a"] * 4, "sequence": ["s"] * 4, "frame": [0, 1, 2, 3], "row": [0, 1, 2, 3]}
    store = SimpleNamespace(index=index, derived=lambda name: tmp_path / name)
    with pytest.raises(TypeError):
        optflow.pairs(store)                                              # no paper's default any more
    with pytest.raises(TypeError):
        optflow.flow(store, size=8)
    assert optflow.pairs(store, 2).tolist() == [2, 3, -1, -1]

    @dataclasses.dataclass
    class OddTrain(C.RTATLTrainConfig):
        flow_step: int = 2

    monkeypatch.setattr(C, "RTATLTrainConfig", OddTrain)
    calls = []

    def fake_flow(store, **kw):
        calls.append(kw)
        return np.full((3, 2, 4, 4), np.nan, np.float16)

    meta = {"frames": 3, "aligned": 3, "frames_per_s": 1.0}
    monkeypatch.setattr(aukit.data, "prepare", lambda *a, **k: SimpleNamespace(meta=meta), raising=False)
    monkeypatch.setattr(aukit.data, "flow", fake_flow, raising=False)
    assert prep.time_prepare(max_frames=3, flow_size=4, workers=1)["flow_step"] == calls[-1]["step"] == 2
    prep.time_prepare(max_frames=3, flow_size=4, flow_step=5, workers=1)
    assert calls[-1]["step"] == 5
