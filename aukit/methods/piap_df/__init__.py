"""PIAP-DF (Tang et al., ICCV 2021): Pixel-Interested and Anti Person-Specific AU detection
with Discrete Feedback semi-supervised learning.

Modules: ``config`` (dataclasses, paper values), ``model`` (DW-UNet, PI-2 net, PIAP net,
exported AU encoder, Encoder P; registered by name), ``losses`` (Eqs. 1-6), ``step``
(supervised steps), ``df`` (teacher/student step, Eqs. 7-11), ``runs`` (one training per stage), ``person`` (Encoder P /
dlib features for AP), ``experiment`` (ablation runs and the report).
"""
from . import model  # noqa: F401  (registers piap_* models)
from .config import DFConfig, GeneratorConfig, NetConfig, PersonConfig, PIAPDFConfig, StageConfig

__all__ = ["DFConfig", "GeneratorConfig", "NetConfig", "PersonConfig", "PIAPDFConfig", "StageConfig"]
