"""Mutation audit round 5, RTATL's step: what L_G may train, the pseudo labels of RoII, the masked input of
the backbone, the patch/label pairing of L_C, and the weight of the Table 1 baselines."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLStep, RTATLTrainConfig

AUS = (1, 2, 4, 6)
S, INP, PATCH = 68, 64, 16


def _batch(b=4, seed=0, labels=None):
    g = torch.Generator().manual_seed(seed)
    lab = (torch.rand(b, len(AUS), generator=g) < 0.5).float() if labels is None else labels
    return {"image": torch.rand(b, 3, S, S, generator=g) * 2 - 1,
            "centres": torch.rand(b, len(AUS), 2, 2, generator=g) * 40 + 14,
            "labels": lab, "flow": torch.randn(b, 2, 17, 17, generator=g),
            "flow_valid": torch.tensor([True] * (b - 1) + [False])}


def _net(**train):
    torch.manual_seed(0)
    mc = RTATLModelConfig(aus=AUS, input_size=INP, patch=PATCH, gan_width=8, flow_width=16)
    tc = RTATLTrainConfig(aus=AUS, crop_size=INP, image_size=S, **train)
    return RTATLNet(mc, tc), tc


def test_generator_loss_trains_neither_the_discriminator_nor_the_patch_classifier():
    """L_G (Eqs. 3, 4, 6) reads D and C with their weights frozen: its gradient reaches G only (catches D
    called plainly, which would train D to be fooled)."""
    net, tc = _net(mask_prob=1.0)
    step = RTATLStep(tc, INP, PATCH)
    got, real_g = [], step.g_loss
    step.g_loss = lambda *a: got.append(real_g(*a)) or got[-1]
    step(net, _batch())
    assert len(got) == 1
    l_g = got[0][0]
    frozen = list(net.discriminator.parameters()) + list(net.classifier.parameters())
    assert all(g is None or not g.abs().sum() for g in torch.autograd.grad(l_g, frozen, allow_unused=True,
                                                                         retain_graph=True))
    gen = torch.autograd.grad(l_g, list(net.generator.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in gen)


@pytest.mark.parametrize("shift,want", [(20.0, 1.0), (-20.0, 0.0)])
def test_pseudo_label_of_an_unlabelled_cut_au_is_the_backbones_confident_guess(shift, want):
    """§3.3.1: an unlabelled image's cut AU gets the label 1 when the backbone's probability exceeds
    the threshold, else 0 (catches the comparison turned around)."""
    net, tc = _net(mask_prob=1.0)
    forward = net.forward
    net.forward = lambda *a, **k: {**(o := forward(*a, **k)), "logits": o["logits"] + shift}
    step = RTATLStep(tc, INP, PATCH)
    seen, real_c = [], step.c_loss
    step.c_loss = lambda c, y: seen.append(y.detach()) or real_c(c, y)
    step(net, _batch(labels=torch.full((4, len(AUS)), float("nan"))))
    assert seen[0].tolist() == [want] * 8                        # 4 images, both RoIs of each


def test_the_patches_and_their_labels_stay_paired():
    """G(x) yields the two RoIs of each cut image in turn (image 0 left, image 0 right, image 1 ...):
    L_C's labels must follow that order (catches the labels tiled image by image instead)."""
    labels = torch.tensor([[1.0] * 4, [1.0] * 4, [0.0] * 4, [1.0] * 4])
    net, tc = _net(mask_prob=1.0)
    step = RTATLStep(tc, INP, PATCH)
    seen, real_c = [], step.c_loss
    step.c_loss = lambda c, y: seen.append(y.detach()) or real_c(c, y)
    step(net, _batch(labels=labels))
    y = seen[0]
    assert y.sum().item() == 6 and torch.equal(y[0::2], y[1::2])


def test_the_backbone_sees_the_cut_rois_whited_out():
    """RoII (§3.3): the backbone's input is the image with the cut RoIs filled (catches the intact image
    fed while only L_sup's mask knows of the cut)."""
    net, tc = _net(mask_prob=1.0)
    inputs = []
    net.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach()))
    RTATLStep(tc, INP, PATCH)(net, _batch())
    x = inputs[0]
    filled = (x == tc.mask_fill).all(1).flatten(1).sum(1)       # pixels white in every channel, per image
    assert (filled >= PATCH * PATCH).all(), filled.tolist()


