"""``aukit predict``: per-frame AU intensities/occurrences for a video, an image or a folder.

decode -> dlib detection every k-th frame + landmark tracking (CPU pool) -> alignment with
the model's policy -> batched inference on the device -> OpenFace-style CSV + curves PNG
(+ optional annotated video). Frames without a face keep their row with success 0 and
empty AU columns, never zeros.

The package itself imports no torch or pandas (1.4 s in every process on the development
CPU): its detection workers import ``aukit.predict.faces``, and only the main process
needs :mod:`aukit.predict.run`.
"""
import sys
import types

from .frames import InputError

__all__ = ["predict", "Predictor", "PredictResult", "InputError", "chunk_size"]


class _Module(types.ModuleType):
    """``aukit.predict(...)`` is :func:`aukit.predict.run.predict`: the package is callable, as the
    command is ``aukit predict``."""

    def __call__(self, *args, **kwargs):
        from .run import predict
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _Module


def __getattr__(name: str):
    if name in ("predict", "Predictor", "PredictResult", "chunk_size"):
        from . import run
        return getattr(run, name)
    raise AttributeError(f"module 'aukit.predict' has no attribute {name!r}")
