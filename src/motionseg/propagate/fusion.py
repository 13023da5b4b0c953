"""GT-free use of label propagation: propagate a method's own masks from its most confident frames and fuse the
result with its per-frame masks.

The rule (:func:`propagate_from_confident`):

1. Seeds: the ``n_seeds`` frames of highest ``confidence`` (ties: the earlier frame).
2. From each seed s, its mask is propagated forward (frames s..T-1) and backward (frames s..0, the features in
   reverse order) with :func:`motionseg.propagate.labelprop.propagate_soft`; the soft foreground of frame t,
   upsampled to the frame size, is P_s[t] in [0, 1] (P_s[s] is the seed's own mask, resampled).
3. P[t] = sum_s w_s(t) P_s[t] / sum_s w_s(t) with w_s(t) = confidence[s] / (1 + |t - s|) (confident and near seeds
   count more; equal weights when every seed's confidence is 0).
4. c[t] = confidence[t] / max(confidence) in [0, 1] (0 everywhere when the maximum is 0), and the fused mask is
   ``c[t] * mask[t] + (1 - c[t]) * P[t] >= 0.5``: the most confident frames keep their own mask, the least
   confident ones take the propagation, in between a pixel needs both to agree more the less confident its frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from motionseg.propagate.labelprop import (
    CONTEXT,
    RADIUS,
    TEMPERATURE,
    TOPK,
    _as_features,
    downsample_labels,
    propagate_soft,
)


def _foreground_prob(soft: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Channel 1 of soft labels [T, 2, h, w] upsampled to ``size`` (bilinear, align_corners=True): float32 [T, H, W]."""
    up = F.interpolate(soft, size=size, mode="bilinear", align_corners=True)
    return up[:, 1].clamp(0, 1).numpy().astype(np.float32)


def seed_frames(confidence: np.ndarray, n_seeds: int) -> list[int]:
    """Indices of the ``n_seeds`` most confident frames (ties: earlier first), in descending confidence."""
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    return [int(i) for i in order[:max(1, int(n_seeds))]]


def propagate_from_seed(features: torch.Tensor, mask: np.ndarray, seed: int, **kw: float) -> np.ndarray:
    """Soft foreground float32 [T, H, W] of ``mask`` (bool [H, W], frame ``seed``) propagated to every frame."""
    T = features.shape[0]
    hw = tuple(features.shape[2:])
    lab0 = downsample_labels(np.asarray(mask, dtype=np.int64), hw, n_labels=2)
    out = np.empty((T, *mask.shape), dtype=np.float32)
    fwd = propagate_soft(features[seed:], lab0, **kw)
    out[seed:] = _foreground_prob(fwd, mask.shape)
    if seed > 0:
        bwd = propagate_soft(features[:seed + 1].flip(0), lab0, **kw)
        out[:seed + 1] = _foreground_prob(bwd, mask.shape)[::-1]
    return out


def propagate_from_confident(
    masks: np.ndarray,
    confidence: np.ndarray,
    features: np.ndarray | torch.Tensor,
    *,
    n_seeds: int = 3,
    topk: int = TOPK,
    context: int = CONTEXT,
    radius: float = RADIUS,
    temperature: float = TEMPERATURE,
) -> np.ndarray:
    """Fuse per-frame masks with their propagation from the most confident frames (module docstring).

    masks: bool [T, H, W] a GT-free method's foreground; confidence: float [T] >= 0, that method's per-frame
    confidence (any scale, larger = better); features: float [T, C, h, w] (e.g. :func:`dul_features` or
    :func:`lab_features` of the frames). Returns bool [T, H, W].
    """
    masks = np.asarray(masks, dtype=bool)
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    feats = _as_features(features)
    T = masks.shape[0]
    if masks.ndim != 3 or len(conf) != T or feats.shape[0] != T:
        raise ValueError(f"masks {masks.shape}, confidence {conf.shape} and features {tuple(feats.shape)} must "
                         "cover the same T frames")
    if not np.all(np.isfinite(conf)) or (conf < 0).any():
        raise ValueError("confidence must be finite and >= 0")
    kw = {"topk": topk, "context": context, "radius": radius, "temperature": temperature}
    seeds = seed_frames(conf, n_seeds)
    props = {s: propagate_from_seed(feats, masks[s], s, **kw) for s in seeds}
    return fuse_soft(masks.astype(np.float64), conf, props, seeds) >= 0.5


def fuse_soft(fgp: np.ndarray, confidence: np.ndarray, propagations: Mapping[int, np.ndarray],
              seeds: Sequence[int]) -> np.ndarray:
    """Fused soft foreground float32 [T, h, w] in [0, 1] (the rule in the module docstring): ``c * fgp + (1 - c) * P``.

    fgp: float [T, h, w] the method's soft foreground; confidence: float [T] >= 0; propagations: ``{seed: float [T,
    h, w]}`` (:func:`propagate_from_seed` of each seed) holding at least ``seeds``. :func:`propagate_from_confident`
    thresholds this at 0.5 for a binary ``fgp``.
    """
    fgp = np.asarray(fgp, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    T = fgp.shape[0]
    if len(conf) != T:
        raise ValueError(f"confidence has {len(conf)} values for {T} frames")
    if not np.all(np.isfinite(conf)) or (conf < 0).any():
        raise ValueError("confidence must be finite and >= 0")
    t = np.arange(T)
    num = np.zeros(fgp.shape, dtype=np.float64)
    den = np.zeros(T, dtype=np.float64)
    for s in seeds:
        c_s = conf[s] if conf.max() > 0 else 1.0
        w = c_s / (1.0 + np.abs(t - s))
        num += w[:, None, None] * propagations[int(s)]
        den += w
    prop = num / np.maximum(den, 1e-12)[:, None, None]
    c = conf / conf.max() if conf.max() > 0 else np.zeros(T)
    fused = c[:, None, None] * fgp + (1 - c[:, None, None]) * prop
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


__all__ = ["fuse_soft", "propagate_from_confident", "propagate_from_seed", "seed_frames"]
