"""GT-free propagation stage: repair a method's least confident frames with its own most confident ones.

A post-processing stage in the manner of :func:`motionseg.post.crf.run_crf`: it reads a method's mask directory and
the ingested frames and writes a complete mask directory (``post: "prop"``). No ground truth is read anywhere.

Per-frame confidence (:func:`frame_confidence`), computed from the mask directory alone. With p[t] the soft foreground
at working resolution (:func:`motionseg.post.crf.foreground_probability`: the flagged segments' probabilities, or the
PNG masks area-averaged down when there are none) and m[t] = p[t] > 0.5:

- ``certainty`` = mean over pixels of |2 p - 1| (1 for a hard mask away from its edges, 0 for p = 0.5 everywhere);
- ``agreement`` = mean IoU of m[t] with m[t - 1] and m[t + 1] (the neighbours that exist; 1 for a one-frame video;
  two empty masks agree with IoU 1): a frame whose mask jumps away from both neighbours (a lost object, a flicker)
  scores low, whatever the method's own probabilities claim;
- ``product`` = certainty x agreement;

each multiplied by a gate that is 0 when the frame's PNG mask (original resolution) is empty or covers more than
:data:`MAX_AREA` (90 %) of the frame: such a mask is no object (a method that lost it, or that took the background)
and must never seed the propagation nor keep its mask. The kind is the config key ``gtfree_propagation.confidence``;
the shipped ``agreement`` was chosen out of fold with ``bench/propagation_cv.py`` on the 13 shared DAVIS-2016
sequences (4 folds, lab features, n_seeds in {1, 3, 5} plus "off"; davis2017-unsup J, mean over sequences): bgfit
raw 0.592 -> out-of-fold 0.593 (certainty), 0.623 (agreement), 0.623 (product); mtnet (supervised, cross-validated)
raw 0.344 -> 0.343, 0.382, 0.376. ``certainty`` cannot rank the frames of a method with hard 0/1 probabilities
(bgfit's: every non-gated frame scores 1), and it trusts a network that is confidently wrong; temporal agreement needs
neither.

Fusion (:func:`motionseg.propagate.fusion.fuse_soft`): the soft form of
:func:`motionseg.propagate.fusion.propagate_from_confident`. The seeds are the ``n_seeds`` most confident frames;
each seed's binary mask m[s] is propagated to every frame (:func:`motionseg.propagate.fusion.propagate_from_seed`,
DUL's kNN over a space-time context), the propagations are averaged with weights confidence[s] / (1 + |t - s|), and
frame t's fused foreground is ``c[t] * p[t] + (1 - c[t]) * P[t]`` with c = confidence / max(confidence). With a
binary p, its threshold at 0.5 is exactly ``propagate_from_confident``'s mask (the same function); with a soft p the
most confident frame keeps its own probabilities (its PNG is unchanged) and the fused value is written as the
foreground probability of ``segments.npz``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionseg.io.errors import ConfigError
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import MaskSet, fg_from_probs, read_mask_dir, write_mask_dir
from motionseg.post.crf import foreground_probability, in_frame_order
from motionseg.propagate.features import dul_features, lab_features
from motionseg.propagate.fusion import fuse_soft, propagate_from_seed, seed_frames

CONFIG_KEY = "gtfree_propagation"  # dotted config key of the section, used in ConfigError messages
CONFIDENCE_KINDS: tuple[str, ...] = ("certainty", "agreement", "product")
MAX_AREA = 0.9  # a frame whose mask covers more than this fraction of the frame gets confidence 0
FEATURES: tuple[str, ...] = ("lab", "dul")
CONFIG_KEYS: tuple[str, ...] = ("features", "confidence", "n_seeds", "topk", "context", "radius", "temperature",
                                "lab_stride")
_INT_KEYS = frozenset({"n_seeds", "topk", "context", "lab_stride"})


# ------------------------------------------------------------------------------------------------ configuration


def check_config(cfg: Mapping[str, Any], key: str = CONFIG_KEY) -> dict[str, Any]:
    """The validated stage settings as a plain dict (ints and floats, ``features`` a string).

    cfg must hold exactly :data:`CONFIG_KEYS`: ``features`` (``lab`` or ``dul``), ``confidence`` (one of
    :data:`CONFIDENCE_KINDS`), ``n_seeds``, ``topk``, ``context``
    (frames) and ``lab_stride`` (px per feature pixel) integers >= 1, ``radius`` (feature pixels) and ``temperature``
    floats > 0. ConfigError naming ``<key>.<name>`` for an unknown, missing or bad entry.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(key, f"expected a mapping, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(CONFIG_KEYS)})")
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{key}.{missing[0]}", "missing key")
    out: dict[str, Any] = {}
    for name in CONFIG_KEYS:
        value, where = cfg[name], f"{key}.{name}"
        if name in ("features", "confidence"):
            known = FEATURES if name == "features" else CONFIDENCE_KINDS
            if value not in known:
                raise ConfigError(where, f"must be one of {', '.join(known)}, got {value!r}")
            out[name] = str(value)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ConfigError(where, f"expected a number, got {type(value).__name__} {value!r}")
        if name in _INT_KEYS:
            if not float(value).is_integer() or int(value) < 1:
                raise ConfigError(where, f"expected an integer >= 1, got {value!r}")
            out[name] = int(value)
        else:
            v = float(value)
            if not math.isfinite(v) or v <= 0:
                raise ConfigError(where, f"must be finite and > 0, got {value!r}")
            out[name] = v
    return out


