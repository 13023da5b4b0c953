"""GT-free per-pixel motion evidence shared by ``bgfit`` and the ClusterNet modes (config section ``evidence``).

For the flow F [h, w, 2] of frame t towards a neighbour frame s (s = t +- 1):

1. background motion: a RANSAC homography fit on a regular grid of correspondences ``x -> x + F(x)``
   (:func:`fit_background`); with ``poly_degree`` d > 0 also a robust polynomial flow field of total degree d in
   (x, y) (d = 3: 10 coefficients per flow component), fitted by iteratively reweighted least squares with Cauchy
   weights (scale ``poly_cauchy`` x the median inlier residual), started from the homography inliers. A polynomial
   field follows smooth depth changes that a homography cannot (a camera translating over a ground plane, a slope of
   rocks: parallax), so static surfaces near the camera are not called moving;
2. residual ``r = min(|F - F_H|, |F - F_poly|)`` in px (:func:`background_residual`);
3. probability ``p = sigmoid((r - tau) / (softness tau))`` with ``tau = max(min_residual_px, rel_flow median|F|,
   rel_residual median r)`` (:func:`residual_to_prob`);
4. occlusion check (``occlusion_check``): pixels whose forward-backward round trip t -> s -> t misses by more than
   ``occlusion_px + occlusion_rel (|F_ts| + |F_st|)`` get ``p = 0`` (:func:`occlusion_mask`). Those are the pixels
   of frame t not visible in frame s: the background uncovered behind a moving object, where the flow copies the
   object's motion and would otherwise give the mask a halo on its trailing side;
5. the probabilities of the directions used are averaged and cleaned (grey opening then closing, ``morph_px``).

:func:`frame_evidence` reads flows ``t -> t-1`` and ``t-1 -> t`` only when ``causal`` (frames <= t; frame 0 uses
the pair (0, 1)), and both neighbours otherwise (``directions: both``).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from motionseg.flow.geometry import resize_flow
from motionseg.methods.flowsource import FlowSource
from motionseg.settings import EvidenceSettings, typed


def grid_points(h: int, w: int, step: int) -> np.ndarray:
    """Pixel-centre grid (x, y) with spacing ``step`` px: float32 [N, 2]."""
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def fit_background(flow: np.ndarray, cfg: EvidenceSettings | dict, seed: int) -> tuple[np.ndarray, bool]:
    """RANSAC homography of the dominant motion of flow float32 [h, w, 2] (px).

    Returns (H float64 [3, 3] mapping frame-t pixels to the other frame, ok). ``ok`` is False when RANSAC found no
    homography (degenerate flow); H is then the pure translation by the median flow, and the caller records it.
    """
    cfg = typed(EvidenceSettings, cfg)
    h, w = flow.shape[:2]
    src = grid_points(h, w, cfg.grid_step)
    xi, yi = src[:, 0].astype(int), src[:, 1].astype(int)
    dst = src + flow[yi, xi]
    cv2.setRNGSeed(int(seed))
    H, _ = cv2.findHomography(
        src, dst, cv2.RANSAC, cfg.ransac_reproj_px, maxIters=cfg.ransac_iters, confidence=0.995
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


@lru_cache(maxsize=8)
def poly_basis(h: int, w: int, degree: int) -> np.ndarray:
    """Monomials x^i y^j (i + j <= degree) of normalised pixel coordinates (x in [-1, 1], y scaled alike):
    float64 [h * w, (degree + 1)(degree + 2) / 2]."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (xs - w / 2) / (w / 2)
    y = (ys - h / 2) / (w / 2)
    cols = [(x**i * y**j).ravel() for i in range(degree + 1) for j in range(degree + 1 - i)]
    out = np.stack(cols, axis=1)
    out.flags.writeable = False  # cached: shared by every call with this size
    return out


def robust_poly_flow(flow: np.ndarray, init_weights: np.ndarray, cfg: EvidenceSettings | dict) -> np.ndarray:
    """Background flow float32 [h, w, 2] as a polynomial of degree ``poly_degree`` fitted to flow [h, w, 2]
    by IRLS with Cauchy weights, starting from ``init_weights`` float [h, w] (1 = background inlier)."""
    cfg = typed(EvidenceSettings, cfg)
    h, w = flow.shape[:2]
    B = poly_basis(h, w, cfg.poly_degree)
    F = flow.reshape(-1, 2).astype(np.float64)
    wts = init_weights.ravel().astype(np.float64)
    if wts.sum() < B.shape[1]:  # too few inliers to start from: start from all pixels
        wts = np.ones_like(wts)
    return irls_cauchy_fit(B, F, wts, cfg.poly_iters, cfg.poly_cauchy, 0.2).reshape(h, w, 2).astype(np.float32)


def irls_cauchy_fit(B: np.ndarray, F: np.ndarray, wts: np.ndarray, iters: int, cauchy: float,
                    floor: float) -> np.ndarray:
    """Fitted values float64 [n, 2] of the linear model B [n, k] @ coef [k, 2] to F [n, 2] by ``iters`` rounds of
    iteratively reweighted least squares with Cauchy weights (scale ``cauchy`` x max(median residual of the points
    weighing > 0.5, ``floor``)), starting from the weights wts [n]; zeros when iters is 0. Shared by the pixel-grid
    background flow (:func:`robust_poly_flow`) and trajseg's background over tracks."""
    ridge = 1e-6 * np.eye(B.shape[1])
    coef = np.zeros((B.shape[1], 2))
    for _ in range(iters):
        A = B * wts[:, None]
        coef = np.linalg.solve(A.T @ B + ridge, A.T @ F)
        res = np.linalg.norm(F - B @ coef, axis=1)
        inl = wts > 0.5
        scale = max(float(np.median(res[inl])) if inl.any() else float(np.median(res)), floor)
        wts = 1.0 / (1.0 + (res / (cauchy * scale)) ** 2)
    return B @ coef


