"""Per-frame region (J) and boundary (F) similarity and the per-sequence statistics of the DAVIS benchmark.

The definitions follow the official DAVIS evaluation (davisvideochallenge/davis2017-evaluation, ``davis2017/metrics.py``
and ``davis2017/utils.py``); the implementation here is our own:

- J = |P & G| / |P | G|; a frame where both masks are empty scores 1.
- F = 2PR / (P + R) on one-pixel boundary maps. A pixel is on the boundary when it differs from its east, south or
  south-east neighbour (last row: east only; last column: south only; bottom-right pixel never). A boundary pixel is
  matched when a boundary pixel of the other mask lies inside a disk of radius ``ceil(bound_th * hypot(H, W))``
  (8 px at 480x854) around it. Precision = matched prediction-boundary pixels / prediction-boundary pixels, recall
  likewise for the GT. Both boundaries empty: P = R = 1 (F = 1); only the prediction's empty: P = 1, R = 0; only the
  GT's empty: P = 0, R = 1; F = 0 when P + R = 0.
- Per sequence: mean = nanmean over frames, recall = fraction of frames scoring > 0.5, decay = mean of the first
  quarter of the frames minus mean of the last quarter (4 bins with edges ``round(linspace(1, n, 5)) - 1``; the slices
  ``v[e_i : e_{i+1} + 1]`` share their edge frame).

Decay: the official code casts the bin edges to ``uint8``, so from 256 frames on the last edge wraps around
(256 to ~341 frames: empty last bin, decay NaN; more: wrong bins). ``decay="correct"`` (default) keeps the edges as
integers; ``decay="official"`` reproduces the cast (as the official code behaves under NumPy >= 2, see
:func:`decay_bins`). Both agree exactly for sequences of up to 255 frames.

Speed: :func:`frame_jf` crops both masks to the bounding box of their union (plus one pixel) before computing the
boundaries and the dilations. This is exact: every boundary pixel lies in that box, and a dilation evaluated at a
boundary pixel only sees boundary pixels, all of which are in the box.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import cv2
import numpy as np

DecayMode = Literal["correct", "official"]
DECAY_MODES: tuple[str, ...] = ("correct", "official")

_DISKS: dict[float, np.ndarray] = {}


def disk(radius: float) -> np.ndarray:
    """Disk structuring element: uint8 [2r+1, 2r+1] (r = floor(radius)), 1 where x^2 + y^2 <= radius^2.

    Equal, element for element, to ``skimage.morphology.disk(radius)`` with its defaults (``strict_radius=True``), which
    the official F uses (tested against scikit-image when it is installed).
    """
    if radius < 0:
        raise ValueError(f"disk radius must be >= 0, got {radius}")
    key = float(radius)
    if key not in _DISKS:
        offsets = np.arange(-radius, radius + 1)
        _DISKS[key] = (np.add.outer(offsets**2, offsets**2) <= radius**2).astype(np.uint8)
    return _DISKS[key]


def boundary_radius(hw: tuple[int, int], bound_th: float = 0.008) -> float:
    """Boundary tolerance in pixels for an image of (H, W) pixels: ``bound_th`` itself when >= 1, else
    ``ceil(bound_th * ||(H, W)||_2)`` (8.0 for 480x854)."""
    if bound_th >= 1:
        return float(bound_th)
    return float(np.ceil(bound_th * np.linalg.norm(hw)))


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary map of a mask: bool [H, W] -> bool [H, W].

    A pixel is boundary when it differs from its east, south or south-east neighbour; on the last row only the east
    neighbour counts, on the last column only the south one, and the bottom-right pixel is never boundary.
    """
    seg = np.asarray(mask, dtype=bool)
    if seg.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {seg.shape}")
    b = np.zeros_like(seg)
    c = seg[:-1, :-1]
    b[:-1, :-1] = (c != seg[:-1, 1:]) | (c != seg[1:, :-1]) | (c != seg[1:, 1:])
    b[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]
    b[:-1, -1] = seg[:-1, -1] != seg[1:, -1]
    return b


