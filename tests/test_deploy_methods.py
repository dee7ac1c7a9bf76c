"""Each method's deployable export: written by its ``deploy`` module, rebuilt strictly by
``aukit.deploy.load``, and giving what the method's own evaluation path gives on the same faces."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from aukit import deploy


def _faces(n: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)


def _normalise(u8: torch.Tensor, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)) -> torch.Tensor:
    """The faces as training normalised them: mean = std = 0.5 for a trunk from random weights."""
    x = u8.permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _lively(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    """``model`` in eval mode with BatchNorm statistics of ``x`` (a few train-mode passes): a fresh
    network's unit running statistics shrink its eval outputs to ~1e-10, the same for every face, and
    a comparison with them would pass on a wrong export."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None                                   # a plain average of the passes
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


def _load(path):
    net = deploy.load(path)
    assert isinstance(net, deploy.Deployed)
    return net


def test_tas(tmp_path):
    from aukit.methods.tas import TASModelConfig, TASNet
    from aukit.methods.tas.deploy import export_deployable
    import torchvision
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "imagenet.pth")
    cfg = TASModelConfig(n_aus=3, depth=18, attention_hidden=4, mlp_hidden=8, weights=str(tmp_path / "imagenet.pth"))
    x = _faces(4, 32)
    imagenet = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))   # the statistics an ImageNet trunk saw
    model = _lively(TASNet(cfg), _normalise(x, **imagenet))
    path = export_deployable(model, ["AU06", "AU12", "AU17"], tmp_path / "d.pt", "synthau-bp4d", size=32)
    (tmp_path / "imagenet.pth").unlink()        # the trained weights are in d.pt: the ImageNet file is not needed
    net = _load(path)
    assert net.spec.aus == ["AU06", "AU12", "AU17"] and net.spec.size == 32 and net.spec.policy == "tas"
    with torch.no_grad():
        want = model(_normalise(x, **imagenet)) * 5
    torch.testing.assert_close(net(x)["intensity"], want.clamp(0, 5), atol=1e-4, rtol=1e-4)

    # other sizes are resized on both sides (a 40x32 face was passed at 40x32: only the width was compared)
    tall = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2).float(), size=(40, 32), mode="nearest")
    tall = tall.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    seen = []
    hook = net.model.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))
    net(tall)
    hook.remove()
    assert seen == [(4, 3, 32, 32)]
    # floats are refused: faces already in 0..1 were divided by 255 again, predictions changed silently
    with pytest.raises(TypeError, match=r"faces must be uint8 RGB 0..255, got torch.float32"):
        net(x.float() / 255)
    with pytest.raises(TypeError, match="torch.from_numpy"):
        net(x.numpy())
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\), channels last, got shape \(4, 3, 32, 32\)"):
        net(x.permute(0, 3, 1, 2).contiguous())


def test_cpc_reads_a_batch_as_a_causal_sequence(tmp_path):
    from aukit.methods.cpc import CPCModelConfig, CPCNet
    from aukit.methods.cpc.deploy import export_deployable
    from aukit.methods.cpc.infer import predict_from_features
    torch.manual_seed(0)
    model = CPCNet(CPCModelConfig(image_size=32, num_aus=4)).eval()
    path = export_deployable(model, ["AU01", "AU02", "AU04", "AU05"], tmp_path / "d.pt", "synthau-disfa",
                             window=3, stride=2, size=32)
    net = _load(path)
    x = _faces(7, 32)
    with torch.no_grad():
        want = predict_from_features(model, model.encoder(_normalise(x)), 3, 2)
        got = net(x)["intensity"]
        # frame 0's window holds itself only: the same as a one-frame clip from a zero state
        first = model(_normalise(x[:1]).unsqueeze(1))[0, 0]
    torch.testing.assert_close(got, want.clamp(0, 5), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got[0], first.clamp(0, 5), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got[6], net(x[6:])["intensity"][0])      # later frames do use their context
    # predict's batches of 2 with net.context = (3 - 1) * 2 faces in front give the whole sequence's outputs
    from aukit.predict.faces import FaceResult
    from aukit.predict.infer import infer
    assert net.context == 4
    faces = [FaceResult(True, aligned=f.numpy()) for f in x]
    out = infer(net, faces, 2, torch.device("cpu"), [(list(range(7)), [])])["intensity"]
    np.testing.assert_allclose(out, got.numpy(), atol=1e-5, rtol=1e-5)


