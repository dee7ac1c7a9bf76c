"""CPC network (§3.2), recursive prediction (§3.3), sparse BPTT step (§3.4) and inference."""
import pytest
import torch

import aukit
from aukit.methods.cpc import CPCModelConfig, CPCNet, make_pretrain_step, make_sparse_step, sparse_forward
from aukit.methods.cpc.infer import causal_window_index, predict_from_features
from aukit.methods.cpc.model import ConvGRUCell


def small_net(num_aus=3, seed=0):
    torch.manual_seed(seed)
    return CPCNet(CPCModelConfig(num_aus=num_aus))


def test_paper_resolution_gives_256x8x8():
    net = small_net()
    f = net.encoder.eval()(torch.randn(1, 3, 128, 128))
    assert f.shape == (1, 256, 8, 8)


def test_registry_builds_both_models():
    m = aukit.create_model("cpc_r18_gru", num_aus=5)
    assert isinstance(m, CPCNet) and m.head.fc.out_features == 5
    r = aukit.create_model("cpc_r18_frame", num_aus=5)
    assert r(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ValueError):
        aukit.create_model("cpc_r18_gru", not_a_field=1)
    with pytest.raises(ValueError):
        CPCNet(CPCModelConfig(init="normal"))


def test_forward_backward_shapes_and_finite():
    net = small_net()
    x = torch.randn(2, 6, 3, 64, 64)
    pred, target = net.pretext(x, context=4)
    assert pred.shape == target.shape == (2, 2, 256, 4, 4)
    y = net(x)
    assert y.shape == (2, 6, 3)
    (pred.square().mean() + y.square().mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError):
        net.pretext(x, context=6)


def test_convgru_matches_gru_equations_per_position():
    torch.manual_seed(0)
    cell = ConvGRUCell(3, 2, kernel=1)
    x, h = torch.randn(1, 3, 2, 2), torch.randn(1, 2, 2, 2)
    out = cell(x, h)
    Wg, bg = cell.gates.weight[:, :, 0, 0], cell.gates.bias
    Wn, bn = cell.cand.weight[:, :, 0, 0], cell.cand.bias
    for i in range(2):
        for j in range(2):
            xv, hv = x[0, :, i, j], h[0, :, i, j]
            zr = torch.sigmoid(Wg @ torch.cat([xv, hv]) + bg)
            z, r = zr[:2], zr[2:]
            n = torch.tanh(Wn @ torch.cat([xv, r * hv]) + bn)
            assert torch.allclose(out[0, :, i, j], (1 - z) * hv + z * n, atol=1e-6)
    # no hidden state = zeros
    assert torch.allclose(cell(x), cell(x, torch.zeros_like(h)))


def test_recursive_prediction_follows_section_3_3():
    net = small_net().eval()
    x = torch.randn(1, 5, 3, 32, 32)
    with torch.no_grad():
        pred, target = net.pretext(x, context=3)
        f = net.encode(x)
        h = None
        for t in range(3):
            h = net.gru(f[:, t], h)
        p1 = net.predictor(h)                  # p_{C+1} = p(g(f(x_C)))
        p2 = net.predictor(net.gru(p1, h))     # p_{C+2} = p(g(p_{C+1}))
    assert torch.allclose(pred[:, 0], p1, atol=1e-5) and torch.allclose(pred[:, 1], p2, atol=1e-5)
    assert torch.allclose(target, f[:, 3:], atol=1e-5)


def test_model_is_causal():
    net = small_net().eval()
    x = torch.randn(1, 5, 3, 32, 32)
    x2 = x.clone()
    x2[:, 3:] = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        y, y2 = net(x), net(x2)
    assert torch.allclose(y[:, :3], y2[:, :3], atol=1e-6)
    assert not torch.allclose(y[:, 3:], y2[:, 3:], atol=1e-4)


