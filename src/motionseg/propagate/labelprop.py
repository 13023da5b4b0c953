"""Label propagation by feature affinity, as DUL evaluates its features (visinf/dense-ulearn-vos ``infer_vos.py`` and
``labelprop/``, both after ajabri/videowalk); our own implementation.

Facts of the upstream procedure reproduced here:

- Settings (``configs/ytvos.yaml`` L24-28, ``core/config.py`` L65-68): ``KNN`` = 10 neighbours, ``CXT_SIZE`` = 20
  context frames, ``RADIUS`` = 12 feature pixels, ``TEMP`` = 0.05; features are the L2-normalised ``res4``
  (``infer_vos.py`` L208-209, L232-235 with ``norm=True``).
- First frame (``infer_vos.py`` L102-125, L208-215): the labels become one-hot maps (background channel 0 and one
  channel per object id), downsampled to the feature size by bilinear interpolation with ``align_corners=True``
  (``scale_as``, L184, L210).
- Context (``labelprop/common.py`` L52-65): for frame t, the first frame (long-term memory) and the frames
  ``max(tt, 0)`` for tt in t-20 .. t-1 (so frame 0 fills the short-term slots while t < 20, duplicates included).
  Context labels are the *soft* predictions of earlier frames (``infer_vos.py`` L266-274), not their argmax.
- Affinity (``labelprop/common.py`` L67-116, ``labelprop/crw.py`` L174-204, ``MaskedAttention`` L207-242): dot
  products of the target's features with every position of every context frame; positions of the short-term
  context frames farther than the radius (Euclidean distance on the feature grid, kept when ``d < radius``) get
  -1e10 added, the long-term first frame is not restricted (``A[0, :, len(long_mem):] += mask``); the affinities are
  divided by the temperature, the top-k over all context positions are kept and softmax-normalised, and the
  target's soft label is the weighted sum of the context labels at those positions.
- Output (``infer_vos.py`` L201-205): the soft labels are upsampled to the frame size (bilinear, ``align_corners=
  True``) and the argmax is the label.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# upstream defaults (configs/ytvos.yaml TEST block)
TOPK = 10
CONTEXT = 20
RADIUS = 12.0
TEMPERATURE = 0.05
_MASKED = -1e10


def _as_features(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    f = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features).float()
    if f.ndim != 4:
        raise ValueError(f"features must be [T, C, h, w], got shape {tuple(f.shape)}")
    return F.normalize(f, p=2, dim=1)


def one_hot_labels(labels: np.ndarray, n_labels: int | None = None) -> torch.Tensor:
    """int labels [H, W] (0 background, 1..N objects) -> float one-hot [M, H, W] with M = ``n_labels`` or max + 1."""
    lab = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if lab.ndim != 2 or (lab.numel() and int(lab.min()) < 0):
        raise ValueError(f"labels must be non-negative int [H, W], got shape {tuple(lab.shape)}")
    m = int(lab.max()) + 1 if n_labels is None else int(n_labels)
    return F.one_hot(lab, m).permute(2, 0, 1).float()


def _window_mask(ty: torch.Tensor, tx: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor,
                 radius: float) -> torch.Tensor:
    """Additive mask float [targets, context positions] from integer grid coordinates: 0 where
    sqrt(dy^2 + dx^2) < radius (computed as upstream: integer squares, then float square root), -1e10 elsewhere."""
    d2 = (ty[:, None] - cy[None, :]) ** 2 + (tx[:, None] - cx[None, :]) ** 2
    return torch.where(d2.float() ** 0.5 < radius, 0.0, _MASKED)


def _grid(r0: int, r1: int, c0: int, c1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices (flattened, row-major) of the grid block rows [r0, r1) x columns [c0, c1)."""
    yy, xx = torch.meshgrid(torch.arange(r0, r1), torch.arange(c0, c1), indexing="ij")
    return yy.flatten(), xx.flatten()


def radius_mask(h: int, w: int, radius: float) -> torch.Tensor:
    """Additive mask float [h*w (context position), h*w (target position)]: 0 where the grid distance is < radius,
    -1e10 elsewhere (upstream ``MaskedAttention``; symmetric)."""
    yy, xx = _grid(0, h, 0, w)
    return _window_mask(yy, xx, yy, xx, radius)


