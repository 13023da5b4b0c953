"""Weight-free label propagation by chaining optical flow (the package's flow convention, docs/architecture.md):
forward flow element t maps pixel (x, y) of frame t to (x + u, y + v) of frame t + 1, in pixels of the resolution
the flow is stored at."""

from __future__ import annotations

import cv2
import numpy as np

from motionseg.flow.geometry import resize_flow
from motionseg.propagate.labelprop import label_dtype

# a target pixel that receives less than this total splatting weight takes its label by backward look-up instead
MIN_SPLAT_WEIGHT = 0.5


def warp_labels(labels: np.ndarray, flow: np.ndarray, n_labels: int) -> np.ndarray:
    """Move int labels [H, W] of frame t to frame t + 1 with the forward flow float [H, W, 2] (px, same size).

    Each source pixel splats its label bilinearly at (x + u, y + v) (pixel centres at integer coordinates); a target
    pixel takes the label with the largest splatted weight. Pixels that receive a total weight below
    :data:`MIN_SPLAT_WEIGHT` (disocclusions, holes) take the label found at (x - u(x), y - v(x)) in frame t, with the
    flow at the target itself as the approximate backward flow (nearest sample, border replicated).
    Returns int64 [H, W].
    """
    H, W = labels.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    tx, ty = xx + flow[..., 0], yy + flow[..., 1]
    x0, y0 = np.floor(tx), np.floor(ty)
    fx, fy = tx - x0, ty - y0
    lab = labels.astype(np.int64).ravel()
    acc = np.zeros(H * W * n_labels, dtype=np.float64)
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        cx, cy = (x0 + dx).astype(np.int64).ravel(), (y0 + dy).astype(np.int64).ravel()
        ok = (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
        idx = (cy[ok] * W + cx[ok]) * n_labels + lab[ok]
        acc += np.bincount(idx, weights=wgt.ravel()[ok], minlength=acc.size)
    acc = acc.reshape(H * W, n_labels)
    out = acc.argmax(1).reshape(H, W)
    holes = acc.sum(1).reshape(H, W) < MIN_SPLAT_WEIGHT
    if holes.any():
        back = cv2.remap(labels.astype(np.float32), xx - flow[..., 0], yy - flow[..., 1], cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.int64)
        out[holes] = back[holes]
    return out


def propagate_by_flow(flow_fwd: np.ndarray, first_labels: np.ndarray) -> np.ndarray:
    """Propagate the first frame's labels through a video by chaining the forward flow.

    flow_fwd: float [T-1, h, w, 2] (``FlowSet.forward(1)``), px at (h, w); first_labels: int [H, W] (0 background,
    1..N objects) at frame resolution. Each flow field is brought to (H, W) with
    :func:`motionseg.flow.geometry.resize_flow` (vectors rescaled) and the labels are moved frame by frame with
    :func:`warp_labels` (hard labels at every step, so nothing blurs over the chain). Returns int [T, H, W] of
    ``first_labels``' integer dtype (int64 for non-integer input), frame 0 = ``first_labels``.
    """
    flow_fwd = np.asarray(flow_fwd, dtype=np.float32)
    dtype = label_dtype(first_labels)
    first = np.asarray(first_labels).astype(np.int64)
    if flow_fwd.ndim != 4 or flow_fwd.shape[-1] != 2:
        raise ValueError(f"flow_fwd must be [T-1, h, w, 2], got {flow_fwd.shape}")
    if first.ndim != 2 or (first.size and first.min() < 0):
        raise ValueError(f"first_labels must be non-negative int [H, W], got shape {first.shape}")
    H, W = first.shape
    n_labels = int(first.max()) + 1
    out = np.empty((len(flow_fwd) + 1, H, W), dtype=dtype)
    out[0] = first
    prev = first
    for t, f in enumerate(flow_fwd):
        f = resize_flow(f, (H, W)) if f.shape[:2] != (H, W) else f
        prev = warp_labels(prev, f, n_labels)
        out[t + 1] = prev
    return out


__all__ = ["MIN_SPLAT_WEIGHT", "propagate_by_flow", "warp_labels"]
