"""SynthAU: the embedded synthetic AU video dataset (issue #4).

A real photograph (``skimage.data.astronaut()``) is warped per frame by FACS-faithful,
AU-driven landmark displacements and textured with AU appearance changes, for many
synthetic identities, and written in the on-disk formats of BP4D, DISFA, Aff-Wild2,
EmotioNet, CASIA-WebFace and AFEW-VA so that the real readers parse it.

    from aukit.data.synthau import generate
    meta = generate("data/synthau", preset="default", seed=0)
"""
from .aus import AU_INFO, AUS, AUInfo, region_mask
from .generate import VERSION, default_root, generate, stale
from .presets import PRESETS, SynthConfig
from .render import Nuisance, render, render_face
from .subjects import Subject, sample_subject

__all__ = ["AU_INFO", "AUS", "AUInfo", "PRESETS", "Nuisance", "Subject", "SynthConfig", "VERSION", "default_root",
           "explorer", "generate", "region_mask", "render", "render_face", "sample_subject", "stale"]


def explorer(*args, **kwargs):
    """Interactive AU sliders (ipywidgets); see :func:`aukit.data.synthau.explore.explorer`."""
    from .explore import explorer as _explorer
    return _explorer(*args, **kwargs)