def _check_pair(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.ndim != 2 or gt.shape != pred.shape:
        raise ValueError(f"GT {gt.shape} and prediction {pred.shape} must be 2-D masks of the same size")
    if void is not None:
        void = np.asarray(void, dtype=bool)
        if void.shape != gt.shape:
            raise ValueError(f"void mask {void.shape} does not match GT {gt.shape}")
        gt = gt & ~void
        pred = pred & ~void
    return gt, pred


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J of one frame: |P & G| / |P | G| with bool [H, W] masks (void pixels excluded); 1 when both
    masks are empty."""
    gt, pred = _check_pair(gt, pred, void)
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def _f_from_counts(n_fg: int, n_gt: int, fg_match: int, gt_match: int) -> float:
    """F from boundary pixel counts with the official edge cases (module docstring)."""
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = fg_match / float(n_fg)
        recall = gt_match / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _boundary_counts(gt_b: np.ndarray, fg_b: np.ndarray, radius: float) -> tuple[int, int, int, int]:
    """(n_fg, n_gt, fg_match, gt_match) of two boundary maps with a disk tolerance of ``radius`` px."""
    n_fg = int(np.count_nonzero(fg_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_fg == 0 or n_gt == 0:
        return n_fg, n_gt, 0, 0
    se = disk(radius)
    fg_dil = cv2.dilate(fg_b.view(np.uint8), se)
    gt_dil = cv2.dilate(gt_b.view(np.uint8), se)
    fg_match = int(np.count_nonzero(fg_b & gt_dil.view(bool)))
    gt_match = int(np.count_nonzero(gt_b & fg_dil.view(bool)))
    return n_fg, n_gt, fg_match, gt_match


def boundary_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008) -> float:
    """Boundary F-measure of one frame on full-size bool [H, W] masks (the plain, uncropped computation).

    ``bound_th``: tolerance as a fraction of the image diagonal (< 1) or in pixels (>= 1). Void pixels are removed
    from both masks before the boundaries are taken.
    """
    gt, pred = _check_pair(gt, pred, void)
    radius = boundary_radius(gt.shape, bound_th)
    return _f_from_counts(*_boundary_counts(seg2bmap(gt), seg2bmap(pred), radius))


def frame_jf(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008
) -> tuple[float, float, bool]:
    """J, F and "both masks empty" of one frame (bool [H, W] masks), computed on the union's bounding box.

    Returns ``(J, F, both_empty)``; identical to ``(jaccard(...), boundary_f(...), union == 0)``.
    """
    gt, pred = _check_pair(gt, pred, void)
    union = gt | pred
    x, y, w, h = cv2.boundingRect(union.view(np.uint8))
    if w == 0 or h == 0:
        return 1.0, 1.0, True
    H, W = gt.shape
    win = (slice(max(y - 1, 0), min(y + h + 1, H)), slice(max(x - 1, 0), min(x + w + 1, W)))
    g, p = gt[win], pred[win]
    j = np.count_nonzero(g & p) / np.count_nonzero(union[win])
    radius = boundary_radius((H, W), bound_th)
    f = _f_from_counts(*_boundary_counts(seg2bmap(g), seg2bmap(p), radius))
    return j, f, False


def decay_bins(n: int, decay: DecayMode = "correct") -> list[tuple[int, int]]:
    """The 4 decay bins of an n-frame sequence as ``(start, stop)`` slice bounds (bin i = ``v[start:stop]``).

    Edges are ``e = round(linspace(1, n, 5)) - 1`` and bin i is ``v[e_i : e_{i+1} + 1]``. ``decay="correct"`` keeps
    the edges as integers. ``decay="official"`` reproduces the official code under NumPy >= 2: the edges are cast to
    uint8 and ``e_{i+1} + 1`` is computed in uint8 too (so an edge of 255, e.g. at n = 256, wraps to a stop of 0;
    under NumPy 1 that one sum was promoted and did not wrap, the cast of the edges themselves wraps in both).
    """
    ids = np.round(np.linspace(1, n, 5) + 1e-10) - 1
    if decay == "correct":
        e = ids.astype(np.int64)
        return [(int(e[i]), int(e[i + 1]) + 1) for i in range(4)]
    if decay == "official":
        e = ids.astype(np.uint8).astype(np.int64)
        return [(int(e[i]), (int(e[i + 1]) + 1) % 256) for i in range(4)]
    raise ValueError(f"decay must be one of {DECAY_MODES}, got {decay!r}")


def sequence_stats(values: np.ndarray, decay: DecayMode = "correct") -> tuple[float, float, float]:
    """(mean, recall, decay) of the per-frame scores ``values`` float [n] of one sequence.

    mean = nanmean; recall = fraction of frames > 0.5 (NaN frames count as failures); decay = nanmean(first bin) -
    nanmean(last bin) (see :func:`decay_bins`). All three are NaN for n = 0.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return math.nan, math.nan, math.nan
    bins = decay_bins(v.size, decay)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        recall = float(np.mean(v > 0.5))
        first = v[slice(*bins[0])]
        last = v[slice(*bins[3])]
        d = float(np.nanmean(first) - np.nanmean(last)) if first.size and last.size else math.nan
    return mean, recall, d
