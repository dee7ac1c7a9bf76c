"""Mutation round 4, aukit.bench (harness, ops, cases, endtoend): the numbers the bench reports, worked
out by hand on a scripted clock (each module's ``time`` replaced; no timing of this machine), on tiny
steps and on the synthetic batches the cases build."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from aukit.bench import harness as H
from aukit.bench.harness import StepCase
from aukit.train import StepOutput


class _Clock:
    """``perf_counter`` that moves by ``steps[i]`` at its i-th call (then by 1 s a call)."""

    def __init__(self, *steps):
        self.steps, self.t, self.calls = list(steps), 0.0, 0

    def perf_counter(self):
        self.t += self.steps[self.calls] if self.calls < len(self.steps) else 1.0
        self.calls += 1
        return self.t


def _clocked(monkeypatch, module, *steps):
    clock = _Clock(*steps)
    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    return clock


def _case(manual=False):
    """A linear model's step on batches of 2 clips of 3 images."""
    model = torch.nn.Linear(4, 1)
    batch = {"x": torch.ones(2, 4)}

    def step(m, b):
        if manual:
            return StepOutput(m(b["x"]).sum().detach(), manual=True)
        return StepOutput(m(b["x"]).pow(2).mean())

    return StepCase("toy", model, step, torch.optim.SGD(model.parameters(), lr=0.1), 2, 6, lambda: batch,
                    loader=lambda epoch: iter([batch] * 3))


def test_time_case_rates_images_per_second_and_the_loader_wait_per_step(monkeypatch):
    _clocked(monkeypatch, H, 0, 1)                  # the settle blocks agree at once: 1 s, then 1 s
    r = H.time_case(_case(), "cpu", warmup=1, steps=2, reps=2)
    # a rep: t0, then per step two reads around the loader, then the end: 5 s for 2 steps of 6 images
    assert r["img_s"] == pytest.approx(6 * 2 / 5) and r["loader_wait_ms"] == pytest.approx(1000.0)
    assert r["settle_blocks"] == 2


def test_settling_waits_for_two_blocks_within_ten_percent(monkeypatch):
    _clocked(monkeypatch, H, 0, 1.0, 0, 1.15, 0, 1.2)   # 13% apart, then 4%
    assert H.time_case(_case(), "cpu", warmup=0, steps=1, reps=1)["settle_blocks"] == 3


def test_profile_leaves_the_warm_up_steps_out(monkeypatch):
    _clocked(monkeypatch, H, *[100.0] * 16)          # two slow warm-up steps (8 clock reads each)
    p = H.profile_case(_case(), "cpu", real=False, warmup=2, steps=1)
    assert p["loader_wait_ms"] == 1000.0 and p["total_ms"] == 4000.0


def test_profile_of_a_manual_step_runs_no_backward():
    p = H.profile_case(_case(manual=True), "cpu", real=False, warmup=0, steps=1)
    assert p["manual"] is True


def test_inference_rates_per_batch_size_with_the_spread(monkeypatch):
    _clocked(monkeypatch, H, 0, 1, 0, 4, 0, 2)
    calls = []
    model = torch.nn.Linear(3, 1)
    model.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    r = H.time_inference(model, lambda bs: torch.zeros(bs, 3), "cpu", batch_sizes=(8,), warmup=2, reps=3)
    assert (r["bs8_img_s"], r["bs8_img_s_min"], r["bs8_img_s_max"]) == (4.0, 2.0, 8.0)
    assert calls == [8] * 5


