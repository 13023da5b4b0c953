"""``flowchain``: a weight-free point tracker that chains optical flow.

Each point moves by the bilinearly sampled forward flow from frame t to t+1. The step is kept only when the
backward flow sampled at the new position brings it back (forward-backward consistency, the rule of Sundaram, Brox
and Keutzer 2010: ``|f + b|^2 < alpha (|f|^2 + |b|^2) + beta``), the point is not on a motion boundary (their second
rule: ``|grad u|^2 + |grad v|^2 < mb_alpha |f|^2 + mb_beta``, which ends tracks that would otherwise be dragged along
by an occluding edge) and it stays inside the frame; otherwise the track ends for good (an occlusion or a flow error
ends a track, it is never revived).

Query strategy (each point is tracked once): at the query frames 0, s, 2s, ... a grid point is seeded in every
grid cell that no live track covers (re-seeding where coverage was lost). One forward sweep over the clip carries all
tracks forward; one backward sweep carries the tracks seeded at frame q > 0 back to earlier frames with the
backward flow, with the same consistency check. Only one flow pair is held at a time, so the working memory does
not depend on the clip length (the output, [T, N, 2], naturally does).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from motionseg.io.atomic import atomic_path
from motionseg.io.errors import PREEMPT_EXIT_CODE, InputError, Preempted
from motionseg.tracks.blocks import TrackBlocks
from motionseg.tracks.queries import new_queries, query_frames

log = logging.getLogger(__name__)


class PairFlow(Protocol):
    """Per-pair access to gap-1 flow at working resolution (float32 [h, w, 2], working pixels)."""

    n_frames: int
    hw: tuple[int, int]

    def forward_pair(self, t: int) -> np.ndarray:
        """Flow from frame t to t+1, t in [0, T-1)."""
        ...

    def backward_pair(self, t: int) -> np.ndarray:
        """Flow from frame t+1 back to frame t, t in [0, T-1)."""
        ...


class FlowSetPairs:
    """:class:`PairFlow` view of a ``motionseg.flow`` FlowSet (``forward(1)``/``backward(1)``, [T-1, h, w, 2]).

    Reads one pair at a time, so memory does not grow with the clip: through ``flowset.forward_pair(t, gap)`` /
    ``backward_pair(t, gap)`` when the FlowSet has them, else straight from a flow directory written by
    ``motionseg.flow`` (``flow.npz`` members or MG-layout ``.flo`` files). Any other FlowSet-like object (tests) has
    its gap-1 arrays read once. Use as a context manager (closes the npz archive).
    """

    def __init__(self, flowset: object, n_frames: int) -> None:
        self._fs = flowset
        self.n_frames = n_frames
        self._arrays: dict[str, np.ndarray] = {}
        self._npz = None
        self._mode = self._pick_mode(flowset)
        first = self.forward_pair(0)
        self.hw = (int(first.shape[0]), int(first.shape[1]))

    def _pick_mode(self, fs: object) -> str:
        if hasattr(fs, "forward_pair") and hasattr(fs, "backward_pair"):
            return "pair"
        meta = getattr(fs, "meta", None) or {}
        if getattr(fs, "path", None) is not None and meta.get("storage") in ("npz", "flo") and hasattr(fs, "names"):
            return meta["storage"]
        return "arrays"

    def _get(self, direction: str, t: int) -> np.ndarray:
        if not 0 <= t < self.n_frames - 1:
            raise IndexError(f"pair {t} outside [0, {self.n_frames - 1})")
        fs = self._fs
        if self._mode == "pair":
            return np.asarray(getattr(fs, f"{direction}_pair")(t, 1), dtype=np.float32)
        if self._mode == "arrays":
            if direction not in self._arrays:
                self._arrays[direction] = np.asarray(getattr(fs, direction)(1), dtype=np.float32)
            return self._arrays[direction][t]
        from motionseg.flow import store  # the flow stage's on-disk layout

        if 1 not in getattr(fs, "gaps", [1]):
            raise InputError(fs.path, f"no gap-1 flow (gaps here: {fs.gaps})")
        if self._mode == "flo":
            return store.read_flo(store.flo_path(Path(fs.path), direction, 1, list(fs.names), t)).astype(np.float32)
        npz_path = Path(fs.path) / store.NPZ_NAME
        if self._npz is None:
            try:
                self._npz = np.load(npz_path, allow_pickle=False)
            except FileNotFoundError:
                raise InputError(npz_path, "flow archive missing") from None
            except Exception as exc:
                raise InputError(npz_path, f"unreadable flow archive ({exc})") from exc
        key = store.npz_key(direction, 1, t)
        try:
            return np.asarray(self._npz[key], dtype=np.float32)
        except KeyError:
            raise InputError(npz_path, f"flow archive has no member '{key}'") from None
        except Exception as exc:
            raise InputError(npz_path, f"unreadable flow archive member '{key}' ({exc})") from exc

    def forward_pair(self, t: int) -> np.ndarray:
        """Flow t -> t+1, float32 [h, w, 2]."""
        return self._get("forward", t)

    def backward_pair(self, t: int) -> np.ndarray:
        """Flow t+1 -> t, float32 [h, w, 2]."""
        return self._get("backward", t)

    def close(self) -> None:
        """Close the flow archive, if one is open."""
        if self._npz is not None:
            self._npz.close()
            self._npz = None

    def __enter__(self) -> FlowSetPairs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ChainParams:
    """grid_stride: px between seeds (working resolution); query_stride: frames between query frames;
    fb_alpha, fb_beta: consistency thresholds (beta in px^2); mb_alpha, mb_beta: motion-boundary thresholds
    (mb_beta in (px/px)^2; None disables the motion-boundary check)."""

    grid_stride: int
    query_stride: int
    fb_alpha: float
    fb_beta: float
    mb_alpha: float | None = 0.01
    mb_beta: float | None = 0.002


def bilinear(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Sample ``field`` float [h, w, C] at sub-pixel points float [N, 2] (x, y), border-clamped; returns [N, C]."""
    h, w = field.shape[:2]
    x = np.clip(pts[:, 0], 0, w - 1)
    y = np.clip(pts[:, 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(len(x), np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(len(y), np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    ax = (x - x0)[:, None]
    ay = (y - y0)[:, None]
    top = field[y0, x0] * (1 - ax) + field[y0, x1] * ax
    bot = field[y1, x0] * (1 - ax) + field[y1, x1] * ax
    return (top * (1 - ay) + bot * ay).astype(np.float32)


def flow_gradient_sq(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """|grad u|^2 + |grad v|^2 of ``field`` [h, w, 2] at points [N, 2] (central differences 1 px either side)."""
    dx = np.asarray([[1.0, 0.0]], np.float32)
    dy = np.asarray([[0.0, 1.0]], np.float32)
    gx = (bilinear(field, pts + dx) - bilinear(field, pts - dx)) / 2.0
    gy = (bilinear(field, pts + dy) - bilinear(field, pts - dy)) / 2.0
    return (gx**2).sum(axis=1) + (gy**2).sum(axis=1)


def chain_step(
    pts: np.ndarray, flow_ab: np.ndarray, flow_ba: np.ndarray, params: ChainParams
) -> tuple[np.ndarray, np.ndarray]:
    """Move points [N, 2] of frame a to frame b with ``flow_ab`` [h, w, 2], checked against ``flow_ba``.

    Returns (new points float32 [N, 2], ok bool [N]); ok is False where the point left the frame, failed the
    forward-backward check or sat on a motion boundary of ``flow_ab``.
    """
    h, w = flow_ab.shape[:2]
    f = bilinear(flow_ab, pts)
    new = pts + f
    inside = (new[:, 0] >= 0) & (new[:, 0] <= w - 1) & (new[:, 1] >= 0) & (new[:, 1] <= h - 1)
    b = bilinear(flow_ba, new)
    err = ((f + b) ** 2).sum(axis=1)
    tol = params.fb_alpha * ((f**2).sum(axis=1) + (b**2).sum(axis=1)) + params.fb_beta
    ok = inside & (err < tol)
    if params.mb_alpha is not None and params.mb_beta is not None:
        ok &= flow_gradient_sq(flow_ab, pts) < params.mb_alpha * (f**2).sum(axis=1) + params.mb_beta
    return new.astype(np.float32), ok


def track_flowchain(
    flow: PairFlow,
    params: ChainParams,
    scale_xy: tuple[float, float] = (1.0, 1.0),
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track a clip by chaining gap-1 flow (see the module docstring).

    flow: per-pair flow at working resolution; scale_xy: factors mapping working to output pixels (the ingested
    ``scale_xy``). Returns tracks float32 [T, N, 2] (x, y) in output pixels, NaN where unknown; visible bool [T, N];
    query_frame int32 [N]. Tracks seeded at frame q are visible at q.
    """
    return flowchain_blocks(flow, params, scale_xy, None, progress).result()


def flowchain_blocks(
    flow: PairFlow,
    params: ChainParams,
    scale_xy: tuple[float, float],
    workdir: str | None,
    progress: bool = True,
    checkpoint: ChainCheckpoint | None = None,
) -> TrackBlocks:
    """As :func:`track_flowchain`, returning the output blocks (disk-backed in ``workdir`` unless it is None).

    With a ``checkpoint`` (whose work dir must be ``workdir``) the sweeps resume from a saved state, and when
    ``checkpoint.stop()`` turns True the state is saved before the next step and
    :class:`motionseg.io.errors.Preempted` is raised (exit status 143).
    """
    T, hw = flow.n_frames, flow.hw
    if T < 2:
        raise ValueError(f"need at least 2 frames, got {T}")
    qset = set(query_frames(T, params.query_stride))
    st = checkpoint.load(T, scale_xy) if checkpoint is not None else None
    if st is None:
        st = _ChainState(TrackBlocks(T, scale_xy, workdir), "forward", 0, _EMPTY_COLS, _EMPTY_PTS, {})
    blocks, seeds = st.blocks, st.seeds  # seeds: q -> (columns, seed points) for the backward sweep
    cols, pts = st.cols, st.pts
    done = st.t if st.phase == "forward" else (T - 1) + (T - 1 - st.t)
    bar = tqdm(total=2 * (T - 1), initial=done, desc="flowchain", unit="step", disable=not progress, leave=False)
    if st.phase == "forward":
        for t in range(st.t, T):
            _maybe_preempt(checkpoint, _ChainState(blocks, "forward", t, cols, pts, seeds))
            if t in qset:
                new = new_queries(pts, hw, params.grid_stride)
                if len(new):
                    c0 = blocks.add(t, len(new))
                    new_cols = np.arange(c0, c0 + len(new), dtype=np.int64)
                    if t > 0:
                        seeds[t] = (new_cols, new)
                    cols = np.concatenate([cols, new_cols])
                    pts = np.concatenate([pts, new]).astype(np.float32)
            blocks.put(t, cols, pts)
            if t == T - 1:
                break
            pts, ok = chain_step(pts, flow.forward_pair(t), flow.backward_pair(t), params)
            cols, pts = cols[ok], pts[ok]
            bar.update()
        # backward sweep: tracks seeded at q > 0 extend to earlier frames
        st = _ChainState(blocks, "backward", T - 1, _EMPTY_COLS, _EMPTY_PTS, seeds)
        cols, pts = st.cols, st.pts
    for t in range(st.t, 0, -1):
        _maybe_preempt(checkpoint, _ChainState(blocks, "backward", t, cols, pts, seeds))
        if t in seeds:
            cols = np.concatenate([cols, seeds[t][0]])
            pts = np.concatenate([pts, seeds[t][1]]).astype(np.float32)
        if len(pts):
            pts, ok = chain_step(pts, flow.backward_pair(t - 1), flow.forward_pair(t - 1), params)
            cols, pts = cols[ok], pts[ok]
            blocks.put(t - 1, cols, pts)
        bar.update()
    bar.close()
    return blocks


_EMPTY_COLS = np.zeros(0, dtype=np.int64)
_EMPTY_PTS = np.zeros((0, 2), dtype=np.float32)


@dataclass
class _ChainState:
    """Where the sweeps are: ``phase`` ("forward"/"backward") and the frame ``t`` of the next loop iteration, the live
    tracks (global columns [K] and working-pixel positions [K, 2]) and the seeds kept for the backward sweep."""

    blocks: TrackBlocks
    phase: str
    t: int
    cols: np.ndarray
    pts: np.ndarray
    seeds: dict[int, tuple[np.ndarray, np.ndarray]]


def _maybe_preempt(checkpoint: ChainCheckpoint | None, state: _ChainState) -> None:
    """Save ``state`` and raise Preempted when the checkpoint's stop flag is set."""
    if checkpoint is None or not checkpoint.stop():
        return
    checkpoint.save(state)
    log.warning("SIGTERM: flowchain progress saved in %s (%s sweep, frame %d), exiting", checkpoint.workdir,
                state.phase, state.t)
    raise Preempted(PREEMPT_EXIT_CODE)


class ChainCheckpoint:
    """Saves and restores flowchain's progress in ``workdir`` (the disk-backed blocks plus ``state.npz``).

    ``fingerprint`` identifies the run (inputs and parameters): a saved state with another fingerprint is discarded.
    ``stop`` is polled before every step (e.g. a flag set by a SIGTERM handler).
    """

    STATE_NAME = "state.npz"

    def __init__(self, workdir: str | Path, fingerprint: str, stop: Callable[[], bool]) -> None:
        self.workdir = Path(workdir)
        self.fingerprint = fingerprint
        self.stop = stop

    @property
    def state_path(self) -> Path:
        """``<workdir>/state.npz``: where the sweep state is saved."""
        return self.workdir / self.STATE_NAME

    def save(self, state: _ChainState) -> None:
        """Flush the block memory maps and write the sweep state atomically."""
        b = state.blocks
        if b.workdir is None or b.workdir.resolve() != self.workdir.resolve():
            raise ValueError("checkpointing needs the blocks to live in the checkpoint's work dir")
        for arr in (*b.xy, *b.vis):
            arr.flush()
        seed_q = sorted(state.seeds)
        arrays = {
            "fingerprint": np.asarray(self.fingerprint),
            "phase": np.asarray(state.phase),
            "t": np.asarray(state.t, np.int64),
            "cols": np.asarray(state.cols, np.int64),
            "pts": np.asarray(state.pts, np.float32).reshape(-1, 2),
            "seed_q": np.asarray(seed_q, np.int64),
            "seed_n": np.asarray([len(state.seeds[q][0]) for q in seed_q], np.int64),
            "seed_cols": np.concatenate([state.seeds[q][0] for q in seed_q]) if seed_q else _EMPTY_COLS,
            "seed_pts": np.concatenate([state.seeds[q][1] for q in seed_q]) if seed_q else _EMPTY_PTS,
            "block_q": np.asarray([int(q[0]) for q in b.qf], np.int64),
            "block_n": np.asarray([len(q) for q in b.qf], np.int64),
            "block_offset": np.asarray(b.offset, np.int64),
            "xy_files": np.asarray([Path(a.filename).name for a in b.xy], dtype=str),
            "vis_files": np.asarray([Path(a.filename).name for a in b.vis], dtype=str),
        }
        with atomic_path(self.state_path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def load(self, n_frames: int, scale_xy: tuple[float, float]) -> _ChainState | None:
        """The saved state, or None (and an emptied work dir) when there is none or it is from another run."""
        try:
            with np.load(self.state_path, allow_pickle=False) as z:
                saved = {k: z[k] for k in z.files}
            if str(saved["fingerprint"]) != self.fingerprint:
                raise ValueError("work dir belongs to another run")
            blocks = TrackBlocks(n_frames, scale_xy, self.workdir)
            for name_xy, name_vis, q, n, off in zip(saved["xy_files"], saved["vis_files"], saved["block_q"],
                                                    saved["block_n"], saved["block_offset"], strict=True):
                blocks.xy.append(np.load(self.workdir / str(name_xy), mmap_mode="r+"))
                blocks.vis.append(np.load(self.workdir / str(name_vis), mmap_mode="r+"))
                blocks.qf.append(np.full(int(n), int(q), dtype=np.int32))
                blocks.offset.append(int(off))
            blocks.n = int(saved["block_n"].sum())
            if any(a.shape[:2] != (n_frames, len(q)) for a, q in zip(blocks.xy, blocks.qf, strict=True)):
                raise ValueError("block shapes do not match the clip")
            if any(a.dtype != np.float32 for a in blocks.xy):
                raise ValueError("blocks from an older format (positions not float32)")
        except (OSError, KeyError, ValueError) as exc:
            if self.state_path.exists():
                log.warning("discarding flowchain checkpoint in %s (%s)", self.workdir, exc)
            self.clear()
            return None
        seeds: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        start = 0
        for q, n in zip(saved["seed_q"].tolist(), saved["seed_n"].tolist(), strict=True):
            seeds[q] = (saved["seed_cols"][start : start + n], saved["seed_pts"][start : start + n])
            start += n
        log.info("resuming flowchain from %s (%s sweep, frame %d)", self.workdir, saved["phase"], int(saved["t"]))
        return _ChainState(blocks, str(saved["phase"]), int(saved["t"]), saved["cols"], saved["pts"], seeds)

    def clear(self) -> None:
        """Empty the work dir (it is created when missing)."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
