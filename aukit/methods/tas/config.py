"""TAS configuration: one dataclass per concern, the paper's values as defaults.

Sources: TAS = Chen et al., "Trend-Aware Supervision", AAAI 2024 (papers/TAS_*.md);
code = facts from the TAS authors' public PyTorch code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# AU intensity sets of the two benchmarks (FERA2015 on BP4D; DISFA's 12 coded AUs).
BP4D_AUS = (6, 10, 12, 14, 17)
DISFA_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
INTENSITY_MAX = 5.0  # TAS §Problem Formulation: labels 0..5 normalised to [0, 1]
DISFA_LAMBDA_SUB = 0.05  # TAS §Implementation Details: lambda_sub on DISFA (BP4D's is TASLossConfig's default)
DISFA_LABEL_FRACTION = 0.01  # TAS Table 4 S3 / §Experimental Settings: 1% of DISFA (BP4D's 2% is TASTrainConfig's)


@dataclass
class TASModelConfig:
    """Architecture of Fig. 2 (model A1..A6; ``separate_attention=False`` is A0)."""

    n_aus: int = 5                      # TAS §Experimental Settings: 5 AUs on BP4D (12 on DISFA)
    depth: int = 34                     # TAS §Implementation Details: ResNet34 without final layers
    weights: str | None = None          # local ImageNet state_dict path; random init when None (nothing is downloaded)
    separate_attention: bool = True     # TAS Table 3 "Sep": C separate spatial attention layers (False = A0, vanilla ResNet34)
    attention_kernel: int = 9           # TAS §Implementation Details: kernel size 9 for each spatial attention layer
    attention_hidden: int = 64          # choice: width of the 1xk / kx1 attention branches (paper, code: none)
    mlp_hidden: int = 64                # TAS §Implementation Details: MLP 512 -> 64 -> 1
    leaky_slope: float = 0.01           # TAS: LeakyReLU between the two linear layers (PyTorch default slope)
    clip_output: bool = True            # TAS §Overview: estimate clipped to [0, 1] (straight-through gradient in training)


@dataclass
class TASLossConfig:
    """Weights of Eq. 5 and the hyper-parameters of Eqs. 2-4 (A1..A6 toggle the lambdas)."""

    lambda_rank: float = 0.1            # TAS §Implementation Details: 0.1, on our mean-reduced losses (Eqs. 1-3 sum)
    lambda_spd: float = 0.05            # TAS §Implementation Details: 0.05, on our mean-reduced losses (Eqs. 1-3 sum)
    lambda_sub: float = 0.005           # TAS §Implementation Details: 0.005 on BP4D (DISFA: DISFA_LAMBDA_SUB), mean-reduced
    alpha: float = 0.5                  # TAS §Implementation Details: mixup lambda ~ Beta(alpha, alpha), alpha = 0.5
    rank_margin: float = 0.0            # TAS Eq. 2: Max(0, A Δf), no margin
    sub_pairs: str = "subject"          # choice: the prose's different subjects (Eq. 4's text: segments, "segment")
    reduction: str = "mean"             # choice: Eqs. 1-3 averaged over the batch; "sum": as printed (sums over
    #                                     segments and elements; Eq. 4 is a mean either way)


@dataclass
class TASTrainConfig:
    """Optimisation and data sampling (TAS §Experimental Settings + public code)."""

    T: int = 16                         # TAS §Implementation Details: T = 16 frames per segment
    batch_size: int = 16                # TAS §Implementation Details: 16 segments per batch
    epochs: int = 20                    # TAS §Implementation Details: 20 epochs; the paper also stops early, we do
    #                                     not (the keyframe setting has no labelled validation split): all 20 run
    lr: float = 0.005                   # TAS §Implementation Details: SGD lr 0.005
    momentum: float = 0.9               # code: SGD momentum 0.9
    nesterov: bool = True               # code: Nesterov momentum
    weight_decay: float = 5e-4          # TAS §Implementation Details: weight decay 0.0005
    image_size: int = 256               # TAS §Implementation Details: 256x256 dlib-aligned crops
    label_fraction: float = 0.02        # TAS Table 4 S3: random 2% (BP4D) / 1% (DISFA) labelled frames


@dataclass
class TASConfig:
    """Everything one TAS run needs; ``asdict`` of it goes into checkpoints and run.yaml."""

    model: TASModelConfig = field(default_factory=TASModelConfig)
    loss: TASLossConfig = field(default_factory=TASLossConfig)
    train: TASTrainConfig = field(default_factory=TASTrainConfig)


# Table 3 ablation: which parts each model has (Sep, L_rank, L_spd, L_sub).
ABLATIONS: dict[str, tuple[bool, bool, bool, bool]] = {
    "A0": (False, False, False, False),
    "A1": (True, False, False, False),
    "A2": (True, True, False, False),
    "A3": (True, False, True, False),
    "A4": (True, False, False, True),
    "A5": (True, True, True, False),
    "A6": (True, True, True, True),
}


def ablation_config(name: str, base: TASConfig | None = None) -> TASConfig:
    """Config of ablation model ``name`` (A0..A6, TAS Table 3): switched-off parts get weight 0."""
    import dataclasses

    if name not in ABLATIONS:
        raise ValueError(f"unknown ablation {name!r}; expected one of {sorted(ABLATIONS)}")
    base = base or TASConfig()
    sep, rank, spd, sub = ABLATIONS[name]
    model = dataclasses.replace(base.model, separate_attention=sep)
    loss = dataclasses.replace(base.loss, lambda_rank=base.loss.lambda_rank if rank else 0.0,
                               lambda_spd=base.loss.lambda_spd if spd else 0.0,
                               lambda_sub=base.loss.lambda_sub if sub else 0.0)
    return dataclasses.replace(base, model=model, loss=loss)


# Fig. 5 / TAS §Empirical Study: each lambda set to "the given seven values", the others at their defaults; the
# paper prints no grid: ours is a choice, log-spaced 1-2-5 steps around the paper's value (TASLossConfig's).
FIG5_LAMBDA_GRID: dict[str, tuple[float, ...]] = {
    "lambda_rank": (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    "lambda_spd": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    "lambda_sub": (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
}


def default_label_fraction(dataset: str) -> float:
    """TAS Table 4 S3 / §Experimental Settings: the labelled fraction of frames, DISFA_LABEL_FRACTION on DISFA
    and its SynthAU tree, else BP4D's, TASTrainConfig's default (a dataset of your own takes BP4D's)."""
    from aukit.methods.aus import family_or_bp4d
    return DISFA_LABEL_FRACTION if family_or_bp4d(dataset) == "disfa" else TASTrainConfig().label_fraction


def default_lambda_sub(dataset: str) -> float:
    """TAS §Implementation Details: lambda_sub per dataset, DISFA_LAMBDA_SUB on DISFA and its SynthAU tree (fewer
    subjects), else BP4D's, TASLossConfig's default (a dataset of your own takes BP4D's: a hyper-parameter)."""
    from aukit.methods.aus import family_or_bp4d
    return DISFA_LAMBDA_SUB if family_or_bp4d(dataset) == "disfa" else TASLossConfig().lambda_sub
