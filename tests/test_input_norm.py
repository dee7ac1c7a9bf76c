"""A trunk started from a local ImageNet file sees ImageNet-normalised faces in training, in evaluation and
in its deployable model (aukit.models.input_norm); a trunk from random weights keeps mean = std = 0.5,
bit for bit (every committed report was measured so). Before, every loader and export used 0.5 whatever
the trunk's start: an ImageNet trunk saw inputs of about half the spread it was trained on."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml

from aukit import deploy
from aukit.models.input_norm import HALF, IMAGENET_MEAN, IMAGENET_STD, input_norm

S = 32                                              # the faces' side in every fake store here
IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)
RANDOM = (HALF, HALF)


class _Store:
    """Duck-typed FrameStore (the fields the loaders and exports read): random uint8 faces, 4 rows a subject."""

    def __init__(self, n: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, S, S, 3), dtype=np.uint8)
        self.size = S
        self.landmarks = np.full((n, 68, 2), S / 2, np.float32)
        subject = [f"S{i // 4}" for i in range(n)]
        self.index = pd.DataFrame({"subject": subject, "sequence": subject, "frame": np.arange(n), "source": "x"})

    def __len__(self) -> int:
        return len(self.images)


def _expected(store: _Store, rows, stats) -> torch.Tensor:
    """Store ``rows`` ((B,) or (B, T)) as a loader normalising with ``stats`` = (mean, std) hands them over,
    computed here from the uint8 faces: (B[, T], 3, S, S)."""
    x = torch.from_numpy(store.images[np.asarray(rows)]).float().div(255).movedim(-1, -3)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(3, 1, 1) for v in stats)
    return (x - mean) / std


def _check(image: torch.Tensor, store: _Store, rows, stats) -> None:
    want = _expected(store, rows, stats)
    if stats == RANDOM:
        assert torch.equal(image, want)             # no weights: the inputs of every committed report, bit for bit
    else:
        torch.testing.assert_close(image, want)


def _check_spec(path, stats) -> None:
    spec = deploy.read_spec(path)
    assert (tuple(spec.mean), tuple(spec.std)) == stats


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory) -> str:
    """A local "ImageNet" ResNet-18 state_dict: a freshly built one saved as torchvision keeps them."""
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def b1_file(tmp_path_factory) -> str:
    """A local "ImageNet" EfficientNet-B1 (timm's layout), saved with torch.save."""
    import timm
    path = tmp_path_factory.mktemp("weights") / "efficientnet_b1-imagenet.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model("efficientnet_b1", pretrained=False).state_dict(), path)
    return str(path)


def _start(start: str, weights: str):
    return (weights, IMAGENET) if start == "imagenet" else (None, RANDOM)


# ---------------------------------------------------------------- the decision
def test_the_trunks_start_decides_the_normalisation(tmp_path):
    assert input_norm(None).mean == input_norm("").mean == HALF and input_norm(None).std == HALF
    norm = input_norm(tmp_path / "resnet50-0676ba61.pth")            # torchvision's (need not exist to decide)
    assert (norm.mean, norm.std) == IMAGENET and not norm.half and input_norm(None).half
    # timm's Hugging Face cache: the folder names the tag, whose pretrained_cfg timm knows
    hub = tmp_path / "hub/models--timm--efficientnet_b1.ra4_e3600_r240_in1k/snapshots/0a1b/model.safetensors"
    assert (input_norm(hub).mean, input_norm(hub).std) == RANDOM
    assert "efficientnet_b1.ra4_e3600_r240_in1k" in input_norm(hub).source
    ft = tmp_path / "hub/models--timm--efficientnet_b1.ft_in1k/snapshots/0a1b/model.safetensors"
    assert (input_norm(ft).mean, input_norm(ft).std) == IMAGENET
    # a config.json beside the file (timm's layout) wins
    own = tmp_path / "own" / "model.safetensors"
    own.parent.mkdir()
    (own.parent / "config.json").write_text(json.dumps({"pretrained_cfg": {"mean": [0.1, 0.2, 0.3],
                                                                           "std": [0.4, 0.5, 0.6]}}))
    assert (input_norm(own).mean, input_norm(own).std) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    assert input_norm(None).pixel(1.0) == (1.0, 1.0, 1.0)              # white, as RTATL's RoII fill had it
    assert input_norm(own).pixel(0.7) == pytest.approx(((0.7 - 0.1) / 0.4, 1.0, (0.7 - 0.3) / 0.6))


def test_the_report_records_the_normalisation(tmp_path, monkeypatch, resnet18_file):
    from aukit.report import Report
    monkeypatch.chdir(tmp_path)
    for weights, stats in ((resnet18_file, IMAGENET), (None, RANDOM)):
        folder = tmp_path / str(bool(weights))
        rep = Report("rtatl", folder=folder, dataset="synthau-bp4d", preset="smoke", seeds=[0], device="cpu",
                     weights=weights)
        rep.add_metrics(f1_avg=0.5)
        rep.write()
        for got in (json.loads((folder / "metrics.json").read_text())["input_norm"],
                    yaml.safe_load((folder / "run.yaml").read_text())["input_norm"]):
            assert (tuple(got["mean"]), tuple(got["std"])) == stats, got


# ---------------------------------------------------------------- TAS
def _tas_data(store: _Store):
    from aukit.methods.tas.data import TASData
    n = len(store)
    labels = np.random.default_rng(1).random((n, 2)).astype(np.float32)
    return TASData(dataset="synthau-bp4d", store=store, aus=["AU06", "AU12"], labels=labels,
                   subject_id=np.arange(n) // 4, train_rows=np.arange(4), test_rows=np.arange(4, n),
                   seg_rows=np.array([[0, 1], [1, 2], [2, 3]]), seg_au=np.array([0, 1, 0]),
                   train_subjects=["S0"], test_subjects=["S1"])


@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_tas_trains_scores_and_deploys_on_its_trunks_normalisation(start, resnet18_file, tmp_path, monkeypatch):
    from aukit.methods.tas import experiment as E
    from aukit.methods.tas.config import TASConfig, TASModelConfig, TASTrainConfig
    from aukit.methods.tas.deploy import export_deployable
    weights, stats = _start(start, resnet18_file)
    store = _Store()
    data = _tas_data(store)
    cfg = TASConfig(model=TASModelConfig(n_aus=2, depth=18, attention_hidden=4, mlp_hidden=8, weights=weights),
                    train=TASTrainConfig(T=2, batch_size=2, epochs=1))
    seen = {}

    def fit(model, step, batches, *args, **kwargs):                   # what the step would be handed
        seen["train"] = next(iter(batches))["image"], next(iter(batches.loader))["rows"]
        return []

    def predict(model, loader, features=False):
        b = next(iter(loader))
        seen["eval"] = b["image"], b["rows"]
        return np.zeros((len(loader.rows), 2), np.float32)

    monkeypatch.setattr(E, "fit", fit)
    monkeypatch.setattr(E, "predict", predict)
    model, _ = E.train_model(data, cfg, E.RunOptions(device="cpu"))
    E.evaluate(model, data, E.RunOptions(device="cpu"))
    for image, rows in seen.values():
        _check(image, store, rows.numpy(), stats)
    _check_spec(export_deployable(model, data.aus, tmp_path / "d.pt", "synthau-bp4d", size=S), stats)


# ---------------------------------------------------------------- SCC
@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_scc_trains_scores_and_deploys_on_its_trunks_normalisation(start, resnet18_file, tmp_path, monkeypatch):
    from aukit.methods.scc import experiment as X
    from aukit.methods.scc.config import SCCModelConfig, SCCTrainConfig
    from aukit.methods.scc.data import SCCData
    from aukit.methods.scc.deploy import export_deployable
    weights, stats = _start(start, resnet18_file)
    store = _Store()
    n = len(store)
    data = SCCData(store=store, aus=("AU06", "AU12"),
                   intensity=(5 * np.random.default_rng(1).random((n, 2))).astype(np.float32),
                   centres=np.full((n, 2, 2, 2), S / 2, np.float32), train_rows=np.arange(4),
                   test_rows=np.arange(4, n))
    mc = SCCModelConfig(depth=18, input_size=S, deconv_channels=8, k=2, n_points=4, backbone_weights=weights)
    tc = SCCTrainConfig(batch_size=2, epochs=1)
    seen = {}

    def fit(model, step, loader, *args, **kwargs):
        b = next(iter(loader))
        seen["train"] = b["image"], b["rows"]
        return []

    def predict(model, loader, *args, **kwargs):
        b = next(iter(loader))
        seen["eval"] = b["image"], b["rows"]
        return {}

    monkeypatch.setattr(X, "fit", fit)
    monkeypatch.setattr(X, "predict", predict)
    model = X.train_model(data, mc, tc, device=torch.device("cpu"), seed=0)
    X.predict_rows(model, data, data.test_rows, tc, torch.device("cpu"))
    for image, rows in seen.values():
        _check(image, store, rows.numpy(), stats)
    _check_spec(export_deployable(model, data.aus, tmp_path / "d.pt", "synthau-disfa", tc), stats)


# ---------------------------------------------------------------- RTATL
@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_rtatl_trains_scores_and_deploys_on_its_trunks_normalisation(start, resnet18_file, tmp_path, monkeypatch):
    from aukit.methods.rtatl import experiment as E
    from aukit.methods.rtatl.data import RTATLData
    from aukit.methods.rtatl.deploy import export_deployable
    weights, stats = _start(start, resnet18_file)
    store, other = _Store(), _Store(seed=1)                         # labelled faces and unlabelled ones
    ecfg = E.preset_config("smoke", dataset="synthau-bp4d", weights=weights, batch_size=2,
                           unlabelled_batch_size=2)
    n, a = len(store), len(ecfg.aus)
    centres = np.full((n, a, 2, 2), S / 2, np.float32)
    data = RTATLData(store=store, aus=ecfg.aus,
                     labels=(np.random.default_rng(1).random((n, a)) < 0.5).astype(np.float32),
                     centres=centres, train_rows=np.arange(4), test_rows=np.arange(4, n), unlabelled=other,
                     unlabelled_rows=np.arange(len(other)), unlabelled_centres=centres)
    seen = {}

    def fit(model, step, loader, *args, **kwargs):
        image = next(iter(loader))["image"]                           # the labelled batch, then the unlabelled one
        rows = next(iter(loader.labelled))["rows"], next(iter(loader.unlabelled))["rows"]
        seen["labelled"], seen["unlabelled"] = (image[:2], rows[0]), (image[2:], rows[1])
        return []

    def predict(net, image, centres, **kwargs):
        seen.setdefault("eval", (image, torch.from_numpy(data.test_rows[:len(image)])))
        return torch.zeros(len(image), a)

    monkeypatch.setattr(E, "fit", fit)
    monkeypatch.setattr(E, "predict", predict)
    net, _ = E.train_variant(ecfg, "RTATL", data, 0, torch.device("cpu"))
    E.predict_rows(net, data, data.test_rows, torch.device("cpu"), batch_size=2)
    for name, (image, rows) in seen.items():
        _check(image, other if name == "unlabelled" else store, rows.numpy(), stats)
    _check_spec(export_deployable(net, data, tmp_path / "d.pt", "synthau-bp4d"), stats)


def _rtatl_net(weights):
    from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLTrainConfig
    aus = (1, 2, 4, 6)
    torch.manual_seed(0)
    mc = RTATLModelConfig(aus=aus, input_size=64, patch=16, gan_width=8, flow_width=16, weights=weights)
    tc = RTATLTrainConfig(aus=aus, crop_size=64, image_size=68, mask_prob=1.0)
    return RTATLNet(mc, tc), tc


def _white_black(stats) -> tuple:
    return tuple((1.0 - m) / s for m, s in zip(*stats)), tuple(-m / s for m, s in zip(*stats))


@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_rtatl_cuts_white_rois_in_its_trunks_normalisation(start, resnet18_file):
    """RoII's cut squares are white (RTATL Fig. 6) in the inputs' normalisation: 1.0 is white only for
    mean = std = 0.5 (with ImageNet's statistics it was a light grey, (0.71, 0.68, 0.63))."""
    from aukit.methods.rtatl import RTATLStep
    weights, stats = _start(start, resnet18_file)
    net, tc = _rtatl_net(weights)
    inputs = []
    net.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach()))
    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.interpolate(_expected(_Store(n=4), np.arange(4), stats), size=68, mode="nearest")
    RTATLStep(tc, 64, 16)(net, {"image": image, "labels": torch.ones(4, 4),
                                "centres": torch.rand(4, 4, 2, 2, generator=g) * 40 + 14})
    white = torch.tensor(_white_black(stats)[0]).view(1, 3, 1, 1)
    filled = (inputs[0] == white).all(1).flatten(1).sum(1)           # pixels white in every channel, per image
    assert (filled >= 16 * 16).all(), filled.tolist()


