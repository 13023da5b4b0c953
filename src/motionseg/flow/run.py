"""The flow rule's entry point: ingested frames -> flow directory (forward and backward flow for every gap)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from motionseg.flow.backends import FlowBackend, get_backend
from motionseg.flow.config import validate_flow_config
from motionseg.flow.geometry import resize_flow, resize_frames, working_size
from motionseg.flow.store import STORAGES, VIS_NAME, FlowWriter
from motionseg.flow.viz import flow_to_rgb
from motionseg.io.atomic import atomic_dir
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import load_ingested


def flow_pairs(n_frames: int, gaps: list[int]) -> list[tuple[str, int, int, int, int]]:
    """All pairs to compute: (direction, gap, index, source frame, target frame).

    forward(g)[t] maps frame t to t+g; backward(g)[i] maps frame i+g to i.
    """
    pairs = []
    for gap in gaps:
        for t in range(n_frames - gap):
            pairs.append(("forward", gap, t, t, t + gap))
            pairs.append(("backward", gap, t, t + gap, t))
    return pairs


def _check_gaps(frames_npz: Path, gaps: list[int], n_frames: int) -> list[int]:
    """Validate gaps (positive, distinct, < n_frames); returns them sorted."""
    if not gaps:
        raise ConfigError("flow.gaps", "no flow gaps given")
    if any(int(g) != g or g < 1 for g in gaps) or len(set(gaps)) != len(gaps):
        raise ConfigError("flow.gaps", f"gaps must be distinct positive integers, got {gaps}")
    if max(gaps) >= n_frames:
        raise InputError(frames_npz, f"{n_frames} frames are too few for flow gap {max(gaps)}")
    return sorted(int(g) for g in gaps)


def visual_strip(frames: np.ndarray, flows: np.ndarray, max_height: int = 160) -> np.ndarray:
    """Frames uint8 [N, h, w, 3] over their colour-coded flows float [N, h, w, 2]: uint8 [2*h', N*w', 3].

    All flows share one colour scale (the largest magnitude among them); tiles are shrunk to ``max_height`` rows.
    """
    mag = np.sqrt((flows.astype(np.float32) ** 2).sum(-1))
    max_mag = float(mag[np.isfinite(mag)].max()) if np.isfinite(mag).any() else 1.0
    h, w = frames.shape[1:3]
    th = min(h, max_height)
    tw = max(1, int(round(w * th / h)))
    top = [cv2.resize(f, (tw, th), interpolation=cv2.INTER_AREA) for f in frames]
    # colour after shrinking (values unscaled: the shared max_mag sets the colour scale)
    bottom = [
        flow_to_rgb(cv2.resize(f.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA), max_mag) for f in flows
    ]
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)


def _package_version() -> str:
    try:
        return version("motionseg")
    except PackageNotFoundError:
        return "unknown"


def run_flow(
    frames_npz: str | Path,
    out_dir: str | Path,
    flow_cfg: dict,
    backend: str,
    gaps: list[int],
    *,
    seed: int | None = 0,
    threads: int | None = None,
    flow_backend: FlowBackend | None = None,
) -> None:
    """Compute forward and backward flow of every gap for one ingested sequence and write a flow directory.

    frames_npz: ``results/{dataset}/frames/{sequence}.npz``; out_dir: the flow directory (written atomically);
    flow_cfg: the validated ``flow`` config section, or what ``backend`` reads of it
    (:func:`motionseg.flow.config.backend_config`); backend: a backend name (``dis``, ``raft_large``, ...); gaps:
    positive frame gaps. ``seed`` seeds random weights (tests only; None where the backend reads none); ``threads``
    caps torch/OpenCV threads;
    ``flow_backend`` reuses an already built backend (benchmarks, tests). Flow is stored at the frames' working
    resolution (h, w), in pixels of that resolution, after computing it at ``flow.compute_height`` rows (from the
    original frames, re-read from the sources the manifest names, when that is finer than the working frames).
    """
    frames_npz = Path(frames_npz)
    storage = flow_cfg["storage"]
    if storage not in STORAGES:
        raise ConfigError("flow.storage", f"unknown storage '{storage}' (use {', '.join(STORAGES)})")
    ing = load_ingested(frames_npz)
    frames = ing.frames
    n_frames, h, w = frames.shape[:3]
    gaps = _check_gaps(frames_npz, list(gaps), n_frames)
    validate_flow_config(flow_cfg, [backend])
    if threads is not None:
        torch.set_num_threads(int(threads))
        cv2.setNumThreads(int(threads))
    fb = flow_backend if flow_backend is not None else get_backend(backend, flow_cfg, seed=seed or 0)
    # compute_height equal to the stored rows keeps the stored size (no resampling for a rounded width)
    compute_height = flow_cfg["compute_height"]
    compute_hw = (h, w) if compute_height in (None, h) else working_size(h, w, compute_height)
    if compute_hw[0] > h and h < ing.orig_hw[0]:
        # finer than the ingested frames: compute on the original frames, not on upsampled working frames
        from motionseg.io.ingest import load_source_frames

        frames_c = resize_frames(load_source_frames(ing, frames_npz), compute_hw)
    else:
        frames_c = resize_frames(frames, compute_hw)

    pairs = flow_pairs(n_frames, gaps)
    n_vis = min(int(flow_cfg["vis_frames"]), n_frames - gaps[0])
    vis_idx = sorted(set(np.linspace(0, n_frames - gaps[0] - 1, n_vis).round().astype(int).tolist()))
    vis_flows: dict[int, np.ndarray] = {}
    batch_size = int(flow_cfg["batch_size"])
    sequence = ing.manifest.get("sequence", frames_npz.stem)

    with atomic_dir(out_dir) as tmp, FlowWriter(tmp, storage, ing.names, gaps, (h, w)) as writer:
        with tqdm(total=len(pairs), desc=f"flow {backend} {sequence}", unit="pair") as bar:
            for start in range(0, len(pairs), batch_size):
                chunk = pairs[start : start + batch_size]
                src = frames_c[[p[3] for p in chunk]]
                dst = frames_c[[p[4] for p in chunk]]
                flows = fb.compute(src, dst)
                if compute_hw != (h, w):
                    flows = resize_flow(flows, (h, w))
                for (direction, gap, index, _, _), flow in zip(chunk, flows, strict=True):
                    writer.put(direction, gap, index, flow)
                    if direction == "forward" and gap == gaps[0] and index in vis_idx:
                        vis_flows[index] = flow
                bar.update(len(chunk))
        strip = visual_strip(frames[vis_idx], np.stack([vis_flows[i] for i in vis_idx]))
        Image.fromarray(strip).save(tmp / VIS_NAME)
        meta = {
            **fb.describe(),
            "backend": backend,
            "options": _backend_options(flow_cfg, backend),
            "working_hw": [h, w],
            "compute_hw": list(compute_hw),
            "orig_hw": list(ing.orig_hw),
            "gaps": gaps,
            "storage": storage,
            "dtype": "float16" if storage == "npz" else "float32",
            "names": list(ing.names),
            "n_frames": n_frames,
            "sequence": sequence,
            "dataset": ing.manifest.get("dataset"),
            "frames_npz": str(frames_npz),
            "visualisation": VIS_NAME,
            "vis_frames": [ing.names[i] for i in vis_idx],
            "seed": seed if fb.random_weights else None,
            "motionseg_version": _package_version(),
        }
        writer.finish(meta)


def _backend_options(flow_cfg: dict, backend: str) -> dict:
    """The config sub-section that parametrises ``backend`` (recorded in meta.json)."""
    if backend.startswith("ptlflow:"):
        return {"model": backend.split(":", 1)[1]}
    return dict(flow_cfg.get(backend, {}))
