"""Short trainings through aukit.train.fit lower the CPC losses (synthetic clips)."""
import torch

from aukit.methods.cpc import CPCModelConfig, CPCNet, FrameRegressor, make_frame_step, make_pretrain_step, \
    make_sparse_step
from aukit.train import TrainConfig, fit


def moving_clips(n, T=5, size=32, seed=0):
    """Random textures drifting right one pixel per frame: the future is predictable from the past."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 3, size, size + T, generator=g)
    return torch.cat([base[..., t:t + size] for t in range(T)], 1) * 2 - 1      # (n, T, 3, S, S)


def test_pretraining_lowers_infonce():
    torch.manual_seed(0)
    net = CPCNet(CPCModelConfig(num_aus=2))
    batches = [{"image": moving_clips(4, seed=s)} for s in range(3)]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    hist = fit(net, make_pretrain_step(context=3), batches, opt, TrainConfig(epochs=6, progress=False),
               device="cpu")
    assert hist[-1]["train_loss"] < 0.7 * hist[0]["train_loss"]
    assert hist[-1]["train_top1"] >= hist[0]["train_top1"]


def test_sparse_and_frame_training_lower_l2():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 4, 3, 32, 32, generator=g) * 2 - 1
    au = x.mean((2, 3, 4)).unsqueeze(-1).repeat(1, 1, 2) * 3 + 1               # (6, 4, 2): brightness
    mask = torch.zeros(6, 4, dtype=torch.bool)
    mask[torch.arange(6), torch.tensor([0, 1, 2, 3, 1, 2])] = True
    batches = [{"image": x[i:i + 3], "au": au[i:i + 3], "mask": mask[i:i + 3]} for i in (0, 3)]
    net = CPCNet(CPCModelConfig(num_aus=2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    hist = fit(net, make_sparse_step(), batches, opt, TrainConfig(epochs=8, progress=False), device="cpu")
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]

    frames = [{"image": b["image"].flatten(0, 1), "au": b["au"].flatten(0, 1)} for b in batches]
    r18 = FrameRegressor(CPCModelConfig(num_aus=2))
    opt = torch.optim.Adam(r18.parameters(), lr=1e-3)
    hist = fit(r18, make_frame_step(), frames, opt, TrainConfig(epochs=8, progress=False), device="cpu")
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]
