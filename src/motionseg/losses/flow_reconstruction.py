"""GWM flow reconstruction loss: per-segment parametric flow fitted by differentiable weighted least squares."""

from __future__ import annotations

import torch

#: Tikhonov term added to the normal equations, relative to the number of pixels. It only keeps the solve defined
#: for (nearly) empty masks; it is far below the scale of any non-empty mask's Gram matrix (entries ~ N * m^2).
_RIDGE_PER_PIXEL = 1e-8

_N_PARAMS = {"affine": 3, "quad": 6}


def flow_basis(h: int, w: int, model: str, device: torch.device | None = None) -> torch.Tensor:
    """Design-matrix columns of the parametric flow model on an ``h x w`` pixel grid.

    Coordinates are normalised to [0, 1): x = column / w, y = row / h. ``model`` is ``"affine"`` (columns x, y, 1) or
    ``"quad"`` (x, y, x^2, y^2, xy, 1). Returns float64 [h*w, P] with P = 3 or 6.
    """
    if model not in _N_PARAMS:
        raise ValueError(f"unknown flow model '{model}' (use 'affine' or 'quad')")
    ys = torch.arange(h, dtype=torch.float64, device=device) / h
    xs = torch.arange(w, dtype=torch.float64, device=device) / w
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)
    one = torch.ones_like(x)
    cols = [x, y, one] if model == "affine" else [x, y, x * x, y * y, x * y, one]
    return torch.stack(cols, dim=1)


def reconstruct_flow(masks: torch.Tensor, flow: torch.Tensor, model: str) -> torch.Tensor:
    """Reconstruct ``flow`` from one parametric motion per soft mask.

    masks: float [B, K, H, W] soft segment probabilities (typically summing to 1 over K); flow: float [B, 2, H, W]
    (u, v) in pixels. For each mask k, theta_k minimises || m_k * (A theta_k - flow) ||^2 (A = :func:`flow_basis`),
    solved in float64 through the normal equations so gradients reach the masks. Returns float [B, 2, H, W]:
    sum_k m_k * (A theta_k), in the units of ``flow``.
    """
    if masks.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2 or masks.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"masks [B,K,H,W] and flow [B,2,H,W] expected, got {tuple(masks.shape)}, {tuple(flow.shape)}")
    b, k, h, w = masks.shape
    n = h * w
    basis = flow_basis(h, w, model, device=masks.device)  # [N, P]
    m = masks.reshape(b, k, n, 1).double()
    f = flow.reshape(b, 1, 2, n).transpose(-1, -2).double()  # [B, 1, N, 2]
    a = m * basis  # [B, K, N, P]
    target = m * f  # [B, K, N, 2]
    gram = a.transpose(-1, -2) @ a  # [B, K, P, P]
    gram = gram + _RIDGE_PER_PIXEL * n * torch.eye(basis.shape[1], dtype=gram.dtype, device=gram.device)
    theta = torch.linalg.solve(gram, a.transpose(-1, -2) @ target)  # [B, K, P, 2]
    rec = (a @ theta).sum(dim=1)  # [B, N, 2]: sum_k m_k * (basis @ theta_k)
    return rec.transpose(1, 2).reshape(b, 2, h, w).to(flow.dtype)


def flow_reconstruction_loss(
    masks: torch.Tensor, flow: torch.Tensor, model: str = "quad", clip: float | None = None
) -> torch.Tensor:
    """GWM's reconstruction loss: mean squared error between ``flow`` and its per-segment parametric reconstruction.

    masks: float [B, K, H, W] soft masks; flow: float [B, 2, H, W] in pixels; ``clip``: flow values are clamped to
    [-clip, clip] pixels first (None = no clipping). Returns a scalar tensor in pixels^2 (unweighted; the caller
    applies the loss weight).
    """
    if clip is not None:
        flow = flow.clamp(-clip, clip)
    rec = reconstruct_flow(masks, flow, model)
    return ((rec - flow) ** 2).mean()
