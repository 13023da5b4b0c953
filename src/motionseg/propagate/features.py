"""Feature sources for :func:`motionseg.propagate.propagate_labels`: each returns float32 [T, C, h, w].

- :func:`dul_features`: a (trained or untrained) DUL network's L2-normalised ``res4`` at 1/8 resolution.
- :func:`lab_features`: weight-free CIE-Lab colour plus a little position, at 1/``stride`` resolution.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from motionseg.dul.model import DULModel, normalise_frames

# Lab feature scales: colour differences are measured in units of LAB_SCALE (CIE-Lab units), positions in units of
# POSITION_SCALE feature pixels, so one unit of either costs the same
LAB_SCALE = 10.0
POSITION_SCALE = 8.0


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    return frames


def dul_features(model: DULModel, frames: np.ndarray, *, key: str = "res4", batch_size: int = 4,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """L2-normalised DUL features float32 [T, C, ceil(H/8), ceil(W/8)] of uint8 RGB frames [T, H, W, 3].

    ``key``: ``res4`` (DUL's evaluation layer), ``res3`` or ``key``. The model runs in eval mode (BN running
    statistics) on ``device``, ``batch_size`` frames at a time; no gradients.
    """
    frames = _check_frames(frames)
    was_training = model.training
    model.eval().to(device)
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(frames), batch_size):
                x = normalise_frames(frames[i:i + batch_size]).to(device)
                out.append(model.features(x, key).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def _rff(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """Random Fourier features [..., dim] of x [..., D] for the unit-bandwidth Gaussian kernel: z(x).z(y) ~
    exp(-|x - y|^2 / 2) and |z(x)|^2 ~ 1 (Rahimi & Recht 2007), from a fixed seeded projection (no learning)."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((x.shape[-1], dim)).astype(np.float32)
    b = rng.uniform(0, 2 * math.pi, dim).astype(np.float32)
    return math.sqrt(2.0 / dim) * np.cos(x @ W + b)


def lab_features(frames: np.ndarray, stride: int = 8, *, position_weight: float = 0.5, kernel: str = "rff",
                 dim: int = 64, seed: int = 0) -> np.ndarray:
    """Weight-free features float32 [T, C, ceil(H/stride), ceil(W/stride)]: CIE-Lab colour and position.

    Each frame is converted to Lab (OpenCV, float: L in [0, 100], a/b about [-127, 127]) and area-averaged to
    1/``stride``; a feature pixel is (L, a, b) / LAB_SCALE plus ``position_weight`` x (x, y) / POSITION_SCALE (feature
    pixels). ``kernel="rff"`` (default) maps these 5 values through ``dim`` seeded random Fourier features, so the
    cosine similarity of two feature pixels approximates exp(-|difference|^2 / 2) (a Gaussian kernel on colour and
    position, what a colour-based propagation needs); ``kernel="raw"`` returns the 5 values themselves (their cosine
    similarity compares directions only). ``propagate_labels`` L2-normalises either.
    """
    frames = _check_frames(frames)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    T, H, W = frames.shape[:3]
    h, w = math.ceil(H / stride), math.ceil(W / stride)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pos = np.stack([xx, yy], -1) * (float(position_weight) / POSITION_SCALE)
    feats = []
    for f in frames:
        lab = cv2.cvtColor(f.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
        small = cv2.resize(lab, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else lab
        feats.append(np.concatenate([small / LAB_SCALE, pos], -1))
    x = np.stack(feats).astype(np.float32)  # [T, h, w, 5]
    if kernel == "rff":
        x = _rff(x, int(dim), seed)
    elif kernel != "raw":
        raise ValueError(f"kernel must be 'rff' or 'raw', got {kernel!r}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


__all__ = ["LAB_SCALE", "POSITION_SCALE", "dul_features", "lab_features"]
