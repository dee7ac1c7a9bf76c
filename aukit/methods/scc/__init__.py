"""SCC-Heatmap: AU intensity via heatmap regression with semantic correspondence
convolutions (Fan, Lam & Li, AAAI 2020). Importing registers ``scc_heatmap`` and
``resnet_deconv`` with :func:`aukit.create_model`."""
from .config import K_BY_DATASET, SCCModelConfig, SCCTrainConfig
from .graph import SCC, knn_channels
from .heatmaps import decode, gaussian_targets
from .losses import HeatmapMSELoss
from .model import SCCHeatmapNet, build, resnet_deconv, scc_heatmap
from .deploy import SCCDeploy, scc_deploy


def notebook_dataset_in_effect(dataset: str) -> dict:
    """What the notebook's k 0 ("the dataset's") stands for on ``dataset``: the paper's k there
    (:func:`.config.k_for`); :func:`aukit.nb.changed_parameters` and a sweep's grid read it."""
    from .config import k_for
    return {"k": k_for(dataset)}


__all__ = ["K_BY_DATASET", "SCCModelConfig", "SCCTrainConfig", "SCC", "knn_channels", "decode",
           "gaussian_targets", "HeatmapMSELoss", "SCCHeatmapNet", "build", "resnet_deconv", "scc_heatmap",
           "SCCDeploy", "scc_deploy", "notebook_dataset_in_effect"]
