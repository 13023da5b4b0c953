"""Track output assembled block by block: one block of columns per seeding event (query frame).

With a ``workdir`` the blocks are disk-backed (``.npy`` memory maps), so the tracker's RAM does not grow with the
clip length; :meth:`TrackBlocks.rows` then feeds :func:`motionseg.tracks.store.save_track_rows` one frame at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from motionseg.flow.geometry import scale_points


class TrackBlocks:
    """Output columns, one block per seeding event: positions float32 [T, n, 2] (NaN = unknown), visible [T, n].

    Positions come in as working-resolution pixels and are stored in original-frame pixels, both ways through
    :func:`motionseg.flow.geometry.scale_points` (pixel centres map to pixel centres); ``scale_xy`` = (sx, sy) is
    original / working size (``Ingested.scale_xy``).
    """

    def __init__(self, n_frames: int, scale_xy: tuple[float, float], workdir: str | Path | None = None) -> None:
        self.T = n_frames
        self.workdir = None if workdir is None else Path(workdir)
        self.scale = (float(scale_xy[0]), float(scale_xy[1]))
        self.unscale = (1.0 / self.scale[0], 1.0 / self.scale[1])
        self.xy: list[np.ndarray] = []
        self.vis: list[np.ndarray] = []
        self.qf: list[np.ndarray] = []
        self.offset: list[int] = []
        self.n = 0

    def add(self, q: int, n: int) -> int:
        """Open a block of n tracks queried at frame q; returns the column of its first track."""
        self.xy.append(self._alloc((self.T, n, 2), np.float32, np.nan))
        self.vis.append(self._alloc((self.T, n), np.bool_, False))
        self.qf.append(np.full(n, q, dtype=np.int32))
        self.offset.append(self.n)
        self.n += n
        return self.n - n

    def _alloc(self, shape: tuple[int, ...], dtype: type, fill: float | bool) -> np.ndarray:
        if self.workdir is None:
            return np.full(shape, fill, dtype=dtype)
        path = self.workdir / f"block{len(self.qf):05d}_{len(self.xy) + len(self.vis)}.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        fd = os.open(path, os.O_RDWR)
        try:  # reserve the disk space now: a full disk is then ENOSPC naming the file, not SIGBUS on a mapped page
            os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        finally:
            os.close(fd)
        for t in range(shape[0]):  # row by row: filling a memory map must not need a full-size temporary
            arr[t] = fill
        return arr

    def put(self, t: int, cols: np.ndarray, pts: np.ndarray) -> None:
        """Record working-pixel positions ``pts`` [K, 2] of global columns ``cols`` [K] at frame t (visible)."""
        starts = np.asarray(self.offset)
        blk = np.searchsorted(starts, cols, side="right") - 1
        orig = scale_points(np.asarray(pts, np.float32), self.scale)
        for b in np.unique(blk):
            sel = blk == b
            local = cols[sel] - starts[b]
            self.xy[b][t, local] = orig[sel]
            self.vis[b][t, local] = True

    def put_window(self, col0: int, t0: int, pts: np.ndarray, vis: np.ndarray) -> None:
        """Record a whole block written at once: working-pixel positions ``pts`` float [W, n, 2] and visibility
        ``vis`` bool [W, n] for frames t0..t0+W-1 of the block that starts at global column ``col0``."""
        b = self.offset.index(col0)
        n = self.xy[b].shape[1]
        if pts.shape[1] != n or vis.shape != pts.shape[:2]:
            raise ValueError(f"block of {n} tracks, got positions {pts.shape} and visibility {vis.shape}")
        self.xy[b][t0 : t0 + len(pts)] = scale_points(np.asarray(pts, np.float32), self.scale)
        self.vis[b][t0 : t0 + len(pts)] = vis

    def visible_points(self, t: int) -> np.ndarray:
        """Working-pixel positions float32 [K, 2] of all tracks visible at frame t (up to float32 rounding)."""
        out = [scale_points(xy[t][vis[t]], self.unscale) for xy, vis in zip(self.xy, self.vis, strict=True)]
        return np.concatenate(out) if out else np.zeros((0, 2), np.float32)

    @property
    def query_frame(self) -> np.ndarray:
        """int32 [N] query frame of every track."""
        return np.concatenate(self.qf) if self.qf else np.zeros(0, np.int32)

    def rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (positions float32 [N, 2], visible bool [N]) for t = 0..T-1."""
        for t in range(self.T):
            if not self.xy:
                yield np.zeros((0, 2), np.float32), np.zeros(0, bool)
                continue
            yield np.concatenate([b[t] for b in self.xy]), np.concatenate([b[t] for b in self.vis])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tracks float32 [T, N, 2], visible bool [T, N], query_frame int32 [N])."""
        if not self.xy:
            return (np.zeros((self.T, 0, 2), np.float32), np.zeros((self.T, 0), bool), np.zeros(0, np.int32))
        qf = self.query_frame
        xy = np.empty((self.T, self.n, 2), np.float32)
        vis = np.empty((self.T, self.n), bool)
        for b, c0 in enumerate(self.offset):  # copy and free block by block
            n = self.xy[b].shape[1]
            xy[:, c0 : c0 + n], vis[:, c0 : c0 + n] = self.xy[b], self.vis[b]
            self.xy[b] = self.vis[b] = None  # type: ignore[call-overload]
        self.xy, self.vis, self.qf, self.offset, self.n = [], [], [], [], 0
        return xy, vis, qf
