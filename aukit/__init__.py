"""aukit: reproducible facial Action Unit experiments (TAS, CPC, RTATL, PIAP-DF, SCC).

``import aukit`` stays light; the data layer, methods and figures load on first use.
"""
from .registry import create_model, list_models, register_model

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "register_model", "predict", "__version__"]


# the subpackages and modules ``aukit.<name>`` reaches after a bare ``import aukit``, each imported on first use
LAZY = ("bench", "checkpoint", "ckptdir", "config", "data", "deploy", "jobs", "methods", "metrics", "models", "nb",
        "predict", "registry", "report", "reported", "runtime", "sweep", "train", "viz", "workers")


def __getattr__(name: str):
    """``aukit.metrics.icc31(...)``, ``aukit.predict(video)`` (the package is callable) after a bare
    ``import aukit``: the module loads on this first use."""
    if name in LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'aukit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY))