# ------------------------------------------------------------------------------------------------ confidence


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two bool masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def confidence_from_probability(fgp: np.ndarray, fg: np.ndarray, kind: str) -> np.ndarray:
    """Per-frame confidence float64 [T] >= 0 (module docstring) from the soft foreground fgp float [T, h, w] in
    [0, 1] (working resolution) and the PNG masks fg bool [T, H, W] (original resolution, for the area gate)."""
    if kind not in CONFIDENCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(CONFIDENCE_KINDS)}, got {kind!r}")
    fgp = np.asarray(fgp, dtype=np.float32)
    fg = np.asarray(fg, dtype=bool)
    if fgp.ndim != 3 or fg.ndim != 3 or len(fgp) != len(fg):
        raise ValueError(f"fgp [T, h, w] and fg [T, H, W] must cover the same frames, got {fgp.shape}, {fg.shape}")
    T = len(fgp)
    area = fg.reshape(T, -1).mean(axis=1)
    gate = ((area > 0) & (area <= MAX_AREA)).astype(np.float64)
    certainty = np.abs(2.0 * fgp.reshape(T, -1).astype(np.float64) - 1.0).mean(axis=1)
    m = fgp > 0.5
    agreement = np.ones(T)
    for t in range(T):
        nb = [_iou(m[t], m[u]) for u in (t - 1, t + 1) if 0 <= u < T]
        if nb:
            agreement[t] = float(np.mean(nb))
    value = {"certainty": certainty, "agreement": agreement, "product": certainty * agreement}[kind]
    return np.clip(value, 0.0, None) * gate


def frame_confidence(masks: MaskSet, work_hw: tuple[int, int], kind: str) -> np.ndarray:
    """GT-free per-frame confidence float64 [T] >= 0 of a mask directory's content (module docstring).

    masks: as read by :func:`motionseg.io.masks.read_mask_dir` (``fg`` bool [T, H, W], optional ``probs`` [T, K, h,
    w]); work_hw: (h, w) the working size the soft foreground is brought to; kind: one of
    :data:`CONFIDENCE_KINDS`. Frames with an empty mask, or one covering more than :data:`MAX_AREA` of the frame,
    get 0.
    """
    return confidence_from_probability(foreground_probability(masks, work_hw), masks.fg, kind)


# ------------------------------------------------------------------------------------------------ fusion


def compute_features(frames: np.ndarray, cfg: Mapping[str, Any], model_path: str | Path | None = None) -> np.ndarray:
    """Features float32 [T, C, h', w'] of uint8 working frames [T, h, w, 3] for the validated ``cfg``:
    :func:`lab_features` at 1/``lab_stride`` or :func:`dul_features` (1/8) of the snapshot ``model_path`` on the
    CPU."""
    if cfg["features"] == "lab":
        return lab_features(frames, int(cfg["lab_stride"]))
    if model_path is None:
        raise ConfigError(f"{CONFIG_KEY}.features", "features: dul needs a DUL snapshot (model_path)")
    from motionseg.dul.model import load_snapshot

    return dul_features(load_snapshot(model_path), frames)


