"""CPC configs: one dataclass per stage, the paper's values as defaults.

Sanchez et al., "Semi-supervised Facial Action Unit Intensity Estimation with
Contrastive Learning", ACCV 2020. No public code exists: every value the paper does
not give is marked ``choice`` in its comment and is a parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

ENCODERS = ("layer3", "layer4_256")  # readings of CPC §3.2's "last convolutional block set to 256 channels"
DISFA_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")
BP4D_AUS = ("AU06", "AU10", "AU12", "AU14", "AU17")


@dataclass
class CPCModelConfig:
    """Network of §3.2: f = ResNet-18 trunk, g = ConvGRU, p = predictor, c = head."""
    depth: int = 18                     # CPC §3.2: ResNet-18 feature extractor
    feat_channels: int = 256            # CPC §3.2: last block 256 channels; our reading: ResNet-18 to layer3 (stride 16)
    encoder: str = "layer3"             # ENCODERS: "layer3" (ours, above) or "layer4_256": the other reading of
    #                                     §3.2, a fourth stage of 256 channels at stride 1 (two more basic blocks)
    image_size: int = 128               # CPC §4 Set up: faces resized to 128x128 -> 256x8x8 features
    num_aus: int = 12                   # CPC §4: 12 DISFA AUs (5 for BP4D)
    gru_kernel: int = 1                 # CPC §3.2: all GRU gates are 1x1 convolutions
    pred_hidden: int = 256              # choice: p = 1x1 conv -> ReLU -> 1x1 conv ("simple non-linear function", §3.2)
    init: str = "kaiming"               # CPC §4: Kaiming initialisation for models trained from scratch


@dataclass
class PretrainConfig:
    """Stage 1 (§3.3): self-supervised contrastive predictive coding, Eq. 1."""
    seq_len: int = 15                   # CPC §3.2: T = 15 frames
    context: int = 10                   # CPC §3.2: C = 10 context frames, P = T - C = 5 predicted
    stride: int = 2                     # CPC §4: sequences sampled with a stride of 2
    batch_size: int = 20                # CPC §4: 8 GPUs x 20 = 160; ours: 20 in all (§3.3: B = 20 -> 6400 classes)
    lr: float = 1e-3                    # CPC §4: Adam, lr 1e-3 (set for the paper's 8 x 20 sequences; ours: 20)
    weight_decay: float = 1e-5          # CPC §4: weight decay 1e-5
    batch_negatives: bool = True        # CPC §3.3: negatives include the other sequences of the batch
    temperature: float = 1.0            # choice: Eq. 1 is a plain dot product (temperature 1)
    rotation: float = 20.0              # CPC §4: uniform rotation +-20 degrees
    scale: float = 0.1                  # CPC §4: uniform scaling +-10%
    flip: bool = True                   # CPC §4: random flipping
    translate: float = 0.05             # choice: "random jitter" read as a +-5% translation
    brightness: float = 0.4             # choice: CPC §4 names brightness/contrast/saturation/hue jitter, not magnitudes
    contrast: float = 0.4               # choice (see brightness)
    saturation: float = 0.4             # choice (see brightness)
    hue: float = 0.1                    # choice (see brightness)
    val_fraction: float = 0.17          # CPC §4: 71 of 422 Aff-Wild2 videos held out for validation (~17%)


@dataclass
class SparseConfig:
    """Stage 2 (§3.4): regression from a random 2% of frames, BPTT from the labelled frame (Eq. 2)."""
    label_fraction: float = 0.02        # CPC §4 Frame selection: a random 2% of training frames
    label_seed: int = 0                 # choice: the labelled subset is fixed per seed and shared by all variants (§4)
    window: int = 15                    # choice: window length = the pre-training T
    stride: int = 2                     # choice: same frame stride as pre-training
    batch_size: int = 20                # choice: same batch as pre-training
    lr: float = 1e-5                    # CPC §4 Semi-supervised training: lr 1e-5
    betas: tuple = (0.5, 0.999)         # CPC §4: Adam betas (0.5, 0.999)
    weight_decay: float = 1e-5          # CPC §4: weight decay 1e-5
    au_reduction: str = "sum"           # CPC Eq. 2: squared L2 norm over the N AUs (sum); "mean" divides by N
    eval_window: int = 15               # choice: at test time each frame sees a causal window of this many frames
    augment: bool = True                # CPC §4: "some augmentation" also in the final stage (same kinds as stage 1)


@dataclass
class BaselineConfig:
    """R18 per-frame baselines of §4.1 (R18 2%, R18 Sup.): f + head, no GRU, L2 loss."""
    batch_size: int = 64                # choice: not given
    lr: float = 1e-5                    # choice: the stage-2 optimiser of §4 (not given for R18)
    betas: tuple = (0.5, 0.999)         # choice: as stage 2
    weight_decay: float = 1e-5          # choice: as stage 2
    au_reduction: str = "sum"           # CPC §4.1: L2 loss between labels and predictions
    augment: bool = True                # CPC §4.1: "the same augmentation as mentioned above"
