"""CoTracker backends (``cotracker3_offline``, ``cotracker3_online``, ``cotracker2``), used through their public API.

CoTracker (facebookresearch/co-tracker) is CC BY-NC 4.0: none of its code is in this repository. It is imported
lazily from a user-installed ``cotracker`` package, or loaded from a local clone with ``torch.hub.load(repo_dir,
entry, source="local", pretrained=False)``; the weights always come from the local file ``tracks.checkpoint``.

Predictor API relied on (co-tracker 3.0, see docs/tracks.md of this repo for the pinned commit):

- offline ``CoTrackerPredictor``: ``model(video, queries=None, segm_mask=None, grid_size=0, grid_query_frame=0,
  backward_tracking=False) -> (tracks [B, T, N, 2] float (x, y) input pixels, visibility [B, T, N] bool)``; video
  float [B, T, 3, H, W] in 0..255; queries float [B, N, 3] rows (t, x, y) in input pixels;
- online ``CoTrackerOnlinePredictor``: ``model(video_chunk, is_first_step=True, queries=...)`` registers the queries
  and returns (None, None); then ``model(video_chunk=video[:, i:i + 2*step])`` for i = 0, step, ... < T - step
  returns tracks/visibility of all frames seen so far; it tracks forwards only.

The adapter runs one tracker pass per query frame that has points to seed, over a clip of ``window`` frames centred
on the query frame (shifted inwards at the ends), tracking forwards and backwards in time; positions outside that
clip are unknown (NaN, not visible). Peak memory is set by the clip, not the video length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from motionseg.io.checkpoints import load_state_dict_file
from motionseg.io.errors import InputError
from motionseg.io.hashing import sha256_file  # noqa: F401  (re-exported for tracks.run)
from motionseg.tracks.blocks import TrackBlocks
from motionseg.tracks.config import COTRACKER_BACKENDS
from motionseg.tracks.queries import new_queries, query_frames


def build_predictor(backend: str, repo_dir: str | None) -> torch.nn.Module:
    """Construct the (randomly initialised) predictor for ``backend`` from a local clone or the installed package."""
    spec = COTRACKER_BACKENDS[backend]
    if repo_dir:
        if not Path(repo_dir, "hubconf.py").is_file():
            raise InputError(repo_dir, "not a co-tracker clone (no hubconf.py) (tracks.cotracker_repo)")
        return torch.hub.load(str(repo_dir), spec.entry, source="local", pretrained=False)
    try:
        from cotracker.predictor import CoTrackerOnlinePredictor, CoTrackerPredictor
    except ImportError as exc:
        raise ImportError(
            f"tracks backend '{backend}' needs the 'cotracker' package (not on PyPI): install it from a pinned commit "
            "as described in the README, or set tracks.cotracker_repo to a local clone"
        ) from exc
    if spec.online:
        return CoTrackerOnlinePredictor(checkpoint=None, window_len=spec.window_len, v2=spec.v2)
    return CoTrackerPredictor(checkpoint=None, window_len=spec.window_len, v2=spec.v2)


def load_predictor(backend: str, checkpoint: str | Path, repo_dir: str | None, device: torch.device) -> torch.nn.Module:
    """Predictor for ``backend`` with the weights of the local ``checkpoint``, in eval mode on ``device``."""
    state = load_state_dict_file(checkpoint, "CoTracker checkpoint")
    predictor = build_predictor(backend, repo_dir)
    try:
        predictor.model.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(checkpoint, f"checkpoint does not fit {backend}: {str(exc).splitlines()[0]}") from None
    return predictor.to(device).eval()


def clip_bounds(n_frames: int, q: int, window: int) -> tuple[int, int]:
    """[start, stop) of a clip of ``window`` frames centred on q, shifted inwards at the ends (needs window <= T)."""
    start = min(max(q - window // 2, 0), n_frames - window)
    return start, start + window


def _to_video(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [T, h, w, 3] -> float [1, T, 3, h, w] in 0..255 on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2)[None].float()


def run_offline(predictor: torch.nn.Module, clip: torch.Tensor, queries: torch.Tensor) -> tuple[np.ndarray, ...]:
    """One offline pass with backward tracking. clip float [1, W, 3, h, w]; queries [1, M, 3] (t, x, y).

    Returns (positions float32 [W, M, 2] input pixels, visible bool [W, M]).
    """
    tracks, vis = predictor(clip, queries=queries, backward_tracking=True)
    return _check_out(tracks, vis, clip.shape[1], queries.shape[1])


def _online_forward(predictor: torch.nn.Module, clip: torch.Tensor, queries: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Online pass over the whole clip (forwards in time only)."""
    step = int(predictor.step)
    W = clip.shape[1]
    predictor(video_chunk=clip, is_first_step=True, queries=queries)
    tracks = vis = None
    for i in range(0, max(W - step, 1), step):
        tracks, vis = predictor(video_chunk=clip[:, i : i + 2 * step])
    if tracks is None or tracks.shape[1] < W:
        seen = 0 if tracks is None else tracks.shape[1]
        raise RuntimeError(f"online CoTracker returned {seen} frames for a clip of {W}")
    return _check_out(tracks[:, :W], vis[:, :W], W, queries.shape[1])


