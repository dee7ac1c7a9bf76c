"""aukit: reproducible facial Action Unit experiments (TAS, CPC, RTATL, PIAP-DF, SCC).

``import aukit`` stays light; the data layer, methods and figures load on first use.
"""
from .registry import create_model, list_models, register_model

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "register_model", "predict", "__version__"]


def __getattr__(name: str):
    """``aukit.predict(video)`` after a bare ``import aukit`` (the package is callable, and loads on use)."""
    if name == "predict":
        import importlib
        return importlib.import_module(".predict", __name__)
    raise AttributeError(f"module 'aukit' has no attribute {name!r}")
