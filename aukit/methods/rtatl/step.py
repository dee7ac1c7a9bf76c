"""RTATL training step for ``aukit.train.fit`` (Eq. 9 plus the Table 1 baselines).

One forward pass, one backward pass, two Adam optimisers ({"net", "critic"}): the GAN
players never share gradients because
- L_D and L_C see G(x) detached (their gradients reach only D and C), and
- L_G sees D and C through ``torch.func.functional_call`` with detached weights
  (its gradients reach only G and, through the RoI features, the backbone).
So L = L_sup + L_D + L_C + L_G + lambda_f * L_F can be back-propagated once.
L_C (Eq. 5) trains C; the paper's Eq. 9 leaves it out of the sum, but C must learn somewhere.

Batch (a dict from ``PairedLoader`` or any loader): ``image`` (B, 3, S, S) normalised
aligned faces, ``centres`` (B, N, 2, 2) AU centres in pixels of S, ``labels`` (B, N)
0/1/NaN (NaN = unknown or unlabelled image), optional ``flow`` (B, 2, r, r) in pixels
of S with ``flow_valid`` (B,) bool.
"""
from __future__ import annotations

import torch
from torch.func import functional_call
from torch.profiler import record_function

from aukit.runtime import gather_rows, running_stats_kept
from aukit.train import StepOutput

from .config import RTATLTrainConfig
from .geometry import augment, crop_patches, intact_aus, mask_rois
from .losses import (DiscriminatorLoss, ExemplarLoss, FlowLoss, GeneratorLoss, PatchClassifierLoss, PretextCELoss,
                     SupervisedBCELoss)


