"""Per-sequence segmentation methods that need no training across sequences.

``run_method(method, frames_npz, flow_dir, out_mask_dir, method_cfg, seed)`` is the one entry point the ``segment``
rule calls for every method in :data:`METHODS`; ``method_cfg`` is :func:`method_config` of the validated config: the method's
section (``bgfit``, ``kmeans`` or ``cluster``) with the shared ``evidence`` and ``refine`` sections nested in it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, load_ingested
from motionseg.io.masks import fg_from_probs, write_mask_dir
from motionseg.methods.flowsource import FlowSource

# name -> what the workflow needs to know to build the DAG
METHODS: dict[str, dict[str, bool]] = {
    "bgfit": {"uses_tracks": False, "oracle": False, "gpu": False},
    "kmeans": {"uses_tracks": False, "oracle": False, "gpu": False},
    "clusternet-online": {"uses_tracks": False, "oracle": False, "gpu": True},
    "clusternet-offline": {"uses_tracks": False, "oracle": False, "gpu": True},
    "clusternet-oracle": {"uses_tracks": False, "oracle": True, "gpu": True},
}

# method name -> config section it reads
CONFIG_SECTION: dict[str, str] = {
    "bgfit": "bgfit",
    "kmeans": "kmeans",
    "clusternet-online": "cluster",
    "clusternet-offline": "cluster",
    "clusternet-oracle": "cluster",
}


# config sections every evidence-based method reads besides its own (nested under these names)
SHARED_SECTIONS = ("evidence", "refine")


def method_config(config: dict, method: str) -> dict:
    """The config a per-sequence method runs with: its own section plus the shared ``evidence`` and ``refine``
    sections nested under those names (kmeans ignores them)."""
    return {**config[CONFIG_SECTION[method]], **{k: config[k] for k in SHARED_SECTIONS}}


def open_inputs(frames_npz: str | Path, flow_dir: str | Path) -> tuple[Ingested, FlowSource]:
    """Load the ingested frames and wrap the flow directory as a :class:`FlowSource`; checks T and (h, w) agree."""
    from motionseg.flow import (
        load_flow,  # imported here: the flow package is optional for the rest of this module
    )

    ing = load_ingested(frames_npz)
    T, h, w = ing.frames.shape[:3]
    if T < 2:
        raise InputError(frames_npz, f"sequence has {T} frame(s); motion methods need at least 2")
    fs = load_flow(flow_dir)
    fwd = fs.forward(1)
    if fwd.shape[0] != T - 1 or fwd.shape[1:3] != (h, w):
        raise InputError(
            flow_dir, f"gap-1 forward flow has shape {fwd.shape}, expected [{T - 1}, {h}, {w}, 2] for {frames_npz}"
        )
    return ing, FlowSource(fs, T, frames=ing.frames)


def write_result(
    out_mask_dir: str | Path,
    ing: Ingested,
    probs: np.ndarray,
    fg_segments: np.ndarray,
    meta: dict,
) -> None:
    """Write probs float [T, K, h, w] and the GT-free foreground (fg_segments bool [K]) as a mask directory."""
    fg = fg_from_probs(probs, fg_segments, ing.orig_hw)
    write_mask_dir(out_mask_dir, ing.names, fg, probs, fg_segments, meta)


def run_method(
    method: str,
    frames_npz: str | Path,
    flow_dir: str | Path,
    out_mask_dir: str | Path,
    method_cfg: dict,
    seed: int,
) -> None:
    """Segment one sequence with ``method`` (a key of :data:`METHODS`) and write ``out_mask_dir``.

    frames_npz: ingested frames (docs/architecture.md); flow_dir: a flow directory with gap-1 forward and backward
    flow at working resolution; method_cfg: :func:`method_config` of the validated config; seed: global seed.
    Only ``clusternet-oracle`` reads ground truth (``manifest['gt_paths']``) and its meta.json says ``oracle: true``.
    ``meta.json`` ``mode``: ``online`` (clusternet-online: causal), ``offline`` (bgfit, kmeans: they use the flow to
    t+1; clusternet-offline) or ``paper-oracle``. Probabilities are stored at the method's output size (the ingested
    frame size for bgfit and the GT-free ClusterNet modes, whose output is the GrabCut-refined mask; the internal size
    for kmeans and clusternet-oracle; ``meta['probs_hw']`` for ClusterNet); the PNG masks are at the original size.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    ing, src = open_inputs(frames_npz, flow_dir)
    if method == "bgfit":
        from motionseg.methods.bgfit import FG_RULE, bgfit_sequence

        probs, info = bgfit_sequence(src, method_cfg, seed)
        meta = {
            "method": method,
            "mode": "offline",
            "oracle": False,
            "oracle_reason": None,
            "seed": seed,
            "fg_rule": FG_RULE,
            "config": method_cfg,
            **info,
        }
        write_result(out_mask_dir, ing, probs, np.array([False, True]), meta)
    elif method == "kmeans":
        from motionseg.methods.kmeans import kmeans_sequence

        probs, fg_segments, meta = kmeans_sequence(src, method_cfg, seed)
        write_result(out_mask_dir, ing, probs, fg_segments, {"method": method, "seed": seed, **meta})
    else:
        from motionseg.cluster.run import run_clusternet

        mode = method.removeprefix("clusternet-")
        probs, fg_segments, meta = run_clusternet(src, ing, mode, method_cfg, seed, gt_source=frames_npz)
        write_result(out_mask_dir, ing, probs, fg_segments, {"method": method, "seed": seed, **meta})
