"""Ablation of the causal (online) motion pipeline on the shared DAVIS-2016 sequences: the changes tried to raise the
GT-free online mean J, each alone on top of the base pipeline (docs/history.md, "Tried for the online mode").

    nice -n 10 .venv/bin/python experiments/online_ablation.py                          # every variant (about 1 h)
    nice -n 10 .venv/bin/python experiments/online_ablation.py --variants base avg2 --sequences blackswan goat

Base pipeline, frame t (the online mode of clusternet without the clusters): evidence from the flow t -> t-1
(:func:`motionseg.methods.evidence.direction_prob`, frame 0 uses 0 -> 1), grey clean-up, temporal blend with the
previous refined mask warped to t (weight 0.4), GrabCut refinement on the 240-row frame, refined mask carried as the
state. Evidence and state at 120x216, davis2016.yaml's ``evidence.occlusion_rel`` (0.05), config.yaml's ``refine``.
Flows: DIS medium at 480x854, resized to 120x216 (gap 1 cached by experiments/cluster_davis.py's format; gap 2
computed here when a variant needs it). Every variant reads only frames <= t. Scores: official J (all frames,
empty-vs-empty = 1), mean of per-sequence means; GT is read only for scoring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml
from cluster_davis import DATA, REPO, dis_flow, j_official, load_sequence

from motionseg.flow.geometry import resize_flow
from motionseg.methods.evidence import (
    background_residual,
    clean_prob,
    direction_prob,
    grid_points,
    homography_flow,
    occlusion_mask,
    residual_to_prob,
    residual_vectors,
    robust_poly_flow,
    warp_backward,
)
from motionseg.methods.refine import drop_border_components, grabcut_mask, to_size

WORK = (120, 216)
SEQUENCES = [
    "blackswan", "breakdance", "car-roundabout", "car-shadow", "cows", "dance-twirl", "drift-chicane", "goat",
    "horsejump-high", "motocross-jump", "paragliding-launch", "parkour", "scooter-black",
]  # fmt: skip


def gap_flows(seq: str, gap: int, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """DIS flows t -> t+gap (fwd) and t+gap -> t (bwd) at 480x854 resized to WORK: float32 [T-gap, h, w, 2] each."""
    stem = f"{seq}_full_{WORK[0]}x{WORK[1]}"  # gap 1: the name experiments/cluster_davis.py caches under
    path = cache / (f"{stem}.npz" if gap == 1 else f"{stem}_gap{gap}.npz")
    if not path.exists():
        fr = load_sequence(seq, None)[0].frames
        fwd = [resize_flow(dis_flow(fr[t], fr[t + gap]), WORK) for t in range(len(fr) - gap)]
        bwd = [resize_flow(dis_flow(fr[t + gap], fr[t]), WORK) for t in range(len(fr) - gap)]
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, fwd=np.stack(fwd).astype(np.float16), bwd=np.stack(bwd).astype(np.float16))
    with np.load(path) as z:
        return z["fwd"].astype(np.float32), z["bwd"].astype(np.float32)


# ----------------------------------------------------------------------------------------------- evidence variants


def second_plane(flow: np.ndarray, cfg: dict, seed: int, border_guard: bool) -> np.ndarray:
    """Residual [h, w] (px) against the base models and a second RANSAC homography fitted to their outliers (a second
    background plane), accepted when its inliers cover >= 10 % of the frame (and, with the guard, run along the
    border for more than 2 sqrt(area) px)."""
    h, w = flow.shape[:2]
    res = background_residual(flow, cfg, seed)[0]
    src = grid_points(h, w, int(cfg["grid_step"]))
    xi, yi = src[:, 0].astype(int), src[:, 1].astype(int)
    out = res[yi, xi] > max(1.0, 0.5 * float(np.median(np.linalg.norm(flow, axis=-1))))
    if out.sum() < max(8, 0.1 * len(src)):
        return res
    cv2.setRNGSeed(int(seed) + 7)
    H2, _ = cv2.findHomography(
        src[out], src[out] + flow[yi, xi][out], cv2.RANSAC, float(cfg["ransac_reproj_px"]), maxIters=500,
        confidence=0.995,
    )  # fmt: skip
    if H2 is None:
        return res
    r2 = np.linalg.norm(flow - homography_flow(H2, h, w), axis=-1)
    plane = r2 < float(cfg["ransac_reproj_px"])
    if plane.mean() < 0.1:
        return res
    if border_guard:
        bw = max(1, h // 20)
        band = np.zeros((h, w), bool)
        band[:bw], band[-bw:], band[:, :bw], band[:, -bw:] = True, True, True, True
        if (plane & band).sum() / bw < 2.0 * np.sqrt(plane.sum()):
            return res
    return np.minimum(res, r2)


def excluded_fit(flow: np.ndarray, back: np.ndarray, cfg: dict, seed: int, excl: np.ndarray) -> np.ndarray:
    """Evidence [h, w] with the background models fitted without the pixels of bool ``excl`` [h, w]."""
    h, w = flow.shape[:2]
    src = grid_points(h, w, int(cfg["grid_step"]))
    xi, yi = src[:, 0].astype(int), src[:, 1].astype(int)
    keep = ~excl[yi, xi]
    if keep.sum() < 0.2 * len(src):
        keep[:] = True
    cv2.setRNGSeed(int(seed))
    H, _ = cv2.findHomography(
        src[keep], src[keep] + flow[yi, xi][keep], cv2.RANSAC, float(cfg["ransac_reproj_px"]),
        maxIters=int(cfg["ransac_iters"]), confidence=0.995,
    )  # fmt: skip
    res = np.linalg.norm(flow - homography_flow(np.eye(3) if H is None else H, h, w), axis=-1)
    init = ((res < float(cfg["poly_inlier_px"])) & ~excl).astype(np.float64)
    res = np.minimum(res, np.linalg.norm(flow - robust_poly_flow(flow, init, cfg), axis=-1))
    return np.where(occlusion_mask(flow, back, cfg), 0.0, residual_to_prob(res, flow, cfg))


class Sequence:
    """One sequence's flows, frames and per-variant running state."""

    def __init__(self, seq: str, cache: Path, need_gap2: bool) -> None:
        self.ing, self.gt = load_sequence(seq, 240)
        self.fwd, self.bwd = gap_flows(seq, 1, cache)
        self.fwd2, self.bwd2 = gap_flows(seq, 2, cache) if need_gap2 else (None, None)
        self.state: dict = {}


