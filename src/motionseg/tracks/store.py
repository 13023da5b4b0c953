"""The track file ``results/{dataset}/tracks/{tracks}/{sequence}.npz`` and readers for LRTL's trajectory matrices.

One format for every tracker backend (see docs/architecture.md):

- ``tracks``: float32 [T, N, 2], (x, y) in ORIGINAL-frame pixels (pixel centres at integers, see
  :func:`motionseg.flow.geometry.scale_points`); NaN where the tracker has no position (before a
  track starts or after it ended);
- ``visible``: bool [T, N], True where the point is tracked and not occluded;
- ``query_frame``: int32 [N], the frame at which each track was seeded (it is visible there);
- ``meta``: JSON string (backend, checkpoint and its sha256, grid stride, query stride, flow backend, ...).

Stored with ``np.savez_compressed``; written atomically.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionseg.io.atomic import atomic_path
from motionseg.io.errors import InputError


@dataclass
class TrackSet:
    """Point trajectories of one sequence.

    tracks: float32 [T, N, 2] (x, y) in original-frame pixels (NaN where unknown); visible: bool [T, N];
    query_frame: int32 [N]; meta: provenance dict; path: file it was read from (None when built in memory).
    """

    tracks: np.ndarray
    visible: np.ndarray
    query_frame: np.ndarray
    meta: dict = field(default_factory=dict)
    path: str | None = None

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.tracks.shape[0])

    @property
    def n_tracks(self) -> int:
        """Number of tracks N."""
        return int(self.tracks.shape[1])


def check_track_arrays(tracks: np.ndarray, visible: np.ndarray, query_frame: np.ndarray) -> None:
    """Raise ValueError unless tracks [T,N,2], visible [T,N] and query_frame [N] have consistent shapes."""
    if tracks.ndim != 3 or tracks.shape[2] != 2:
        raise ValueError(f"tracks must be [T,N,2], got {tracks.shape}")
    if visible.shape != tracks.shape[:2]:
        raise ValueError(f"visible must be [T,N]={tracks.shape[:2]}, got {visible.shape}")
    if query_frame.shape != (tracks.shape[1],):
        raise ValueError(f"query_frame must be [N]=({tracks.shape[1]},), got {query_frame.shape}")
    if query_frame.size and (query_frame.min() < 0 or query_frame.max() >= tracks.shape[0]):
        raise ValueError("query_frame outside [0, T)")


def save_tracks(path: str | Path, tracks: np.ndarray, visible: np.ndarray, query_frame: np.ndarray, meta: dict) -> None:
    """Write a track file atomically (compressed npz; tracks stored as float32).

    tracks: float [T, N, 2] original-frame pixels (NaN where unknown); visible: bool [T, N]; query_frame: int [N].
    Positions are stored as float32 (LRTL stores float16, which rounds to 1/2 px beyond 512 px: every DAVIS frame is
    854 px wide, so we do not).
    """
    tracks = np.asarray(tracks)
    visible = np.asarray(visible, dtype=bool)
    query_frame = np.asarray(query_frame, dtype=np.int32)
    check_track_arrays(tracks, visible, query_frame)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                tracks=tracks.astype(np.float32),
                visible=visible,
                query_frame=query_frame,
                meta=np.asarray(json.dumps(meta, sort_keys=True, default=str)),
            )


def save_track_rows(
    path: str | Path,
    n_frames: int,
    n_tracks: int,
    rows: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    query_frame: np.ndarray,
    meta: dict,
) -> None:
    """Write the same file as :func:`save_tracks`, streaming one frame at a time (memory flat in the clip length).

    rows() returns a fresh iterator (it is called twice) that yields, for t = 0..n_frames-1, (positions float [N, 2]
    original-frame pixels, visible bool [N]).
    """
    query_frame = np.asarray(query_frame, dtype=np.int32)
    if query_frame.shape != (n_tracks,):
        raise ValueError(f"query_frame must be [{n_tracks}], got {query_frame.shape}")
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            with zf.open("tracks.npy", "w", force_zip64=True) as fh:
                _npy_header(fh, np.float32, (n_frames, n_tracks, 2))
                count = 0
                for xy, vis in rows():
                    xy = np.asarray(xy)
                    if xy.shape != (n_tracks, 2) or np.shape(vis) != (n_tracks,):
                        raise ValueError(f"row {count}: expected [{n_tracks},2] and [{n_tracks}], got {xy.shape}")
                    fh.write(np.ascontiguousarray(xy, dtype=np.float32).tobytes())
                    count += 1
                if count != n_frames:
                    raise ValueError(f"got {count} rows for {n_frames} frames")
            with zf.open("visible.npy", "w", force_zip64=True) as fh:
                _npy_header(fh, np.bool_, (n_frames, n_tracks))
                for _, vis in rows():
                    fh.write(np.ascontiguousarray(vis, dtype=bool).tobytes())
            for name, arr in (
                ("query_frame", query_frame),
                ("meta", np.asarray(json.dumps(meta, sort_keys=True, default=str))),
            ):
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, arr, allow_pickle=False)


def _npy_header(fh, dtype: type, shape: tuple[int, ...]) -> None:
    """Write a .npy header for a C-ordered array of ``dtype`` and ``shape``."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(fh, header)


