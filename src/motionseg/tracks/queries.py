"""Query strategy shared by all trackers: a regular grid, query frames spread through the clip, and seeding only
where no existing track covers a grid cell, so that every point is tracked once."""

from __future__ import annotations

import numpy as np


def query_frames(n_frames: int, query_stride: int) -> list[int]:
    """Query frames 0, s, 2s, ... < n_frames for query stride s >= 1."""
    if query_stride < 1:
        raise ValueError(f"query stride must be >= 1, got {query_stride}")
    return list(range(0, n_frames, query_stride))


def grid_points(hw: tuple[int, int], stride: int) -> np.ndarray:
    """One point per stride x stride cell of an h x w image: float32 [n_cells, 2] (x, y) in pixels.

    Points sit at the cell centres (clipped to the image); cells are listed row-major, so point k belongs to cell
    (k // ceil(w/stride), k % ceil(w/stride)).
    """
    h, w = hw
    if stride < 1:
        raise ValueError(f"grid stride must be >= 1, got {stride}")
    xs = np.minimum(np.arange(0, w, stride) + (stride - 1) / 2.0, w - 1)
    ys = np.minimum(np.arange(0, h, stride) + (stride - 1) / 2.0, h - 1)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def covered_cells(points: np.ndarray, hw: tuple[int, int], stride: int) -> np.ndarray:
    """bool [n_cells]: True for grid cells that contain at least one of ``points`` float [M, 2] (x, y) pixels."""
    h, w = hw
    ny, nx = -(-h // stride), -(-w // stride)
    cov = np.zeros(ny * nx, dtype=bool)
    if len(points) == 0:
        return cov
    pts = np.asarray(points, dtype=np.float64)
    ok = np.isfinite(pts).all(axis=1)
    cx = np.floor(pts[ok, 0] / stride).astype(np.int64)
    cy = np.floor(pts[ok, 1] / stride).astype(np.int64)
    inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
    cov[cy[inside] * nx + cx[inside]] = True
    return cov


def new_queries(alive_points: np.ndarray, hw: tuple[int, int], stride: int) -> np.ndarray:
    """Grid points [M, 2] (x, y) of the cells that none of ``alive_points`` [K, 2] covers (where to seed tracks)."""
    return grid_points(hw, stride)[~covered_cells(alive_points, hw, stride)]
