"""CPC (Sanchez et al., ACCV 2020): contrastive predictive pre-training + sparse random labels.

Importing registers the models ``cpc_r18_gru`` and ``cpc_r18_frame``.
"""
from .config import BaselineConfig, CPCModelConfig, PretrainConfig, SparseConfig
from .infer import pretext_accuracy, topk_accuracy, topk_rates
from .losses import InfoNCELoss, SparseLabelLoss
from .model import CPCNet, ConvGRUCell, FrameRegressor, cpc_r18_frame, cpc_r18_gru
from .step import make_frame_step, make_pretrain_step, make_sparse_step, sparse_forward
from .deploy import CPCDeploy, cpc_deploy


def notebook_in_effect(preset: str) -> dict:
    """The values the notebook's 0 "the preset's" sizes stand for (:func:`.experiment.notebook_in_effect`)."""
    from .experiment import notebook_in_effect as values
    return values(preset)


__all__ = [
    "BaselineConfig", "CPCModelConfig", "PretrainConfig", "SparseConfig",
    "InfoNCELoss", "SparseLabelLoss", "pretext_accuracy", "topk_accuracy", "topk_rates",
    "CPCNet", "ConvGRUCell", "FrameRegressor", "cpc_r18_frame", "cpc_r18_gru",
    "make_frame_step", "make_pretrain_step", "make_sparse_step", "sparse_forward", "CPCDeploy", "cpc_deploy",
    "notebook_in_effect",
]
