"""CPC (Sanchez et al., ACCV 2020): contrastive predictive pre-training + sparse random labels.

Importing registers the models ``cpc_r18_gru`` and ``cpc_r18_frame``.
"""
from .config import BaselineConfig, CPCModelConfig, PretrainConfig, SparseConfig
from .infer import pretext_accuracy, topk_accuracy, topk_rates
from .losses import InfoNCELoss, SparseLabelLoss
from .model import CPCNet, ConvGRUCell, FrameRegressor, cpc_r18_frame, cpc_r18_gru
from .step import make_frame_step, make_pretrain_step, make_sparse_step, sparse_forward
from .deploy import CPCDeploy, cpc_deploy

__all__ = [
    "BaselineConfig", "CPCModelConfig", "PretrainConfig", "SparseConfig",
    "InfoNCELoss", "SparseLabelLoss", "pretext_accuracy", "topk_accuracy", "topk_rates",
    "CPCNet", "ConvGRUCell", "FrameRegressor", "cpc_r18_frame", "cpc_r18_gru",
    "make_frame_step", "make_pretrain_step", "make_sparse_step", "sparse_forward", "CPCDeploy", "cpc_deploy",
]