def test_rtatl_uses_the_training_mean_centres(tmp_path):
    from aukit.methods.rtatl import RTATLBackbone, RTATLModelConfig
    from aukit.methods.rtatl.deploy import export_deployable
    from aukit.methods.rtatl.step import predict
    torch.manual_seed(0)
    aus = (1, 2, 4)
    backbone = RTATLBackbone(RTATLModelConfig(aus=aus, input_size=64, roi_channels=16, d_model=16, n_heads=2,
                                              ff_dim=32)).eval()
    rng = np.random.default_rng(0)
    centres = (20 + 30 * rng.random((10, 3, 2, 2))).astype(np.float32)
    data = SimpleNamespace(store=SimpleNamespace(size=64), centres=centres, train_rows=np.arange(6))
    path = export_deployable(backbone, data, tmp_path / "d.pt", "synthau-bp4d")
    net = _load(path)
    assert net.spec.aus == ["AU01", "AU02", "AU04"] and net.spec.output == "probs" and net.spec.size == 64
    x = _faces(3, 64)
    mean_c = torch.as_tensor(centres[:6].mean(0))[None].expand(3, -1, -1, -1)
    with torch.no_grad():
        want = predict(backbone, _normalise(x), mean_c, crop=round(64 * 192 / 200), input_size=64)
    torch.testing.assert_close(net(x)["occurrence"], want, atol=1e-4, rtol=1e-4)

    # outside the experiment code (no RTATLData): the centres and the store side themselves
    same = _load(export_deployable(backbone, None, tmp_path / "e.pt", "synthau-bp4d",
                                   centres=centres[:6].mean(0), store_size=64))
    torch.testing.assert_close(same(x)["occurrence"], net(x)["occurrence"])
    with pytest.raises(ValueError, match=r"centres must be \(3 AUs, 2, 2\), got \(2, 2\)"):
        export_deployable(backbone, None, tmp_path / "f.pt", "synthau-bp4d", centres=centres[0, 0], store_size=64)
    with pytest.raises(ValueError, match=r"give data \(an RTATLData\), or centres"):
        export_deployable(backbone, None, tmp_path / "f.pt", "synthau-bp4d")


def test_piap_df_encoder(tmp_path):
    from aukit.methods.piap_df import NetConfig
    from aukit.methods.piap_df.deploy import export_deployable
    from aukit.methods.piap_df.model import AUEncoder
    torch.manual_seed(0)
    cfg = NetConfig(trunk="tiny_dw", image_size=32, tiny_width=8)
    x = _faces(4, 32)
    enc = _lively(AUEncoder(cfg), _normalise(x))
    net = _load(export_deployable(enc, cfg, tmp_path / "d.pt", "synthau-bp4d"))
    assert net.spec.aus == [f"AU{a:02d}" for a in cfg.aus] and net.spec.output == "logits"
    with torch.no_grad():
        want = torch.sigmoid(enc(_normalise(x))["logits"])
    assert (want - want[0]).abs().max() > 0.05                 # the faces give different outputs
    torch.testing.assert_close(net(x)["occurrence"], want, atol=1e-5, rtol=1e-5)