def test_time_predict_reports_whole_and_steady_rates_and_stages_per_frame(monkeypatch, tmp_path):
    import aukit.deploy
    import aukit.predict
    from aukit.bench import deployable, endtoend
    made = []
    monkeypatch.setattr(endtoend, "write_clip", lambda path, n, clip: made.append((n, clip)) or path)
    monkeypatch.setattr(deployable, "deployable", lambda method, preset: (SimpleNamespace(model=None, spec=None), 64))
    monkeypatch.setattr(aukit.deploy, "export", lambda path, model, spec: path)
    result = SimpleNamespace(startup_s=1.0, n_faces=47, redetected=2, stages={"decode_s": 0.096, "infer_s": 0.48})
    monkeypatch.setattr(aukit.predict, "predict", lambda *a, **k: result)
    monkeypatch.setattr(aukit.workers, "usable_cores", lambda: 7)
    _clocked(monkeypatch, endtoend, 0, 4, 0, 2)      # two timed runs of 4 s and 2 s
    r = endtoend.time_predict("cpu", "tiny", reps=2, clip="1080p")
    assert made == [(48, "1080p")] and r["frames"] == 48 and r["clip"] == "astronaut 1920x1080 MPEG-4, 48 frames"
    assert (r["frames_per_s"], r["frames_per_s_min"], r["frames_per_s_max"]) == (18.0, 12.0, 24.0)
    assert r["steady_frames_per_s"] == pytest.approx((48 / 3 + 48 / 1) / 2)
    assert r["stages_ms_per_frame"] == pytest.approx({"decode": 2.0, "infer": 10.0})
    assert r["workers"] == 7 and r["faces"] == 47 and r["redetected"] == 2


def test_bench_clips_are_named_by_their_container_and_sized_as_said(tmp_path):
    import cv2

    from aukit.bench.endtoend import write_clip
    with pytest.raises(ValueError, match=r"clip must be one of \['1080p', '512'\], got '720p'"):
        write_clip(tmp_path / "c", 1, clip="720p")
    path = write_clip(tmp_path / "c.mp4", 3, clip="512")
    assert path == tmp_path / "c.avi"
    hd = cv2.VideoCapture(str(write_clip(tmp_path / "hd", 1, clip="1080p")))
    ok, frame = hd.read()
    hd.release()
    assert ok and frame.shape == (1080, 1920, 3)


def test_the_bench_clip_drifts_by_a_few_pixels():
    import numpy as np

    from aukit.bench.endtoend import clip_frame
    yy, xx = np.mgrid[:64, :64]
    blob = np.exp(-((xx - 32) ** 2 + (yy - 32) ** 2) / 18.0)
    face = np.repeat((255 * blob).astype(np.uint8)[..., None], 3, axis=2)

    def centre(t):
        g = clip_frame(face, t)[..., 0].astype(float)
        return (g * xx).sum() / g.sum() - 32, (g * yy).sum() / g.sum() - 32

    assert centre(0) == pytest.approx((0.0, 4.0), abs=0.2)            # (6 sin(t / 10), 4 cos(t / 13)) px
    assert centre(16) == pytest.approx((6 * np.sin(1.6), 4 * np.cos(16 / 13)), abs=0.2)


def test_time_case_runs_the_numerics_asked_for_over_the_cases_own():
    r = H.time_case(_case(), "cpu", precision="bf16", channels_last=False, warmup=0, steps=1, reps=1, settle=1)
    assert (r["precision"], r["channels_last"]) == ("bf16", False)


def test_a_label_entered_once_a_step_counts_once_per_step():
    model = torch.nn.Linear(4, 1)

    def step(m, b):
        with torch.profiler.record_function("tas.toy"):
            y = m(b["x"])
        return StepOutput(y.pow(2).mean())

    case = StepCase("toy", model, step, torch.optim.SGD(model.parameters(), lr=0.1), 2, 2,
                    lambda: {"x": torch.ones(2, 4)})
    r = H.label_profile(case, "cpu", real=False, warmup=1, steps=3)
    assert r["labels"]["tas.toy"]["calls_per_step"] == 1.0


def test_step_ops_counts_after_a_first_step_and_lists_the_top_asked_for():
    from aukit.bench.ops import step_ops
    model = torch.nn.Linear(3, 2)
    case = StepCase("toy", model, lambda m, b: StepOutput(m(b["x"]).square().mean()),
                    torch.optim.Adam(model.parameters(), foreach=False), 4, 4, lambda: {"x": torch.ones(4, 3)})
    r = step_ops(case, "cpu", top=2)
    again = step_ops(case, "cpu", top=2)               # the optimizer's moments exist from the start here
    assert r["optimizer_ops"] == again["optimizer_ops"] and len(r["top"]) == 2


