"""RTATL (Yan et al., ACM MM 2021): regional (RoI inpainting) and temporal (optical-flow
estimation) self-supervised auxiliary tasks for AU detection. Importing registers the
models ``rtatl_backbone`` (deployable) and ``rtatl`` (training-time, with the auxiliary heads).
"""
from .config import BP4D_AUS, DISFA_AUS, RTATLModelConfig, RTATLTrainConfig
from .heads import RTATLNet, count_parameters, rtatl
from .losses import (DiscriminatorLoss, ExemplarLoss, FlowLoss, GeneratorLoss, PatchClassifierLoss, PretextCELoss,
                     SupervisedBCELoss)
from .model import RTATLBackbone, rtatl_backbone
from .step import RTATLStep, predict
from .deploy import RTATLDeploy, rtatl_deploy

# the values the notebook's None parameters stand for (aukit.nb.changed_parameters: setting one is no change)
NOTEBOOK_NONE = {name: getattr(RTATLTrainConfig, name) for name in ("lambda1", "lambda2", "lambda_f", "lr")}

__all__ = ["NOTEBOOK_NONE", "BP4D_AUS", "DISFA_AUS", "RTATLModelConfig", "RTATLTrainConfig", "RTATLNet", "RTATLBackbone", "rtatl",
           "rtatl_backbone", "count_parameters", "RTATLStep", "predict", "SupervisedBCELoss", "DiscriminatorLoss",
           "GeneratorLoss", "PatchClassifierLoss", "FlowLoss", "PretextCELoss", "ExemplarLoss",
           "RTATLDeploy", "rtatl_deploy"]
