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

In the workflow this is method ``combine`` (:func:`run_method`, rule ``segment``): its job reads the mask directories
of the components named in ``combine.methods`` (each a method of the run, optionally ``+crf`` / ``+prop``: its
post-processed masks) and writes one mask directory, scored like any method's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from motionseg.io.errors import InputError
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import fg_from_probs, read_mask_dir, write_mask_dir
from motionseg.methods import gtfree_meta
from motionseg.post.crf import foreground_probability, in_frame_order
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


def run_combine(frames_npz: str | Path, mask_dirs: Sequence[str | Path], components: Sequence[str], rule: str,
                out_dir: str | Path, seed: int = 0) -> None:
    """Combine the mask directories ``mask_dirs`` of one sequence (``components``: their names, same order) by
    ``rule`` and write ``out_dir`` atomically as a complete mask directory.

    Each directory's soft foreground is brought to the working size of the ingested ``frames_npz``
    (:func:`motionseg.post.crf.foreground_probability`), the M of them are combined per frame (:func:`combine`) and the
    result is written as ``{frame}.png`` (original resolution, threshold 0.5), ``segments.npz`` (probabilities
    [bg, fg] at working resolution, flags [0, 1]) and ``meta.json`` (method ``combine``, mode ``offline``, oracle
    false, ``config`` = the components and the rule, and per frame the component chosen: ``null`` under ``mean``).
    InputError naming the directory when one's frames are not the ingested ones or it is an oracle's (a combination
    stays GT-free). ``seed`` is recorded only: nothing here is random.
    """
    if len(mask_dirs) != len(components) or len(components) < 2:
        raise ValueError(f"need one mask directory per component and at least 2, got {len(mask_dirs)} directories "
                         f"for {list(components)}")
    frames_npz = Path(frames_npz)
    ing = load_ingested(frames_npz)
    work_hw = (int(ing.frames.shape[1]), int(ing.frames.shape[2]))
    fgps = []
    for d in map(Path, mask_dirs):
        masks = in_frame_order(read_mask_dir(d), list(ing.names), ing.orig_hw, d, frames_npz)
        if masks.meta.get("oracle"):
            raise InputError(d / "meta.json", "an oracle's masks (oracle: true) cannot be combined GT-free")
        fgps.append(foreground_probability(masks, work_hw))
    comb, choice = combine(np.stack(fgps), rule)
    probs = np.stack([1.0 - comb, comb], axis=1)  # [T, 2, h, w]: bg, fg
    flags = np.array([False, True])
    fg_rule = f"per frame, {rule} of the components' soft foregrounds (motionseg.post.combine), threshold 0.5"
    meta = gtfree_meta("combine", int(seed), fg_rule, {"methods": list(components), "rule": rule},
                       component_dirs=[str(d) for d in mask_dirs], probs_hw=list(work_hw),
                       chosen=[None if c < 0 else components[c] for c in choice.tolist()])
    write_mask_dir(out_dir, list(ing.names), fg_from_probs(probs, flags, ing.orig_hw), probs, flags, meta)


def run_method(method: str, inputs: Mapping[str, object], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry entry of method ``combine`` (rule ``segment``): inputs ``frames`` (ingested npz) and ``components``
    (the components' mask directories, in the order of ``cfg["methods"]``); cfg: the ``combine`` section."""
    dirs = inputs["components"]
    dirs = [dirs] if isinstance(dirs, (str, Path)) else list(dirs)
    run_combine(inputs["frames"], dirs, list(cfg["methods"]), str(cfg["rule"]), out_mask_dir, seed)
