"""Configs of the SCC-Heatmap method (Fan, Lam & Li, AAAI 2020), paper values as defaults.

``SCCModelConfig`` builds the network (ResNet trunk -> deconvolution blocks, each
followed by an SCC module -> 1x1 conv to N heatmaps); ``SCCTrainConfig`` holds the
heatmap targets and the optimiser schedule. Where the paper is silent, the value comes
from the authors' public TensorFlow code or is our choice, said so.
"""
from __future__ import annotations

from dataclasses import dataclass

EDGE_FEATURES = ("both", "pair", "diff")  # Table 3: (f_i, f_j - f_i), (f_i, f_j), (f_j - f_i)
NODE_KINDS = ("channels", "positions")    # graph nodes: the paper's channels, or (an alternative of ours) positions
GATHER_BACKWARDS = ("auto", "matmul", "index")  # how the k-NN gather sums its gradient (same numbers)
AGGREGATES = ("auto", "fused", "autograd")       # edge BN + ReLU + max: fused.py, or autograd over the edge tensor

# AUs with intensity labels (SCC §Datasets): BP4D (FERA2015) and DISFA.
BP4D_AUS = ("AU06", "AU10", "AU12", "AU14", "AU17")
DISFA_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU09", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26")

# k of the k-NN graph per dataset family (SCC §Implementation Details, grid-searched by the authors).
K_BY_DATASET = {"bp4d": 5, "disfa": 7}


def k_for(dataset: str) -> int:
    """The paper's k on ``dataset`` (K_BY_DATASET of its family: DISFA's on DISFA and its SynthAU tree, BP4D's on
    BP4D's); a dataset of your own: :func:`k_for_own` of its AU count."""
    from aukit.methods import aus as A
    fam = A.family(dataset)
    if fam is None and A.is_own(dataset):
        return k_for_own(len(A.own_aus(dataset, "intensity", "SCC")))
    return K_BY_DATASET[fam or "bp4d"]


def k_for_own(n_aus: int) -> int:
    """k for a dataset of your own with ``n_aus`` intensity AUs: the paper's k of the family whose AU count is
    nearer (BP4D's 5 for up to 8 AUs, DISFA's 7 for more; the authors grid-searched k per dataset and printed no
    rule), capped below the AU count (at least 1) so that a small set's graph never joins a channel to as many
    others as there are AUs: a grid search (`-p k`, Fig. 6's sweep) is the way to tune it."""
    k = K_BY_DATASET["bp4d" if n_aus <= 8 else "disfa"]
    return max(1, min(k, n_aus - 1))


@dataclass
class SCCModelConfig:
    depth: int = 50                    # SCC §Proposed Methodology: ResNet-50 backbone (Xiao et al. 2018)
    input_size: int = 256              # SCC §Implementation Details: faces cropped to 256x256
    deconv_layers: int = 3             # SCC Table 2 setting (a): 3 deconv layers -> 64x64 heatmaps
    deconv_channels: int = 256         # Xiao et al. 2018 simple baseline: 256 filters per deconv (not in SCC text)
    deconv_kernel: int = 4             # authors' TF code: 4x4 transposed conv, stride 2
    use_scc: bool = True               # SCC Table 2: SCC on (a, c) / off (b, d) = ResNet-Deconv
    k: int = K_BY_DATASET["disfa"]     # SCC §Implementation Details: DISFA's k (BP4D's: K_BY_DATASET)
    edge: str = "both"                 # SCC Eq. 3 / Table 3 setting (e): concat[f_i, f_j - f_i]
    edge_bn: bool = True               # authors' TF code: 1x1 conv + BN + ReLU on the edges (Eq. 3 has no BN)
    include_self: bool = True          # our choice (DGCNN k-NN habit): a node is its own nearest neighbour
    nodes: str = "channels"            # SCC §SCC (and the TF code): channel maps are the nodes; "positions": ours
    n_points: int = 2 * len(DISFA_AUS)  # EAC-Net / JAA-Net rules: 2 points per DISFA AU
    gather_backward: str = "auto"      # implementation, same sums: one-hot matmul where it is small, else index_add
    aggregate: str = "auto"            # implementation, same numbers: fused (no edge tensor kept) for channel nodes
    backbone_weights: str | None = None  # local ImageNet state_dict (paper: ImageNet init); None = random

    def __post_init__(self) -> None:
        if self.edge not in EDGE_FEATURES:
            raise ValueError(f"edge must be one of {EDGE_FEATURES}, got {self.edge!r}")
        if self.nodes not in NODE_KINDS:
            raise ValueError(f"nodes must be one of {NODE_KINDS}, got {self.nodes!r}")
        if self.gather_backward not in GATHER_BACKWARDS:
            raise ValueError(f"gather_backward must be one of {GATHER_BACKWARDS}, got {self.gather_backward!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        if self.deconv_layers < 1:
            raise ValueError(f"deconv_layers must be >= 1, got {self.deconv_layers}")
        if self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (ResNet stride), got {self.input_size}")
        if self.k < 1 or self.k > self.deconv_channels:
            raise ValueError(f"k must be in [1, deconv_channels={self.deconv_channels}], got {self.k}")
        if self.n_points < 1:
            raise ValueError(f"n_points must be >= 1, got {self.n_points}")

    @property
    def heatmap_size(self) -> int:
        """Side of the output maps: trunk stride 32, each deconv doubles (256 -> 8 -> 64)."""
        return self.input_size // 32 * 2 ** self.deconv_layers


@dataclass
class SCCTrainConfig:
    lr: float = 5e-4                   # SCC §Implementation Details: Adam, initial lr 5e-4
    batch_size: int = 32               # SCC §Implementation Details: batch 32 (TF code: 16)
    epochs: int = 15                   # not stated; the TF code's lr steps at 5 and 10 imply ~15 (our choice)
    lr_milestones: tuple = (5, 10)     # authors' TF code: lr / 10 at epochs 5 and 10
    lr_gamma: float = 0.1              # authors' TF code: divide by 10
    weight_decay: float = 0.0          # not stated in the paper (our choice: none)
    sigma: float = 2.0                 # authors' TF code: sigma = 2 heatmap pixels (Eq. 1 names sigma, gives no value)
    # Default follows the authors' TF code, not Eq. 1 as printed: target = Gaussian x intensity (peak = I, which
    # the max read-out returns); True applies Eq. 1's 1/(2 pi sigma^2) (peak I/(8 pi) at sigma 2)
    eq1_normalised: bool = False

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"lr, batch_size and epochs must be positive: {self.lr}, {self.batch_size}, {self.epochs}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
