"""The ingested-frames file: ``results/{dataset}/frames/{sequence}.npz`` (see docs/architecture.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionseg.io.atomic import atomic_path
from motionseg.io.errors import InputError


@dataclass
class Ingested:
    """Frames of one sequence at working resolution.

    frames: uint8 [T, h, w, 3] RGB; names: frame names [T] (no extension); orig_hw: original (H, W) in pixels;
    manifest: dataset, sequence, layout, source paths, GT paths and annotated frame names.
    """

    frames: np.ndarray
    names: list[str]
    orig_hw: tuple[int, int]
    manifest: dict = field(default_factory=dict)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """(sx, sy) = (W / w, H / h): original over working size in px. Coordinates move between the two only through
        :func:`motionseg.flow.geometry.scale_points` (pixel centres to pixel centres), never as ``x * sx``."""
        h, w = self.frames.shape[1:3]
        return self.orig_hw[1] / w, self.orig_hw[0] / h


def save_ingested(path: str | Path, ing: Ingested) -> None:
    """Write ``ing`` atomically to ``path`` (npz, compressed)."""
    if ing.frames.ndim != 4 or ing.frames.shape[-1] != 3 or ing.frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T,H,W,3], got {ing.frames.dtype} {ing.frames.shape}")
    if len(ing.names) != len(ing.frames):
        raise ValueError(f"{len(ing.names)} names for {len(ing.frames)} frames")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                frames=ing.frames,
                names=np.asarray(ing.names, dtype=str),
                orig_hw=np.asarray(ing.orig_hw, dtype=np.int64),
                manifest=np.asarray(json.dumps(ing.manifest)),
            )


def load_ingested(path: str | Path) -> Ingested:
    """Read an ingested-frames file written by :func:`save_ingested`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            frames = z["frames"]
            names = [str(n) for n in z["names"]]
            orig_hw = tuple(int(v) for v in z["orig_hw"])
            manifest = json.loads(str(z["manifest"]))
    except FileNotFoundError:
        raise InputError(path, "ingested frames file does not exist") from None
    except Exception as exc:  # zip/npz corruption or missing keys
        raise InputError(path, f"not a readable ingested-frames file ({exc})") from exc
    return Ingested(frames=frames, names=names, orig_hw=(orig_hw[0], orig_hw[1]), manifest=manifest)
