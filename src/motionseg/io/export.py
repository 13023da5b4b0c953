"""Per-frame files of one mask directory for use outside motionseg (rule ``export``; config section ``export``).

``run_export(mask_dir, out_dir, segments, probs)`` writes, atomically, into ``out_dir``:

- ``segments/<frame>.png``: the K-segment label map, ``P`` (palette) PNG at the masks' original resolution; pixel
  value k = the most likely segment (argmax over the K probabilities of ``segments.npz``, resized nearest);
- ``probs/<frame>.png``: the soft foreground probability (sum of the segments the GT-free rule called foreground),
  resized bilinearly to the original resolution, x255 as an ``L`` PNG;
- ``export.json``: what was written (``segments``/``probs``: number of files, or the reason there are none).

Frame names are those of the mask directory, i.e. of the input frames (``00000`` ... for videos).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from motionseg.io.atomic import atomic_dir
from motionseg.io.errors import InputError
from motionseg.io.masks import read_mask_dir

# Colours of segment indices 0, 1, 2, ... in the palette PNGs (DAVIS-like: black, red, green, yellow, blue, ...).
_BASE_COLOURS = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128),
                 (128, 128, 128), (64, 0, 0), (192, 0, 0), (64, 128, 0), (192, 128, 0), (64, 0, 128), (192, 0, 128),
                 (64, 128, 128), (192, 128, 128)]


def segment_palette() -> list[int]:
    """Flat 768-entry RGB palette for the label PNGs: 16 distinct colours, then grey for higher indices."""
    colours = _BASE_COLOURS + [(i, i, i) for i in range(len(_BASE_COLOURS), 256)]
    return [c for rgb in colours for c in rgb]


def segment_labels(probs: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Most likely segment per pixel: probs float [T, K, h, w] -> uint8 [T, H, W] at ``hw`` = (H, W), nearest."""
    if probs.ndim != 4 or probs.shape[1] > 256:
        raise ValueError(f"probs must be [T, K<=256, h, w], got {probs.shape}")
    labels = np.argmax(probs, axis=1).astype(np.uint8)
    H, W = hw
    return np.stack([cv2.resize(lab, (W, H), interpolation=cv2.INTER_NEAREST) for lab in labels])


def foreground_probability(probs: np.ndarray, fg_segments: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Soft foreground: probs float [T, K, h, w], fg_segments bool [K] -> float32 [T, H, W] in [0, 1] (bilinear)."""
    fgp = np.asarray(probs, dtype=np.float32)[:, np.asarray(fg_segments, dtype=bool)].sum(axis=1)
    H, W = hw
    return np.clip(np.stack([cv2.resize(p, (W, H), interpolation=cv2.INTER_LINEAR) for p in fgp]), 0.0, 1.0)


def run_export(mask_dir: str | Path, out_dir: str | Path, segments: bool = True, probs: bool = False) -> dict:
    """Write the export directory of one mask directory (module docstring); returns the ``export.json`` content.

    A mask directory without ``segments.npz`` gets no ``segments/`` or ``probs/`` (``export.json`` says so); one
    whose ``segments.npz`` names other frames than its PNGs is an InputError naming it.
    """
    masks = read_mask_dir(mask_dir, with_probs=segments or probs)
    hw = masks.fg.shape[1:3]
    report: dict = {"mask_dir": str(mask_dir), "frames": len(masks.names), "height": hw[0], "width": hw[1]}
    if masks.probs is not None and len(masks.probs) != len(masks.names):
        raise InputError(Path(mask_dir) / "segments.npz", f"{len(masks.probs)} frames of probabilities, "
                                                          f"{len(masks.names)} mask PNGs")
    with atomic_dir(out_dir) as tmp:
        for key, wanted in (("segments", segments), ("probs", probs)):
            if not wanted:
                report[key] = "not requested (config export.%s: false)" % key
            elif masks.probs is None:
                report[key] = f"none: the method wrote no segment probabilities ({Path(mask_dir) / 'segments.npz'})"
        if segments and masks.probs is not None:
            (tmp / "segments").mkdir()
            palette = segment_palette()
            for name, lab in zip(masks.names, segment_labels(masks.probs, hw), strict=True):
                img = Image.fromarray(lab, mode="P")
                img.putpalette(palette)
                img.save(tmp / "segments" / f"{name}.png")
            report["segments"] = len(masks.names)
            report["n_segments"] = int(masks.probs.shape[1])
        if probs and masks.probs is not None:
            (tmp / "probs").mkdir()
            fgp = foreground_probability(masks.probs, masks.fg_segments, hw)
            for name, p in zip(masks.names, fgp, strict=True):
                Image.fromarray(np.rint(p * 255).astype(np.uint8), mode="L").save(tmp / "probs" / f"{name}.png")
            report["probs"] = len(masks.names)
        (tmp / "export.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return report