def evidence(var: str, s: Sequence, t: int, cfg: dict, prev: np.ndarray | None) -> np.ndarray:
    """Motion evidence float32 [h, w] of frame t for variant ``var`` (reads flows between frames <= t only)."""
    if t == 0:
        return direction_prob(s.fwd[0], s.bwd[0], cfg, t)[0]
    f_ts, f_st = s.bwd[t - 1], s.fwd[t - 1]
    if var.startswith("plane2"):
        res = second_plane(f_ts, cfg, t, border_guard=var == "plane2-border")
        return np.where(occlusion_mask(f_ts, f_st, cfg), 0.0, residual_to_prob(res, f_ts, cfg)).astype(np.float32)
    if var.startswith("excl"):
        ex = warp_backward(prev, f_ts) >= 0.5 if prev is not None else np.zeros(WORK, bool)
        grow = int(var.split("-")[1])
        if grow:
            ex = cv2.dilate(ex.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=grow).astype(bool)
        return excluded_fit(f_ts, f_st, cfg, t, ex).astype(np.float32)
    if var.startswith("accum"):
        occ = occlusion_mask(f_ts, f_st, cfg)
        r = residual_vectors(f_ts, cfg, t)[0]
        acc = s.state.get("acc")
        acc = r if acc is None else r + 0.5 * warp_backward(acc, f_ts)
        s.state["acc"] = acc = np.where(occ[..., None], 0.0, acc).astype(np.float32)
        scale = 2.0 if t >= 2 else 1.0  # consistent motion sums to 1 / (1 - 0.5) x the one-frame residual
        p = residual_to_prob(np.linalg.norm(acc, axis=-1) / scale, f_ts, cfg)
        if var == "accum-mix":
            p = 0.5 * (p + residual_to_prob(np.linalg.norm(r, axis=-1), f_ts, cfg))
        return np.where(occ, 0.0, p).astype(np.float32)
    p = direction_prob(f_ts, f_st, cfg, t)[0]
    if var == "fw":
        pf = direction_prob(f_st, f_ts, cfg, t)[0]  # frame t-1's evidence from its flow towards t
        return (0.5 * (p + warp_backward(pf, f_ts))).astype(np.float32)
    if var.startswith("g2") and t >= 2:
        p2 = direction_prob(s.bwd2[t - 2], s.fwd2[t - 2], cfg, t)[0]
        if var == "g2-max":
            return np.maximum(p, p2)
        if var == "g2-avg":
            return (0.5 * (p + p2)).astype(np.float32)
        return np.where(p < 0.5, np.maximum(p, 0.5 * (p + p2)), p).astype(np.float32)  # g2-weak
    if var in ("avg2", "avg3"):
        hist = s.state.setdefault("hist", [])  # raw evidence of earlier frames, each warped to the latest frame
        hist[:] = [warp_backward(h, f_ts) for h in hist]
        out = np.mean([p, *hist], axis=0).astype(np.float32)
        hist.insert(0, p)
        del hist[int(var[-1]) - 1 :]
        return out
    return p


