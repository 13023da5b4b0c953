"""``bgfit``: robust background-motion fit and motion residual (the skeleton's first GT-free method).

Per frame t (flow of frame t as in :func:`motionseg.methods.flowsource.frame_flow`):

1. fit a homography to flow correspondences ``x -> x + F(x)`` on a regular grid with RANSAC (the dominant, i.e.
   background, motion of a rigid scene seen by a moving camera);
2. residual ``r(x) = |F(x) - (H(x) - x)|`` in px; with ``directions: both`` the same is done for the backward flow of
   frame t (t -> t-1) and the two residual maps are averaged (frames with only one direction use that one);
3. adaptive threshold ``tau = max(min_residual_px, rel_flow * median|F|, rel_residual * median r)``;
4. foreground probability ``p = sigmoid((r - tau) / (softness * tau))``;
5. light clean-up on p: grey opening then closing with a disc of ``morph_px`` (removes specks, fills pin holes);
6. optional temporal smoothing: ``p_t <- (1-a) p_t + a * warp(p_{t-1})`` (warped with the backward flow t -> t-1).

Output: 2 segments (0 = background, 1 = foreground) with probabilities ``[1-p, p]``.
"""

from __future__ import annotations

import cv2
import numpy as np
from tqdm import tqdm

from motionseg.methods.flowsource import FlowSource

FG_RULE = "segment 1 = motion residual against a RANSAC homography fit above an adaptive threshold"


def grid_points(h: int, w: int, step: int) -> np.ndarray:
    """Pixel-centre grid (x, y) with spacing ``step`` px: float32 [N, 2]."""
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def fit_background(flow: np.ndarray, cfg: dict, seed: int) -> tuple[np.ndarray, bool]:
    """Fit the dominant motion of flow float32 [h, w, 2] (px).

    Returns (H float64 [3, 3] mapping frame-t pixels to the other frame, ok). ``ok`` is False when RANSAC found no
    homography (degenerate flow); H is then the pure translation by the median flow, and the caller records it.
    """
    h, w = flow.shape[:2]
    src = grid_points(h, w, int(cfg["grid_step"]))
    xi, yi = src[:, 0].astype(int), src[:, 1].astype(int)
    dst = src + flow[yi, xi]
    cv2.setRNGSeed(int(seed))
    H, _ = cv2.findHomography(
        src, dst, cv2.RANSAC, float(cfg["ransac_reproj_px"]), maxIters=int(cfg["ransac_iters"]), confidence=0.995
    )
    if H is None or not np.all(np.isfinite(H)):
        med = np.median(flow.reshape(-1, 2), axis=0)
        return np.array([[1.0, 0.0, med[0]], [0.0, 1.0, med[1]], [0.0, 0.0, 1.0]]), False
    return H, True


def homography_flow(H: np.ndarray, h: int, w: int) -> np.ndarray:
    """Flow field induced by homography H on an [h, w] pixel grid: float32 [h, w, 2] px."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    den = H[2, 0] * xs + H[2, 1] * ys + H[2, 2]
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    u = (H[0, 0] * xs + H[0, 1] * ys + H[0, 2]) / den - xs
    v = (H[1, 0] * xs + H[1, 1] * ys + H[1, 2]) / den - ys
    return np.stack([u, v], axis=-1).astype(np.float32)


def residual_map(flow: np.ndarray, cfg: dict, seed: int) -> tuple[np.ndarray, bool]:
    """Motion residual |F - F_bg| float32 [h, w] (px) of flow [h, w, 2] against its homography fit, and fit ok."""
    H, ok = fit_background(flow, cfg, seed)
    bg = homography_flow(H, *flow.shape[:2])
    return np.linalg.norm(flow - bg, axis=-1).astype(np.float32), ok


def residual_to_prob(res: np.ndarray, flow: np.ndarray, cfg: dict) -> np.ndarray:
    """Foreground probability float32 [h, w] from residual [h, w] (px) with the adaptive threshold (module doc)."""
    mag = np.linalg.norm(flow, axis=-1)
    tau = max(
        float(cfg["min_residual_px"]),
        float(cfg["rel_flow"]) * float(np.median(mag)),
        float(cfg["rel_residual"]) * float(np.median(res)),
    )
    z = (res - tau) / (float(cfg["softness"]) * tau)
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)


def clean_prob(p: np.ndarray, morph_px: int) -> np.ndarray:
    """Grey opening then closing of p float32 [h, w] with a disc of diameter ``morph_px`` (0 = no-op)."""
    if morph_px <= 1:
        return p
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (morph_px, morph_px))
    p = cv2.morphologyEx(p, cv2.MORPH_OPEN, k)
    return cv2.morphologyEx(p, cv2.MORPH_CLOSE, k)


def warp_backward(img: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Sample ``img`` [h, w] (frame t-1) at x + bwd(x) where bwd [h, w, 2] is the flow t -> t-1: float32 [h, w]."""
    h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(
        img.astype(np.float32), xs + bwd[..., 0], ys + bwd[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def bgfit_sequence(src: FlowSource, cfg: dict, seed: int) -> tuple[np.ndarray, dict]:
    """Run bgfit on a whole sequence.

    src: per-frame flow access (T frames, flow [h, w, 2]). Returns (probs float32 [T, 2, h, w] with segment 0 =
    background, 1 = foreground; info dict with ``n_fit_failures``).
    """
    T = src.n_frames
    if T < 2:
        raise ValueError(f"bgfit needs at least 2 frames, got {T}")
    both = cfg["directions"] == "both"
    a = float(cfg["temporal_smoothing"])
    probs: list[np.ndarray] = []
    failures = 0
    prev = None
    for t in tqdm(range(T), desc="bgfit", unit="frame", leave=False):
        flows = []
        if t < T - 1:
            flows.append(src.pair(t, t + 1))
        if t > 0 and (both or t == T - 1):
            flows.append(src.pair(t, t - 1))
        res_sum = np.zeros(flows[0].shape[:2], np.float32)
        p_sum = np.zeros_like(res_sum)
        for f in flows:
            res, ok = residual_map(f, cfg, seed + t)
            failures += int(not ok)
            res_sum += res
            p_sum += residual_to_prob(res, f, cfg)
        p = clean_prob(p_sum / len(flows), int(cfg["morph_px"]))
        if a > 0 and prev is not None:
            p = (1 - a) * p + a * warp_backward(prev, src.pair(t, t - 1))
        prev = p
        probs.append(np.stack([1.0 - p, p]))
    return np.stack(probs).astype(np.float32), {"n_fit_failures": failures}