def test_rotation_baseline_is_weighted_by_aux_weight():
    """Table 1's rotation baseline adds aux_weight * L_rot (catches the weight left out)."""
    net, tc = _net(roii=False, ofe=False, rotation=True, aux_weight=0.3)
    res = RTATLStep(tc, INP, PATCH)(net, _batch())
    lg = res.logs
    assert lg["l_rot"].item() > 0.1
    assert res.loss.item() == pytest.approx((lg["l_sup"] + 0.3 * lg["l_rot"]).item(), rel=1e-5)


# ---------------------------------------------------------------- data: the paired batches and the flow targets
class _Loader:
    """Stands in for BatchLoader: the first ``batch_size`` rows, their targets as tensors."""

    def __init__(self, store, rows, batch_size, *, device, seed=0, targets=None, **kw):
        self.rows, self.bs, self.targets = np.asarray(rows), batch_size, targets or {}

    def set_epoch(self, epoch):
        pass

    def __len__(self):
        return len(self.rows) // self.bs

    def __iter__(self):
        for i in range(len(self)):
            r = self.rows[i * self.bs:(i + 1) * self.bs]
            yield {"image": torch.full((len(r), 3, 2, 2), float(i)), "rows": torch.as_tensor(r),
                   **{k: torch.as_tensor(v[r]) for k, v in self.targets.items()}}


def test_paired_batches_leave_the_unlabelled_faces_unlabelled_and_without_flow(monkeypatch):
    """PairedLoader appends the unlabelled faces with NaN labels (not 0: L_sup would train every AU of them
    towards absent) and flow_valid False (no flow target)."""
    import aukit.data.loader as loader_mod
    from aukit.methods.rtatl.data import PairedLoader, RTATLData

    monkeypatch.setattr(loader_mod, "BatchLoader", _Loader)
    n, a = 6, len(AUS)
    data = RTATLData(store=None, aus=AUS, labels=np.ones((n, a), np.float32),
                     centres=np.zeros((n, a, 2, 2), np.float32),
                     train_rows=np.arange(4), test_rows=np.arange(4, 6), flow=np.ones((n, 2, 3, 3), np.float32),
                     flow_valid=np.ones(n, bool), unlabelled=object(), unlabelled_rows=np.arange(5),
                     unlabelled_centres=np.zeros((5, a, 2, 2), np.float32))
    batch = next(iter(PairedLoader(data, 2, 3, device="cpu")))
    assert batch["image"].shape[0] == 5
    assert (batch["labels"][:2] == 1).all() and torch.isnan(batch["labels"][2:]).all()
    assert batch["flow_valid"].tolist() == [True, True, False, False, False]
    assert (batch["flow"][2:] == 0).all()


def test_flow_targets_are_in_pixels_of_the_aligned_face(monkeypatch):
    """The data layer gives the flow in pixels of its flow_size grid; RTATL's step wants pixels of the
    stored face (store.size): a 1-pixel shift on a 64 grid is 200 / 64 pixels of a 200-pixel face
    (catches the rescaling left out)."""
    import pandas as pd

    from aukit import data as D
    from aukit.methods.rtatl import data as rdata

    index = pd.DataFrame({"subject": ["a", "a", "b", "b"], "sequence": "T1", "frame": [0, 1, 0, 1],
                          **{f"occ_AU{x:02d}": [1.0, 0.0, 0.0, 1.0] for x in AUS}})

    class Store:
        size, cache_hash = 200, "h"

        def __init__(self):
            self.index = index

        def __len__(self):
            return 4

        def au_centres(self, aus):
            return np.zeros((4, len(aus), 2, 2), np.float32)

    raw = np.ones((4, 2, 64, 64), np.float32)
    raw[:, 1] = -2.0                                             # v = -2 grid pixels
    raw[3] = np.nan                                              # the last frame has no successor
    monkeypatch.setattr(D, "load_store", lambda name, policy: Store())
    monkeypatch.setattr(D, "fold_subjects", lambda dataset, fold, present=None: (["a"], ["b"]))
    monkeypatch.setattr(D, "flow", lambda store, step, size: raw)
    out = rdata.load_data("synthau-bp4d", 1, AUS, unlabelled="", flow_size=64)
    assert out.flow.shape == (4, 2, 32, 32)
    np.testing.assert_allclose(out.flow[0, 0], 200 / 64)
    np.testing.assert_allclose(out.flow[0, 1], -2 * 200 / 64)
    assert out.flow_valid.tolist() == [True, True, True, False] and (out.flow[3] == 0).all()
    assert out.train_rows.tolist() == [0, 1] and out.test_rows.tolist() == [2, 3]