def _tiles(h: int, w: int, tile: int, radius: float) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int],
                                                                   torch.Tensor]]:
    """Target blocks of ``tile`` x ``tile`` feature pixels: ((r0, r1, c0, c1) of the block, (r0, r1, c0, c1) of the
    window of context positions that can lie within the radius of one of its targets, additive mask [block, window])."""
    reach = max(0, math.ceil(radius) - 1)  # the largest |dy| (or |dx|) with |dy| < radius
    out = []
    for r0 in range(0, h, tile):
        r1 = min(h, r0 + tile)
        for c0 in range(0, w, tile):
            c1 = min(w, c0 + tile)
            win = (max(0, r0 - reach), min(h, r1 + reach), max(0, c0 - reach), min(w, c1 + reach))
            out.append(((r0, r1, c0, c1), win, _window_mask(*_grid(r0, r1, c0, c1), *_grid(*win), radius)))
    return out


def context_indices(t: int, context: int, t0: int = 0) -> list[int]:
    """Context frames of target frame ``t``: [t0] + [max(tt, t0) for tt in t-context .. t-1] (upstream
    ``LabelPropVOS_CRW.context_index``)."""
    return [t0] + [max(tt, t0) for tt in range(t - context, t)]


def propagate_soft(
    features: np.ndarray | torch.Tensor,
    first_soft: np.ndarray | torch.Tensor,
    *,
    topk: int = TOPK,
    context: int = CONTEXT,
    radius: float = RADIUS,
    temperature: float = TEMPERATURE,
    tile: int = 8,
) -> torch.Tensor:
    """Soft labels float [T, M, h, w] at feature resolution, propagated from frame 0.

    features: float [T, C, h, w] (L2-normalised here over C); first_soft: float [M, h, w], the soft labels of frame 0
    at feature resolution (returned unchanged as element 0).

    The targets are processed in ``tile`` x ``tile`` blocks: the long-term first frame is compared with every
    position, the radius-restricted short-term frames only with the window of positions that can lie within the
    radius of the block (the others carry -1e10 upstream and never reach the top-k, since the first frame alone
    offers h * w >= topk candidates). ``tile=0`` computes the full affinity as upstream does (same result, more
    work). The top-k is taken on the affinities and the temperature divides the k kept ones before the softmax (the
    same neighbours and weights as upstream, which divides first).
    """
    feats = _as_features(features)
    T, C, h, w = feats.shape
    lab0 = torch.as_tensor(np.asarray(first_soft) if not isinstance(first_soft, torch.Tensor) else first_soft).float()
    if lab0.ndim != 3 or lab0.shape[1:] != (h, w):
        raise ValueError(f"first_soft must be [M, {h}, {w}], got {tuple(lab0.shape)}")
    if topk < 1 or context < 1 or temperature <= 0 or tile < 0:
        raise ValueError(f"need topk >= 1, context >= 1, temperature > 0, tile >= 0 (got {topk}, {context}, "
                         f"{temperature}, {tile})")
    M, hw = lab0.shape[0], h * w
    labels = torch.zeros(T, M, h, w)
    labels[0] = lab0
    k = min(int(topk), (context + 1) * hw)
    if tile and hw >= k:
        tiles = _tiles(h, w, int(tile), radius)
        for t in range(1, T):
            labels[t] = _propagate_step_tiled(feats, labels, t, context_indices(t, context), tiles, k, temperature)
    else:
        rmask = radius_mask(h, w, radius)  # symmetric: [target, context position] too
        for t in range(1, T):
            labels[t] = _propagate_step_dense(feats, labels, t, context_indices(t, context), rmask, k, temperature)
    return labels


