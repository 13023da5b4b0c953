"""``trajseg``: trajectory-level segmentation from the point tracks, with a multi-frame background motion model.

A two-frame method sees an object only while it moves against the background; an object that stands still (or
moves with the camera) for a while is background there. ``trajseg`` decides per TRACK, over its whole life, and
carries the decision into every frame the track is visible (the long-term clustering tradition of FBMS's baselines,
Brox & Malik 2010, Ochs et al. 2014). All positions are in pixels of the working grid (``work_height`` rows, the
flow's aspect ratio); the track file's original-frame pixels are mapped there by
:func:`motionseg.flow.geometry.scale_points`.

1. tracks: those with at least ``min_length`` visible frames, at most ``max_tracks`` of them (a subsample drawn
   with the seed); a position counts only where the track is visible (:func:`select_tracks`, :func:`work_positions`);
2. background model over ``gap`` frames: per frame t a RANSAC homography maps the positions at t to those at the
   partner frame s = t + gap (clipped to the clip; the last frame looks back), fitted on the tracks visible at both
   (:func:`homography_prediction`). With ``background: poly`` the background motion is instead a cubic polynomial
   of the normalised position per displacement component (10 coefficients each), fitted by IRLS with Cauchy
   weights started from the homography's inliers (:func:`robust_poly_displacement`): it follows the parallax of
   smooth depth (a ground plane, a slope) that one homography cannot, as ``evidence.poly_degree`` does for the flow.
   A track's residual (px) against the model is divided by the frame's noise scale sigma_t = max(median inlier
   residual, ``residual_floor``) (:func:`frame_residuals`, :func:`background_residuals`);
3. trajectory score: the ``score_quantile`` quantile of a track's normalised residuals over its whole life, so a
   track that moves independently at any time scores high in every frame; fg probability
   ``p0 = sigmoid((score - fg_threshold) / fg_softness)`` (:func:`trajectory_scores`, :func:`score_to_prob`);
4. trajectory affinities: for the ``n_neighbours`` nearest tracks of each track in each frame, the motion distance
   ``d_ij = max_t |D_i(t) - D_j(t)|^2 / sigma_t^2`` over their common frames (D: displacement t -> s), affinity
   ``exp(-d_ij / affinity_scale)`` (:func:`track_graph`). ``smooth_iters`` rounds of
   ``p <- (1 - a) p0 + a (p + sum_j w_ij p_j) / (1 + sum_j w_ij)`` (a = ``smooth_weight``; the track itself weighs 1,
   so neighbours that move differently barely count) give the track's fg probability (:func:`smooth_on_graph`);
5. densify per frame: normalised Gaussian splatting (sigma ``splat_sigma`` px) of the visible tracks' probabilities
   on the working grid; 0 farther than 3 sigma from every track and in frames without tracks (:func:`splat`);
   combined with the two-frame evidence p_ev of :mod:`motionseg.methods.evidence` (weight w = ``evidence_weight``,
   0 = tracks only; ``evidence_combine``: ``mean`` (1 - w) p + w p_ev, or ``max`` max(p, w p_ev), where the tracks
   only add foreground the two-frame evidence misses) (:func:`combine_evidence`), then temporally smoothed and
   refined on the frame exactly as bgfit (:func:`~motionseg.methods.refine.temporal_refine`, sections ``evidence``
   and ``refine``).

Output: 2 segments (0 = background, 1 = foreground) with probabilities ``[1-p, p]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree
from tqdm import tqdm

from motionseg.flow.geometry import scale_points, working_size
from motionseg.io.errors import InputError
from motionseg.methods.evidence import frame_evidence, irls_cauchy_fit
from motionseg.methods.flowsource import FlowSource
from motionseg.methods.refine import temporal_refine
from motionseg.registry import spec
from motionseg.settings import EvidenceSettings, RefineSettings, TrajsegSettings
from motionseg.tracks.store import TrackSet

FG_RULE = (
    "segment 1 = point tracks whose residual against a RANSAC homography (or a robust polynomial: background poly) "
    "over several frames is high at some time of "
    "their life (quantile of the normalised residuals), smoothed over trajectory motion affinities, splatted to "
    "pixels, temporally smoothed, refined by GrabCut on the frame"
)

_EDGE_CHUNK = 20000  # edges per block in track_graph (memory: T x chunk x 2 floats)
_POLY_DEGREE = 3  # background: poly: total degree of the displacement polynomial (10 coefficients per component)
_POLY_ITERS = 5  # ... IRLS iterations
_POLY_CAUCHY = 2.0  # ... Cauchy weight scale in units of the median inlier residual (as evidence.poly_cauchy)


def select_tracks(visible: np.ndarray, min_length: int, max_tracks: int, seed: int) -> np.ndarray:
    """Indices int64 [M] (ascending) of the tracks to use: visible bool [T, N] in at least ``min_length`` frames,
    a uniform subsample of ``max_tracks`` of them drawn with ``seed`` when there are more."""
    ok = np.flatnonzero(visible.sum(axis=0) >= min_length)
    if ok.size > max_tracks:
        ok = np.sort(np.random.default_rng(seed).choice(ok, size=max_tracks, replace=False))
    return ok.astype(np.int64)


def work_positions(tracks: np.ndarray, visible: np.ndarray, scale_xy: tuple[float, float]) -> np.ndarray:
    """Track positions float32 [T, N, 2] (x, y) mapped from original-frame pixels (tracks [T, N, 2]) to working-grid
    pixels with ``scale_xy`` = (working / original width, height); NaN where not visible (bool [T, N])."""
    pos = scale_points(np.asarray(tracks, np.float32), scale_xy)
    return np.where(visible[..., None] & np.isfinite(pos).all(-1, keepdims=True), pos, np.nan).astype(np.float32)


def partner_frames(n_frames: int, gap: int) -> np.ndarray:
    """Partner frame s [T] of each frame t: t + gap clipped to the last frame; the last frame uses t - gap (>= 0)."""
    t = np.arange(n_frames)
    s = np.minimum(t + gap, n_frames - 1)
    return np.where(s == t, np.maximum(t - gap, 0), s)


def homography_prediction(a: np.ndarray, b: np.ndarray, cfg: TrajsegSettings, seed: int) -> tuple[np.ndarray, bool]:
    """Positions float64 [n, 2] px predicted for b [n, 2] from a [n, 2] (working px, finite) by a RANSAC homography
    (seeded with ``seed``), and whether the fit succeeded; on failure (n < 4 or RANSAC found none) a + the median
    displacement."""
    H = None
    if len(a) >= 4:
        cv2.setRNGSeed(int(seed))
        H, _ = cv2.findHomography(a, b, cv2.RANSAC, cfg.ransac_reproj_px, maxIters=cfg.ransac_iters, confidence=0.995)
    if H is None or not np.all(np.isfinite(H)):
        return a + np.median(b - a, axis=0), False
    q = np.c_[a, np.ones(len(a))] @ H.T
    den = np.where(np.abs(q[:, 2:]) < 1e-9, 1e-9, q[:, 2:])
    return q[:, :2] / den, True


def position_normaliser(pos: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre float64 [2], half-size float) of the bounding box of the finite positions pos [..., 2] (px): the
    larger side maps to [-1, 1] under (x - centre) / half, the other alike (as :func:`~motionseg.methods.evidence.
    poly_basis` normalises the pixel grid)."""
    fin = pos[np.isfinite(pos).all(-1)].astype(np.float64)
    if fin.size == 0:
        return np.zeros(2), 1.0
    lo, hi = fin.min(axis=0), fin.max(axis=0)
    return (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1.0)


