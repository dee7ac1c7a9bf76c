"""Per-paper report folders (``reports/<slug>/``) and the index over them."""
from .index import write_index
from .tables import DIFF_NA, compare, frame_from_results, to_markdown
from .writer import Report, load_metrics

__all__ = ["Report", "write_index", "load_metrics", "compare", "to_markdown", "frame_from_results", "DIFF_NA"]
