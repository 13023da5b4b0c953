"""Deliberately broken copies of synthetic sequences, for the bad-input tests and the stress benchmark.

Each kind damages one DAVIS-layout sequence in place in a way the readers must reject with an InputError naming the
file; :func:`corrupt_sequence` returns the path that the error message is expected to start with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# kind -> words the InputError message must contain
CORRUPTIONS: dict[str, str] = {
    "missing_frame": "missing frame in numbered run",
    "truncated_jpeg": "unreadable or truncated image",
    "garbage_frame": "unreadable or truncated image",
    "frame_size": "differs from",
    "mask_size": "differs from frame size",
    "empty": "empty sequence",
    "one_frame": "only one frame",
}


def _frames(root: Path, name: str) -> list[Path]:
    return sorted((root / "JPEGImages" / name).glob("*.jpg"))


def corrupt_sequence(root: str | Path, name: str, kind: str) -> Path:
    """Damage sequence ``name`` under the DAVIS-layout ``root`` in place; returns the file the error must name.

    kind: one of :data:`CORRUPTIONS` (the sequence needs >= 3 frames). ``mask_size`` breaks a GT mask (caught when
    GT is read, i.e. by evaluation); the others break the frames (caught by ingest).
    """
    root = Path(root)
    frames = _frames(root, name)
    if len(frames) < 3:
        raise ValueError(f"{root / 'JPEGImages' / name}: need >= 3 frames to corrupt, found {len(frames)}")
    if kind == "missing_frame":
        frames[1].unlink()
        return frames[1]
    if kind == "truncated_jpeg":
        data = frames[-1].read_bytes()
        frames[-1].write_bytes(data[: len(data) // 2])
        return frames[-1]
    if kind == "garbage_frame":
        frames[0].write_bytes(b"this is not an image")
        return frames[0]
    if kind == "frame_size":
        img = np.asarray(Image.open(frames[2]))
        Image.fromarray(np.ascontiguousarray(img[:-2])).save(frames[2], quality=95)
        return frames[2]
    if kind == "mask_size":
        mask = root / "Annotations" / name / f"{frames[1].stem}.png"
        m = np.asarray(Image.open(mask))
        Image.fromarray(np.ascontiguousarray(m[:, :-4])).save(mask)
        return mask
    if kind == "empty":
        for f in frames:
            f.unlink()
        return frames[0].parent
    if kind == "one_frame":
        for f in frames[1:]:
            f.unlink()
        for m in sorted((root / "Annotations" / name).glob("*.png"))[1:]:
            m.unlink()
        return frames[0]
    raise ValueError(f"unknown corruption kind {kind!r} (expected one of {', '.join(CORRUPTIONS)})")
