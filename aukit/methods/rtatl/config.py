"""RTATL configuration (Yan et al., ACM MM 2021): one dataclass for the network, one for training.

Defaults are the paper's values; where the paper is silent the choice is marked
``choice:`` in its comment and exposed here so a notebook can change it.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

BP4D_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)   # RTATL Table 2
DISFA_AUS = (1, 2, 4, 6, 9, 12, 25, 26)                  # RTATL Table 3

RELATIONS = ("transformer", "gcn", "none")
AUX_TASKS = ("roii", "ofe", "rotation", "exemplar", "jigsaw")


@dataclass
class RTATLModelConfig:
    """The backbone network (§3.1-3.2) and the auxiliary-task modules (§3.3-3.4)."""
    aus: tuple = BP4D_AUS            # RTATL §4.1: the 12 BP4D AUs (8 on DISFA)
    depth: int = 18                  # RTATL §3.1: ResNet-18
    weights: str | None = None       # RTATL §4.2: ImageNet init; only from a local file the user names (random otherwise)
    input_size: int = 192            # RTATL §4.2: 192x192 network input
    roi: bool = True                 # RTATL §3.1: per-AU RoI modules; False = plain ResNet-18 (the Jigsaw row, §4.3)
    fuse_stride: int = 8             # choice: top-down fusion stops at layer2 (stride 8: 24x24 for 192), paper silent
    roi_channels: int = 128          # RTATL §3.2: "the feature dimension of each RoI is 128"
    roi_box: int = 48                # choice: paper silent on the backbone RoI box; RoII's 48 (§4.2), input px at 192
    relation: str = "transformer"    # RTATL §3.2 (Table 1: "gcn" = Backbone^G, "none" = no relation module)
    d_model: int = 128               # RTATL §4.2: d = 128
    n_heads: int = 8                 # RTATL §4.2: 8 heads
    n_encoder: int = 1               # RTATL §4.2: one encoder
    n_decoder: int = 1               # RTATL §4.2: one decoder
    ff_dim: int = 512                # choice: 4*d feed-forward width, as in Vaswani et al. (paper: "standard structure")
    dropout: float = 0.1             # choice: standard transformer dropout (paper silent)
    gcn_threshold: float = 0.4       # choice: Backbone^G edge if P(AU_j | AU_i) > 0.4 on the training labels (paper silent)
    patch: int = 48                  # RTATL §4.2: RoII patch side s (cropped at 48x48)
    gan_width: int = 64              # choice: base channel width of G, D and C (paper silent)
    flow_width: int = 128            # choice: channels of the OFE transposed convolutions (paper silent)

    def __post_init__(self):
        from aukit.data.centres import SUPPORTED_AUS
        aus = self.aus
        if not isinstance(aus, (tuple, list)) or not aus or not all(isinstance(a, numbers.Integral)
                                                                    and not isinstance(a, bool) for a in aus):
            raise ValueError(f"aus must be AU numbers, e.g. (1, 2, 4), got {aus!r}")
        unknown = [a for a in aus if a not in SUPPORTED_AUS]
        if unknown:   # each AU's RoI sits on its landmark centre
            raise ValueError(f"aus: no landmark centre for AU {unknown}; RTATL's RoIs know AUs {list(SUPPORTED_AUS)}")
        if self.relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {self.relation!r}")


@dataclass
class RTATLTrainConfig:
    """Losses (Eq. 2-9), optimisation and the Table 1 switches."""
    roii: bool = True                # RTATL §3.3: RoI inpainting
    ofe: bool = True                 # RTATL §3.4: optical-flow estimation
    rotation: bool = False           # Table 1 baseline (Gidaris et al. 2018)
    exemplar: bool = False           # Table 1 baseline (Dosovitskiy et al. 2014), here as InfoNCE on two views
    jigsaw: bool = False             # Table 1 baseline (Noroozi & Favaro 2016), with a plain ResNet-18
    lambda1: float = 0.1             # RTATL §4.2: lambda_1 (adversarial vs L1 in L_G, Eq. 7)
    lambda2: float = 0.1             # RTATL §4.2: lambda_2 (semantic consistency in L_G, Eq. 7)
    lambda_f: float = 0.2            # RTATL §4.2: lambda_f (OFE weight, Eq. 9)
    aux_weight: float = 0.2          # choice: weight of rotation/exemplar/jigsaw losses, set equal to lambda_f (paper silent)
    lr: float = 3e-4                 # RTATL §4.2: Adam, lr 0.0003
    betas: tuple = (0.9, 0.999)      # choice: Adam defaults for every module (paper silent)
    weight_decay: float = 0.0        # choice: none (paper silent)
    mask_prob: float = 0.5           # choice: fraction of images whose RoIs are cropped for RoII (paper silent)
    mask_fill: float = 1.0           # RTATL §4.5 / Fig. 6: cropped RoIs replaced by white (pixel 1.0, normalised
    #                                  as the inputs: RTATLNet.mask_fill)
    pseudo_threshold: float = 0.5    # choice: backbone probability above which the pseudo label is 1 (§3.3.1)
    pseudo_source: str = "masked"    # §3.3.1 "pseudo label of the cropped AU output from the backbone": the masked
    #                                  forward (literal); "intact": a no-grad pass on the uncut face (its AU visible)
    flow_step: int = 3               # RTATL §3.4: flow between frame t and t+3
    exemplar_tau: float = 0.1        # choice: InfoNCE temperature for the exemplar baseline
    exemplar_contrast: float = 0.2   # choice: exemplar's second view scaled by U(1 - c, 1 + c) per image
    exemplar_brightness: float = 0.1  # choice: exemplar's second view shifted by U(-b, b) per image
    jigsaw_perms: int = 24           # choice: number of fixed tile permutations for the jigsaw baseline
    image_size: int = 200            # RTATL §4.2: 200x200 aligned faces
    crop_size: int = 192             # §4.2: random/centre crop, inputs 192x192; the crop size is not given (ours: 192)
    flip: bool = True                # RTATL §4.2: random horizontal flip
    batch_size: int = 32             # choice: labelled images per step (paper silent)
    unlabelled_batch_size: int = 32  # choice: unlabelled images per step (paper silent)
    epochs: int = 10                 # choice: paper silent
    aus: tuple = field(default_factory=lambda: BP4D_AUS)  # AUs trained on (must match the model's)

    def __post_init__(self):
        if not 0.0 <= self.lambda1 <= 1.0:
            raise ValueError(f"lambda1 must lie in [0, 1] (Eq. 7 weighs L_adv^g vs L_rec), got {self.lambda1}")
        if not 0.0 <= self.exemplar_contrast < 1.0 or self.exemplar_brightness < 0.0:
            raise ValueError(f"exemplar_contrast must lie in [0, 1) and exemplar_brightness be >= 0, got "
                             f"{self.exemplar_contrast}, {self.exemplar_brightness}")
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must lie in [0, 1], got {self.mask_prob}")
        if self.pseudo_source not in ("masked", "intact"):
            raise ValueError(f"pseudo_source must be 'masked' or 'intact', got {self.pseudo_source!r}")
        if self.crop_size > self.image_size:
            raise ValueError(f"crop_size {self.crop_size} exceeds image_size {self.image_size}")


def crop_side(image_size: int) -> int:
    """RTATL §4.2's crop of an ``image_size`` face: RTATLTrainConfig's crop_size of its image_size, scaled."""
    base = RTATLTrainConfig()
    return round(image_size * base.crop_size / base.image_size)


def patch_side(input_size: int) -> int:
    """RTATL §4.2's RoII patch at an ``input_size`` input: RTATLModelConfig's patch at its input_size, scaled."""
    base = RTATLModelConfig()
    return base.patch * input_size // base.input_size
