"""Generator presets: sizes and knobs as data. ``generate(preset=..., **knobs)`` overrides fields."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    # labelled sets
    bp4d_subjects: int = 12  # half F, half M; BP4D has 41
    bp4d_tasks: int = 2  # tasks T1..T<n> per subject (BP4D has 8)
    bp4d_frames: int = 160  # frames per task sequence
    disfa_subjects: int = 12  # DISFA has 27
    disfa_frames: int = 400  # frames per video (DISFA has 4845)
    # unlabelled / auxiliary sets
    affwild_videos: int = 8
    affwild_frames: int = 100
    emotionet_images: int = 600
    emotionet_identities: int = 60  # identity pool the stills are drawn from
    casia_identities: int = 40
    casia_images: int = 10
    afew_clips: int = 8
    afew_frames: int = 40
    # knobs
    cooccurrence: float = 0.7  # probability that an event is a multi-AU pattern rather than one AU
    spurious: float = 1.5  # AU12 apex shift (+ for M, - for F) in training subjects only; 0 = off
    label_noise: float = 0.05  # fraction of (frame, AU) labels perturbed by +-1 in the written files
    not_coded: float = 0.02  # fraction of frames per sequence written as 9 (BP4D "not coded")
    nuisance: float = 1.0  # scale of pose / lighting / blur / noise
    glasses_rate: float = 0.25
    jpeg_quality: tuple[int, int] = (75, 95)  # per-sequence range
    workers: int = 2  # processes; 1 = in-process

    def __post_init__(self):
        for name in ("cooccurrence", "label_noise", "not_coded", "glasses_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SynthConfig.{name} must lie in [0, 1], got {v}")
        if self.bp4d_subjects < 3 or self.disfa_subjects < 3:
            raise ValueError("need at least 3 subjects per labelled set (3 subject-exclusive folds)")
        if not 1 <= self.bp4d_tasks <= 8:
            raise ValueError(f"bp4d_tasks must be 1..8, got {self.bp4d_tasks}")


PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(bp4d_subjects=4, bp4d_tasks=1, bp4d_frames=40, disfa_subjects=4, disfa_frames=40,
                        affwild_videos=2, affwild_frames=10, emotionet_images=8, emotionet_identities=4,
                        casia_identities=3, casia_images=3, afew_clips=2, afew_frames=5, workers=1),
    "default": SynthConfig(),
    "large": SynthConfig(bp4d_subjects=41, bp4d_tasks=8, bp4d_frames=250, disfa_subjects=27, disfa_frames=2200,
                         affwild_videos=60, affwild_frames=500, emotionet_images=20000, emotionet_identities=2000,
                         casia_identities=1000, casia_images=10, afew_clips=100, afew_frames=60),
}


def resolve(preset: str | SynthConfig = "default", **knobs) -> SynthConfig:
    """Preset by name (or a config) with knob overrides; unknown names raise ValueError."""
    from aukit.config import replace
    if isinstance(preset, SynthConfig):
        cfg = preset
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        raise ValueError(f"unknown SynthAU preset {preset!r}; choose from {sorted(PRESETS)}")
    return replace(cfg, **knobs) if knobs else cfg
