"""Geometry helpers: padding to a stride and back, resizing flow fields with vector scaling."""

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


def working_size(h: int, w: int, height: int | None, multiple: int = 8) -> tuple[int, int]:
    """Size (h', w') to compute flow at: ``height`` rows, width keeping the aspect ratio rounded to ``multiple``.

    ``height`` None keeps (h, w).
    """
    if height is None or height == h:
        return h, w
    new_w = max(multiple, int(round(w * height / h / multiple)) * multiple)
    return int(height), new_w


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 frames [B, H, W, 3] to size (h, w) (area interpolation when shrinking, else bilinear)."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    interp = cv2.INTER_AREA if h < frames.shape[1] else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize flow [H, W, 2] or [B, H, W, 2] (px) to size (h, w) and scale the vectors.

    Area averaging when both sides shrink (no aliasing of fine motion), bilinear otherwise; u is multiplied by w / W
    and v by h / H, so the result is in pixels of the new resolution. Returns float32.
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
