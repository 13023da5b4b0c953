"""``kmeans``: per-frame k-means on optical flow, the simplest motion-clustering baseline.

Per frame t (flow of frame t as in :func:`motionseg.methods.flowsource.frame_flow`): features are the flow (u, v)
divided by the frame's flow spread (robust: median absolute deviation + ``min_spread_px``) plus the pixel position
(x, y) / max(h, w) times ``xy_weight``; OpenCV k-means (k-means++ init, ``attempts`` restarts, RNG seeded) gives k
clusters. GT-free foreground rule: the cluster holding the largest share of the image border (``border_px`` wide) is
background; a cluster is foreground iff its mean flow differs from the background cluster's mean flow by more than
``fg_min_px`` px. Output: 2 segments (background, foreground).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from motionseg.methods.flowsource import FlowSource, frame_flow
from motionseg.settings import KMeansSettings, typed

FG_RULE = "cluster with the largest border share is background; clusters whose mean flow differs by > fg_min_px are fg"


def border_mask(h: int, w: int, band: int) -> np.ndarray:
    """Bool [h, w], True on a ``band``-pixel image border."""
    m = np.zeros((h, w), dtype=bool)
    m[:band], m[-band:], m[:, :band], m[:, -band:] = True, True, True, True
    return m


def kmeans_frame(flow: np.ndarray, cfg: KMeansSettings, seed: int) -> np.ndarray:
    """Foreground indicator float32 [h, w] of flow [h, w, 2] (px) by k-means + the border rule (module doc)."""
    h, w = flow.shape[:2]
    f = flow.reshape(-1, 2).astype(np.float32)
    spread = np.median(np.abs(f - np.median(f, axis=0)), axis=0).mean() + cfg.min_spread_px
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) / max(h, w)
    feats = np.concatenate([f / spread, cfg.xy_weight * np.stack([xs.ravel(), ys.ravel()], 1)], axis=1)
    cv2.setRNGSeed(int(seed))
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, cfg.max_iter, 1e-3)
    k = cfg.k
    _, labels, _ = cv2.kmeans(feats.astype(np.float32), k, None, crit, cfg.attempts, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    border = border_mask(h, w, cfg.border_px).ravel()
    bg = int(np.argmax(np.bincount(labels[border], minlength=k)))
    means = np.stack(
        [f[labels == c].mean(axis=0) if np.any(labels == c) else f[labels == bg].mean(axis=0) for c in range(k)]
    )
    fg = np.linalg.norm(means - means[bg], axis=1) > cfg.fg_min_px
    fg[bg] = False
    return fg[labels].reshape(h, w).astype(np.float32)


def kmeans_sequence(src: FlowSource, cfg: KMeansSettings | dict, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run the k-means baseline on every frame; ``cfg``: the ``kmeans`` settings (or the job's section dict,
    converted once here).

    Returns (probs float32 [T, 2, h, w] with segment 1 = foreground, fg_segments bool [2], meta).
    """
    settings = typed(KMeansSettings, cfg)
    ps = [
        kmeans_frame(frame_flow(src, t), settings, seed + t)
        for t in tqdm(range(src.n_frames), desc="kmeans", unit="frame", leave=False)
    ]
    p = np.stack(ps)
    meta = {"mode": "offline", "oracle": False, "oracle_reason": None, "fg_rule": FG_RULE,
            "config": settings.to_dict()}
    return np.stack([1.0 - p, p], axis=1), np.array([False, True]), meta


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of ``kmeans`` (:func:`motionseg.registry.run_method`): frames and flow of ``inputs``
    -> mask directory (2 segments at the flow's size)."""
    from motionseg.methods import open_inputs, write_result

    ing, src = open_inputs(inputs["frames"], inputs["flow"])
    probs, fg_segments, meta = kmeans_sequence(src, cfg, seed)
    write_result(out_mask_dir, ing, probs, fg_segments, {"method": method, "seed": seed, **meta})
