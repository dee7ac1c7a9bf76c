"""AU heatmap targets (Eq. 1) and their decoding into intensities and locations.

Each AU has two centre points (EAC-Net / JAA-Net rules, ``store.au_centres``), so N = 2A maps
for A AUs, ordered AU-major: map 2a is AU a's first point, map 2a+1 its second.
Centres arrive in aligned-image pixels (origin at the top-left pixel's centre) and are
mapped to heatmap pixels with the same convention.
"""
from __future__ import annotations

import math

import torch


def to_heatmap_coords(centres_px: torch.Tensor, image_size: int, heatmap_size: int) -> torch.Tensor:
    """Image-pixel to heatmap-pixel coordinates, pixel centres aligned: (..., 2) -> (..., 2)."""
    scale = heatmap_size / image_size
    return (centres_px + 0.5) * scale - 0.5


def flatten_points(centres: torch.Tensor, intensity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A, P, 2) centres and (B, A) intensities -> (B, A*P, 2) points and (B, A*P) peaks."""
    b, a, p, _ = centres.shape
    if intensity.shape != (b, a):
        raise ValueError(f"intensity shape {tuple(intensity.shape)} does not match centres {tuple(centres.shape)}")
    return centres.reshape(b, a * p, 2), intensity.unsqueeze(-1).expand(b, a, p).reshape(b, a * p)


def gaussian_targets(points: torch.Tensor, peaks: torch.Tensor, size: int, sigma: float,
                     eq1_normalised: bool = False) -> torch.Tensor:
    """Eq. 1: g_i(x) = I * exp(-|x - x_i|^2 / (2 sigma^2)) [/ (2 pi sigma^2) if eq1_normalised].

    points (B, N, 2) as (x, y) in heatmap pixels, peaks (B, N) intensities -> (B, N, size, size).
    Non-finite peaks (unlabelled AUs) give all-zero maps; the loss masks them out.
    The TF code scales the unit-peak Gaussian by the intensity, so that the maximum of a
    map reads directly as the intensity; ``eq1_normalised`` keeps Eq. 1's constant.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    grid = torch.arange(size, device=points.device, dtype=torch.float32)
    dx = (grid.view(1, 1, 1, size) - points[..., 0, None, None].float()) ** 2   # (B, N, 1, size)
    dy = (grid.view(1, 1, size, 1) - points[..., 1, None, None].float()) ** 2   # (B, N, size, 1)
    g = torch.exp(-(dx + dy) / (2.0 * sigma * sigma))
    peaks = torch.nan_to_num(peaks.float(), nan=0.0, posinf=0.0, neginf=0.0)
    if eq1_normalised:
        peaks = peaks / (2.0 * math.pi * sigma * sigma)
    return g * peaks[..., None, None]


def decode(heatmaps: torch.Tensor, points_per_au: int = 2, sigma: float = 2.0,
           eq1_normalised: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference: intensity = max of each map averaged over an AU's points; location = argmax.

    heatmaps (B, N, R, R) -> intensity (B, N / points_per_au), locations (B, N, 2) as (x, y).
    """
    b, n, r, _ = heatmaps.shape
    if n % points_per_au:
        raise ValueError(f"{n} heatmaps are not a multiple of {points_per_au} points per AU")
    flat = heatmaps.detach().float().reshape(b, n, r * r)
    peak, arg = flat.max(dim=-1)                                           # (B, N)
    if eq1_normalised:
        peak = peak * (2.0 * math.pi * sigma * sigma)
    intensity = peak.view(b, n // points_per_au, points_per_au).mean(-1)  # footnote 2: mean over points
    loc = torch.stack([arg % r, arg // r], dim=-1).float()                 # (B, N, 2)
    return intensity, loc