def residual_vectors(flow: np.ndarray, cfg: EvidenceSettings | dict, seed: int) -> tuple[np.ndarray, bool]:
    """Flow [h, w, 2] minus the nearer background model per pixel (module doc, steps 1-2): float32 [h, w, 2] (px),
    and whether the homography fit succeeded."""
    cfg = typed(EvidenceSettings, cfg)
    H, ok = fit_background(flow, cfg, seed)
    vec = flow - homography_flow(H, *flow.shape[:2])
    if cfg.poly_degree > 0:
        res = np.linalg.norm(vec, axis=-1)
        vp = flow - robust_poly_flow(flow, (res < cfg.poly_inlier_px).astype(np.float64), cfg)
        vec = np.where((np.linalg.norm(vp, axis=-1) < res)[..., None], vp, vec)
    return vec.astype(np.float32), ok


def background_residual(flow: np.ndarray, cfg: EvidenceSettings | dict, seed: int) -> tuple[np.ndarray, bool]:
    """Residual float32 [h, w] (px) of flow [h, w, 2] against the background motion (module doc, steps 1-2) and
    whether the homography fit succeeded."""
    cfg = typed(EvidenceSettings, cfg)
    vec, ok = residual_vectors(flow, cfg, seed)
    return np.linalg.norm(vec, axis=-1).astype(np.float32), ok


def residual_to_prob(res: np.ndarray, flow: np.ndarray, cfg: EvidenceSettings | dict) -> np.ndarray:
    """Foreground probability float32 [h, w] from residual [h, w] (px) with the adaptive threshold (module doc)."""
    cfg = typed(EvidenceSettings, cfg)
    mag = np.linalg.norm(flow, axis=-1)
    tau = max(
        cfg.min_residual_px,
        cfg.rel_flow * float(np.median(mag)),
        cfg.rel_residual * float(np.median(res)),
    )
    z = (res - tau) / (cfg.softness * tau)
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)


def warp_backward(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``img`` [h, w] or [h, w, C] (frame s) at x + flow(x), flow [h, w, 2] from frame t to s: float32, the
    shape of img, on frame t's grid."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(
        img.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def occlusion_mask(flow_ts: np.ndarray, flow_st: np.ndarray, cfg: EvidenceSettings | dict) -> np.ndarray:
    """Pixels of frame t failing the forward-backward check: bool [h, w].

    flow_ts: flow [h, w, 2] from t to s on frame t's grid; flow_st: flow from s back to t on frame s's grid.
    """
    cfg = typed(EvidenceSettings, cfg)
    back = warp_backward(flow_st, flow_ts)
    err = np.linalg.norm(flow_ts + back, axis=-1)
    lim = cfg.occlusion_px + cfg.occlusion_rel * (
        np.linalg.norm(flow_ts, axis=-1) + np.linalg.norm(back, axis=-1)
    )
    return err > lim


def clean_prob(p: np.ndarray, morph_px: int) -> np.ndarray:
    """Grey opening then closing of p float32 [h, w] with a disc of diameter ``morph_px`` (0 = no-op)."""
    if morph_px <= 1:
        return p
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (morph_px, morph_px))
    p = cv2.morphologyEx(p, cv2.MORPH_OPEN, k)
    return cv2.morphologyEx(p, cv2.MORPH_CLOSE, k)


def direction_prob(
    flow_ts: np.ndarray, flow_st: np.ndarray, cfg: EvidenceSettings | dict, seed: int
) -> tuple[np.ndarray, bool]:
    """Evidence float32 [h, w] of one direction (steps 1-4 of the module doc) and whether the homography fit
    succeeded. flow_ts / flow_st as in :func:`occlusion_mask`."""
    cfg = typed(EvidenceSettings, cfg)
    res, ok = background_residual(flow_ts, cfg, seed)
    p = residual_to_prob(res, flow_ts, cfg)
    if cfg.occlusion_check:
        p = np.where(occlusion_mask(flow_ts, flow_st, cfg), 0.0, p).astype(np.float32)
    return p, ok


def frame_pairs(T: int, t: int, causal: bool, directions: str = "both") -> list[int]:
    """Neighbours s of frame t whose flow t -> s the evidence of frame t uses (module doc)."""
    if causal:
        return [1] if t == 0 else [t - 1]
    out = []
    if t < T - 1:
        out.append(t + 1)
    if t > 0 and (directions == "both" or t == T - 1):
        out.append(t - 1)
    return out


def frame_evidence(
    src: FlowSource,
    t: int,
    cfg: EvidenceSettings | dict,
    seed: int,
    causal: bool = False,
    directions: str = "both",
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, int]:
    """Motion evidence of frame t: (fg probability float32 [h, w] in [0, 1], number of failed homography fits).

    Reads the flows between t and the neighbours of :func:`frame_pairs`; ``size`` (h, w) resizes them first (with the
    displacements rescaled) so the evidence is computed at a working resolution.
    """
    cfg = typed(EvidenceSettings, cfg)
    ps, failures = [], 0
    for s in frame_pairs(src.n_frames, t, causal, directions):
        f_ts, f_st = src.pair(t, s), src.pair(s, t)
        if size is not None:
            f_ts, f_st = resize_flow(f_ts, size), resize_flow(f_st, size)
        p, ok = direction_prob(f_ts, f_st, cfg, seed)
        ps.append(p)
        failures += int(not ok)
    return clean_prob(np.mean(ps, axis=0).astype(np.float32), cfg.morph_px), failures
