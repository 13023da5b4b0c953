"""Shared motion evidence (motionseg.methods.evidence) and the GrabCut refinement (motionseg.methods.refine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from motionseg.methods.evidence import (
    background_residual,
    frame_evidence,
    frame_pairs,
    occlusion_mask,
)
from motionseg.methods.refine import grabcut_mask, refine_prob

REPO = Path(__file__).resolve().parents[1]
CFG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
EV = CFG["evidence"]
REF = CFG["refine"]


def parallax_flow(h: int = 60, w: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A camera translating sideways over a ground plane seen at an angle plus a slope (depth varies smoothly and
    non-projectively: flow grows with the square of the row) and a 12x12 object moving up. Returns flow, object mask."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    yn = ys / h
    bg = np.stack([0.5 + 3.0 * yn**2 + 1.5 * yn**3, np.zeros_like(xs)], axis=-1)
    obj = (ys >= 20) & (ys < 32) & (xs >= 40) & (xs < 52)
    flow = np.where(obj[..., None], np.array([0.0, -3.0], np.float32), bg).astype(np.float32)
    return flow, obj


def test_polynomial_background_absorbs_smooth_parallax_but_not_the_object() -> None:
    flow, obj = parallax_flow()
    res_h, ok = background_residual(flow, dict(EV, poly_degree=0), seed=0)
    res_p, _ = background_residual(flow, EV, seed=0)
    assert ok
    # homography only: the near (bottom) part of the ground is called moving
    assert np.mean(res_h[50:, :][~obj[50:, :]] > 0.5) > 0.3
    # with the cubic fit the whole background is explained, the object still is not
    assert np.mean(res_p[~obj] > 0.5) < 0.02
    assert np.median(res_p[obj]) > 2.0


def shifted_square_flows(h: int = 40, w: int = 60, x0: int = 20, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Exact flows between frame t (a 10x10 square at x0 on a static background) and frame s (the square moved d px
    right): flow t -> s on frame t's grid and s -> t on frame s's grid."""
    f_ts = np.zeros((h, w, 2), np.float32)
    f_ts[15:25, x0 : x0 + 10, 0] = d
    f_st = np.zeros((h, w, 2), np.float32)
    f_st[15:25, x0 + d : x0 + d + 10, 0] = -d
    return f_ts, f_st


def test_occlusion_mask_flags_the_background_the_object_covers() -> None:
    f_ts, f_st = shifted_square_flows()
    occ = occlusion_mask(f_ts, f_st, EV)
    expect = np.zeros_like(occ)
    expect[15:25, 30:34] = True  # frame-t background hidden in frame s behind the moved square
    np.testing.assert_array_equal(occ, expect)


class RecordingSource:
    """FlowSource stand-in returning zero flow and recording which pairs were read."""

    def __init__(self, n_frames: int, h: int = 32, w: int = 48) -> None:
        self.n_frames, self.h, self.w, self.read = n_frames, h, w, []

    def pair(self, a: int, b: int) -> np.ndarray:
        self.read.append((a, b))
        return np.zeros((self.h, self.w, 2), np.float32)


@pytest.mark.parametrize("t", [0, 1, 4])
def test_causal_evidence_reads_only_frames_up_to_t(t: int) -> None:
    src = RecordingSource(6)
    p, fails = frame_evidence(src, t, EV, seed=0, causal=True)
    assert p.shape == (32, 48) and float(p.max()) < 0.5  # nothing moves
    allowed = max(t, 1)
    assert src.read and all(max(a, b) <= allowed for a, b in src.read), src.read
    src2 = RecordingSource(6)
    frame_evidence(src2, t, EV, seed=0, causal=False)
    assert {max(a, b) for a, b in src2.read} == {max(t, s) for s in frame_pairs(6, t, False)}


def test_evidence_segments_a_moving_square_without_halo() -> None:
    class Src:
        n_frames = 2

        def __init__(self) -> None:
            self.f = shifted_square_flows()

        def pair(self, a: int, b: int) -> np.ndarray:
            return self.f[0] if (a, b) == (0, 1) else self.f[1]

    p, _ = frame_evidence(Src(), 0, dict(EV, morph_px=0), seed=0, causal=False)
    sq = np.zeros((40, 60), bool)
    sq[15:25, 20:30] = True
    assert np.all(p[sq] > 0.5) and np.all(p[~sq] < 0.5)


def object_frame(h: int = 80, w: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy dark-green background with a noisy orange disc; returns frame uint8 [h, w, 3] and the disc mask."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    disc = (ys - 40) ** 2 + (xs - 60) ** 2 < 18**2
    frame = np.where(disc[..., None], [230, 140, 40], [40, 90, 50]) + rng.normal(0, 12, (h, w, 3))
    return np.clip(frame, 0, 255).astype(np.uint8), disc


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_grabcut_removes_a_motion_halo_and_is_deterministic() -> None:
    import cv2

    frame, disc = object_frame()
    halo = cv2.dilate(disc.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=5) > 0  # blurred motion mask
    cfg = dict(REF, erode_frac=6 / 80)  # the eroded mask (definite foreground) lies inside the disc
    out = grabcut_mask(frame, halo, cfg, seed=3)
    assert iou(halo, disc) < 0.7 and iou(out > 0.5, disc) > 0.9
    np.testing.assert_array_equal(out, grabcut_mask(frame, halo, cfg, seed=3))
    # a definite-foreground core that still holds background colours keeps part of the halo: the erosion matters
    assert iou(grabcut_mask(frame, halo, dict(REF, erode_frac=1 / 80), seed=3) > 0.5, disc) < 0.8


def test_refine_prob_sizes_and_passthrough() -> None:
    frame, disc = object_frame()
    small = disc[::2, ::2].astype(np.float32) * 0.9
    out = refine_prob(small, frame, REF)
    assert out.shape == disc.shape and iou(out > 0.5, disc) > 0.9
    none = refine_prob(small, frame, dict(REF, method="none"))
    assert none.shape == disc.shape and none.max() == pytest.approx(0.9, abs=1e-3)
    np.testing.assert_array_equal(refine_prob(small, None, REF), small)  # no frame: unchanged
    empty = np.zeros((40, 60), np.float32)
    assert refine_prob(empty, frame, REF).sum() == 0  # too small to learn colours from: left as it is
    with pytest.raises(ValueError, match="refine method"):
        refine_prob(small, frame, dict(REF, method="crf"))
