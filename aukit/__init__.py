"""aukit: reproducible facial Action Unit experiments (TAS, CPC, RTATL, PIAP-DF, SCC).

``import aukit`` stays light; the data layer, methods and figures load on first use.
"""
from .registry import create_model, list_models, register_model

__version__ = "0.1.0"
__all__ = ["create_model", "list_models", "register_model", "__version__"]