def _frozen(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """module(x) with its weights detached: gradients flow to x only."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return functional_call(module, params, (x,))


def _rotate(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate each image (B, 3, H, H) by k[i] * 90 degrees."""
    out = x
    for r in (1, 2, 3):
        out = torch.where((k == r)[:, None, None, None], x.rot90(r, dims=(2, 3)), out)
    return out


def _jigsaw_tiles(x: torch.Tensor, perms: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, H) -> (B*9, 3, H/3, H/3) tiles shuffled by ``perms[which]``, position-major per image."""
    b, c, h, _ = x.shape
    t = h // 3
    tiles = x[:, :, :3 * t, :3 * t].reshape(b, c, 3, t, 3, t).permute(0, 2, 4, 1, 3, 5).reshape(b, 9, c, t, t)
    order = perms[which]                                               # (B, 9)
    tiles = tiles[torch.arange(b, device=x.device)[:, None], order]
    return tiles.reshape(b * 9, c, t, t)


def _pooled(net, x: torch.Tensor) -> torch.Tensor:
    return net.backbone.features(x)[-1].mean(dim=(-2, -1))


class RTATLStep:
    """``step(model, batch) -> StepOutput``; model is an ``RTATLNet``. Seeded for resumable randomness: its
    generator (crops, flips, the RoIs cut) is reseeded from (seed, epoch) at every epoch (:meth:`set_epoch`,
    which ``fit`` calls), so a run resumed from last.pt draws what the uninterrupted run draws (a new step
    replayed epoch 1's draws)."""

    def __init__(self, cfg: RTATLTrainConfig, input_size: int, patch: int, seed: int = 0):
        self.cfg, self.input_size, self.patch, self.seed = cfg, input_size, patch, int(seed)
        self.gen = torch.Generator().manual_seed(self.seed)
        self.sup, self.d_loss, self.c_loss = SupervisedBCELoss(), DiscriminatorLoss(), PatchClassifierLoss()
        self.g_loss = GeneratorLoss(cfg.lambda1, cfg.lambda2)
        self.flow_loss, self.ce, self.exemplar = FlowLoss(), PretextCELoss(), ExemplarLoss(cfg.exemplar_tau)

    def set_epoch(self, epoch: int) -> None:
        """The generator for ``epoch``, on the device it is on (epoch 0: ``seed`` itself)."""
        self.gen = torch.Generator(device=self.gen.device).manual_seed(self.seed + 1_000_003 * int(epoch))

    def _gen_on(self, dev: torch.device) -> torch.Generator:
        """The step's generator on the batch's device, so that random draws need no host-to-device copy
        (on the GPU, one seeded from ``self.gen``'s seed replaces it at the first step)."""
        if self.gen.device != dev:
            self.gen = torch.Generator(device=dev).manual_seed(self.gen.initial_seed())
        return self.gen

    def _rand(self, *shape):
        return torch.rand(shape, generator=self.gen, device=self.gen.device)

    def __call__(self, model, batch: dict) -> StepOutput:
        cfg, dev = self.cfg, batch["image"].device
        gen = self._gen_on(dev)
        flow = batch.get("flow") if cfg.ofe else None
        if flow is not None:
            flow = torch.nan_to_num(flow.float(), nan=0.0)
        x, c, f = augment(batch["image"], batch["centres"].float(), flow, crop=cfg.crop_size, out=self.input_size,
                          train=True, flip=cfg.flip, generator=gen)
        labels = batch["labels"].float()
        b, n = labels.shape
        logs: dict = {}

        if cfg.roii:  # RoI inpainting (§3.3): cut both RoIs of one random AU per selected image
            # choice: exactly round(mask_prob * B) random images per step, not a coin per image: the
            # GAN heads then see one batch shape (no cuDNN re-tuning, no host sync to count them)
            sel = torch.randperm(b, generator=gen, device=dev)[:round(cfg.mask_prob * b)]
            active = torch.zeros(b, dtype=torch.bool, device=dev).index_fill_(0, sel, True)
            au = torch.randint(0, n, (b,), generator=gen, device=dev)
            pts = c[torch.arange(b, device=dev), au]                          # (B, 2, 2)
            real = crop_patches(x, pts, self.patch)                           # (B, 2, 3, s, s)
            x_in = mask_rois(x, pts, self.patch, model.mask_fill, active)     # cfg.mask_fill, normalised
            intact = intact_aus(c, au, self.patch, active)
        else:
            x_in, intact = x, None
        out = model(x_in, c if model.model_cfg.roi else None)
        loss = self.sup(out["logits"], labels, intact)
        logs["l_sup"] = loss.detach()

        if cfg.roii and len(sel):
            with record_function("rtatl.gan"):                                # G, D, C on the masked RoIs
                k = au[sel]
                d = out["relation"].shape[-1]
                tok = out["relation"].reshape(b, n, 2, d)[sel, k].reshape(-1, d)  # (2M, d) attended RoI features
                fake = model.generator(tok)                                       # (2M, 3, s, s)
                real_m = real[sel].reshape(fake.shape).to(fake.dtype)
                if cfg.pseudo_source == "intact":           # a second forward: BatchNorm's running stats kept
                    with torch.no_grad(), running_stats_kept(model):
                        p = model(x[sel], c[sel])["logits"][torch.arange(len(sel), device=dev), k]
                else:
                    p = out["logits"][sel, k].detach()
                lab = labels[sel, k]
                y = torch.where(torch.isnan(lab), (torch.sigmoid(p.float()) > cfg.pseudo_threshold).float(), lab)
                y2, k2 = y.repeat_interleave(2), k.repeat_interleave(2)
                rows = torch.arange(len(k2), device=dev)
                l_d = self.d_loss(model.discriminator(real_m), model.discriminator(fake.detach()))
                l_c = self.c_loss(model.classifier(real_m)[rows, k2], y2)
                l_g, parts = self.g_loss(_frozen(model.discriminator, fake), fake, real_m,
                                         _frozen(model.classifier, fake)[rows, k2], y2)
                loss = loss + l_d + l_c + l_g
                logs.update(l_d=l_d.detach(), l_c=l_c.detach(), l_g=l_g.detach(), **parts)

        if cfg.ofe and f is not None:  # optical-flow estimation (§3.4) from the ResNet-18 output
            valid = batch.get("flow_valid")
            valid = valid.bool() if valid is not None else None
            l_f = self.flow_loss(model.flow_head(out["global_map"]), f.to(out["global_map"].dtype), valid)
            loss = loss + cfg.lambda_f * l_f
            logs["l_f"] = l_f.detach()

        if cfg.rotation:  # Table 1 baseline: predict the rotation of the intact image
            r = torch.randint(0, 4, (b,), generator=gen, device=dev)
            l_r = self.ce(model.rotation_head(_pooled(model, _rotate(x, r))), r)
            loss = loss + cfg.aux_weight * l_r
            logs["l_rot"] = l_r.detach()
        if cfg.exemplar:  # Table 1 baseline: a second random crop/flip + brightness jitter as the positive view
            x2, _, _ = augment(batch["image"], batch["centres"].float(), None, crop=cfg.crop_size,
                               out=self.input_size, train=True, flip=True, generator=gen)
            c, br = cfg.exemplar_contrast, cfg.exemplar_brightness
            x2 = x2 * (1 - c + 2 * c * self._rand(b, 1, 1, 1)) + (2 * br * self._rand(b, 1, 1, 1) - br)
            z1 = model.exemplar_head(out["global_map"].mean(dim=(-2, -1)))
            z2 = model.exemplar_head(_pooled(model, x2))
            l_e = self.exemplar(gather_rows(z1), gather_rows(z2))     # DDP: every rank's images are negatives
            loss = loss + cfg.aux_weight * l_e
            logs["l_ex"] = l_e.detach()
        if cfg.jigsaw:  # Table 1 baseline: classify which fixed permutation shuffled the 3x3 tiles
            which = torch.randint(0, model.perms.shape[0], (b,), generator=gen, device=dev)
            feats = _pooled(model, _jigsaw_tiles(x, model.perms, which)).reshape(b, -1)
            l_j = self.ce(model.jigsaw_head(feats), which)
            loss = loss + cfg.aux_weight * l_j
            logs["l_jig"] = l_j.detach()
        return StepOutput(loss=loss, logs=logs, n_images=b)


@torch.no_grad()
def predict(model, image: torch.Tensor, centres: torch.Tensor | None, *, crop: int, input_size: int) -> torch.Tensor:
    """AU probabilities (B, N) with the centre crop used at test time (RTATL §4.2); backbone only."""
    backbone = getattr(model, "backbone", model)
    x, c, _ = augment(image, centres.float() if centres is not None else torch.zeros(image.shape[0], 1, 2, 2, device=image.device),
                      None, crop=crop, out=input_size, train=False, flip=False)
    return torch.sigmoid(backbone(x, c if backbone.cfg.roi else None)["logits"].float())


__all__ = ["RTATLStep", "predict"]
