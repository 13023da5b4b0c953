"""Losses where the optimum is known: two affine motions, perfect vs wrong masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionseg.losses import (
    flow_basis,
    flow_reconstruction_loss,
    pseudo_label_loss,
    reconstruct_flow,
    sample_masks_at_points,
    temporal_smoothing_loss,
    trajectory_lowrank_loss,
)

H, W = 24, 32


def _two_motion_flow() -> tuple[torch.Tensor, torch.Tensor]:
    """A square object with one affine motion over a background with another. Returns flow [1,2,H,W], fg [H,W]."""
    y, x = torch.meshgrid(torch.arange(H) / H, torch.arange(W) / W, indexing="ij")
    bg = torch.stack([1.5 + 2.0 * x - 0.5 * y, -1.0 + 0.3 * x + 1.2 * y])
    fg_flow = torch.stack([-4.0 + 0.0 * x, 3.0 - 1.0 * x + 0.5 * y])
    fg = torch.zeros(H, W, dtype=torch.bool)
    fg[6:18, 10:24] = True
    flow = torch.where(fg, fg_flow, bg).unsqueeze(0).float()
    return flow, fg


def _masks(fg: torch.Tensor) -> torch.Tensor:
    m = fg.float()
    return torch.stack([m, 1 - m]).unsqueeze(0)


@pytest.mark.parametrize("model", ["affine", "quad"])
def test_flow_loss_perfect_mask_near_zero_wrong_mask_larger(model: str) -> None:
    flow, fg = _two_motion_flow()
    perfect = flow_reconstruction_loss(_masks(fg), flow, model=model).item()
    shifted = torch.roll(fg, shifts=5, dims=1)
    wrong = flow_reconstruction_loss(_masks(shifted), flow, model=model).item()
    single = flow_reconstruction_loss(_masks(torch.ones_like(fg)), flow, model=model).item()
    assert perfect < 1e-6
    assert wrong > 0.1
    assert single > 0.1


def test_reconstruction_matches_flow_and_has_gradients() -> None:
    flow, fg = _two_motion_flow()
    logits = (_masks(fg) * 8 - 4).requires_grad_(True)
    masks = logits.softmax(dim=1)
    rec = reconstruct_flow(masks, flow, "quad")
    assert rec.shape == flow.shape
    loss = ((rec - flow) ** 2).mean()
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_flow_loss_clip_limits_large_flows() -> None:
    flow, fg = _two_motion_flow()
    big = flow * 100
    unclipped = flow_reconstruction_loss(_masks(torch.ones_like(fg)), big, "affine").item()
    clipped = flow_reconstruction_loss(_masks(torch.ones_like(fg)), big, "affine", clip=5.0).item()
    assert clipped < unclipped
    assert clipped <= 100.0  # residuals bounded by the clip range (2 * 5)^2


def test_flow_basis_shapes_and_bad_model() -> None:
    assert flow_basis(4, 5, "affine").shape == (20, 3)
    assert flow_basis(4, 5, "quad").shape == (20, 6)
    with pytest.raises(ValueError, match="unknown flow model"):
        flow_basis(4, 5, "homography")


def _affine_tracks(rng: np.random.Generator, n: int, f: int) -> np.ndarray:
    """Trajectories of n points under one random affine motion per frame: [2f, n] (x rows then y rows)."""
    p0 = rng.uniform(0, 100, size=(n, 2))
    xs, ys = [], []
    for _ in range(f):
        a = np.eye(2) + rng.normal(scale=0.05, size=(2, 2))
        t = rng.normal(scale=5.0, size=2)
        p = p0 @ a.T + t
        xs.append(p[:, 0])
        ys.append(p[:, 1])
    return np.concatenate([np.stack(xs), np.stack(ys)])


def test_trajectory_loss_perfect_mask_near_zero_mixed_larger() -> None:
    rng = np.random.default_rng(0)
    f, n = 8, 60
    a, b = _affine_tracks(rng, n, f), _affine_tracks(rng, n, f)
    traj = torch.tensor(np.concatenate([a, b], axis=1), dtype=torch.float64).unsqueeze(0)  # [1, 16, 120]
    truth = torch.cat([torch.ones(n), torch.zeros(n)]).double()
    perfect = torch.stack([truth, 1 - truth]).unsqueeze(0)
    mixed_labels = torch.tensor(rng.permutation(truth.numpy()))
    mixed = torch.stack([mixed_labels, 1 - mixed_labels]).unsqueeze(0)
    # an affine motion gives rank <= 3 trajectory matrices; two motions mixed in one segment give rank up to 6
    lp = trajectory_lowrank_loss(perfect, traj, rank=3).item()
    lm = trajectory_lowrank_loss(mixed, traj, rank=3).item()
    assert lp < 1e-3
    assert lm > 1.0
    assert trajectory_lowrank_loss(mixed, traj, rank=16).item() == pytest.approx(0.0, abs=1e-9)


def test_trajectory_loss_gradient_finite() -> None:
    rng = np.random.default_rng(1)
    traj = torch.tensor(_affine_tracks(rng, 30, 5), dtype=torch.float32).unsqueeze(0)
    logits = torch.randn(1, 3, 30, requires_grad=True)
    loss = trajectory_lowrank_loss(logits.softmax(1), traj, rank=2)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(2, 3, 16, 200), (1, 4, 42, 1000), (1, 2, 20, 12)])
def test_trajectory_loss_matches_singular_values_of_the_full_matrix(shape: tuple[int, int, int, int]) -> None:
    # the loss goes through the D x D Gram matrix; value and gradient must be those of the SVD of the D x N matrix
    # (the last shape has N < D: the Gram matrix then has D - N zero eigenvalues that the SVD does not list)
    b, k, d, n = shape
    g = torch.Generator().manual_seed(sum(shape))
    low = torch.randn(b, d, 3, generator=g, dtype=torch.float64) @ torch.randn(b, 3, n, generator=g,
                                                                                 dtype=torch.float64)
    traj = 50 * low + torch.randn(b, d, n, generator=g, dtype=torch.float64)
    logits = torch.randn(b, k, n, generator=g, dtype=torch.float64)
    for rank in (0, 3, 8):
        x1 = logits.clone().requires_grad_()
        got = trajectory_lowrank_loss(x1.softmax(1), traj, rank=rank)
        got.backward()
        x2 = logits.clone().requires_grad_()
        p = traj.unsqueeze(1) * x2.softmax(1).clamp(1e-6, 1 - 1e-6).unsqueeze(2)
        want = torch.linalg.svdvals(p)[..., rank:].sum(-1).mean() / n**0.5
        want.backward()
        assert got.item() == pytest.approx(want.item(), rel=1e-6)
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-6 * x2.grad.abs().max().item())


def test_temporal_smoothing() -> None:
    a = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
    same = temporal_smoothing_loss(a, a.clone(), torch.ones(1, 3)).item()
    flipped = temporal_smoothing_loss(a, a.flip(1), torch.ones(1, 3)).item()
    only_invisible = temporal_smoothing_loss(a, a.flip(1), torch.zeros(1, 3)).item()
    assert same == 0.0
    assert flipped == pytest.approx(2.0)
    assert only_invisible == 0.0
    partly = temporal_smoothing_loss(a, torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]]), torch.ones(1, 3))
    assert partly.item() == pytest.approx(2.0 / 3.0)


def test_sample_masks_at_points_pixel_centres() -> None:
    masks = torch.zeros(1, 2, 4, 6)
    masks[0, 0, 1, 4] = 1.0
    masks[0, 1] = 1 - masks[0, 0]
    # pixel (x=4, y=1) of a 4x6 mask; the same place expressed in a 2x-larger image's pixel coordinates
    pts = torch.tensor([[[4.0, 1.0], [0.0, 0.0]]])
    vals = sample_masks_at_points(masks, pts, (4, 6))
    assert vals.shape == (1, 2, 2)
    assert vals[0, 0, 0] > 0.5 and vals[0, 0, 1] < 0.5



def test_pseudo_label_loss_is_zero_for_segment0_on_target_and_large_otherwise() -> None:
    _, fg = _two_motion_flow()
    target = fg.float().unsqueeze(0)
    masks = _masks(fg)  # segment 0 = the square
    assert pseudo_label_loss(masks, target).item() < 1e-4
    # the same segmentation with the segments swapped: segment 0 is now the background
    assert pseudo_label_loss(masks.flip(1), target).item() > 5.0
    # uniform masks (0.5 each): BCE of 0.5 is log 2 everywhere
    assert pseudo_label_loss(torch.full((1, 2, H, W), 0.5), target).item() == pytest.approx(np.log(2), rel=1e-5)
    # soft targets: the optimum of BCE(p, t) over p is p = t, with the target's entropy as the loss
    soft = torch.full((1, H, W), 0.25)
    assert pseudo_label_loss(torch.stack([soft[0], 1 - soft[0]])[None], soft).item() == pytest.approx(
        -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), rel=1e-4)


def test_pseudo_label_loss_gradient_moves_segment0_onto_target() -> None:
    _, fg = _two_motion_flow()
    target = fg.float().unsqueeze(0)
    torch.manual_seed(0)
    logits = (0.1 * torch.randn(1, 3, H, W)).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.1)
    start = pseudo_label_loss(logits.softmax(1), target).item()
    for _ in range(100):
        loss = pseudo_label_loss(logits.softmax(1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = logits.softmax(1)[0].argmax(0) == 0
    assert loss.item() < 0.1 * start
    assert (pred & fg).sum().item() / (pred | fg).sum().item() > 0.99


def test_pseudo_label_loss_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="target"):
        pseudo_label_loss(torch.full((1, 2, H, W), 0.5), torch.zeros(1, H + 1, W))
