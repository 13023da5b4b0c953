"""LRTL trajectory losses: low-rank trajectory matrices per segment and temporal smoothing along tracks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_MASK_EPS = 1e-6


def sample_masks_at_points(masks: torch.Tensor, points: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinearly sample soft masks at point positions.

    masks: float [B, K, h, w]; points: float [B, N, 2] (x, y) in pixels of an image of size ``hw`` = (H, W) (any
    resolution: positions are normalised by it; pixel i covers [i, i+1) and has its centre at i, so x = 0 is the
    centre of the first column). Returns float [B, K, N].
    """
    height, width = hw
    gx = (points[..., 0] + 0.5) / width * 2 - 1
    gy = (points[..., 1] + 0.5) / height * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(1).to(masks.dtype)  # [B, 1, N, 2]
    out = F.grid_sample(masks, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, :, 0, :]


def trajectory_gram(mask_values: torch.Tensor, trajectories: torch.Tensor) -> torch.Tensor:
    """Gram matrices of LRTL's mask-weighted trajectory matrices, divided by the number of tracks.

    mask_values: float [B, K, N] soft mask values at the tracks' positions (clamped to [1e-6, 1-1e-6]);
    trajectories: float [B, D, N] (pixels). With P_k = trajectories * diag(m_k), returns float64 [B, K, D, D] =
    P_k P_k^T / N (pixels^2). Its eigenvalues are sigma_i(P_k)^2 / N: D x D instead of D x N, and D (2 per frame of
    the trajectory window) is small.
    """
    if mask_values.ndim != 3 or trajectories.ndim != 3 or mask_values.shape[-1] != trajectories.shape[-1]:
        raise ValueError(
            f"mask_values [B,K,N] and trajectories [B,D,N] expected, got {tuple(mask_values.shape)}, "
            f"{tuple(trajectories.shape)}"
        )
    n = mask_values.shape[-1]
    m = mask_values.clamp(_MASK_EPS, 1 - _MASK_EPS).double()
    p = trajectories.double().unsqueeze(1) * m.unsqueeze(2)  # [B, K, D, N]
    return p @ p.transpose(-1, -2) / n


def truncated_nuclear_norm(gram: torch.Tensor, rank: int) -> torch.Tensor:
    """sum_{i > rank} sqrt(lambda_i(gram)), the singular values beyond ``rank`` of any P with P P^T = gram.

    gram: float64 [..., D, D] symmetric positive semi-definite (pixels^2). Returns float64 [...] (pixels). The
    eigenproblem is solved on the CPU whatever the device of ``gram`` (D x D is tiny; the gradient flows back to
    the device). Eigenvalues below 1e-15 of the largest (float64 rounding of the eigensolver, and the zeros of
    rank-deficient matrices) count as 0 with a zero gradient: the square root's gradient would be unbounded there.
    """
    lam = torch.linalg.eigvalsh(gram.cpu()).to(gram.device)  # ascending
    d = lam.shape[-1]
    if rank >= d:
        return lam.sum(dim=-1) * 0.0
    tail = lam[..., : d - rank]
    keep = tail > (lam[..., -1:].detach() * 1e-15).clamp_min(torch.finfo(lam.dtype).tiny)
    return torch.where(keep, torch.where(keep, tail, 1.0).sqrt(), 0.0).sum(dim=-1)


def trajectory_lowrank_loss(mask_values: torch.Tensor, trajectories: torch.Tensor, rank: int) -> torch.Tensor:
    """LRTL's truncated nuclear norm of the mask-weighted trajectory matrix per segment.

    mask_values: float [B, K, N] soft mask values at the tracks' positions in the reference frame (clamped to
    [1e-6, 1-1e-6]); trajectories: float [B, D, N], D = 2f (x coordinates of f frames stacked over y coordinates, in
    pixels). For each k, P_k = trajectories * diag(m_k); the loss is sum_{i > rank} sigma_i(P_k), averaged over B and
    K, and divided by sqrt(N) so that its scale does not depend on how many tracks were sampled (the reference uses
    N = 70,000 without that division: weight_here = weight_ref * sqrt(70000)). The singular values come from the
    D x D Gram matrix (:func:`trajectory_gram`, :func:`truncated_nuclear_norm`), in float64. Returns a scalar tensor
    of the dtype of ``mask_values`` (pixels).
    """
    gram = trajectory_gram(mask_values, trajectories)
    return truncated_nuclear_norm(gram, rank).mean().to(mask_values.dtype)


def temporal_smoothing_loss(masks_a: torch.Tensor, masks_b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """LRTL's temporal smoothing: squared difference of mask values at the two ends of the same tracks.

    masks_a, masks_b: float [B, K, N] mask values sampled at each track's position in frame a and in frame b;
    weight: float or bool [B, N] (1 where the track is visible in both frames). Returns the weighted mean over tracks
    of sum_k (a_k - b_k)^2, a scalar tensor (0 when no track is visible in both frames).
    """
    wgt = weight.to(masks_a.dtype)
    d = ((masks_a - masks_b) ** 2).sum(dim=1)  # [B, N]
    return (d * wgt).sum() / wgt.sum().clamp_min(1.0)