def _propagate_step_dense(feats: torch.Tensor, labels: torch.Tensor, t: int, ctx: list[int], rmask: torch.Tensor,
                          k: int, temperature: float) -> torch.Tensor:
    """Soft labels [M, h, w] of frame t from the context frames ``ctx`` (slot 0 unrestricted): full affinity."""
    _, C, h, w = feats.shape
    M, hw, n = labels.shape[1], h * w, len(ctx)
    keys = feats[ctx].flatten(2).permute(1, 0, 2).reshape(C, n * hw)
    ctx_labels = labels[ctx].flatten(2).permute(1, 0, 2).reshape(M, n * hw)
    q = feats[t].flatten(1).t()  # [hw, C]
    out = torch.empty(M, hw)
    chunk = max(1, (1 << 25) // (n * hw))  # about 128 MB of affinities at a time
    for q0 in range(0, hw, chunk):
        aff = q[q0:q0 + chunk] @ keys  # [nq, n * hw], slot-major
        aff.view(aff.shape[0], n, hw)[:, 1:] += rmask[q0:q0 + chunk, None, :]
        weights, idx = torch.topk(aff, k, dim=1)
        weights = torch.softmax(weights / temperature, dim=1)
        out[:, q0:q0 + chunk] = (ctx_labels[:, idx] * weights[None]).sum(2)
    return out.view(M, h, w)


def _propagate_step_tiled(feats: torch.Tensor, labels: torch.Tensor, t: int, ctx: list[int], tiles: list,
                          k: int, temperature: float) -> torch.Tensor:
    """As :func:`_propagate_step_dense`, the short-term slots restricted to each target block's window
    (:func:`_tiles`)."""
    _, C, h, w = feats.shape
    M = labels.shape[1]
    short = ctx[1:]
    S = len(short)
    keys0 = feats[ctx[0]].flatten(1)  # [C, hw]
    lab0 = labels[ctx[0]].flatten(1)  # [M, hw]
    keys_s = feats[short].permute(1, 0, 2, 3)  # [C, S, h, w]
    labs_s = labels[short].permute(1, 0, 2, 3)  # [M, S, h, w]
    out = torch.empty(M, h, w)
    for (r0, r1, c0, c1), (wr0, wr1, wc0, wc1), mask in tiles:
        q = feats[t, :, r0:r1, c0:c1].reshape(C, -1).t()  # [nq, C]
        nq, nw = mask.shape
        a_short = q @ keys_s[:, :, wr0:wr1, wc0:wc1].reshape(C, S * nw)  # [nq, S * nw]
        a_short.view(nq, S, nw).add_(mask[:, None, :])
        weights, idx = torch.topk(torch.cat([q @ keys0, a_short], 1), k, dim=1)
        weights = torch.softmax(weights / temperature, dim=1)
        cand = torch.cat([lab0, labs_s[:, :, wr0:wr1, wc0:wc1].reshape(M, S * nw)], 1)
        out[:, r0:r1, c0:c1] = (cand[:, idx] * weights[None]).sum(2).view(M, r1 - r0, c1 - c0)
    return out


def downsample_labels(first_labels: np.ndarray, hw: tuple[int, int], n_labels: int | None = None) -> torch.Tensor:
    """One-hot of int labels [H, W] resized to ``hw`` (bilinear, ``align_corners=True``, as upstream): [M, h, w]."""
    oh = one_hot_labels(first_labels, n_labels)
    return F.interpolate(oh[None], size=hw, mode="bilinear", align_corners=True)[0]


def soft_to_labels(soft: torch.Tensor, size: tuple[int, int], dtype: np.dtype | type = np.int64) -> np.ndarray:
    """Soft labels float [T, M, h, w] -> integer labels [T, H, W] of ``dtype``: bilinear upsampling
    (``align_corners=True``) then argmax over M, frame by frame."""
    out = np.empty((soft.shape[0], *size), dtype=dtype)
    for t in range(soft.shape[0]):
        up = F.interpolate(soft[t:t + 1], size=size, mode="bilinear", align_corners=True)
        out[t] = up[0].argmax(0).numpy()
    return out


def label_dtype(first_labels: np.ndarray) -> np.dtype:
    """The dtype of propagated labels: that of ``first_labels`` when it is an integer type, else int64."""
    dt = np.asarray(first_labels).dtype
    return dt if np.issubdtype(dt, np.integer) else np.dtype(np.int64)


def propagate_labels(
    features: np.ndarray | torch.Tensor,
    first_labels: np.ndarray,
    *,
    topk: int = TOPK,
    context: int = CONTEXT,
    radius: float = RADIUS,
    temperature: float = TEMPERATURE,
) -> np.ndarray:
    """Propagate the first frame's labels through a video by feature affinity (module docstring).

    features: float [T, C, h, w] (any resolution, usually 1/8 of the frame; L2-normalised here); first_labels: int
    [H, W] at frame resolution (0 background, 1..N objects). radius is in feature pixels, temperature divides the
    cosine similarities. Returns int [T, H, W] of ``first_labels``' integer dtype (uint8 DAVIS ids stay uint8; int64
    for non-integer input): frame 0 is ``first_labels`` itself, frames 1.. the argmax of the upsampled soft labels
    (values 0..max(first_labels)).
    """
    feats = _as_features(features)
    first = np.asarray(first_labels)
    soft = propagate_soft(feats, downsample_labels(first, tuple(feats.shape[2:])), topk=topk, context=context,
                          radius=radius, temperature=temperature)
    out = soft_to_labels(soft, first.shape, label_dtype(first))
    out[0] = first
    return out


__all__ = ["CONTEXT", "RADIUS", "TEMPERATURE", "TOPK", "context_indices", "downsample_labels", "label_dtype",
           "one_hot_labels", "propagate_labels", "propagate_soft", "radius_mask", "soft_to_labels"]
