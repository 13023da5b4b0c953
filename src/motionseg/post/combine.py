"""Per-frame combination of several GT-free methods' masks of one sequence, with GT-free confidences.

Input: the soft foregrounds ``fgp`` float32 [M, T, h, w] in [0, 1] of M methods (working resolution, e.g. from
:func:`motionseg.post.crf.foreground_probability`). Rules (:data:`RULES`):

- ``mean``: the pixelwise mean of the M soft foregrounds (a vote, no choice per frame);
- ``consensus``: per frame, the method whose mask (fgp > 0.5) has the highest mean IoU with the other methods'
  masks of that frame (the medoid of the M masks);
- ``temporal``: per frame, the method whose mask agrees best with its own masks of the neighbouring frames (mean IoU
  with frames t-1 and t+1: :func:`motionseg.propagate.gtfree.confidence_from_probability`, ``agreement``);
- ``product``: per frame, the method with the highest consensus x temporal agreement.

Empty masks and masks over :data:`motionseg.propagate.gtfree.MAX_AREA` of the frame get confidence 0 (as in the
GT-free propagation stage). Ties go to the earlier method in the input order. Nothing here reads ground truth.
"""

from __future__ import annotations

import numpy as np

from motionseg.propagate.gtfree import MAX_AREA, confidence_from_probability

RULES: tuple[str, ...] = ("mean", "consensus", "temporal", "product")


def _iou_matrix(masks: np.ndarray) -> np.ndarray:
    """Pairwise IoU float64 [M, M] of bool masks [M, h, w] (1 where both are empty)."""
    flat = masks.reshape(len(masks), -1).astype(np.float64)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 1.0)


def consensus_confidence(fgp: np.ndarray) -> np.ndarray:
    """Per-frame, per-method agreement with the other methods, float64 [M, T] in [0, 1]: the mean IoU of a method's
    mask (fgp > 0.5) with the other M-1 methods' masks of the same frame; 0 for empty masks or masks covering more
    than MAX_AREA of the frame. fgp: float [M, T, h, w]."""
    fgp = np.asarray(fgp, dtype=np.float32)
    if fgp.ndim != 4 or len(fgp) < 2:
        raise ValueError(f"fgp must be [M >= 2, T, h, w], got {fgp.shape}")
    M, T = fgp.shape[:2]
    m = fgp > 0.5
    area = m.reshape(M, T, -1).mean(axis=2)
    out = np.zeros((M, T))
    for t in range(T):
        iou = _iou_matrix(m[:, t])
        out[:, t] = (iou.sum(axis=1) - 1.0) / (M - 1)
    return out * ((area > 0) & (area <= MAX_AREA))


def temporal_confidence(fgp: np.ndarray) -> np.ndarray:
    """Per-frame, per-method temporal agreement float64 [M, T] (each method's ``agreement`` confidence of the GT-free
    propagation stage, computed on its own masks at the working size). fgp: float [M, T, h, w]."""
    fgp = np.asarray(fgp, dtype=np.float32)
    return np.stack([confidence_from_probability(f, f > 0.5, "agreement") for f in fgp])


def combine(fgp: np.ndarray, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Combine M methods' soft foregrounds fgp float [M, T, h, w] by ``rule`` (:data:`RULES`).

    Returns (the combined soft foreground float32 [T, h, w] in [0, 1], the method chosen per frame int [T]; -1 for
    every frame under ``mean``)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    fgp = np.asarray(fgp, dtype=np.float32)
    if fgp.ndim != 4 or len(fgp) < 2:
        raise ValueError(f"fgp must be [M >= 2, T, h, w], got {fgp.shape}")
    T = fgp.shape[1]
    if rule == "mean":
        return fgp.mean(axis=0), np.full(T, -1)
    if rule == "consensus":
        conf = consensus_confidence(fgp)
    elif rule == "temporal":
        conf = temporal_confidence(fgp)
    else:
        conf = consensus_confidence(fgp) * temporal_confidence(fgp)
    choice = np.argmax(conf, axis=0)  # first of equal values: the earlier method
    return fgp[choice, np.arange(T)], choice
