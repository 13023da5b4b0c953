"""Flow as a colour-wheel image (the ClusterNet auto-encoder input).

Hue encodes the flow direction, saturation the magnitude relative to the frame's largest magnitude (robust: the
99th percentile), value is 1; the RGB image is mapped to [-1, 1].
"""

from __future__ import annotations

import numpy as np


def flow_to_wheel(flow: np.ndarray) -> np.ndarray:
    """Colour-wheel image of flow float [h, w, 2] (px): float32 [3, h, w] in [-1, 1] (channel-first RGB)."""
    u, v = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    mag = np.sqrt(u * u + v * v)
    scale = max(float(np.percentile(mag, 99)), 1e-3)
    sat = np.clip(mag / scale, 0.0, 1.0)
    hue = (np.arctan2(-v, -u) / np.pi + 1.0) * 3.0  # [0, 6)
    hue = np.where(hue >= 6.0, 0.0, hue)
    # HSV -> RGB with V = 1
    k = np.stack([(5.0 + hue) % 6.0, (3.0 + hue) % 6.0, (1.0 + hue) % 6.0])  # r, g, b
    rgb = 1.0 - sat[None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (rgb * 2.0 - 1.0).astype(np.float32)
