"""Figures for the paper notebooks: functions take arrays and return a matplotlib
Figure; the caller decides where to save it (:func:`save_figure`)."""
from .curves import intensity_curves
from .explore import explore, explore_figure, has_frontend
from .heatmaps import flow_compare, heatmap_overlay, inpainting_panels, pi_maps
from .matrices import cosine_similarity, similarity_heatmap
from .style import save_figure, theme
from .sweeps import sweep_plot
from .tsne import embed_tsne, tsne_features

__all__ = [
    "tsne_features", "embed_tsne", "heatmap_overlay", "pi_maps", "flow_compare", "inpainting_panels",
    "intensity_curves", "similarity_heatmap", "cosine_similarity", "sweep_plot", "save_figure", "theme",
    "explore", "explore_figure", "has_frontend",
]
