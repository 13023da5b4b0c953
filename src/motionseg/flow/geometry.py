"""Geometry helpers: padding to a stride and back, the working-size rule, resizing frames, masks and flow fields,
and the pixel-centre convention for moving coordinates between resolutions (:func:`scale_points`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch


def pad_amounts(h: int, w: int, multiple: int, min_size: int = 0) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding, split evenly, that brings (h, w) up to multiples of ``multiple``.

    Sides shorter than ``min_size`` are padded up to the smallest multiple of ``multiple`` that is >= ``min_size``.
    """
    th = max(h, min_size)
    tw = max(w, min_size)
    ph = th + (-th) % multiple - h
    pw = tw + (-tw) % multiple - w
    return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2


def pad_to_multiple(
    x: torch.Tensor, multiple: int, min_size: int = 0
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Replicate-pad images x [B, C, H, W] to multiples of ``multiple``, >= ``min_size``; returns (padded, pads)."""
    import torch.nn.functional as F

    pads = pad_amounts(x.shape[-2], x.shape[-1], multiple, min_size)
    if not any(pads):
        return x, pads
    return F.pad(x, pads, mode="replicate"), pads


def crop_padding(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on x [B, C, H', W'] (e.g. the flow of the padded images)."""
    left, right, top, bottom = pads
    h, w = x.shape[-2], x.shape[-1]
    return x[..., top : h - bottom, left : w - right]


def working_size(h: int, w: int, height: int | None, multiple: int = 8, *, enlarge: bool = True) -> tuple[int, int]:
    """The one working-size rule: (h', w') in px for frames of (h, w) px brought to ``height`` rows.

    ``height`` None keeps (h, w) as they are. Otherwise h' = ``height`` (capped at h when ``enlarge`` is False) and w'
    keeps the aspect ratio, rounded to the nearest multiple of ``multiple`` (never below ``multiple``), even when
    h' == h. Used by ingest (``ingest.height``), flow (``flow.compute_height``) and the motion evidence of bgfit and
    ClusterNet (``work_height``, with ``enlarge=False``).
    """
    if height is None:
        return int(h), int(w)
    rows = int(height) if enlarge else min(int(h), int(height))
    return rows, max(multiple, int(round(w * rows / h / multiple)) * multiple)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 frames [B, H, W, 3] to size (h, w): area averaging when the rows shrink (h < H; no aliasing),
    bilinear otherwise (enlarging, or the same rows). Returns ``frames`` itself when the size already matches."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    interp = cv2.INTER_AREA if h < frames.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize boolean (or label) masks [H, W] or [B, H, W] to size (h, w) with nearest-neighbour sampling (no new
    values, no blurred edges); returns bool of the same rank (True where the source pixel was nonzero)."""
    masks = np.asarray(masks)
    single = masks.ndim == 2
    batch = (masks[None] if single else masks).astype(np.uint8)
    h, w = size
    if batch.shape[1:3] == (h, w):
        out = batch > 0
    else:
        out = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in batch]) > 0
    return out[0] if single else out


def scale_points(xy: np.ndarray, scale_xy: tuple[float, float]) -> np.ndarray:
    """The one coordinate convention: map (x, y) pixel positions [..., 2] of a W x H image to the same scene points in
    that image resized to W' x H', with ``scale_xy`` = (sx, sy) = (W' / W, H' / H) (e.g. ``Ingested.scale_xy``,
    working -> original pixels).

    Integer coordinates are pixel centres (pixel i covers [i - 0.5, i + 0.5)), so pixel centres map to pixel centres
    and the image borders to the image borders: x' = (x + 0.5) * sx - 0.5, y' = (y + 0.5) * sy - 0.5. The inverse
    is the same call with (1 / sx, 1 / sy). NaN stays NaN. Returns float32 (the input's float64 is kept).
    """
    xy = np.asarray(xy)
    dtype = np.float64 if xy.dtype == np.float64 else np.float32
    s = np.asarray(scale_xy, dtype=dtype)
    return ((xy.astype(dtype, copy=False) + dtype(0.5)) * s - dtype(0.5)).astype(dtype, copy=False)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize flow [H, W, 2] or [B, H, W, 2] (px) to size (h, w) and scale the vectors.

    Area averaging when both sides shrink or stay (no aliasing of fine motion), bilinear otherwise; u is multiplied by
    w / W and v by h / H, so the result is in pixels of the new resolution (a displacement is a difference of two
    positions, so the pixel-centre offset of :func:`scale_points` cancels). Returns float32 (a copy).
    """
    flow = np.asarray(flow, dtype=np.float32)
    single = flow.ndim == 3
    batch = flow[None] if single else flow
    if batch.ndim != 4 or batch.shape[-1] != 2:
        raise ValueError(f"flow must be [H,W,2] or [B,H,W,2], got {flow.shape}")
    h, w = size
    H, W = batch.shape[1:3]
    if (H, W) == (h, w):
        return flow.copy()
    scale = np.asarray([w / W, h / H], dtype=np.float32)
    interp = cv2.INTER_AREA if h <= H and w <= W else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in batch]) * scale
    return out[0] if single else out