def test_scc_decodes_heatmap_maxima(tmp_path):
    from aukit.methods.scc import SCCHeatmapNet, SCCModelConfig, SCCTrainConfig, decode
    from aukit.methods.scc.deploy import export_deployable
    torch.manual_seed(0)
    aus = ["AU01", "AU02", "AU04"]
    x = _faces(4, 64)
    model = _lively(SCCHeatmapNet(SCCModelConfig(depth=18, input_size=64, deconv_channels=16, k=3, n_points=6)),
                    _normalise(x))
    with torch.no_grad():                                      # peaks of a trained net's size (0.001-std init: ~0.01)
        model.head.weight.normal_(0, 0.2)
        model.head.bias.fill_(1.0)
    tc = SCCTrainConfig()
    net = _load(export_deployable(model, aus, tmp_path / "d.pt", "synthau-disfa", tc))
    assert net.spec.size == 64 and net.spec.scale == 1.0
    with torch.no_grad():
        want = decode(model(_normalise(x)), 2, tc.sigma, tc.eq1_normalised)[0]
    assert 0.5 < want.min() and want.max() < 4.5 and (want - want[0]).abs().max() > 0.05  # inside 0..5, per face
    torch.testing.assert_close(net(x)["intensity"], want, atol=1e-4, rtol=1e-4)


def test_find_looks_in_runs_then_reports(tmp_path, capsys):
    from aukit.methods.tas import TASModelConfig, TASNet
    from aukit.methods.tas.deploy import export_deployable
    model = TASNet(TASModelConfig(n_aus=1, depth=18, attention_hidden=2, mlp_hidden=2))
    export_deployable(model, ["AU12"], tmp_path / "reports" / "tas" / "deploy.pt", "x", size=32)
    assert deploy.find("tas", (tmp_path / "runs", tmp_path / "reports")) == tmp_path / "reports" / "tas" / "deploy.pt"
    export_deployable(model, ["AU12"], tmp_path / "runs" / "tas" / "deploy.pt", "x", size=32)
    assert deploy.find("tas", (tmp_path / "runs", tmp_path / "reports")) == tmp_path / "runs" / "tas" / "deploy.pt"
    # the name in two folders: the first is used, and the other is named (it was passed over silently)
    assert f"also found {tmp_path / 'reports' / 'tas' / 'deploy.pt'}" in capsys.readouterr().err
    both = deploy.available((tmp_path / "runs", tmp_path / "reports"), shadowed=True)
    assert [p for _, p in both] == [tmp_path / "runs/tas/deploy.pt", tmp_path / "reports/tas/deploy.pt"]
    assert len(deploy.available((tmp_path / "runs", tmp_path / "reports"))) == 1
    from aukit.cli import main
    assert main(["models", "--runs", str(tmp_path / "runs"), str(tmp_path / "reports")]) == 0
    listed = capsys.readouterr().out
    assert "(tas: by path)" in listed and str(tmp_path / "reports/tas/deploy.pt") in listed
    with pytest.raises(FileNotFoundError, match="run the paper notebook"):
        deploy.find("scc", (tmp_path / "runs", tmp_path / "reports"))


def test_a_missing_model_path_or_misspelt_name_says_so_once(tmp_path):
    """--model /tmp/nope/deploy.pt listed the same three run-folder paths three times each, under
    names like /tmp/nope/deploy.pt/deploy.pt; --model tsa suggested nothing."""
    import pytest

    from aukit import deploy
    missing = tmp_path / "nope" / "deploy.pt"
    with pytest.raises(FileNotFoundError) as e:
        deploy.find(str(missing), runs=(tmp_path / "runs", tmp_path / "reports"))
    assert str(e.value).startswith(f"no deployable model at {missing}: no such file;")
    assert "deploy.pt/deploy.pt" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="did you mean 'tas'") as e:
        deploy.find("tsa", runs=(tmp_path / "runs",))
    tried = str(e.value).split("none of ")[1].split(" exists")[0].split(", ")
    assert len(tried) == len(set(tried))
    with pytest.raises(FileNotFoundError, match=r"'tas': train it first \(aukit run tas\) or name the folder"):
        deploy.find("tas", runs=(tmp_path / "runs",))                 # not "did you mean 'tas'"