def load_tracks(path: str | Path) -> TrackSet:
    """Read a track file written by :func:`save_tracks`; tracks come back as float32 [T, N, 2]."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            tracks = z["tracks"].astype(np.float32)
            visible = z["visible"].astype(bool)
            query_frame = z["query_frame"].astype(np.int32)
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise InputError(path, "track file does not exist") from None
    except Exception as exc:  # zip corruption, missing keys, bad JSON
        raise InputError(path, f"not a readable track file ({exc})") from exc
    try:
        check_track_arrays(tracks, visible, query_frame)
    except ValueError as exc:
        raise InputError(path, f"inconsistent track file: {exc}") from None
    return TrackSet(tracks=tracks, visible=visible, query_frame=query_frame, meta=meta, path=str(path))


@dataclass
class TrajectoryWindow:
    """Trajectories of the tracks visible at frame ``t`` over ``frames`` (f = 2*context+1 frame indices).

    xy: float32 [f, M, 2] (x, y) original-frame pixels; vis: bool [f, M]; xy_t: float32 [M, 2] positions at frame t
    (the points where LRTL samples the predicted masks); track_ids: int64 [M] column indices into the TrackSet;
    frames: int64 [f] the frame indices of the rows of ``xy``; t_index: row of frame t in ``frames``.
    ``matrix()`` gives LRTL's [2f, M] trajectory matrix (x rows then y rows).
    """

    xy: np.ndarray
    vis: np.ndarray
    xy_t: np.ndarray
    track_ids: np.ndarray
    frames: np.ndarray
    t_index: int

    def matrix(self) -> np.ndarray:
        """float32 [2f, M]: rows 0..f-1 hold x over time, rows f..2f-1 hold y (LRTL's T matrix)."""
        return np.concatenate([self.xy[..., 0], self.xy[..., 1]], axis=0)


def window_frames(n_frames: int, t: int, context: int) -> np.ndarray:
    """Frame indices [2*context+1] centred on t, shifted inwards at the ends of a clip of ``n_frames`` frames."""
    f = 2 * context + 1
    if f > n_frames:
        raise ValueError(f"window of {f} frames does not fit in {n_frames} frames")
    start = min(max(t - context, 0), n_frames - f)
    return np.arange(start, start + f)


def trajectory_window(
    ts: TrackSet,
    t: int,
    context: int,
    min_visible_frac: float = 0.0,
    require_complete: bool = True,
) -> TrajectoryWindow:
    """Trajectory matrices for LRTL's loss at frame ``t``.

    Selects the tracks visible at frame t whose visibility over the window exceeds ``min_visible_frac`` (LRTL: 0.1)
    and returns their positions over the f = 2*context+1 frames around t (window shifted inwards at the ends, as LRTL
    does). With ``require_complete`` only tracks with a known position in every frame of the window are kept; without
    it, unknown positions (NaN) are filled with the nearest known position of the same track (and ``vis`` is False
    there). Raises InputError (naming the track file) when the sequence is shorter than the window.
    """
    T = ts.n_frames
    if not 0 <= t < T:
        raise IndexError(f"frame {t} outside [0, {T})")
    if 2 * context + 1 > T:
        raise InputError(
            ts.path or "<in-memory TrackSet>",
            f"sequence has {T} frames, shorter than the trajectory window of {2 * context + 1} frames "
            f"(context {context})",
        )
    frames = window_frames(T, t, context)
    cols = np.flatnonzero(ts.visible[t])
    xy = ts.tracks[frames][:, cols]
    vis = ts.visible[frames][:, cols]
    keep = vis.mean(axis=0) > min_visible_frac if min_visible_frac > 0 else np.ones(cols.size, bool)
    known = np.isfinite(xy).all(axis=2)
    if require_complete:
        keep &= known.all(axis=0)
    cols, xy, vis, known = cols[keep], xy[:, keep], vis[:, keep], known[:, keep]
    if not require_complete:
        xy = _fill_nearest(xy, known)
    return TrajectoryWindow(
        xy=np.ascontiguousarray(xy, dtype=np.float32),
        vis=vis,
        xy_t=ts.tracks[t, cols].astype(np.float32),
        track_ids=cols.astype(np.int64),
        frames=frames.astype(np.int64),
        t_index=int(t - frames[0]),
    )


def _fill_nearest(xy: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill rows where ``known`` [f, M] is False with the temporally nearest known row of the same column."""
    f = xy.shape[0]
    idx = np.arange(f)[:, None]
    big = f * 4
    prev = np.maximum.accumulate(np.where(known, idx, -big), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(known, idx, big), 0), axis=0), 0)
    use_prev = (idx - prev) <= (nxt - idx)
    src = np.where(use_prev, prev, nxt).clip(0, f - 1)
    return np.take_along_axis(xy, np.repeat(src[..., None], 2, axis=2), axis=0)
