"""Per-sequence segmentation methods that need no training across sequences.

``run_method(method, frames_npz, flow_dir, out_mask_dir, method_cfg, seed)`` is the one entry point the ``segment``
rule calls for every method in :data:`METHODS`; ``method_cfg`` is :func:`method_config` of the validated config: what
the method reads of its section (``bgfit``, ``kmeans`` or ``cluster``), with the shared ``evidence`` and ``refine``
sections nested in it where it reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
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

# Keys of the ``cluster`` section that only some ClusterNet modes read (every mode reads the other keys).
CLUSTER_KEY_GROUPS: dict[str, tuple[str, ...]] = {
    # the causal schedule and colour memory: clusternet-online only
    "online": ("online_iters", "warmup_iters", "batch_frames", "colour_memory"),
    # whole-sequence pre-training and per-frame steps: clusternet-offline and clusternet-oracle
    "pretrained": ("pretrain_epochs", "pretrain_batch", "iters_per_frame"),
    # the GT-free foreground rule: the GT-free modes (the oracle takes the foreground from the GT)
    "gt_free_rule": ("fg_threshold", "fg_softness", "residual_weight", "pixel_weight", "temporal_weight"),
}


@dataclass(frozen=True)
class MethodSettings:
    """What a per-sequence method reads from the config: its ``section``, of a shared section (``cluster``) only
    the keys of ``groups`` besides the keys every mode reads (:data:`CLUSTER_KEY_GROUPS`), and the ``shared``
    sections nested under their own names (``evidence``, ``refine``)."""

    section: str
    groups: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()


METHOD_SETTINGS: dict[str, MethodSettings] = {
    "bgfit": MethodSettings("bgfit", shared=("evidence", "refine")),
    "kmeans": MethodSettings("kmeans"),
    "clusternet-online": MethodSettings("cluster", ("online", "gt_free_rule"), ("evidence", "refine")),
    "clusternet-offline": MethodSettings("cluster", ("pretrained", "gt_free_rule"), ("evidence", "refine")),
    "clusternet-oracle": MethodSettings("cluster", ("pretrained",)),
}


def method_config(config: dict, method: str) -> dict:
    """The settings one segment job of ``method`` reads (:data:`METHOD_SETTINGS`): its section without the keys
    only other modes read, plus the shared sections it reads nested under their names; so an edit of one method's
    settings reruns only that method's jobs."""
    spec = METHOD_SETTINGS[method]
    skip = set()
    if spec.section == "cluster":
        skip = {k for group, keys in CLUSTER_KEY_GROUPS.items() if group not in spec.groups for k in keys}
    own = {k: v for k, v in config[spec.section].items() if k not in skip}
    return {**own, **{k: config[k] for k in spec.shared}}


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
