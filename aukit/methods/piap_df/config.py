"""PIAP-DF hyper-parameters: one dataclass per stage, the paper's values as defaults.

Tang et al., "PIAP-DF", ICCV 2021 (no public code). Where the paper is silent the
value is our choice, marked ``choice:`` in its comment, and exposed here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# BP4D detection AUs (PIAP-DF Table 1); DISFA uses DISFA_AUS (Table 2).
BP4D_AUS: tuple = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)  # PIAP-DF Table 1: 12 BP4D AUs
DISFA_AUS: tuple = (1, 2, 4, 6, 9, 12, 25, 26)                   # PIAP-DF Table 2: 8 DISFA AUs


@dataclass
class NetConfig:
    """Shared architecture of Encoder AU, Encoder P and the PI generator."""
    aus: tuple = BP4D_AUS             # PIAP-DF §4.1.3: 12 AUs on BP4D (one PI map per AU)
    image_size: int = 256             # PIAP-DF §3.1: 3x256x256 input, 12x256x256 PI maps
    trunk: str = "efficientnet_b1"    # PIAP-DF §3.1: EfficientNet-B1 AU encoder; "tiny_dw" = our small CPU stand-in
    trunk_weights: str | None = None  # PIAP-DF §3.1: ImageNet-pretrained (local state_dict file only; None = random)
    tiny_width: int = 32              # choice: first width of the "tiny_dw" trunk (quick CPU preset only)
    dropout: float = 0.2              # choice: EfficientNet-B1's own classifier dropout
    unet_width: int = 16              # choice: DW-UNet first-level channels (paper gives no widths)
    unet_depth: int = 4               # choice: DW-UNet down-sampling levels (U-Net has 4)
    decoder_width: int = 128          # choice: stage-3 PI decoder channels after the 1280-d map


@dataclass
class GeneratorConfig:
    """PI stage 1: DW-UNet "PI Generator 0" fitted to predefined PI maps with Eq. 1."""
    epochs: int = 20          # choice: paper gives no schedule
    batch_size: int = 16      # choice
    lr: float = 1e-3          # choice: Adam
    weight_decay: float = 0.0  # choice


@dataclass
class StageConfig:
    """One supervised PIAP variant (Baseline, PI-2, PI-3, AP, PIAP): Eqs. 2, 3, 5, 6."""
    epochs: int = 20          # choice: paper gives no schedule
    batch_size: int = 16      # choice
    lr: float = 1e-3          # choice: Adam (paper silent)
    generator_lr: float = 1e-4  # choice: PI-2 updates Generator 0 more gently than the encoder
    weight_decay: float = 1e-5  # choice
    alpha: float = 0.5        # choice: Eq. 3/6 weight of L_AU (paper gives no value)
    beta: float = 0.25        # choice: Eq. 6 weight of L_PI
    gamma: float = 0.25       # choice: Eq. 6 weight of L_AP (alpha + beta + gamma = 1, Eq. 6)
    ap_beta: float = 0.5      # choice: Eq. 5 weight of L_AU in "AP alone" (1 - ap_beta on L_AP)
    pos_weight: bool = False  # choice: plain BCE as Eq. 2; True weighs each AU's positives by its training neg/pos


@dataclass
class PersonConfig:
    """Encoder P for AP (§3.2): same architecture as Encoder AU, trained for face recognition."""
    source: str = "encoder"   # "encoder" (PIAP-DF §3.2: CASIA-WebFace-trained Encoder P) or "dlib" (128-d descriptor)
    epochs: int = 20          # choice
    batch_size: int = 32      # choice
    lr: float = 1e-3          # choice: Adam, softmax cross-entropy over identities (paper does not name the FR loss)
    weight_decay: float = 5e-4  # choice
    ap_projection_seed: int = 0  # choice: seed of the fixed orthonormal map that lifts 128-d dlib vectors to v_AU's size


@dataclass
class DFConfig:
    """Discrete Feedback semi-supervised learning (§3.3, Eqs. 7-11)."""
    epochs: int = 10            # choice: paper gives no schedule
    batch_size: int = 16        # choice: same batch for x_l and x_u
    lr: float = 1e-2            # choice: SGD step eta of Eqs. 8 and 11 (paper mentions SGD momentum)
    momentum: float = 0.9       # choice: §3.3 only says SGD with momentum ("accumulation of SGD's momentum")
    fb_positive: float = 1.0    # PIAP-DF Eq. 10: h(fb) = 1 for fb > 0
    fb_negative: float = -0.1   # PIAP-DF Eq. 10: h(fb) = -0.1 for fb <= 0
    disable_prob: float = 0.05  # PIAP-DF §3.3: sigma = 0 with 5% probability
    pseudo: str = "hard"        # choice: teacher pseudo-labels Y_p thresholded at 0.5 ("hard") or Bernoulli-sampled ("sample")
    labelled_as_unlabelled: float = 0.1  # choice: labelled frames added to x_u, labels hidden (§3.3: "few labeled samples"; no number)
    init: str = "pretrained"    # PIAP-DF §3.3: "well pretrained PI and AP jointly as f" copied to teacher and student


@dataclass
class PIAPDFConfig:
    """Everything one PIAP-DF run needs."""
    net: NetConfig = field(default_factory=NetConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    person: PersonConfig = field(default_factory=PersonConfig)
    df: DFConfig = field(default_factory=DFConfig)
