"""Track-overlay visualisation: an animated GIF of the frames with coloured track points and short tails."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from matplotlib import colormaps
from PIL import Image

from motionseg.flow.geometry import scale_points
from motionseg.io.atomic import atomic_path
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import load_ingested
from motionseg.tracks.store import load_tracks


def pick_tracks(visible: np.ndarray, max_tracks: int) -> np.ndarray:
    """Indices of at most ``max_tracks`` tracks, evenly spread over the tracks ordered by length (deterministic)."""
    n = visible.shape[1]
    if n <= max_tracks:
        return np.arange(n)
    order = np.argsort(-visible.sum(axis=0), kind="stable")
    return np.sort(order[np.linspace(0, n - 1, max_tracks).round().astype(np.int64)])


def draw_frame(frame: np.ndarray, xy: np.ndarray, vis: np.ndarray, colors: np.ndarray, t: int, tail: int) -> np.ndarray:
    """Draw tracks on one frame. frame uint8 [h, w, 3]; xy float [T, M, 2] working px; vis [T, M]; colors [M, 3]."""
    img = frame.copy()
    r = max(1, round(min(img.shape[:2]) / 160))
    for m in range(xy.shape[1]):
        col = tuple(int(c) for c in colors[m])
        for s in range(max(0, t - tail), t):
            if vis[s, m] and vis[s + 1, m]:
                p0 = tuple(np.round(xy[s, m]).astype(int))
                p1 = tuple(np.round(xy[s + 1, m]).astype(int))
                cv2.line(img, p0, p1, col, 1, cv2.LINE_AA)
        if vis[t, m]:
            cv2.circle(img, tuple(np.round(xy[t, m]).astype(int)), r, col, -1, cv2.LINE_AA)
    return img


def render_track_overlay(
    frames_npz: str | Path,
    tracks_npz: str | Path,
    out_gif: str | Path,
    max_tracks: int = 300,
    tail: int = 8,
    fps: int = 10,
) -> None:
    """Write an animated GIF (working resolution) of the frames with up to ``max_tracks`` tracks drawn on them.

    Points are drawn where visible, with a tail over the last ``tail`` frames; colour encodes the track's x position
    at its query frame. Raises InputError when the track file does not match the frames.
    """
    ing = load_ingested(frames_npz)
    ts = load_tracks(tracks_npz)
    T = len(ing.frames)
    if ts.n_frames != T:
        raise InputError(tracks_npz, f"track file has {ts.n_frames} frames, frames file {frames_npz} has {T}")
    cols = pick_tracks(ts.visible, max_tracks)
    sx, sy = ing.scale_xy
    xy = scale_points(ts.tracks[:, cols], (1.0 / sx, 1.0 / sy))  # original -> working pixels
    vis = ts.visible[:, cols] & np.isfinite(xy).all(axis=2)
    xy = np.nan_to_num(xy)
    w = ing.frames.shape[2]
    x0 = xy[ts.query_frame[cols], np.arange(len(cols)), 0] if len(cols) else np.zeros(0)
    colors = (colormaps["hsv"](np.clip(x0 / max(w - 1, 1), 0, 1) * 0.9)[:, :3] * 255).astype(np.uint8)
    images = [Image.fromarray(draw_frame(ing.frames[t], xy, vis, colors, t, tail)) for t in range(T)]
    with atomic_path(out_gif) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
