"""SCC-Heatmap: AU intensity via heatmap regression with semantic correspondence
convolutions (Fan, Lam & Li, AAAI 2020). Importing registers ``scc_heatmap`` and
``resnet_deconv`` with :func:`aukit.create_model`."""
from .config import K_BY_DATASET, SCCModelConfig, SCCTrainConfig
from .graph import SCC, knn_channels
from .heatmaps import decode, gaussian_targets
from .losses import HeatmapMSELoss
from .model import SCCHeatmapNet, build, resnet_deconv, scc_heatmap
from .deploy import SCCDeploy, scc_deploy

__all__ = ["K_BY_DATASET", "SCCModelConfig", "SCCTrainConfig", "SCC", "knn_channels", "decode",
           "gaussian_targets", "HeatmapMSELoss", "SCCHeatmapNet", "build", "resnet_deconv", "scc_heatmap",
           "SCCDeploy", "scc_deploy"]