def poly_features(xy: np.ndarray, degree: int) -> np.ndarray:
    """Monomials x^i y^j (i + j <= degree) of normalised positions xy [n, 2]: float64 [n, (d + 1)(d + 2) / 2]."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    return np.stack([x**i * y**j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)


def robust_poly_displacement(
    xy: np.ndarray, disp: np.ndarray, init_weights: np.ndarray, floor: float
) -> np.ndarray | None:
    """Background displacement float64 [n, 2] (px) at normalised positions xy [n, 2]: a polynomial of total degree
    ``_POLY_DEGREE`` per component fitted to the displacements disp [n, 2] (px) by IRLS with Cauchy weights (scale
    ``_POLY_CAUCHY`` x max(median residual of the points weighing > 0.5, ``floor`` px)), started from
    ``init_weights`` [n] (1 = background inlier; all ones when they sum to fewer than 3 per coefficient). None when
    there are fewer than 3 points per coefficient."""
    B = poly_features(xy, _POLY_DEGREE)
    k = B.shape[1]
    if len(B) < 3 * k:
        return None
    wts = init_weights.astype(np.float64) if init_weights.sum() >= 3 * k else np.ones(len(B))
    return irls_cauchy_fit(B, disp.astype(np.float64), wts, _POLY_ITERS, _POLY_CAUCHY, floor)


def frame_residuals(
    a: np.ndarray, b: np.ndarray, norm: tuple[np.ndarray, float], cfg: TrajsegSettings, seed: int
) -> tuple[np.ndarray, bool]:
    """Residuals float64 [n] (px) of the positions b [n, 2] in the partner frame against the background motion of
    the positions a [n, 2] (``background``: homography, or the polynomial of :func:`robust_poly_displacement`
    started from the homography's inliers; the homography where too few tracks for it), and whether the RANSAC
    homography fit succeeded. norm: :func:`position_normaliser` of the clip."""
    pred, ok = homography_prediction(a, b, cfg, seed)
    res = np.linalg.norm(pred - b, axis=1)
    if cfg.background == "poly":
        centre, half = norm
        inliers = (res < cfg.ransac_reproj_px).astype(np.float64)
        d = robust_poly_displacement((a - centre) / half, b - a, inliers, cfg.residual_floor)
        if d is not None:
            res = np.linalg.norm(a + d - b, axis=1)
    return res, ok


def background_residuals(
    pos: np.ndarray, partner: np.ndarray, cfg: TrajsegSettings, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-frame background motion fits on the tracks (module doc, step 2).

    pos: float32 [T, N, 2] working-grid px, NaN where invisible; partner: int [T] (:func:`partner_frames`).
    Returns (disp float32 [T, N, 2]: displacement t -> partner(t) in px, NaN unless visible at both;
    z float32 [T, N]: residual / sigma_t, NaN where disp is; sigma float32 [T]: noise scale px;
    number of frames whose RANSAC homography failed (fewer than 4 common tracks, or RANSAC found none: the median
    displacement is the homography's prediction there, and the polynomial fit starts from the tracks near it)).
    """
    T, N = pos.shape[:2]
    disp = (pos[partner] - pos).astype(np.float32)
    z = np.full((T, N), np.nan, np.float32)
    sigma = np.full(T, cfg.residual_floor, np.float32)
    norm = position_normaliser(pos)
    failures = 0
    for t in range(T):
        both = np.flatnonzero(np.isfinite(disp[t]).all(-1))
        if both.size == 0:
            continue
        a = pos[t, both].astype(np.float64)
        b = pos[partner[t], both].astype(np.float64)
        res, ok = frame_residuals(a, b, norm, cfg, int(seed) + t)
        failures += int(not ok)
        inl = res < cfg.ransac_reproj_px
        scale = float(np.median(res[inl])) if inl.any() else float(np.median(res))
        sigma[t] = max(scale, cfg.residual_floor)
        z[t, both] = res / sigma[t]
    return disp, z, sigma, failures


def trajectory_scores(z: np.ndarray, quantile: float) -> np.ndarray:
    """Score float32 [N] of each track: the ``quantile`` of its normalised residuals z [T, N] over the frames where
    they are known (0 for a track with none)."""
    out = np.zeros(z.shape[1], np.float32)
    known = np.isfinite(z).any(axis=0)
    if known.any():
        out[known] = np.nanquantile(z[:, known], quantile, axis=0)
    return out


def score_to_prob(score: np.ndarray, threshold: float, softness: float) -> np.ndarray:
    """Track fg probability float32 [N] = sigmoid((score - threshold) / softness) of scores [N] (noise units)."""
    x = np.clip((score - threshold) / softness, -30, 30)
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def track_graph(
    pos: np.ndarray, disp: np.ndarray, sigma: np.ndarray, n_neighbours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Motion distances between spatially near tracks (module doc, step 4).

    pos: float32 [T, N, 2] px, NaN where invisible; disp [T, N, 2] and sigma [T] of :func:`background_residuals`.
    Edges: each track's ``n_neighbours`` nearest visible tracks in every frame (undirected, unique). Returns
    (i int64 [E], j int64 [E] with i < j, d float32 [E]: max over the frames where both displacements are known of
    |D_i(t) - D_j(t)|^2 / sigma_t^2, dimensionless); edges without a common displacement are dropped.
    """
    T, N = pos.shape[:2]
    codes = []
    for t in range(T):
        idx = np.flatnonzero(np.isfinite(pos[t]).all(-1))
        if idx.size < 2:
            continue
        k = min(n_neighbours + 1, idx.size)
        _, nn = cKDTree(pos[t, idx]).query(pos[t, idx], k=k)
        a = np.repeat(idx, k - 1)
        b = idx[nn[:, 1:].ravel()]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        codes.append((lo * N + hi)[lo != hi])  # a track at the very position of another may list it before itself
    if not codes:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    code = np.unique(np.concatenate(codes))
    i, j = code // N, code % N
    inv_var = (1.0 / np.square(sigma.astype(np.float32)))[:, None]
    d = np.empty(code.size, np.float32)
    for c in range(0, code.size, _EDGE_CHUNK):
        ii, jj = i[c : c + _EDGE_CHUNK], j[c : c + _EDGE_CHUNK]
        d2 = np.square(disp[:, ii] - disp[:, jj]).sum(-1) * inv_var  # [T, chunk], NaN where either is unknown
        d[c : c + _EDGE_CHUNK] = np.where(np.isnan(d2), -np.inf, d2).max(axis=0)
    keep = np.isfinite(d)
    return i[keep], j[keep], d[keep]


def smooth_on_graph(
    p0: np.ndarray, i: np.ndarray, j: np.ndarray, affinity: np.ndarray, iters: int, weight: float
) -> np.ndarray:
    """Random-walk averaging of track probabilities p0 [N] over the undirected edges (i, j) [E] with ``affinity``
    [E] in [0, 1] (module doc, step 4): float32 [N] in [0, 1]."""
    n = p0.size
    p0 = p0.astype(np.float64)
    if iters == 0 or weight == 0 or i.size == 0:
        return p0.astype(np.float32)
    W = sparse.coo_matrix((np.r_[affinity, affinity], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()
    deg = np.asarray(W.sum(axis=1)).ravel()
    p = p0.copy()
    for _ in range(iters):
        p = (1 - weight) * p0 + weight * (p + W @ p) / (1.0 + deg)
    return p.astype(np.float32)


def splat(points: np.ndarray, values: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """Normalised Gaussian splatting: float32 [h, w] in [0, 1], the Gaussian-weighted (``sigma`` px) mean of
    ``values`` [M] of the tracks at ``points`` [M, 2] (x, y px, finite) around each pixel; 0 where no track lies
    within 3 sigma."""
    h, w = size
    xi = np.rint(points[:, 0]).astype(np.int64)
    yi = np.rint(points[:, 1]).astype(np.int64)
    ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    num = np.zeros((h, w), np.float32)
    den = np.zeros((h, w), np.float32)
    np.add.at(num, (yi[ok], xi[ok]), values[ok].astype(np.float32))
    np.add.at(den, (yi[ok], xi[ok]), 1.0)
    ks = 2 * int(np.ceil(3 * sigma)) + 1
    num = cv2.GaussianBlur(num, (ks, ks), sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(den, (ks, ks), sigma, borderType=cv2.BORDER_CONSTANT)
    out = np.where(den > 1e-6, num / np.maximum(den, 1e-6), 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def combine_evidence(p_traj: np.ndarray, p_ev: np.ndarray, weight: float, how: str) -> np.ndarray:
    """Pixel fg probability float32 [h, w] from the splatted track probability p_traj [h, w] and the two-frame
    evidence p_ev [h, w] (both in [0, 1]) with weight w: ``mean`` = (1 - w) p_traj + w p_ev; ``max`` =
    max(p_traj, w p_ev) (the tracks only add foreground that the two-frame evidence misses)."""
    if how == "max":
        return np.maximum(p_traj, weight * p_ev).astype(np.float32)
    if how == "mean":
        return ((1 - weight) * p_traj + weight * p_ev).astype(np.float32)
    raise ValueError(f"evidence_combine must be mean or max, got {how!r}")


def track_probabilities(pos: np.ndarray, own: TrajsegSettings, seed: int) -> tuple[np.ndarray, dict]:
    """Steps 2-4 of the module doc on positions pos float32 [T, M, 2] (working px, NaN where invisible): the fg
    probability float32 [M] of each track, and counts (``n_fit_failures``, ``n_edges``, ``n_fg_tracks``)."""
    partner = partner_frames(pos.shape[0], own.gap)
    disp, z, sigma, failures = background_residuals(pos, partner, own, seed)
    p0 = score_to_prob(trajectory_scores(z, own.score_quantile), own.fg_threshold, own.fg_softness)
    i, j, d = track_graph(pos, disp, sigma, own.n_neighbours)
    p = smooth_on_graph(p0, i, j, np.exp(-d / own.affinity_scale), own.smooth_iters, own.smooth_weight)
    return p, {"n_fit_failures": failures, "n_edges": int(i.size), "n_fg_tracks": int((p >= 0.5).sum())}


def trajseg_sequence(
    src: FlowSource, ts: TrackSet, orig_hw: tuple[int, int], cfg: dict, seed: int
) -> tuple[np.ndarray, dict]:
    """Run trajseg on a whole sequence.

    src: per-frame flow access (T frames, flow [h, w, 2] at the frame size; frames for the refinement); ts: its
    point tracks (T frames, original-frame px); orig_hw: original (H, W) px; cfg: the ``trajseg`` section with the
    ``evidence`` and ``refine`` sections nested under those names (:func:`motionseg.methods.method_config`).
    Returns (probs float32 [T, 2, H', W'] with segment 0 = background, 1 = foreground, at the frame size when src
    has frames, else at the working size; info dict of counts). InputError naming the track file when its frame
    count differs from src's.
    """
    T = src.n_frames
    if T < 2:
        raise ValueError(f"trajseg needs at least 2 frames, got {T}")
    if ts.n_frames != T:
        raise InputError(
            ts.path or "<in-memory TrackSet>", f"track file covers {ts.n_frames} frames, the sequence has {T}"
        )
    shared = spec("trajseg").settings.shared  # the sections nested in cfg (evidence, refine)
    own = TrajsegSettings.from_dict({k: v for k, v in cfg.items() if k not in shared}, "trajseg")
    ev_cfg = EvidenceSettings.from_dict(cfg["evidence"], "evidence")
    ref_cfg = RefineSettings.from_dict(cfg["refine"], "refine")
    size = working_size(*src.pair(0, 1).shape[:2], own.work_height, enlarge=False)
    cols = select_tracks(ts.visible, own.min_length, own.max_tracks, seed)
    scale = (size[1] / orig_hw[1], size[0] / orig_hw[0])
    pos = work_positions(ts.tracks[:, cols], ts.visible[:, cols], scale)
    p_track, info = track_probabilities(pos, own, seed)
    probs: list[np.ndarray] = []
    prev = None
    empty = 0
    for t in tqdm(range(T), desc="trajseg", unit="frame", leave=False):
        vis = np.isfinite(pos[t]).all(-1)
        empty += int(not vis.any())
        p = splat(pos[t, vis], p_track[vis], size, own.splat_sigma)
        if own.evidence_weight > 0:
            ev, fails = frame_evidence(src, t, ev_cfg, seed + t, causal=False, size=size)
            info["n_fit_failures"] += fails
            p = combine_evidence(p, ev, own.evidence_weight, own.evidence_combine)
        out, prev = temporal_refine(p, prev, src, t, own.temporal_smoothing, ref_cfg, seed + t)
        probs.append(np.stack([1.0 - out, out]))
    info = {"n_tracks": ts.n_tracks, "n_tracks_used": int(cols.size), **info, "n_frames_without_tracks": empty}
    return np.stack(probs).astype(np.float32), info


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of ``trajseg`` (:func:`motionseg.registry.run_method`): frames, flow and tracks of
    ``inputs`` -> mask directory, the refined foreground as 2-segment probabilities at the frame size."""
    from motionseg.methods import gtfree_meta, open_inputs, write_result
    from motionseg.tracks.store import load_tracks

    ing, src = open_inputs(inputs["frames"], inputs["flow"])
    if not inputs.get("tracks"):
        raise ValueError(f"{method} needs a track file (inputs['tracks'])")
    ts = load_tracks(inputs["tracks"])
    probs, info = trajseg_sequence(src, ts, ing.orig_hw, cfg, seed)
    meta = gtfree_meta(method, seed, FG_RULE, cfg, tracks_meta=ts.meta, **info)
    write_result(out_mask_dir, ing, probs, np.array([False, True]), meta)
