"""Mask directories: GT-free foreground PNGs, K-segment probabilities and provenance (docs/architecture.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from motionseg.io.atomic import atomic_dir
from motionseg.io.datasets import MASK_ENCODING, read_mask
from motionseg.io.errors import InputError


@dataclass
class MaskSet:
    """Masks of one sequence.

    fg: bool [T, H, W] GT-free foreground at original resolution; probs: float32 [T, K, h, w] segment probabilities at
    working resolution (None when the method produced none); fg_segments: bool [K] segments the GT-free rule called
    foreground; names: frame names [T]; meta: provenance (method, mode, oracle, seed, fg_rule, ...).
    """

    fg: np.ndarray
    names: list[str]
    probs: np.ndarray | None = None
    fg_segments: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def write_mask_dir(
    out_dir: str | Path,
    names: list[str],
    fg: np.ndarray,
    probs: np.ndarray | None,
    fg_segments: np.ndarray | None,
    meta: dict,
) -> None:
    """Write a mask directory atomically.

    fg: bool [T, H, W] (original resolution); probs: float [T, K, h, w] in [0, 1] or None; fg_segments: bool [K] or
    None; meta must contain ``method`` and ``oracle`` (bool).
    """
    if fg.ndim != 3 or len(names) != fg.shape[0]:
        raise ValueError(f"fg must be [T,H,W] with T={len(names)}, got {fg.shape}")
    if "method" not in meta or "oracle" not in meta:
        raise ValueError("meta needs 'method' and 'oracle'")
    with atomic_dir(out_dir) as tmp:
        for name, m in zip(names, fg, strict=True):
            Image.fromarray((m.astype(bool) * 255).astype(np.uint8), mode="L").save(tmp / f"{name}.png")
        if probs is not None:
            q = np.clip(np.rint(np.asarray(probs, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
            seg = np.zeros(q.shape[1], dtype=np.uint8) if fg_segments is None else np.asarray(fg_segments, np.uint8)
            with open(tmp / "segments.npz", "wb") as fh:
                np.savez_compressed(fh, probs=q, fg=seg, names=np.asarray(names, dtype=str))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))


def read_mask_dir(mask_dir: str | Path, with_probs: bool = True) -> MaskSet:
    """Read a mask directory written by :func:`write_mask_dir` (or any folder of ``<frame>.png``), every PNG through
    :func:`motionseg.io.datasets.read_mask` with the official DAVIS rule (``MASK_ENCODING``: non-zero = foreground)."""
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise InputError(mask_dir, "mask directory does not exist")
    meta_path = mask_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    pngs = sorted(mask_dir.glob("*.png"))
    if not pngs:
        raise InputError(mask_dir, "no .png masks in mask directory")
    names = [p.stem for p in pngs]
    arrays: list[np.ndarray] = []
    for p in pngs:
        a = read_mask(p, MASK_ENCODING)
        if arrays and a.shape != arrays[0].shape:
            h0, w0 = arrays[0].shape[:2]
            raise InputError(p, f"mask is {a.shape[1]}x{a.shape[0]}, the others are {w0}x{h0}")
        arrays.append(a)
    fg = np.stack(arrays)
    probs = fg_segments = None
    seg_path = mask_dir / "segments.npz"
    if with_probs and seg_path.exists():
        with np.load(seg_path, allow_pickle=False) as z:
            probs = z["probs"].astype(np.float32) / 255.0
            fg_segments = z["fg"].astype(bool)
    return MaskSet(fg=fg, names=names, probs=probs, fg_segments=fg_segments, meta=meta)


def fg_from_probs(probs: np.ndarray, fg_segments: np.ndarray, orig_hw: tuple[int, int]) -> np.ndarray:
    """Foreground masks at original resolution from segment probabilities.

    probs: float [T, K, h, w] in [0, 1]; fg_segments: bool [K]; orig_hw: (H, W). The foreground probability (sum over
    foreground segments) is resized bilinearly to (H, W) and thresholded at 0.5. Returns bool [T, H, W].
    """
    import cv2

    fgp = np.asarray(probs, dtype=np.float32)[:, np.asarray(fg_segments, dtype=bool)].sum(axis=1)
    H, W = orig_hw
    out = np.empty((fgp.shape[0], H, W), dtype=bool)
    for t, p in enumerate(fgp):
        out[t] = cv2.resize(p, (W, H), interpolation=cv2.INTER_LINEAR) > 0.5
    return out
