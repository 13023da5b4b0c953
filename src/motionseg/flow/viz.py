"""Flow-to-RGB visualisation with the standard Middlebury (Baker et al. 2007) colour wheel.

Hue encodes the direction, saturation the magnitude relative to ``max_mag`` (white = no motion). This is the encoding
MotionGrouping converts flow with before feeding it to its network.
"""

from __future__ import annotations

import numpy as np

# Number of hues between the six primary/secondary colours of the wheel (red-yellow, yellow-green, ...).
_WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)


def colour_wheel() -> np.ndarray:
    """The 55-entry colour wheel as float32 [55, 3] RGB in [0, 1], starting at red and going round via yellow."""
    ry, yg, gc, cb, bm, mr = _WHEEL_SEGMENTS
    rows = []
    for i in range(ry):
        rows.append((255, np.floor(255 * i / ry), 0))
    for i in range(yg):
        rows.append((255 - np.floor(255 * i / yg), 255, 0))
    for i in range(gc):
        rows.append((0, 255, np.floor(255 * i / gc)))
    for i in range(cb):
        rows.append((0, 255 - np.floor(255 * i / cb), 255))
    for i in range(bm):
        rows.append((np.floor(255 * i / bm), 0, 255))
    for i in range(mr):
        rows.append((255, 0, 255 - np.floor(255 * i / mr)))
    return np.asarray(rows, dtype=np.float32) / 255.0


def flow_to_rgb(flow: np.ndarray, max_mag: float | None = None) -> np.ndarray:
    """Colour-code flow float [H, W, 2] (u, v in px) as uint8 [H, W, 3] RGB.

    ``max_mag`` (px) is the magnitude drawn fully saturated; None uses this flow's largest finite magnitude. Longer
    vectors are drawn darkened (x0.75); non-finite vectors are black.
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be [H,W,2], got {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    finite = np.isfinite(u) & np.isfinite(v)
    u = np.where(finite, u, 0.0)
    v = np.where(finite, v, 0.0)
    mag = np.sqrt(u * u + v * v)
    if max_mag is None:
        max_mag = float(mag.max()) if mag.size else 0.0
    rad = mag / max(float(max_mag), 1e-6)

    wheel = colour_wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]
    pos = (angle + 1.0) / 2.0 * (n - 1)
    k0 = np.floor(pos).astype(np.int64)
    k1 = (k0 + 1) % n
    frac = (pos - k0)[..., None]
    col = (1.0 - frac) * wheel[k0] + frac * wheel[k1]

    inside = (rad <= 1.0)[..., None]
    col = np.where(inside, 1.0 - rad[..., None] * (1.0 - col), col * 0.75)
    col = np.where(finite[..., None], col, 0.0)
    return np.floor(255.0 * np.clip(col, 0.0, 1.0)).astype(np.uint8)
