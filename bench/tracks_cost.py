"""Cost of our trajectory stage vs. LRTL's per-frame dense CoTracker scheme.

For a T-frame 480x854 sequence at LRTL's density (one track per 4x4 px block of every frame's area) it prints:

- bytes stored per frame: LRTL (computed from its documented sizes: per query frame a dense float16 [101, 120, 214, 2]
  position tensor + a bool [101, 120, 214] visibility tensor), ours measured on the compressed track file that
  ``flowchain`` writes for a synthetic sequence with known motion, plus the uncompressed size of our format;
- tracker passes per video: LRTL runs CoTracker once per frame (T passes, each with backward tracking); our CoTracker
  strategy runs once per query frame with points to seed (<= ceil(T / query_stride)); flowchain makes one forward
  and one backward sweep;
- peak memory (tracemalloc) of ``flowchain`` for 50, 100 and 200 frames, with the flow produced one pair at a time.

Usage: ``nice -n 10 python bench/tracks_cost.py [--frames 100] [--query-stride 10] [--lengths 50 100 200]``
(about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from motionseg.tracks.flowchain import ChainParams, flowchain_blocks
from motionseg.tracks.store import load_tracks, save_track_rows

H, W = 480, 854
LRTL_WINDOW = 101  # max_frames + 1 frames around each query frame
LRTL_GRID = (math.ceil(H / 4), math.ceil(W / 4))  # 120 x 214 query points per query frame


class PanAndSquare:
    """Background panning by (0.6, 0.25) px/frame with a 120 px square moving by (1.5, -0.5) px/frame on top:
    exact gap-1 forward/backward flow, produced one pair at a time (nothing is cached)."""

    def __init__(self, n_frames: int, hw: tuple[int, int] = (H, W)) -> None:
        self.n_frames, self.hw = n_frames, hw
        self.bg = np.array([0.6, 0.25], np.float32)
        self.fg = np.array([1.5, -0.5], np.float32)
        self.side, self.origin = 120.0, np.array([100.0, 300.0], np.float32)

    def _field(self, t: int, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
        h, w = self.hw
        c = self.origin + t * self.fg
        rows = (np.arange(h) >= c[1]) & (np.arange(h) < c[1] + self.side)
        cols = (np.arange(w) >= c[0]) & (np.arange(w) < c[0] + self.side)
        out = np.empty((h, w, 2), np.float32)
        out[:] = outside
        out[np.ix_(rows, cols)] = inside
        return out

    def forward_pair(self, t: int) -> np.ndarray:
        return self._field(t, self.fg, self.bg)

    def backward_pair(self, t: int) -> np.ndarray:
        return self._field(t + 1, -self.fg, -self.bg)


def lrtl_bytes_per_frame() -> int:
    """Bytes LRTL stores per query frame (= per frame): fp16 (x, y) + bool visibility on a dense 101-frame grid."""
    n = LRTL_WINDOW * LRTL_GRID[0] * LRTL_GRID[1]
    return n * (2 * 2 + 1)


def run_flowchain(n_frames: int, params: ChainParams, out_path: Path) -> tuple[float, int]:
    """Track a synthetic sequence and write its track file the way run_tracks does (disk-backed blocks, streamed
    npz); returns seconds and the tracemalloc peak in bytes over tracking + writing."""
    scene = PanAndSquare(n_frames)
    tracemalloc.start()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_path.parent) as work:
        blocks = flowchain_blocks(scene, params, (1.0, 1.0), work, progress=False)
        save_track_rows(out_path, blocks.T, blocks.n, blocks.rows, blocks.query_frame, {"backend": "flowchain"})
        del blocks
    secs = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return secs, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--query-stride", type=int, default=10)
    ap.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200])
    args = ap.parse_args()
    params = ChainParams(grid_stride=4, query_stride=args.query_stride, fb_alpha=0.01, fb_beta=0.5)
    T = args.frames

    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "seq.npz"
    secs, _ = run_flowchain(T, params, path)
    file_bytes = path.stat().st_size
    ts = load_tracks(path)
    visible, qf, N = ts.visible, ts.query_frame, ts.n_tracks
    lrtl = lrtl_bytes_per_frame()
    ours_file = file_bytes / T
    ours_raw = N * (2 * 2 + 1)  # per frame: fp16 (x, y) + bool per track, before compression
    lrtl_passes = T
    ct_passes = len(np.unique(qf))  # query frames that seeded tracks = CoTracker passes with our strategy
    print(
        f"sequence: {T} frames {H}x{W}, one track per 4x4 block ({LRTL_GRID[0]}x{LRTL_GRID[1]} = "
        f"{LRTL_GRID[0] * LRTL_GRID[1]} cells), query stride {args.query_stride}"
    )
    print(
        f"flowchain: {N} tracks, {visible.sum(axis=1).mean():.0f} visible per frame on average, "
        f"{secs:.1f} s, query frames that seeded tracks: {ct_passes}"
    )
    print()
    print(f"{'scheme':44s} {'bytes/frame':>14s} {'vs LRTL':>9s} {'passes/video':>13s} {'vs LRTL':>8s}")
    print(
        f"{'LRTL per-frame dense (CoTracker2, documented)':44s} {lrtl:14,d} {1.0:8.1f}x "
        f"{lrtl_passes:13d} {1.0:7.1f}x"
    )
    print(
        f"{'ours, flowchain, compressed file (measured)':44s} {ours_file:14,.0f} {lrtl / ours_file:8.1f}x "
        f"{2:13d} {lrtl_passes / 2:7.1f}x"
    )
    print(
        f"{'ours, format uncompressed (T*N*5 B / T)':44s} {ours_raw:14,d} {lrtl / ours_raw:8.1f}x "
        f"{ct_passes:13d} {lrtl_passes / ct_passes:7.1f}x   (CoTracker query strategy)"
    )
    print("  LRTL passes each run CoTracker with backward_tracking (2 model runs); so do ours (offline backends).")
    print()
    print(f"{'frames':>6s} {'tracks N':>9s} {'peak RAM MB':>12s} {'[T,N] arrays MB':>16s} {'file MB':>8s} {'s':>6s}")
    for n in args.lengths:
        p = Path(tmp.name) / f"seq{n}.npz"
        secs, peak = run_flowchain(n, params, p)
        N = load_tracks(p).n_tracks
        print(f"{n:6d} {N:9d} {peak / 1e6:12.1f} {n * N * 5 / 1e6:16.1f} {p.stat().st_size / 1e6:8.1f} {secs:6.1f}")
    print(
        "peak RAM = tracemalloc peak of flowchain + writing the track file as run_tracks does (flow made one pair at "
        "a time, output in disk-backed blocks, file streamed frame by frame); [T,N] arrays = what an in-RAM dense "
        "output would need"
    )
    tmp.cleanup()


if __name__ == "__main__":
    main()
