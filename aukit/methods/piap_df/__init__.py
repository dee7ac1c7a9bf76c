"""PIAP-DF (Tang et al., ICCV 2021): Pixel-Interested and Anti Person-Specific AU detection
with Discrete Feedback semi-supervised learning.

Modules: ``config`` (dataclasses, paper values), ``model`` (DW-UNet, PI-2 net, PIAP net,
exported AU encoder, Encoder P; registered by name), ``losses`` (Eqs. 1-6), ``step``
(supervised steps), ``df`` (teacher/student step, Eqs. 7-11), ``runs`` (one training per stage), ``person`` (Encoder P /
dlib features for AP), ``experiment`` (ablation runs and the report).
"""
from . import model  # noqa: F401  (registers piap_* models)
from .config import DFConfig, GeneratorConfig, NetConfig, PersonConfig, PIAPDFConfig, StageConfig



def notebook_in_effect(preset: str) -> dict:
    """What the notebook's ``epochs`` 0 and ``steps`` -1 stand for on ``preset`` (:func:`aukit.nb.changed_parameters`):
    quick :data:`.experiment.QUICK_EPOCHS` of ``QUICK_STEPS``; full each config's own epochs (named only where every
    supervised stage has the same and DF half of it, which an explicit value reproduces) and no cap."""
    from .experiment import QUICK_EPOCHS, QUICK_STEPS
    if preset == "quick":
        return {"epochs": QUICK_EPOCHS, "steps": QUICK_STEPS}
    if preset != "full":
        return {}
    stages = {StageConfig().epochs, GeneratorConfig().epochs, PersonConfig().epochs}
    same = len(stages) == 1 and max(1, min(stages) // 2) == DFConfig().epochs
    return {"steps": 0, **({"epochs": stages.pop()} if same else {})}


__all__ = ["DFConfig", "GeneratorConfig", "NetConfig", "PersonConfig", "PIAPDFConfig", "StageConfig",
           "notebook_in_effect"]
