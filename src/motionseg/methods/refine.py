"""GT-free appearance refinement of a motion mask (config section ``refine``).

Motion evidence is blurred at object boundaries (flow is smooth across them) and misses parts that do not move
much; the colours of frame t say where the object ends. ``method: grabcut`` runs OpenCV's GrabCut (colour GMMs
plus a graph cut) on the RGB frame, initialised from the motion mask m = (p >= 0.5) upsampled to the frame size:

- definite background: pixels farther than ``dilate_frac`` x frame height from m;
- definite foreground: m eroded by ``erode_frac`` x frame height;
- probable foreground: the rest of m; probable background: the rest.

GrabCut sees only the box around the mask grown by ``crop_margin`` x that distance (outside it everything is
definite background; the background colour model is the object's surroundings, and the cost scales with the box).
``iters`` GrabCut iterations; masks with fewer than ``min_fg_px`` pixels or covering more than ``max_fg_frac`` of
the frame are returned unchanged (nothing to learn colours from). The result is a binary mask at the frame size
(float32 0/1). OpenCV's RNG is seeded before each call, so results are deterministic. ``method: none`` returns p
resized to the frame size. Only frame t is read: the refinement is causal.
"""

from __future__ import annotations

import cv2
import numpy as np

from motionseg.flow.geometry import resize_flow
from motionseg.methods.evidence import warp_backward
from motionseg.methods.flowsource import FlowSource
from motionseg.settings import RefineSettings, typed


def grabcut_mask(frame: np.ndarray, mask: np.ndarray, cfg: RefineSettings | dict, seed: int = 0) -> np.ndarray:
    """GrabCut refinement of bool mask [H, W] on RGB frame uint8 [H, W, 3] (module doc): float32 [H, W] in {0, 1}."""
    cfg = typed(RefineSettings, cfg)
    m = mask.astype(np.uint8)
    H = m.shape[0]
    n = int(m.sum())
    if n < cfg.min_fg_px or n > cfg.max_fg_frac * m.size:
        return m.astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    dl = max(1, round(cfg.dilate_frac * H))
    near = cv2.dilate(m, k, iterations=dl)
    # GrabCut runs on the box around the mask grown by ``crop_margin`` x the definite-bg distance: pixels outside are
    # definite background anyway, and the background colour model is the object's surroundings
    ys, xs = np.nonzero(near)
    pad = round(cfg.crop_margin * dl)
    y0, y1 = max(0, ys.min() - pad), min(m.shape[0], ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(m.shape[1], xs.max() + 1 + pad)
    mc, nc = m[y0:y1, x0:x1], near[y0:y1, x0:x1]
    gc = np.full(mc.shape, cv2.GC_PR_BGD, np.uint8)
    gc[nc == 0] = cv2.GC_BGD
    gc[mc > 0] = cv2.GC_PR_FGD
    er = round(cfg.erode_frac * H)
    gc[(cv2.erode(mc, k, iterations=er) if er > 0 else mc) > 0] = cv2.GC_FGD
    if not (gc == cv2.GC_BGD).any() and not (gc == cv2.GC_PR_BGD).any():
        return m.astype(np.float32)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(int(seed))
    bgr = np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1])
    cv2.grabCut(bgr, gc, None, bgd, fgd, cfg.iters, cv2.GC_INIT_WITH_MASK)
    out = np.zeros(m.shape, np.float32)
    out[y0:y1, x0:x1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return out


def drop_border_components(mask: np.ndarray, factor: float) -> np.ndarray:
    """Remove foreground components of bool mask [H, W] that run along the image border: a component whose length of
    contact with the border (pixels in a band of max(1, H/100) px / band width) exceeds ``factor`` x sqrt(its area).
    Static surfaces near a moving camera (parallax the background model missed) enter the frame that way; moving
    objects rarely do. factor <= 0: no-op. Returns bool [H, W]."""
    if factor <= 0 or not mask.any():
        return mask
    H, W = mask.shape
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    bw = max(1, H // 100)
    band = np.zeros((H, W), bool)
    band[:bw], band[-bw:], band[:, :bw], band[:, -bw:] = True, True, True, True
    contact = np.bincount(lab[band], minlength=n) / bw
    drop = np.zeros(n, bool)
    drop[1:] = contact[1:] > factor * np.sqrt(stats[1:, cv2.CC_STAT_AREA])
    return mask & ~drop[lab]


def refine_prob(p: np.ndarray, frame: np.ndarray | None, cfg: RefineSettings | dict, seed: int = 0) -> np.ndarray:
    """Refine fg probability p float32 [h, w] with RGB frame uint8 [H, W, 3]: float32 [H, W] (module doc).

    Without a frame (or with ``method: none``) p is returned resized to the frame size (unchanged when no frame).
    """
    cfg = typed(RefineSettings, cfg)
    if frame is None:
        return p.astype(np.float32)
    H, W = frame.shape[:2]
    up = p if p.shape == (H, W) else cv2.resize(p.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    if cfg.method == "none":
        return up.astype(np.float32)
    if cfg.method != "grabcut":
        raise ValueError(f"unknown refine method {cfg.method!r}; choose grabcut or none")
    return grabcut_mask(frame, drop_border_components(up >= 0.5, cfg.border_drop), cfg, seed)


def temporal_refine(
    p: np.ndarray,
    prev: np.ndarray | None,
    src: FlowSource,
    t: int,
    weight: float,
    cfg: RefineSettings | dict,
    seed: int,
    gain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame of the bgfit / ClusterNet output stage.

    p: motion fg probability float32 [h, w] of frame t (working size); prev: the state of frame t-1 (or None);
    weight: temporal weight a. ``p <- (1 - a) p + a warp(prev)`` (warped by the flow t -> t-1 resized to [h, w]), then
    :func:`refine_prob` on frame t when src has frames; gain (float32 [h, w], optional) multiplies p after the
    blend (clipped to [0, 1]). Returns (output float32 at the frame size, state float32
    [h, w] for frame t+1: the output resized with ``feedback``, else the smoothed p). Reads frames <= t only.
    """
    cfg = typed(RefineSettings, cfg)
    size = p.shape
    if prev is not None and t > 0 and weight > 0:
        p = (1 - weight) * p + weight * warp_backward(prev, resize_flow(src.pair(t, t - 1), size))
    if gain is not None:
        p = np.clip(p * gain, 0.0, 1.0).astype(np.float32)
    out = refine_prob(p, src.frame(t) if src.has_frames else None, cfg, seed)
    return out, (to_size(out, size) if cfg.feedback else p.astype(np.float32))


def to_size(p: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize p float32 [H, W] to size (h, w) (area when shrinking): float32 [h, w]."""
    h, w = size
    if p.shape == (h, w):
        return p.astype(np.float32)
    interp = cv2.INTER_AREA if h < p.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(p.astype(np.float32), (w, h), interpolation=interp)