def run_online(predictor: torch.nn.Module, clip: torch.Tensor, queries: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Online predictor forwards over the clip, and over the reversed clip for the frames before each query.

    clip float [1, W, 3, h, w]; queries [1, M, 3] (t, x, y). Returns (positions float32 [W, M, 2], visible [W, M]).
    """
    W = clip.shape[1]
    fw_xy, fw_vis = _online_forward(predictor, clip, queries)
    rq = queries.clone()
    rq[..., 0] = W - 1 - rq[..., 0]
    bw_xy, bw_vis = _online_forward(predictor, clip.flip(1), rq)
    bw_xy, bw_vis = bw_xy[::-1], bw_vis[::-1]
    before = np.arange(W)[:, None] < queries[0, :, 0].cpu().numpy()[None, :]
    xy = np.where(before[..., None], bw_xy, fw_xy)
    return xy, np.where(before, bw_vis, fw_vis)


def _check_out(tracks: torch.Tensor, vis: torch.Tensor, W: int, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate predictor output shapes ([1, W, M, 2] and [1, W, M]) and convert to numpy."""
    if tuple(tracks.shape) != (1, W, M, 2):
        raise RuntimeError(f"CoTracker returned tracks of shape {tuple(tracks.shape)}, expected (1, {W}, {M}, 2)")
    if vis.ndim == 4 and vis.shape[-1] == 1:  # some versions document [B, T, N, 1]
        vis = vis[..., 0]
    if tuple(vis.shape) != (1, W, M):
        raise RuntimeError(f"CoTracker returned visibility of shape {tuple(vis.shape)}, expected (1, {W}, {M})")
    return tracks[0].float().cpu().numpy(), vis[0].bool().cpu().numpy()


def track_cotracker(
    predictor: torch.nn.Module,
    frames: np.ndarray,
    online: bool,
    grid_stride: int,
    query_stride: int,
    window: int,
    scale_xy: tuple[float, float] = (1.0, 1.0),
    device: torch.device | str = "cpu",
    progress: bool = True,
    workdir: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Track ``frames`` uint8 [T, h, w, 3] (working resolution) with a CoTracker predictor.

    At each query frame q (0, s, 2s, ...) a grid point is seeded in every cell of ``grid_stride`` px that no track
    visible at q covers; those points are tracked over the clip of ``window`` frames around q. Returns tracks float32
    [T, N, 2] (x, y) mapped by ``scale_xy`` through :func:`motionseg.flow.geometry.scale_points` (NaN outside each
    track's clip), visible bool [T, N], query_frame int32 [N] and the number of tracker passes made.
    """
    blocks, passes = cotracker_blocks(
        predictor, frames, online, grid_stride, query_stride, window, scale_xy, device, progress, workdir
    )
    tracks, visible, qf = blocks.result()
    return tracks, visible, qf, passes


def cotracker_blocks(
    predictor: torch.nn.Module,
    frames: np.ndarray,
    online: bool,
    grid_stride: int,
    query_stride: int,
    window: int,
    scale_xy: tuple[float, float],
    device: torch.device | str,
    progress: bool,
    workdir: str | None,
) -> tuple[TrackBlocks, int]:
    """As :func:`track_cotracker`, returning the output blocks (disk-backed in ``workdir`` unless None) and passes."""
    T, h, w = frames.shape[:3]
    if window > T:
        raise ValueError(f"window {window} longer than the clip ({T} frames)")
    device = torch.device(device)
    blocks = TrackBlocks(T, scale_xy, workdir)
    passes = 0
    for q in tqdm(query_frames(T, query_stride), desc="cotracker", unit="query", disable=not progress, leave=False):
        new = new_queries(blocks.visible_points(q), (h, w), grid_stride)
        if not len(new):
            continue
        a, b = clip_bounds(T, q, window)
        clip = _to_video(frames[a:b], device)
        qt = torch.from_numpy(np.concatenate([np.full((len(new), 1), q - a, np.float32), new], axis=1))[None]
        qt = qt.to(device)
        xy, vis = (run_online if online else run_offline)(predictor, clip, qt)
        # LRTL clamps coordinates to +-20 frame sizes; do the same with wild occluded guesses
        xy = np.clip(xy, -20.0 * max(h, w), 21.0 * max(h, w))
        xy[q - a], vis[q - a] = new, True  # a track is exactly at its query point, and visible there
        col0 = blocks.add(q, len(new))
        blocks.put_window(col0, a, xy, vis)
        passes += 1
        del clip
    return blocks, passes