def _cut_aus(monkeypatch, batch):
    """Place AU j's centres at height 16 + 12 j and record the cut AU of each image (read from the height
    of the masked points: the random crop shifts them up by 0..4 px)."""
    import aukit.methods.rtatl.step as step_mod

    cut, real_mask = [], step_mod.mask_rois
    monkeypatch.setattr(step_mod, "mask_rois", lambda x, pts, *a: cut.append(pts) or real_mask(x, pts, *a))
    centres = torch.tensor([[[20.0, 16.0 + 12 * j], [46.0, 16.0 + 12 * j]] for j in range(len(AUS))])
    batch["centres"] = centres.expand(batch["image"].shape[0], -1, -1, -1).clone()
    return lambda: ((cut[0][:, 0, 1] - 14) / 12).round().long().tolist()


def test_pseudo_label_is_read_from_the_cut_aus_own_output(monkeypatch):
    """§3.3.1: the pseudo label of the cut AU k is the backbone's output for AU k (catches another AU's
    output read): only AU 0 is predicted absent here."""
    net, tc = _net(mask_prob=1.0)
    forward = net.forward
    shift = torch.tensor([-20.0] + [20.0] * (len(AUS) - 1))
    net.forward = lambda *a, **k: {**(o := forward(*a, **k)), "logits": o["logits"] + shift}
    step = RTATLStep(tc, INP, PATCH)
    seen, real_c = [], step.c_loss
    step.c_loss = lambda c, y: seen.append(y.detach()) or real_c(c, y)
    batch = _batch(labels=torch.full((4, len(AUS)), float("nan")))
    aus = _cut_aus(monkeypatch, batch)
    step(net, batch)
    want = sorted(float(a != 0) for a in aus() for _ in range(2))
    assert 1.0 in want and sorted(seen[0].tolist()) == want


def test_the_generator_inpaints_from_the_cut_aus_relation_features(monkeypatch):
    """G(x) reads the attended RoI features of the cut AU's two RoIs (catches another AU's tokens)."""
    net, tc = _net(mask_prob=1.0)
    rel, tok = [], []
    net.register_forward_hook(lambda m, i, o: rel.append(o["relation"].detach()))
    net.generator.register_forward_pre_hook(lambda m, args: tok.append(args[0].detach()))
    batch = _batch()
    aus = _cut_aus(monkeypatch, batch)
    RTATLStep(tc, INP, PATCH)(net, batch)
    r = rel[0].reshape(4, len(AUS), 2, -1)
    want = {i: r[i, a].reshape(-1) for i, a in enumerate(aus())}
    pairs = tok[0].reshape(4, -1)                                  # one row per cut image, in the step's order
    matched = sorted(next(i for i, w in want.items() if torch.allclose(p, w, atol=1e-6)) for p in pairs)
    assert matched == [0, 1, 2, 3]


def test_exemplar_loss_is_the_symmetrised_infonce_of_the_two_views():
    """ExemplarLoss: mean of the InfoNCE of z1 against z2 and of z2 against z1 (catches one direction only)."""
    import torch.nn.functional as F

    from aukit.methods.rtatl.losses import ExemplarLoss
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    a, b = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    sim = a @ b.T / 0.5
    row = -torch.log_softmax(sim, 1).diagonal().mean()
    col = -torch.log_softmax(sim, 0).diagonal().mean()
    assert abs(row - col) > 0.05                                   # the two directions differ here
    assert ExemplarLoss(0.5)(z1, z2).item() == pytest.approx((0.5 * (row + col)).item(), rel=1e-5)


def test_rotation_pretext_rotates_each_image_by_its_own_quarter_turns():
    """The rotation baseline's input: image i turned by k_i * 90 degrees, k_i in 0..3 (catches k = 3 left
    unrotated)."""
    from aukit.methods.rtatl.step import _rotate
    x = torch.arange(4 * 3 * 3 * 3, dtype=torch.float32).view(4, 3, 3, 3)
    k = torch.tensor([0, 1, 2, 3])
    out = _rotate(x, k)
    for i in range(4):
        assert torch.equal(out[i], x[i].rot90(int(k[i]), dims=(1, 2)))