def center_prior(var: str, p: np.ndarray) -> np.ndarray:
    """Variant center-S: p x exp(-d^2 / (2 S^2)), d = distance to the image centre with height and width scaled to 1
    (a dataset prior: the filmed object tends to be near the centre)."""
    if not var.startswith("center"):
        return p
    h, w = p.shape
    d2 = ((np.arange(h)[:, None] / h - 0.5) ** 2 + (np.arange(w)[None, :] / w - 0.5) ** 2).astype(np.float32)
    return (p * np.exp(-d2 / (2 * float(var.split("-")[1]) ** 2))).astype(np.float32)


def mask_rule(var: str, p: np.ndarray) -> np.ndarray:
    """The motion mask handed to GrabCut, bool [h, w] at p's size: p >= 0.5 (or the variant's rule)."""
    m = p >= 0.5
    if var.startswith("hyst") and m.any():
        n, lab = cv2.connectedComponents((p >= float(var.split("-")[1])).astype(np.uint8), connectivity=8)
        ok = np.zeros(n, bool)
        ok[np.unique(lab[m])] = True
        ok[0] = False
        m = ok[lab]
    return m


def keep_components(var: str, m: np.ndarray) -> np.ndarray:
    """Variant keep-F: keep connected components of bool m whose area is >= F x the largest one's."""
    if not var.startswith("keep") or not m.any():
        return m
    n, lab, st, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    area = st[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = area >= float(var.split("-")[1]) * area.max()
    return keep[lab]


def run_sequence(var: str, s: Sequence, cfg: dict, refine: dict, weight: float) -> float:
    """Mean official J of variant ``var`` on one sequence."""
    s.state = {}
    prev, preds = None, []
    H, W = s.gt.shape[1:]
    for t in range(len(s.ing.frames)):
        p = center_prior(var, clean_prob(evidence(var, s, t, cfg, prev), int(cfg["morph_px"])))
        if prev is not None:
            p = (1 - weight) * p + weight * warp_backward(prev, s.bwd[t - 1])
        frame = s.ing.frames[t]
        up = cv2.resize(p.astype(np.float32), frame.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        m = keep_components(var, drop_border_components(mask_rule(var, up), float(refine["border_drop"])))
        out = grabcut_mask(frame, m, refine, t)
        prev = to_size(out, WORK)
        preds.append(cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR) >= 0.5)
    return float(j_official(np.stack(preds), s.gt).mean())


VARIANTS = [
    "base", "fw", "g2-max", "g2-weak", "g2-avg", "plane2", "plane2-border", "floor-0.25", "floor-0.35", "keep-0.3",
    "keep-1.0", "hyst-0.3", "hyst-0.2", "accum", "accum-mix", "avg2", "avg3", "excl-0", "excl-3", "weight-0.25",
    "weight-0.6", "center-0.35", "center-0.5", "center-0.6", "center-0.8",
]  # fmt: skip
# evidence settings that differ from davis2016.yaml's, per variant
OVERRIDES = {
    "floor-0.25": {"min_residual_px": 0.25, "rel_residual": 3.0},
    "floor-0.35": {"min_residual_px": 0.35, "rel_residual": 3.0},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--sequences", nargs="+", default=SEQUENCES)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/motionseg_cluster_bench"))
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"needs the shared DAVIS-2016 data at {DATA}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    davis = yaml.safe_load((REPO / "config" / "davis2016.yaml").read_text())
    ev0 = {**base["evidence"], **davis.get("evidence", {})}
    refine = base["refine"]
    need2 = any(v.startswith("g2") for v in args.variants)
    scores = {v: [] for v in args.variants}
    print(f"{'sequence':20s}" + "".join(f"{v:>14s}" for v in args.variants), flush=True)
    for seq in args.sequences:
        s = Sequence(seq, args.cache, need2)
        row = []
        for v in args.variants:
            weight = float(v.split("-")[1]) if v.startswith("weight") else 0.4
            j = run_sequence(v, s, {**ev0, **OVERRIDES.get(v, {})}, refine, weight)
            scores[v].append(j)
            row.append(j)
        print(f"{seq:20s}" + "".join(f"{j:14.3f}" for j in row), flush=True)
    print(f"{'mean J':20s}" + "".join(f"{np.mean(scores[v]):14.3f}" for v in args.variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
