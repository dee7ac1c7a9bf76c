"""Local ImageNet weights: the file a user names reaches the trunk, head dropped, nothing downloaded."""
from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

from aukit.models.backbones import efficientnet_b1, resnet_trunk


def _body(source: dict, head: str) -> list[torch.Tensor]:
    return [v for k, v in source.items() if not k.startswith(head)]


def _assert_loaded(trunk: torch.nn.Module, body: list[torch.Tensor]) -> None:
    """The trunk's tensors, in order, are the file's minus its head (the trunk renames the
    modules, e.g. ``body.1.0.conv1`` for ``layer1.0.conv1``, but keeps their order)."""
    got = list(trunk.state_dict().values())
    assert len(got) == len(body)
    for a, b in zip(got, body):
        assert a.shape == b.shape and torch.equal(a, b)


def test_resnet_weights_from_a_torchvision_file_and_a_safetensors_file(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None).state_dict()   # with fc.*, as torchvision ships them
    torch.save(source, tmp_path / "r18.pth")
    save_file({k: v.contiguous() for k, v in source.items()}, tmp_path / "r18.safetensors")
    for name in ("r18.pth", "r18.safetensors"):
        _assert_loaded(resnet_trunk(18, weights=str(tmp_path / name)), _body(source, "fc."))
    fresh = next(iter(resnet_trunk(18).state_dict().values()))
    assert not torch.equal(fresh, source["conv1.weight"])              # without a file: a fresh initialisation


def test_resnet_weights_wrapped_under_state_dict_and_an_extra_channel(tmp_path):
    source = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({"state_dict": source}, tmp_path / "wrapped.pth")
    trunk = resnet_trunk(18, in_chans=4, weights=str(tmp_path / "wrapped.pth"))
    stem, *rest = trunk.state_dict().values()
    assert stem.shape[1] == 4                                          # the stem adapted after loading
    torch.testing.assert_close(stem.sum(1), source["conv1.weight"].sum(1))
    assert all(torch.equal(a, b) for a, b in zip(rest, _body(source, "fc.")[1:]))


def test_efficientnet_weights_from_timm_safetensors(tmp_path):
    torch.manual_seed(2)
    source = timm.create_model("efficientnet_b1", pretrained=False).state_dict()   # classifier.* included
    save_file({k: v.contiguous() for k, v in source.items()}, tmp_path / "model.safetensors")
    _assert_loaded(efficientnet_b1(weights=str(tmp_path / "model.safetensors")), _body(source, "classifier."))


def test_weights_that_do_not_fit_or_do_not_exist(tmp_path):
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(KeyError, match="r34.pth: weights do not match ResNet-18: the file holds ResNet-34 weights; "
                                       "missing"):
        resnet_trunk(18, weights=str(tmp_path / "r34.pth"))
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    for depth in (18, 34):              # same names, other shapes: torch's RuntimeError became aukit's message
        with pytest.raises(KeyError, match=f"r50.pth: weights do not match ResNet-{depth}: the file holds ResNet-50 "
                                           r"weights; \d+ shape\(s\) differ, first: size mismatch for"):
            resnet_trunk(depth, weights=str(tmp_path / "r50.pth"))
    with pytest.raises(FileNotFoundError, match="aukit never downloads weights"):
        resnet_trunk(18, weights=str(tmp_path / "absent.pth"))
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="bad.safetensors is not a readable safetensors file"):
        resnet_trunk(18, weights=str(tmp_path / "bad.safetensors"))


def test_a_data_parallel_save_loads_and_an_empty_path_means_no_weights(tmp_path):
    """A model saved from nn.DataParallel / DDP has every key under ``module.``: it was refused as not matching;
    ``weights=""`` (the notebooks' and a job file's "none") tried to load the folder ``.``."""
    torch.manual_seed(3)
    source = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({f"module.{k}": v for k, v in source.items()}, tmp_path / "dp.pth")
    _assert_loaded(resnet_trunk(18, weights=str(tmp_path / "dp.pth")), _body(source, "fc."))
    fresh = next(iter(resnet_trunk(18, weights="").state_dict().values()))
    assert not torch.equal(fresh, source["conv1.weight"])