def test_count_methods_builds_each_case_at_its_preset_and_batch(monkeypatch):
    from aukit.bench import cases
    from aukit.bench.ops import OPS_BATCH, count_methods
    built = []

    def build(method, *, device, size, data, real):
        built.append((method, size, data["batch_size"], real))
        return _case()

    monkeypatch.setattr(cases, "build_case", build)
    res = count_methods(["tas", "scc"], "cpu", preset="default", data={"scc": {"batch_size": 7}})
    assert built == [("tas", "default", OPS_BATCH, False), ("scc", "default", 7, False)]
    assert set(res["methods"]) == {"tas", "scc"} and res["preset"] == "default"


def test_ops_markdown_rows():
    from aukit.bench.ops import ops_markdown
    top = [{"op": f"aten.op{i}", "per_step": 10 - i} for i in range(5)]
    row = {"batch_size": 2, "step_ops": 100, "step_kernel_ops": 80, "optimizer_ops": 9, "top": top}
    res = {"preset": "tiny", "device": "cpu", "commit": "abc", "dirty": False, "versions": {"torch": "2"},
           "data": {}, "methods": {"tas": row}}
    md = ops_markdown(res)
    assert "| tas | 2 | 100 | 80 | 9 | op0 10, op1 9, op2 8, op3 7 |" in md
    assert "- device: cpu; commit abc\n" in md and "dirty" not in md.split("\n")[2]
    assert "; commit abc (dirty tree)" in ops_markdown({**res, "dirty": True})


def test_tas_synthetic_segments_are_labelled_at_their_two_keyframes():
    from aukit.bench.cases import build_case
    case = build_case("tas", device="cpu", size="tiny", real=False)
    target = case.synthetic_batch()["target"]
    b, t, _ = target.shape
    labelled = (~torch.isnan(target)).any(2)
    assert labelled[:, 0].all() and labelled[:, t - 1].all() and not labelled[:, 1:t - 1].any()
    assert case.images_per_batch == b * t and case.notes["size"] == "tiny"


def test_rtatl_synthetic_batch_hides_the_unlabelled_half():
    from aukit.bench.cases import build_case
    case = build_case("rtatl", device="cpu", size="tiny", real=False)
    batch = case.synthetic_batch()
    n = case.batch_size // 2
    assert not torch.isnan(batch["labels"][:n]).any() and torch.isnan(batch["labels"][n:]).all()
    assert batch["flow_valid"].tolist() == [True] * n + [False] * n
    size = batch["image"].shape[-1]
    assert ((batch["centres"] >= 0.3 * size) & (batch["centres"] <= 0.7 * size)).all()


def test_batch_overrides_reach_cpc_and_piap_df_reads_two_halves():
    from aukit.bench.cases import build_case
    assert build_case("cpc", device="cpu", size="tiny", real=False, data={"batch_size": 3}).batch_size == 3
    df = build_case("piap_df", device="cpu", size="tiny", real=False, data={"batch_size": 3})
    assert (df.batch_size, df.images_per_batch) == (3, 6)


def test_clips_keep_their_layout_off_channels_last():
    from aukit.bench.cases import as_loaded
    x = torch.zeros(2, 3, 3, 4, 4)
    assert as_loaded(x, torch.contiguous_format).is_contiguous()


def test_a_batch_override_sets_both_halves_of_a_full_size_rtatl_batch(monkeypatch):
    import aukit.methods.rtatl as rtatl
    from aukit.bench.cases import build_case

    class Light(torch.nn.Linear):
        def __init__(self, mc, tc):
            super().__init__(1, 1)

        def optimizers(self):
            return {}

    monkeypatch.setattr(rtatl, "RTATLNet", Light)
    case = build_case("rtatl", device="cpu", size="default", real=False, data={"batch_size": 2})
    assert (case.batch_size, case.notes["labelled"], case.notes["unlabelled_batch"]) == (4, 2, 2)
    assert case.notes["size"] == "default"
