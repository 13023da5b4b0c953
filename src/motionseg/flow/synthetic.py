"""Frames with exactly known flow (a translating smooth texture), for tests and benchmarks of flow backends."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def texture(h: int, w: int, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Smooth random RGB texture uint8 [h, w, 3]: Gaussian-blurred (``sigma`` px) noise stretched to 0..255."""
    rng = np.random.default_rng(seed)
    noise = gaussian_filter(rng.random((h, w, 3)), sigma=(sigma, sigma, 0))
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255).astype(np.uint8)


def translating_frames(n: int, h: int, w: int, shift: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 frames [n, h, w, 3] whose content moves by the integer ``shift`` = (dx, dy) px per frame.

    The forward flow of gap g is therefore (g*dx, g*dy) at every pixel (new content enters at one border).
    """
    dx, dy = (int(s) for s in shift)
    margin = max(abs(dx), abs(dy)) * n + 2
    canvas = texture(h + 2 * margin, w + 2 * margin, seed)
    frames = [canvas[margin - t * dy : margin - t * dy + h, margin - t * dx : margin - t * dx + w] for t in range(n)]
    return np.stack(frames)
