"""Inference: K soft masks per frame and the GT-free K -> 2 foreground rule."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motionseg.train.data import frames_tensor

FG_RULE_BORDER = (
    "border: per sequence, on the argmax (hard) segments, segment k is foreground when its share of the image border "
    "band (width fg_border_frac x min(h, w)) divided by its share of the whole image is below fg_border_ratio; "
    "segments that win less than 0.1% of the pixels (e.g. soft boundary rings) are background; if no segment "
    "qualifies the one with the lowest ratio is taken, if all qualify the one with the highest ratio is dropped. "
    "The foreground mask is the summed probability of the foreground segments > 0.5. No GT is read."
)

FG_RULE_BOOT = (
    "segment 0: the bootstrapped networks (gwm-boot, lrtl-boot) are trained to put the GT-free foreground of "
    "{source} in segment 0; the foreground mask is its probability > 0.5. No GT is read."
)


def predict_probs(model: torch.nn.Module, frames: np.ndarray, resolution: tuple[int, int], out_hw: tuple[int, int],
                  device: torch.device, batch_size: int = 8, progress: bool = True, flip: bool = False) -> np.ndarray:
    """Soft masks of every frame.

    frames: uint8 [T, H, W, 3]; the network runs at ``resolution`` (h, w) and the softmax probabilities are resized
    bilinearly to ``out_hw`` and renormalised. With ``flip`` the probabilities of the mirrored frame, mirrored back,
    are averaged in (test-time augmentation). Returns float32 [T, K, out_h, out_w] summing to 1 over K.
    """
    model.eval()
    out = []
    with torch.no_grad():
        for k in tqdm(range(0, len(frames), batch_size), desc="segment", disable=not progress, leave=False):
            imgs = frames_tensor(frames[k:k + batch_size], resolution).to(device)
            probs = model(imgs).float().softmax(dim=1)
            if flip:
                probs = 0.5 * (probs + model(imgs.flip(-1)).float().softmax(dim=1).flip(-1))
            probs = F.interpolate(probs, size=out_hw, mode="bilinear", align_corners=False)
            probs = probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-8)
            out.append(probs.cpu().numpy().astype(np.float32))
    return np.concatenate(out)


def border_ratios(probs: np.ndarray, border_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment border contact of a sequence.

    probs: float [T, K, h, w]. Returns (ratio [K], mass [K]): ratio = mean probability on the border band (width
    max(1, round(border_frac * min(h, w))) px) / mean probability over the whole image (inf for an empty segment);
    mass = fraction of all probability mass held by segment k.
    """
    h, w = probs.shape[-2:]
    b = max(1, int(round(border_frac * min(h, w))))
    band = np.zeros((h, w), dtype=bool)
    band[:b], band[-b:], band[:, :b], band[:, -b:] = True, True, True, True
    mean_all = probs.mean(axis=(0, 2, 3))
    mean_border = probs[:, :, band].mean(axis=(0, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mean_all > 0, mean_border / np.maximum(mean_all, 1e-12), np.inf)
    return ratio, mean_all / max(mean_all.sum(), 1e-12)


def foreground_segments(probs: np.ndarray, border_frac: float, max_ratio: float) -> np.ndarray:
    """The GT-free K -> 2 rule (:data:`FG_RULE_BORDER`). probs: float [T, K, h, w]. Returns bool [K]."""
    k = probs.shape[1]
    hard = (probs.argmax(axis=1)[:, None] == np.arange(k)[None, :, None, None]).astype(np.float32)
    ratio, mass = border_ratios(hard, border_frac)
    ratio = np.where(mass < 1e-3, np.inf, ratio)
    fg = ratio < max_ratio
    if not fg.any():
        fg[int(np.argmin(ratio))] = True
    if fg.all():
        fg[int(np.argmax(ratio))] = False
    return fg
