"""Geometry shared by RTATL's training step: joint crop/flip of image, AU centres and flow,
RoI patch cropping and masking for RoI inpainting (§3.3), and the intact-AU mask (§3.5).

Conventions: images (B, 3, H, W) normalised; AU centres (B, N, 2, 2) as (x, y) pixel
indices of the image they belong to, two points (left, right) per AU; flow (B, 2, h, w)
with (u, v) in pixels of the image it was computed on.
"""
from __future__ import annotations

import torch
from torchvision.ops import roi_align


def boxes_around(points: torch.Tensor, side: float) -> torch.Tensor:
    """(K, 2) centres -> (K, 4) boxes x1, y1, x2, y2 of side ``side`` in roi_align's continuous frame."""
    half = side / 2.0
    # roi_align(aligned=True) samples pixel index x1 - 0.5 + (j + 0.5) * bin, so the box [cx - half, cx + half]
    # reads exactly the pixels cx-half .. cx+half-1 when cx is an integer (the ones box_mask covers).
    return torch.cat([points - half, points + half], dim=-1)


def crop_resize(x: torch.Tensor, offsets: torch.Tensor, crop: int, out: int, scale: float = 1.0) -> torch.Tensor:
    """Crop a ``crop``-sided square at per-image ``offsets`` (B, 2) (top-left, pixels of the full
    image) from ``x`` (B, C, H, W) whose grid is ``scale`` times the full image, resized to ``out``."""
    b = x.shape[0]
    x1y1 = offsets.to(x.dtype)
    boxes = torch.cat([torch.arange(b, device=x.device, dtype=x.dtype)[:, None], x1y1, x1y1 + crop], dim=1)
    ratio = max(1, round(crop * scale / out))
    return roi_align(x, boxes, output_size=(out, out), spatial_scale=scale, sampling_ratio=ratio, aligned=True)


def augment(image: torch.Tensor, centres: torch.Tensor, flow: torch.Tensor | None, *, crop: int, out: int,
            train: bool, flip: bool, generator: torch.Generator | None = None):
    """Random (train) or centre (test) ``crop`` of a square face, resized to ``out``, optional flip.

    image (B, 3, S, S); centres (B, N, 2, 2) in pixels of S; flow (B, 2, r, r) in pixels of S
    sampled on an r x r grid. Returns (image (B, 3, out, out), centres in ``out`` pixels,
    flow (B, 2, out/8, out/8) in ``out`` pixels or None).
    """
    b, _, s, _ = image.shape
    dev = image.device
    if train:
        # drawn where ``generator`` lives (else on the images' device): a GPU step copies nothing from the host
        where = generator.device if generator is not None else dev
        offsets = torch.randint(0, s - crop + 1, (b, 2), generator=generator, device=where).to(dev)
        flips = torch.rand(b, generator=generator, device=where).to(dev) < 0.5 if flip else torch.zeros(b, dtype=torch.bool, device=dev)
    else:
        offsets = torch.full((b, 2), (s - crop) // 2, device=dev)
        flips = torch.zeros(b, dtype=torch.bool, device=dev)
    k = out / crop
    img = crop_resize(image.float(), offsets, crop, out).to(image.dtype)
    cen = (centres.float() - offsets[:, None, None, :].float()) * k
    fl = None
    if flow is not None:
        r = flow.shape[-1]
        fl = crop_resize(flow.float(), offsets, crop, out // 8, scale=r / s) * k
    if train and flip:  # decided on the host: testing flips.any() would wait for the device
        img = torch.where(flips[:, None, None, None], img.flip(-1), img)
        flipped = cen.clone()
        flipped[..., 0] = (out - 1) - flipped[..., 0]
        flipped = flipped.flip(2)  # keep the left point first after mirroring
        cen = torch.where(flips[:, None, None, None], flipped, cen)
        if fl is not None:
            mirrored = torch.cat([-fl[:, :1], fl[:, 1:]], dim=1).flip(-1)  # u changes sign, v does not
            fl = torch.where(flips[:, None, None, None], mirrored, fl)
    return img, cen, fl


def crop_patches(image: torch.Tensor, points: torch.Tensor, side: int) -> torch.Tensor:
    """Patches of ``side`` px around ``points`` (B, P, 2) -> (B, P, 3, side, side); outside the image reads 0."""
    b, p, _ = points.shape
    idx = torch.arange(b, device=image.device).repeat_interleave(p)[:, None].to(image.dtype)
    boxes = torch.cat([idx, boxes_around(points.reshape(-1, 2).round().to(image.dtype), side)], dim=1)
    out = roi_align(image, boxes, output_size=(side, side), spatial_scale=1.0, sampling_ratio=1, aligned=True)
    return out.reshape(b, p, image.shape[1], side, side)


def box_mask(points: torch.Tensor, side: int, size: int) -> torch.Tensor:
    """Boolean (B, size, size): True inside the ``side`` squares around each of ``points`` (B, P, 2)."""
    ar = torch.arange(size, device=points.device, dtype=points.dtype)
    c = points.round()
    lo, hi = c - side // 2, c + (side - side // 2)  # same pixels crop_patches reads
    inx = (ar[None, None, :] >= lo[..., 0:1]) & (ar[None, None, :] < hi[..., 0:1])   # (B, P, W)
    iny = (ar[None, None, :] >= lo[..., 1:2]) & (ar[None, None, :] < hi[..., 1:2])   # (B, P, H)
    return (iny[:, :, :, None] & inx[:, :, None, :]).any(dim=1)


def mask_rois(image: torch.Tensor, points: torch.Tensor, side: int, fill, active: torch.Tensor) -> torch.Tensor:
    """Replace the squares around ``points`` (B, P, 2) by ``fill`` (one value, or one per channel) in the
    images where ``active`` (B,)."""
    m = box_mask(points, side, image.shape[-1]) & active[:, None, None]
    if isinstance(fill, (tuple, list)):
        value = torch.tensor(fill, dtype=image.dtype, device=image.device).view(1, -1, 1, 1).expand_as(image)
    else:
        value = torch.full_like(image, fill)
    return torch.where(m[:, None], value, image)


def intact_aus(centres: torch.Tensor, masked_au: torch.Tensor, side: int, active: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: AU j is intact unless the image is masked and one of its centres lies inside
    a cropped square of AU ``masked_au`` (B,) (RTATL §3.5: L_sup only on intact regions).

    choice: "inside the square" decides; AUs sharing a RoI (12/14/15) thus drop out together.
    """
    b, n = centres.shape[:2]
    cut = centres[torch.arange(b, device=centres.device), masked_au].round()      # (B, 2, 2)
    d = (centres.round()[:, :, :, None, :] - cut[:, None, None, :, :])               # (B, N, 2, 2, 2)
    inside = ((d >= -(side // 2)) & (d < side - side // 2)).all(-1).any(-1).any(-1)  # (B, N)
    return ~(inside & active[:, None])
