"""RTATL experiment plumbing without training: the resolved config run.yaml records."""
from __future__ import annotations

import dataclasses

from aukit.methods.rtatl import experiment as E
from aukit.methods.rtatl.config import RTATLModelConfig, RTATLTrainConfig


def test_resolved_config_holds_the_method_dataclasses_of_every_row():
    """run.yaml's config: RTATL's dataclasses (mask_prob, pseudo_threshold, roi_channels, d_model ...) as
    trained, beside the experiment's knobs; each Table 1 / Fig. 4 row named by the fields it changes."""
    ecfg = E.preset_config("full", variants=("Backbone^G", "Jigsaw", "RTATL"), sweep_methods=("Rotation",))
    conf = E.resolved_config(ecfg, 200)
    assert conf["experiment"] == dataclasses.asdict(ecfg)
    assert set(conf["model"]) == {f.name for f in dataclasses.fields(RTATLModelConfig)}
    assert set(conf["train"]) == {f.name for f in dataclasses.fields(RTATLTrainConfig)}
    assert conf["model"]["roi_channels"] == 128 and conf["model"]["d_model"] == 128
    assert conf["train"]["mask_prob"] == 0.5 and conf["train"]["crop_size"] == 192
    assert conf["variants"] == {
        "Backbone^G": {"model": {"relation": "gcn"}, "train": {"roii": False, "ofe": False}},
        "Jigsaw": {"model": {"roi": False, "relation": "none"}, "train": {"roii": False, "ofe": False, "jigsaw": True}},
        "RTATL": {"model": {}, "train": {}},
        "Rotation": {"model": {}, "train": {"roii": False, "ofe": False, "rotation": True}}}
    no_sweep = E.resolved_config(dataclasses.replace(ecfg, sweep_subjects=()), 100)
    assert list(no_sweep["variants"]) == ["Backbone^G", "Jigsaw", "RTATL"] and no_sweep["train"]["image_size"] == 100
