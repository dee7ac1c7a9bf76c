"""The registry as a library user reads it: each model's factory says in one line what it builds."""
import aukit
from aukit import registry


def test_every_registered_model_says_what_it_is():
    """The piap_* factories had no docstring, and rtatl_backbone called itself the deployable RTATL network
    though it needs AU centres per face: the deployable one is rtatl_deploy."""
    factories = {name: registry._MODELS[name] for name in aukit.list_models()
                 if registry._MODELS[name].__module__.startswith("aukit.")}   # not a test's own stand-in
    assert [name for name, fn in factories.items() if not (fn.__doc__ or "").strip()] == []
    backbone = factories["rtatl_backbone"].__doc__
    assert "centres" in backbone and "rtatl_deploy" in backbone and "The deployable" not in backbone
    assert factories["rtatl_deploy"].__doc__.startswith("The deployable RTATL network")
