"""Bootstrapping from GT-free motion masks (methods ``gwm-boot`` and ``lrtl-boot``): segment 0 of the network is
trained towards the foreground found by another GT-free method of the workflow (e.g. ``bgfit``)."""

from __future__ import annotations

import torch

_EPS = 1e-6


def pseudo_label_loss(masks: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy between segment 0 and a pseudo-label; segment 0 becomes the foreground segment.

    masks: float [B, K, h, w] soft masks summing to 1 over K; target: float [B, h, w] in [0, 1], the foreground of a
    GT-free motion method at the same resolution. Returns the mean BCE(m_0, target) over pixels and batch (nats per
    pixel), a scalar tensor. The other K - 1 segments share the rest; the flow loss splits it by motion.
    """
    if masks.ndim != 4 or target.shape != (masks.shape[0], *masks.shape[2:]):
        raise ValueError(f"masks [B,K,h,w] and target [B,h,w] expected, got {tuple(masks.shape)}, "
                         f"{tuple(target.shape)}")
    p = masks[:, 0].clamp(_EPS, 1 - _EPS)
    t = target.clamp(0.0, 1.0)
    return -(t * p.log() + (1 - t) * (1 - p).log()).mean()
