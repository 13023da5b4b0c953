"""The DUL objective (visinf/dense-ulearn-vos ``models/framework.py``, snapshot 88e5e35), our own implementation.

A training batch holds B clips of T frames seen in two views: view 1 (the frames as sampled) and view 2 (the same
frames after a guided horizontal flip and a random zoom-in crop, ``datasets/dataloader_video.py`` L119-127,
L250-252). Both views go through the network; ``key`` (the L2-normalised projection ``emb_q``) is trained.

Facts of the upstream objective reproduced here (file ``models/framework.py`` unless noted):

- Anchors (L160-161, ``_sample_index`` L44-71, ``_sample_from`` L73-100): a G x G grid (``MODEL.GRID_SIZE`` = 8,
  ``core/config.py`` L90) with spacing ``(w // G, h // G)`` and one random offset per clip, taken on the *first*
  frame of each clip in view 1: B * G^2 anchor features.
- Segment assignments (``_key_val`` L29-42, L166-171): every pixel of every frame of both views gets the logits
  ``<feature, anchor> / TEMP`` (TEMP = ``TEST.TEMP`` = 0.05, ``core/config.py`` L66) against all B * G^2 anchors;
  the view-1 logits are warped into view-2 coordinates by the inverse of view 2's affine transform
  (``_align`` L25-27: ``affine_grid`` + nearest ``grid_sample``, ``align_corners=False``, zeros outside).
- Space-time self-training (``_pseudo_mask`` L220-237, L173-177, ``_ce_loss`` L250-257, L324): the pseudo-label
  of a pixel is the argmax of its view-2 softmax restricted to the anchors of its own clip (softmax over all
  anchors times a block-diagonal clip mask); the loss is the per-pixel cross-entropy of the view-1 logits (over
  *all* B * G^2 anchors: other clips' anchors are negatives) against these labels, averaged over frames 1..T-1
  only (the reference frame 0 is left out, ``losses["temp"]`` = ``error_t.mean()``).
- Cross-view consistency (``_ref_loss`` L239-248, L317-321): on frame 0 of each clip, the features of both views
  (view 1 aligned into view 2) at a ``GRID_SIZE_REF`` = 4 grid (``core/config.py`` L91; the same positions in both
  views) form B * 16 pairs; the loss is the cross-entropy of ``x1 @ x2.T / TEMP`` with the diagonal as the target.
- Total (L327): ``main = CE_REF * cross_key + temp`` with ``CE_REF`` = 0.1 (``core/config.py`` L92).
- Masks: the view-2 frames 1..T-1 pass the network under ``torch.no_grad`` (``TRAIN.STOP_GRAD`` = True,
  ``core/config.py`` L37; ``_forward_reg`` L259-276), while view 2's frame 0 joins view 1's forward pass
  (``train.py`` L172-175, ``fetch_first`` L278-288), so it receives gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def align(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp maps x [N, C, h, w] with affine matrices theta [N, 2, 3] (output normalised coordinates -> input
    normalised coordinates, ``align_corners=False``), nearest sampling, zeros outside, as upstream ``_align``."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def grid_index(n_clips: int, h: int, w: int, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flat pixel indices long [n_clips, n * n] of an n x n anchor grid on an h x w map: spacing (w // n, h // n)
    and one random offset in [0, spacing) per clip (the same for every anchor of the clip)."""
    xs, ys = w // n, h // n
    if xs < 1 or ys < 1:
        raise ValueError(f"a {n}x{n} anchor grid needs feature maps of at least {n}x{n}, got {h}x{w}")
    x = torch.arange(n).view(1, 1, n) * xs + torch.randint(0, xs, (n_clips, 1, 1), generator=generator)
    y = torch.arange(n).view(1, n, 1) * ys + torch.randint(0, ys, (n_clips, 1, 1), generator=generator)
    return (x + y * w).view(n_clips, n * n)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Features x [B, K, h, w] at flat indices index [B, N] -> [B * N, K]."""
    B, K = x.shape[:2]
    flat = x.flatten(2)
    out = flat.gather(2, index.to(x.device).view(B, 1, -1).expand(-1, K, -1))
    return out.permute(0, 2, 1).reshape(-1, K)


def dul_loss(
    key1: torch.Tensor,
    key2: torch.Tensor,
    theta1: torch.Tensor,
    theta2: torch.Tensor,
    T: int,
    *,
    grid: int = 8,
    grid_ref: int = 4,
    temperature: float = 0.05,
    ce_ref: float = 0.1,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The DUL losses of one batch (module docstring).

    key1, key2: L2-normalised ``key`` features [B*T, K, h, w] of view 1 and view 2 (clip-major: frames of clip b are
    rows b*T .. b*T+T-1); theta1, theta2: [B*T, 2, 3] affine maps that bring view-1 / view-2 maps into view-2
    coordinates (upstream passes view 2's inverse transform and the identity); T: frames per clip (>= 2).
    Returns ``{"main", "temp", "cross_key"}`` (scalars; ``main`` = ``ce_ref`` * cross_key + temp) and the
    ``pseudo`` labels long [B*T, h, w] (anchor index, no gradient) for inspection.
    """
    BT, K, h, w = key1.shape
    if key2.shape != key1.shape or BT % T or T < 2:
        raise ValueError(f"key1 {tuple(key1.shape)} / key2 {tuple(key2.shape)} do not hold clips of T={T} frames")
    B = BT // T
    n = grid * grid
    index = grid_index(B, h, w, grid, generator)
    anchors = _gather(key1.view(B, T, K, h, w)[:, 0], index)  # [B*n, K]

    def logits(keys: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        vals = torch.einsum("tkp,ak->tap", keys.flatten(2), anchors).view(BT, B * n, h, w) / temperature
        return align(vals, theta)

    vals1 = logits(key1, theta1)
    with torch.no_grad():
        vals2 = logits(key2, theta2)
        clip_of_frame = torch.arange(BT, device=key1.device) // T
        clip_of_anchor = torch.arange(B * n, device=key1.device) // n
        own = (clip_of_frame[:, None] == clip_of_anchor[None, :])[:, :, None, None]
        pseudo = vals2.masked_fill(~own, float("-inf")).argmax(1)
    error = F.cross_entropy(vals1, pseudo, reduction="none").view(B, T, h, w)
    temp = error[:, 1:].mean()

    first1 = align(key1[::T], theta1[::T])
    first2 = align(key2[::T], theta2[::T])
    index_ref = grid_index(B, h, w, grid_ref, generator)
    x1, x2 = _gather(first1, index_ref), _gather(first2, index_ref)
    ref_logits = x1 @ x2.t() / temperature
    cross = F.cross_entropy(ref_logits, torch.arange(ref_logits.shape[0], device=ref_logits.device))
    return {"main": ce_ref * cross + temp, "temp": temp, "cross_key": cross, "pseudo": pseudo}


__all__ = ["align", "dul_loss", "grid_index"]
