"""SCC's, CPC's, RTATL's and PIAP-DF's steps under DDP (gloo, 2 CPU processes) train one process's objective on
the global batch, as TAS's do (tests/test_tas_ddp.py).

DDP averages the ranks' gradients. A mean over a count that differs between the ranks' shares (SCC's labelled
maps, RTATL's labelled intact AUs and flow targets, PIAP-DF's coded AUs) weighed the entries of the share with
fewer more, and a contrastive loss over a share's rows (CPC's batch negatives, RTATL's exemplar baseline) saw half
the negatives. Each batch below splits its labels unevenly over two halves; two ranks on the halves must give, on
average, one process's loss and logs, and (after DDP's average) its gradients. The models run in eval mode:
BatchNorm's batch statistics are the one thing that stays each rank's own (SyncBatchNorm needs CUDA).

SCC's and PIAP-DF's models run inside DistributedDataParallel, as ``aukit.train.fit`` wraps them. CPC's and
RTATL's steps call model methods other than ``forward`` (``pretext``, ``generator``, ``flow_head`` ...), which the
wrapper does not expose: there each rank runs the step on its plain model and the test averages the gradients
over the ranks itself, as DDP's all-reduce would.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp
from ddp_helpers import free_port, join_group, outcome

from aukit.train import StepOutput

B, WORLD = 4, 2
NAN = float("nan")


def _images(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _scc() -> dict:
    from aukit.methods.scc import SCCHeatmapNet, SCCModelConfig
    from aukit.methods.scc.config import SCCTrainConfig
    from aukit.methods.scc.losses import HeatmapMSELoss
    from aukit.methods.scc.step import batch_targets, make_step

    def build():
        torch.manual_seed(0)
        return SCCHeatmapNet(SCCModelConfig(depth=18, input_size=64, deconv_channels=16, k=3, n_points=6)).eval()

    def summed(model, batch):                                   # Eq. 2 summed over the batch
        pred = model(batch["image"])
        target, valid = batch_targets(batch, pred.shape[-1], SCCTrainConfig())
        loss = HeatmapMSELoss("sum")(pred, target, valid)
        return StepOutput(loss, {"sum": loss.detach()})

    g = torch.Generator().manual_seed(1)
    intensity = torch.rand(B, 3, generator=g) * 5
    intensity[0, 1:] = NAN                                      # the first half: 1 of 6 AUs labelled, the second 6
    intensity[1] = NAN
    batch = {"image": _images(B, 3, 64, 64, seed=2), "centres": torch.rand(B, 3, 2, 2, generator=g) * 50 + 7,
             "intensity": intensity}
    return {"mean": (build, make_step(SCCTrainConfig()), batch), "sum": (build, summed, batch)}


def _cpc() -> dict:
    from aukit.methods.cpc import CPCModelConfig, CPCNet, InfoNCELoss
    from aukit.methods.cpc.step import make_pretrain_step

    def build():
        torch.manual_seed(0)
        return CPCNet(CPCModelConfig(image_size=32, num_aus=2)).eval()

    batch = {"image": _images(B, 4, 3, 32, 32, seed=3)}       # T = 4 frames: 2 of context, 2 predicted
    return {"batch_negatives": (build, make_pretrain_step(2, InfoNCELoss(batch_negatives=True)), batch)}


RT_S, RT_INP, RT_PATCH = 68, 64, 16


def _rtatl() -> dict:
    from aukit.methods.rtatl import RTATLModelConfig, RTATLNet, RTATLStep, RTATLTrainConfig

    def setup(aus, **train):
        # crop = the whole face and no flip: the step's random draws (its generator is each rank's) change nothing
        tc = RTATLTrainConfig(aus=aus, image_size=RT_S, crop_size=RT_S, flip=False, **train)

        def build():
            torch.manual_seed(0)
            mc = RTATLModelConfig(aus=aus, input_size=RT_INP, patch=RT_PATCH, roi_channels=16, d_model=16,
                                  n_heads=2, ff_dim=32, gan_width=8, flow_width=16)
            return RTATLNet(mc, tc).eval()
        return build, RTATLStep(tc, RT_INP, RT_PATCH)

    g = torch.Generator().manual_seed(4)
    image = torch.rand(B, 3, RT_S, RT_S, generator=g) * 2 - 1
    image = (image + image.flip(-1)) / 2                       # mirror-symmetric: the exemplar view's flip is a no-op
    labels = (torch.rand(B, 4, generator=g) < 0.5).float()
    labels[0, 1:], labels[1] = NAN, NAN                         # the first half: 1 of 8 labels, the second 8
    batch = {"image": image, "centres": torch.rand(B, 4, 2, 2, generator=g) * 40 + 14, "labels": labels,
             "flow": torch.randn(B, 2, RT_S, RT_S, generator=g), "flow_valid": torch.tensor([True, False, True, True])}
    # L_sup, L_F (1 and 2 flow targets a half) and the exemplar baseline's InfoNCE between the views
    sup = setup((1, 2, 4, 6), roii=False, exemplar=True, exemplar_contrast=0.0, exemplar_brightness=0.0)
    # RoII with one AU, cut in every image: the GAN terms' means over equal shares (right before the fix too)
    one = {**batch, "centres": batch["centres"][:, :1], "labels": torch.tensor([[1.0], [NAN], [0.0], [NAN]])}
    gan = setup((1,), ofe=False, mask_prob=1.0)
    return {"sup_flow_exemplar": (*sup, batch), "roii": (*gan, one)}


def _piap_df() -> dict:
    from aukit.methods.piap_df.config import NetConfig
    from aukit.methods.piap_df.losses import PIAPLoss
    from aukit.methods.piap_df.model import DWUNet, PIAPNet
    from aukit.methods.piap_df.step import PIAPStep, PITargets

    def build():
        torch.manual_seed(0)
        return PIAPNet(NetConfig(trunk="tiny_dw", image_size=32, tiny_width=8, unet_width=4, unet_depth=3,
                                 decoder_width=16, aus=(1, 2))).eval()

    torch.manual_seed(1)
    step = PIAPStep(PIAPLoss(0.5, 0.25, 0.25), PITargets(DWUNet(2, width=4, depth=3)))
    au = torch.tensor([[1.0, NAN], [NAN, NAN], [0.0, 1.0], [1.0, 1.0]])    # 1 coded AU, then 4
    dim = build()(torch.zeros(1, 3, 32, 32))["feature"].shape[1]
    batch = {"image": _images(B, 3, 32, 32, seed=5), "au": au, "person": _images(B, dim, seed=6)}
    return {"eq6": (build, step, batch)}


METHODS = {"scc": _scc, "cpc": _cpc, "rtatl": _rtatl, "piap_df": _piap_df}
WRAPPED = {"scc", "piap_df"}                                    # run inside DistributedDataParallel


def _share(batch: dict, rank: int, world: int) -> dict:
    per = B // world
    return {k: v[rank * per:(rank + 1) * per] for k, v in batch.items()}


def _run(model, step, batch: dict, rank: int = 0, world: int = 1) -> dict:
    model.zero_grad(set_to_none=True)
    return outcome(model, step(model, _share(batch, rank, world)))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    join_group(rank, world, port)
    from aukit.runtime import mean_denominator
    count = torch.tensor(rank + 1)                              # 1 and 2 entries: 3 in all
    with torch.no_grad():                                       # evaluation: the rank's own count, no collective
        own = mean_denominator(count)
    got = {"denominator": (mean_denominator(count), own)}
    for method, setups in METHODS.items():
        for name, (build, step, batch) in setups().items():
            if method in WRAPPED:
                got[method, name] = _run(torch.nn.parallel.DistributedDataParallel(build()), step, batch, rank, world)
                continue
            got[method, name] = _run(build(), step, batch, rank, world)
            for g in got[method, name]["grads"].values():     # DDP's average over the ranks
                torch.distributed.all_reduce(g)
                g /= world
    torch.save(got, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    """Every method's setups on two ranks, one spawn for all (starting the processes is most of the time)."""
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(WORLD, free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_ranks_on_halves_train_one_process_objective(method, ranks):
    one = {name: _run(build(), step, batch) for name, (build, step, batch) in METHODS[method]().items()}
    for name, want in one.items():
        got = [r[method, name] for r in ranks]
        assert want["loss"] > 0, name
        # fit logs the ranks' mean of the loss and of each log
        torch.testing.assert_close(sum(r["loss"] for r in got) / WORLD, want["loss"], rtol=1e-5, atol=1e-6,
                                   msg=f"{method} {name}")
        assert got[0]["logs"].keys() == want["logs"].keys()
        for k, v in want["logs"].items():
            assert sum(r["logs"][k] for r in got) / WORLD == pytest.approx(v, rel=1e-5, abs=1e-6), f"{name} {k}"
        assert got[0]["grads"].keys() == want["grads"].keys(), name
        for k, g in want["grads"].items():                    # DDP's average of the two ranks'
            torch.testing.assert_close(got[0]["grads"][k], g, rtol=1e-4, atol=1e-6, msg=f"{method} {name} {k}")
            torch.testing.assert_close(got[1]["grads"][k], got[0]["grads"][k], msg=f"{method} {name} {k}")


def test_a_rank_divides_by_the_global_count_over_the_ranks_and_by_its_own_outside_autograd(ranks):
    assert [r["denominator"][0].item() for r in ranks] == [1.5, 1.5]
    assert [r["denominator"][1].item() for r in ranks] == [1, 2]


def _same(got: torch.Tensor, want: torch.Tensor, leaf: torch.Tensor) -> None:
    """Bit for bit: the value and the gradient at ``leaf``."""
    assert torch.equal(got, want), (got, want)
    assert torch.equal(*(torch.autograd.grad(v, leaf, retain_graph=True)[0] for v in (got, want)))


def test_one_process_losses_are_the_plain_masked_means_bit_for_bit():
    """Outside a process group each fixed loss is, value and gradient bit for bit, its plain masked mean (the
    code before the DDP fix, written out here), a count of 0 included."""
    import torch.nn.functional as F
    from aukit.methods.piap_df.losses import AULoss
    from aukit.methods.rtatl.losses import FlowLoss, SupervisedBCELoss
    from aukit.methods.scc.losses import HeatmapMSELoss

    g = torch.Generator().manual_seed(7)
    pred, target = torch.randn(3, 4, 8, 8, generator=g, requires_grad=True), torch.randn(3, 4, 8, 8, generator=g)
    per_map = ((pred.float() - target.float()) ** 2).flatten(2).sum(-1)
    for valid in (torch.rand(3, 4, generator=g) < 0.5, torch.zeros(3, 4, dtype=torch.bool)):
        total = torch.where(valid, per_map, torch.zeros_like(per_map)).sum()
        _same(HeatmapMSELoss()(pred, target, valid), total / (valid.sum() * 64).clamp_min(1), pred)
        _same(HeatmapMSELoss("sum")(pred, target, valid), total, pred)

    logits = torch.randn(5, 3, generator=g, requires_grad=True)
    labels = torch.where(torch.rand(5, 3, generator=g) < 0.3, NAN, (torch.rand(5, 3, generator=g) < 0.5).float())
    intact = torch.rand(5, 3, generator=g) < 0.7
    for keep_intact in (intact, torch.zeros_like(intact)):
        keep = ~torch.isnan(labels) & keep_intact
        w = keep.float()
        per = F.binary_cross_entropy_with_logits(torch.where(keep, logits, 0.0), torch.where(keep, labels, 0.0),
                                                 reduction="none")
        _same(SupervisedBCELoss()(logits, labels, keep_intact), (per * w).sum() / w.sum().clamp_min(1.0), logits)

    flow, flow_target = torch.randn(3, 2, 4, 4, generator=g, requires_grad=True), torch.randn(3, 2, 4, 4, generator=g)
    for valid in (torch.tensor([True, False, True]), torch.zeros(3, dtype=torch.bool)):
        w = valid.float()
        want = ((flow - flow_target).abs().mean(dim=(1, 2, 3)) * w).sum() / w.sum().clamp_min(1.0)
        _same(FlowLoss()(flow, flow_target, valid), want, flow)

    valid = ~torch.isnan(labels)
    per = F.binary_cross_entropy_with_logits(logits, torch.where(valid, labels, torch.zeros_like(labels)),
                                             reduction="none")
    _same(AULoss()(logits, labels), (per * valid).sum() / valid.sum(), logits)