def test_sparse_bptt_only_from_labelled_frame():
    net = small_net().eval()  # eval: BN running stats, so frames cannot talk through batch statistics
    x = torch.randn(2, 6, 3, 32, 32, requires_grad=True)
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[0, 1] = True
    mask[1, 3] = True
    au = torch.rand(2, 6, 3)
    out = make_sparse_step()(net, {"image": x, "au": au, "mask": mask})
    out.loss.backward()
    g = x.grad.abs().flatten(2).sum(-1)        # (B, T)
    assert (g[0, :2] > 0).all() and (g[0, 2:] == 0).all()
    assert (g[1, :4] > 0).all() and (g[1, 4:] == 0).all()
    with torch.no_grad():
        want = net(x)[mask]
        got = sparse_forward(net, x, mask)
    assert torch.allclose(got, want, atol=1e-5)
    expected = ((want - au[mask]) ** 2).sum(-1).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError):
        sparse_forward(net, x, torch.zeros(2, 6, dtype=torch.bool))


def test_pretrain_step_logs_topn():
    net = small_net()
    out = make_pretrain_step(context=3)(net, {"image": torch.randn(2, 5, 3, 32, 32)})
    assert torch.isfinite(out.loss) and out.n_images == 10
    assert 0 <= out.logs["top1"] <= out.logs["top3"] <= out.logs["top5"] <= 1


def test_causal_window_index():
    idx, valid = causal_window_index(5, window=3, stride=2)
    assert idx.tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 3], [0, 2, 4]]
    assert valid.tolist() == [[False, False, True], [False, False, True], [False, True, True],
                              [False, True, True], [True, True, True]]


def test_predict_from_features_equals_explicit_windows():
    net = small_net().eval()
    feats = torch.randn(7, 256, 2, 2)
    with torch.no_grad():
        got = predict_from_features(net, feats, window=3, stride=2, chunk=4)
        full = net.regress(net.aggregate(feats[[2, 4, 6]][None]))[0, -1]      # frame 6: frames 2, 4, 6
        short = net.regress(net.aggregate(feats[[1, 3]][None]))[0, -1]        # frame 3: frames 1, 3
        first = net.regress(net.aggregate(feats[[0]][None]))[0, -1]           # frame 0 alone
    assert got.shape == (7, 3)
    assert torch.allclose(got[6], full, atol=1e-5)
    assert torch.allclose(got[3], short, atol=1e-5)
    assert torch.allclose(got[0], first, atol=1e-5)


def test_the_layer4_reading_of_the_256_channel_block_is_a_parameter(tmp_path):
    """§3.2's "last block set to 256 channels" read as a fourth stage at stride 1: same 256x8x8 features,
    two more basic blocks (2 x 1,180,672 weights), and its deploy.pt rebuilds the same network."""
    from aukit import deploy
    from aukit.methods.cpc import experiment as X
    from aukit.methods.cpc.deploy import export_deployable
    cut, deep = CPCNet(CPCModelConfig()), CPCNet(CPCModelConfig(encoder="layer4_256"))
    count = [sum(p.numel() for p in m.encoder.parameters()) for m in (cut, deep)]
    assert count[1] - count[0] == 2 * (2 * 256 * 256 * 9 + 2 * 2 * 256)
    assert deep.encoder(torch.randn(1, 3, 128, 128)).shape == (1, 256, 8, 8)
    assert X.settings_for("quick", encoder="layer4_256")[1].encoder == "layer4_256"
    with pytest.raises(ValueError, match="encoder"):
        CPCNet(CPCModelConfig(encoder="layer5"))
    small = CPCNet(CPCModelConfig(image_size=32, num_aus=2, encoder="layer4_256")).eval()
    net = deploy.load(export_deployable(small, ["AU01", "AU02"], tmp_path / "d.pt", "synthau-disfa", size=32))
    assert any("encoder.body.4." in k for k in net.state_dict())      # rebuilt with the fourth stage (strict load)
