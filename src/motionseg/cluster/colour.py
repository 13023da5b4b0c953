"""A causal colour memory for the online mode: Lab histograms of the past foreground and background.

After each frame the refined mask's colours update two normalised histograms (``bits`` bits per Lab channel,
exponential decay ``decay``). Before frame t's mask is known, each pixel of t gets ``p_a = fg / (fg + bg)`` of its
colour bin, and the motion probability is scaled by ``1 - weight + 2 weight p_a`` (``weight`` 0 leaves it as is).
Only frames <= t are read.
"""

from __future__ import annotations

import cv2
import numpy as np

_EPS = 1e-4


def colour_bins(frame: np.ndarray, bits: int) -> np.ndarray:
    """Bin index int32 [h, w] in [0, 2^(3 bits)) of each pixel of an RGB uint8 frame [h, w, 3] (Lab quantised)."""
    lab = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2LAB).astype(np.int32)
    s = 8 - bits
    return ((lab[..., 0] >> s) << (2 * bits)) | ((lab[..., 1] >> s) << bits) | (lab[..., 2] >> s)


class ColourMemory:
    """Foreground / background colour histograms carried from frame to frame (module doc)."""

    def __init__(self, weight: float, bits: int, decay: float, min_pixels: int) -> None:
        if not 0.0 <= weight <= 0.5:
            raise ValueError(f"colour memory weight must be in [0, 0.5], got {weight}")
        self.weight, self.bits, self.decay, self.min_pixels = float(weight), int(bits), float(decay), int(min_pixels)
        self.fg: np.ndarray | None = None
        self.bg: np.ndarray | None = None

    @property
    def active(self) -> bool:
        """Whether the memory has seen a foreground yet (before that, :meth:`gain` is all ones)."""
        return self.fg is not None and self.weight > 0

    def gain(self, idx: np.ndarray) -> np.ndarray:
        """Multiplicative gain float32 [h, w] in [1 - weight, 1 + weight] for a frame's :func:`colour_bins` [h, w]
        (with this memory's ``bits``)."""
        if not self.active:
            return np.ones(idx.shape, np.float32)
        pa = (self.fg[idx] + _EPS) / (self.fg[idx] + self.bg[idx] + 2 * _EPS)
        return (1.0 - self.weight + 2.0 * self.weight * pa).astype(np.float32)

    def update(self, idx: np.ndarray, mask: np.ndarray) -> None:
        """Add a frame's colours (its :func:`colour_bins` [h, w]) under bool mask [h, w] (fg) and outside it (bg);
        skipped when the mask has fewer than ``min_pixels`` pixels."""
        if self.weight <= 0 or int(mask.sum()) < self.min_pixels:
            return
        n = 1 << (3 * self.bits)
        cf = np.bincount(idx[mask], minlength=n).astype(np.float64)
        cb = np.bincount(idx[~mask], minlength=n).astype(np.float64)
        cf /= max(cf.sum(), 1.0)
        cb /= max(cb.sum(), 1.0)
        if self.fg is None:
            self.fg, self.bg = cf, cb
        else:
            self.fg = self.decay * self.fg + (1 - self.decay) * cf
            self.bg = self.decay * self.bg + (1 - self.decay) * cb
