"""The five paper methods, peers built on the shared parts; importing registers their models."""
import importlib

SLUGS = ("tas", "cpc", "rtatl", "piap_df", "scc")

for _slug in SLUGS:
    try:
        importlib.import_module(f"{__name__}.{_slug}")
    except ModuleNotFoundError as e:  # a method package not present in this checkout
        if e.name != f"{__name__}.{_slug}":
            raise