def seed_propagations(features: np.ndarray | torch.Tensor, masks: np.ndarray, seeds: Sequence[int], *,
                      topk: int, context: int, radius: float, temperature: float,
                      progress: bool = False, desc: str = "propagate") -> dict[int, np.ndarray]:
    """``{seed: soft foreground float32 [T, h, w]}``: each seed frame's mask (``masks[seed]`` of bool [T, h, w])
    propagated to every frame (:func:`motionseg.propagate.fusion.propagate_from_seed`).

    features: float [T, C, h', w'] (any resolution; the result is upsampled to (h, w))."""
    from tqdm import tqdm

    feats = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features).float()
    kw = {"topk": int(topk), "context": int(context), "radius": float(radius), "temperature": float(temperature)}
    out = {}
    for s in tqdm(list(seeds), desc=desc, unit="seed", disable=not progress):
        out[int(s)] = propagate_from_seed(feats, masks[s], int(s), **kw)
    return out


# ------------------------------------------------------------------------------------------------ the stage


def run_gtfree_propagation(
    frames_npz: str | Path,
    mask_dir: str | Path,
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    model_path: str | None = None,
    progress: bool = True,
) -> None:
    """Rule entry point: GT-free propagation of the mask directory ``mask_dir`` on the ingested ``frames_npz``.

    cfg: the ``gtfree_propagation`` section (:func:`check_config`: ``features``, ``confidence``, ``n_seeds``, ``topk``,
    ``context``, ``radius``, ``temperature``, ``lab_stride``); model_path: a DUL snapshot
    (:func:`motionseg.dul.model.load_snapshot`), needed by ``features: dul`` (ConfigError otherwise). The masks'
    per-frame confidence (:func:`frame_confidence`, kind ``confidence``) picks the seeds, the features
    are computed on the working frames, and :func:`fuse_soft` gives the fused foreground at working resolution.

    Writes ``out_dir`` atomically as a complete mask directory: ``{frame}.png`` at original resolution (the fused
    probability upsampled bilinearly and thresholded at 0.5, :func:`motionseg.io.masks.fg_from_probs`),
    ``segments.npz`` with probabilities [T, 2, h, w] (bg, fg) at working resolution and flags [False, True], and
    ``meta.json`` = the input meta plus ``post: "prop"``, ``propagation`` (the validated cfg), ``confidence`` (one
    float per frame), ``confidence_rule``, ``seeds`` (frame indices, most confident first), ``source_mask_dir`` and
    ``probs_hw``. InputError naming ``mask_dir`` when its frames differ from the ingested ones (names, count or
    size). Deterministic: the same inputs give the same output.
    """
    p = check_config(cfg)
    if p["features"] == "dul" and model_path is None:
        raise ConfigError(f"{CONFIG_KEY}.features", "features: dul needs a DUL snapshot (model_path)")
    frames_npz, mask_dir = Path(frames_npz), Path(mask_dir)
    ing = load_ingested(frames_npz)
    masks = in_frame_order(read_mask_dir(mask_dir), list(ing.names), ing.orig_hw, mask_dir, frames_npz)
    work_hw = (int(ing.frames.shape[1]), int(ing.frames.shape[2]))
    fgp = foreground_probability(masks, work_hw)
    conf = confidence_from_probability(fgp, masks.fg, p["confidence"])
    seeds = seed_frames(conf, p["n_seeds"])
    feats = compute_features(ing.frames, p, model_path)
    props = seed_propagations(feats, fgp > 0.5, seeds, topk=p["topk"], context=p["context"], radius=p["radius"],
                              temperature=p["temperature"], progress=progress, desc=f"propagate {mask_dir.name}")
    fused = fuse_soft(fgp, conf, props, seeds)
    probs = np.stack([1.0 - fused, fused], axis=1)  # [T, 2, h, w]: bg, fg
    flags = np.array([False, True])
    fg = fg_from_probs(probs, flags, ing.orig_hw)
    meta = dict(masks.meta)
    meta.setdefault("method", mask_dir.parent.name)
    meta.setdefault("oracle", False)
    meta.update(post="prop", propagation=p, confidence=[float(c) for c in conf], confidence_rule=p["confidence"],
                seeds=[int(s) for s in seeds], source_mask_dir=str(mask_dir), probs_hw=list(work_hw))
    write_mask_dir(out_dir, list(ing.names), fg, probs, flags, meta)


__all__ = ["CONFIDENCE_KINDS", "CONFIG_KEY", "CONFIG_KEYS", "MAX_AREA", "check_config",
           "compute_features", "confidence_from_probability", "frame_confidence",
           "run_gtfree_propagation", "seed_propagations"]
