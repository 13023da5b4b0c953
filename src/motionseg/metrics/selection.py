"""Foreground selection: which predicted segment is scored as "the object".

- ``gt-free`` (default, no oracle): the method's own foreground, i.e. the ``<frame>.png`` masks of its mask directory,
  which its GT-free rule (``meta.json`` ``fg_rule``, ``segments.npz`` ``fg``) produced without looking at the GT.
- ``oracle-frame`` (MG / GWM): in every frame, the single segment with the highest J against the GT (ties: lowest
  segment index). Uses the GT; rows are flagged ``oracle=True``.
- ``oracle-sequence`` (official DAVIS unsupervised multi-object code): one segment for the whole sequence, chosen by a
  Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on the sequence-mean (J + F) / 2 of each segment
  against the (single, merged) GT object. Uses the GT; rows are flagged ``oracle=True``.

Oracle candidates are the K segments of ``segments.npz``: each probability map is resized bilinearly to the GT size
and thresholded at 0.5. A mask directory without ``segments.npz`` has two candidates, its foreground mask and the
complement (the two "slots" of a binary segmentation).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

SELECTIONS: tuple[str, ...] = ("gt-free", "oracle-frame", "oracle-sequence")
ORACLE_SELECTIONS: frozenset[str] = frozenset({"oracle-frame", "oracle-sequence"})


def check_selection(name: str) -> str:
    """Return ``name`` if it is a known selection, else raise ValueError listing them."""
    if name not in SELECTIONS:
        raise ValueError(f"unknown selection {name!r}; known: {', '.join(SELECTIONS)}")
    return name


def segment_masks(probs: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Binary segment masks of one frame at GT size.

    probs: float [K, h, w] segment probabilities in [0, 1] (working resolution); hw: GT (H, W). Each map is resized
    bilinearly (half-pixel centres, ``cv2.INTER_LINEAR``) to (H, W) and thresholded at > 0.5. Returns bool [K, H, W].
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f"probs must be [K, h, w], got {probs.shape}")
    H, W = hw
    out = np.empty((probs.shape[0], H, W), dtype=bool)
    for k, p in enumerate(probs):
        out[k] = (p if p.shape == (H, W) else cv2.resize(p, (W, H), interpolation=cv2.INTER_LINEAR)) > 0.5
    return out


def binary_candidates(fg: np.ndarray) -> np.ndarray:
    """Two candidate segments of a binary foreground bool [H, W]: bool [2, H, W] = (foreground, background)."""
    fg = np.asarray(fg, dtype=bool)
    return np.stack([fg, ~fg])


def select(j: np.ndarray, f: np.ndarray, selection: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply an oracle selection to per-segment scores.

    j, f: float [K, n] per-segment, per-frame J and F (already under the protocol's empty-mask rule). Returns
    ``(J [n], F [n], segment int [n])`` of the chosen segment(s). ``gt-free`` is not a choice among segments and is
    rejected here.
    """
    j = np.asarray(j, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    if j.shape != f.shape or j.ndim != 2:
        raise ValueError(f"j and f must both be [K, n], got {j.shape} and {f.shape}")
    n = j.shape[1]
    if selection == "oracle-frame":
        seg = np.argmax(j, axis=0) if n else np.zeros(0, dtype=np.int64)
    elif selection == "oracle-sequence":
        if n == 0:
            seg = np.zeros(0, dtype=np.int64)
        else:
            score = (j.mean(axis=1) + f.mean(axis=1)) / 2  # [K]: sequence-mean (J + F) / 2 per segment
            rows, _ = linear_sum_assignment(-score[:, None])
            seg = np.full(n, int(rows[0]), dtype=np.int64)
    else:
        known = ", ".join(sorted(ORACLE_SELECTIONS))
        raise ValueError(f"select() needs an oracle selection ({known}), got {selection!r}")
    cols = np.arange(n)
    return j[seg, cols], f[seg, cols], seg.astype(np.int64)
