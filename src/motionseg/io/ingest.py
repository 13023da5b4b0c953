"""Frame ingest: read and validate one sequence, resize it to the working resolution, cache it as one npz file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionseg.flow.geometry import resize_frames, working_size
from motionseg.io.datasets import SequenceInfo, get_sequence, load_frames, reader_options
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, save_ingested

# Sequences at least this long show a progress bar while they are read.
PROGRESS_MIN_FRAMES = 50


def load_source_frames(ing: Ingested, frames_npz: str | Path) -> np.ndarray:
    """The original frames of an ingested sequence, re-read from the source files its manifest names.

    Used when a later stage wants more detail than the working resolution (``flow.compute_height`` above
    ``ingest.height``). Returns uint8 [T, H, W, 3] at ``ing.orig_hw``. InputError naming the file when a source is
    missing or unreadable, or when the sources no longer match what was ingested (frame count or size).
    """
    m = ing.manifest
    if not m.get("frames") and not m.get("video"):
        raise InputError(frames_npz, "its manifest names no source frames or video to re-read at full resolution")
    info = SequenceInfo(
        name=str(m.get("sequence", Path(frames_npz).stem)),
        layout=str(m.get("layout", "frames")),
        frame_names=list(ing.names),
        frame_paths=[Path(p) for p in m["frames"]] if m.get("frames") else None,
        video_path=Path(m["video"]) if m.get("video") else None,
    )
    frames = load_frames(info)
    src = info.video_path or (info.frame_paths[0] if info.frame_paths else frames_npz)
    if len(frames) != len(ing.names) or tuple(frames.shape[1:3]) != tuple(ing.orig_hw):
        raise InputError(src, f"source frames changed since ingest: {len(frames)} frames of "
                              f"{frames.shape[2]}x{frames.shape[1]}, ingested {len(ing.names)} of "
                              f"{ing.orig_hw[1]}x{ing.orig_hw[0]} (rerun the ingest rule)")
    return frames


def _manifest(dataset_cfg: dict, info: SequenceInfo, orig_hw: tuple[int, int], work_hw: tuple[int, int]) -> dict:
    def gt_str(v: Path | list[Path]) -> str | list[str]:
        return [str(p) for p in v] if isinstance(v, list) else str(v)

    return {
        "dataset": dataset_cfg["name"],
        "sequence": info.name,
        "layout": info.layout,
        "root": str(dataset_cfg["root"]),
        "frames": [str(p) for p in info.frame_paths] if info.frame_paths is not None else None,
        "video": str(info.video_path) if info.video_path is not None else None,
        "gt_paths": {name: gt_str(info.gt_paths[name]) for name in info.annotated},
        "gt_encoding": info.gt_encoding,
        "gt_threshold": info.gt_threshold,
        "annotated": list(info.annotated),
        "orig_hw": list(orig_hw),
        "working_hw": list(work_hw),
    }


def run_ingest(
    dataset_cfg: dict, sequence: str, out_path: str | Path, ingest_cfg: dict, fail: bool = False
) -> None:
    """Rule entry point: ingest ``sequence`` of ``dataset_cfg`` (name, layout, root) into ``out_path`` (npz).

    Frames are validated (see :func:`motionseg.io.datasets.load_frames`), resized to ``ingest_cfg["height"]`` rows
    (null = original size) and written atomically with the manifest (source paths, GT paths, annotated frames).
    ``fail=True`` (config key ``debug_fail_sequences``, for tests of failure handling) raises before reading anything.
    """
    if fail:
        raise InputError(
            Path(dataset_cfg["root"]) / sequence,
            "deliberate failure: this sequence is listed in config key 'debug_fail_sequences'",
        )
    info = get_sequence(dataset_cfg["root"], dataset_cfg["layout"], sequence, options=reader_options(dataset_cfg))
    frames = load_frames(info, progress=len(info.frame_names) >= PROGRESS_MIN_FRAMES)
    orig_hw = (int(frames.shape[1]), int(frames.shape[2]))
    work_hw = working_size(*orig_hw, ingest_cfg["height"])
    frames = resize_frames(frames, work_hw)
    save_ingested(
        out_path,
        Ingested(
            frames=frames,
            names=list(info.frame_names),
            orig_hw=orig_hw,
            manifest=_manifest(dataset_cfg, info, orig_hw, work_hw),
        ),
    )
