"""Middlebury ``.flo`` files (the format MG/GWM/LRTL loaders read).

Layout: float32 magic 202021.25, int32 width, int32 height, then ``height*width*2`` float32 values (u, v interleaved,
row-major), little-endian.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionseg.io.atomic import atomic_path
from motionseg.io.errors import InputError

FLO_MAGIC = np.float32(202021.25)


def read_flo(path: str | Path) -> np.ndarray:
    """Read a ``.flo`` file; returns float32 [H, W, 2] (u, v) in pixels. Raises InputError on a bad file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read flow file ({exc.strerror})") from None
    if len(raw) < 12:
        raise InputError(path, f"truncated .flo header ({len(raw)} bytes, need 12)")
    magic = np.frombuffer(raw, "<f4", count=1)[0]
    if magic != FLO_MAGIC:
        raise InputError(path, f"bad .flo magic number {magic!r} (expected 202021.25)")
    w, h = (int(v) for v in np.frombuffer(raw, "<i4", count=2, offset=4))
    if w <= 0 or h <= 0 or w > 100_000 or h > 100_000:
        raise InputError(path, f"implausible .flo size {w}x{h}")
    need = 12 + 8 * w * h
    if len(raw) < need:
        raise InputError(path, f"truncated .flo data ({len(raw)} bytes, need {need} for {w}x{h})")
    return np.frombuffer(raw, "<f4", count=2 * w * h, offset=12).reshape(h, w, 2).astype(np.float32)


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write float [H, W, 2] flow (pixels) to a ``.flo`` file atomically."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be [H,W,2], got {flow.shape}")
    h, w = flow.shape[:2]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(np.asarray([FLO_MAGIC], "<f4").tobytes())
            fh.write(np.asarray([w, h], "<i4").tobytes())
            fh.write(np.ascontiguousarray(flow).tobytes())
