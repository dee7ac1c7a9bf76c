"""``aukit bench``: training-step throughput (ceiling / real data path / paper numerics),
data preparation frames/s and deployable-model inference images/s.

    from aukit.bench import run_bench
    res = run_bench(["tas", "scc"], preset="tiny", out="reports/bench")   # bench.json + bench.md

Submodules: ``harness`` (timing), ``cases`` (one StepCase per method), ``deployable``
(inference models), ``prep`` (prepare + TV-L1 flow timing), ``run`` (the report).
"""
from .harness import StepCase, label_profile, paper_variant, profile_case, time_case, time_inference

__all__ = ["StepCase", "label_profile", "paper_variant", "profile_case", "time_case", "time_inference", "run_bench",
           "build_case"]


def __getattr__(name):  # run/cases import the methods: load them on first use only
    if name == "run_bench":
        from .run import run_bench
        return run_bench
    if name == "build_case":
        from .cases import build_case
        return build_case
    raise AttributeError(name)