@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_rtatl_generator_spans_black_to_white_in_its_trunks_normalisation(start, resnet18_file):
    """G's tanh stands for pixels 0..1: [-1, 1] is that range only for mean = std = 0.5; with ImageNet's
    statistics tanh alone reached red pixels 0.26..0.71, and L1 pulled it toward patches it could not draw."""
    weights, stats = _start(start, resnet18_file)
    net, _ = _rtatl_net(weights)
    last = net.generator.net[-2]                                      # the transposed conv before the tanh
    tok = torch.randn(2, net.model_cfg.d_model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for bias, want in zip((100.0, -100.0), _white_black(stats)):   # tanh saturated at 1, then at -1
            last.bias.fill_(bias)
            out = net.generator(tok)
            torch.testing.assert_close(out, torch.tensor(want).view(1, 3, 1, 1).expand_as(out))


# ---------------------------------------------------------------- PIAP-DF
def _piap(start: str, b1: str):
    from aukit.methods.piap_df.config import NetConfig
    from aukit.methods.piap_df.runs import AUData
    if start == "imagenet":
        net = NetConfig(aus=(1, 2), image_size=S, trunk_weights=b1)
    else:
        net = NetConfig(aus=(1, 2), image_size=S, trunk="tiny_dw", tiny_width=8, unet_width=4, unet_depth=3,
                        decoder_width=16)
    store = _Store()
    n = len(store)
    labels = (np.random.default_rng(1).random((n, 2)) < 0.5).astype(np.float32)
    data = AUData(dataset="synthau-bp4d", store=store, aus=(1, 2), labels=labels, train=np.arange(4),
                  test=np.arange(4, n), unlabelled=np.arange(0), train_subjects=("S0",))
    return net, data, store


@pytest.mark.parametrize("start", ["imagenet", "random"])
def test_piap_df_trains_scores_and_deploys_on_its_trunks_normalisation(start, b1_file, tmp_path, monkeypatch):
    from aukit.methods.piap_df import runs
    from aukit.methods.piap_df.config import StageConfig
    from aukit.methods.piap_df.deploy import export_deployable
    net, data, store = _piap(start, b1_file)
    stats = IMAGENET if start == "imagenet" else RANDOM
    seen = {}

    def fit(model, step, loader, *args, **kwargs):
        b = next(iter(loader))
        seen["train"] = b["image"], b["rows"]
        return []

    monkeypatch.setattr(runs, "fit", fit)
    model = runs.train_piap(net, data, data.labels, (1.0, 0.0, 0.0), StageConfig(batch_size=2, epochs=1),
                            torch.device("cpu"))
    model.register_forward_pre_hook(lambda m, args: seen.setdefault("eval", (args[0], torch.arange(4, 8))) and None)
    runs.predict(model, data, net, torch.device("cpu"))
    for image, rows in seen.values():
        _check(image, store, rows.numpy(), stats)
    _check_spec(export_deployable(model.export(), net, tmp_path / "d.pt", "synthau-bp4d"), stats)


def test_piap_df_fine_tunes_only_a_trunk_trained_on_this_runs_normalisation(b1_file, tmp_path):
    """§4.1's DISFA run starts from BP4D's piap.pt: a trunk trained on ImageNet-normalised faces fed
    0.5-normalised ones (or the reverse) trained on inputs it never saw; the file says which it saw."""
    import dataclasses
    from aukit.methods.piap_df import runs
    from aukit.methods.piap_df.deploy import export_deployable
    from aukit.methods.piap_df.model import AUEncoder
    net, _, _ = _piap("imagenet", b1_file)
    path = export_deployable(AUEncoder(net).eval(), net, tmp_path / "piap.pt", "synthau-bp4d")
    assert set(runs.trunk_state(str(path), net)) == set(AUEncoder(net).trunk.state_dict())
    with pytest.raises(ValueError, match=r"piap.pt: its trunk was trained on inputs normalised with mean \(0.485"):
        runs.trunk_state(str(path), dataclasses.replace(net, trunk_weights=None))
