"""Per-sequence segmentation methods that need no training across sequences, and the motion helpers they share.

The methods are listed in :mod:`motionseg.registry` (one :class:`~motionseg.registry.MethodSpec` each, with the
``"module:function"`` it runs). bgfit (:mod:`.bgfit`), kmeans (:mod:`.kmeans`) and ClusterNet
(:mod:`motionseg.cluster.run`) share the helpers of this package: the flow source (:mod:`.flowsource`), the motion
evidence (:mod:`.evidence`), the refinement (:mod:`.refine`), and :func:`open_inputs` / :func:`write_result` below.
This package never imports :mod:`motionseg.cluster` (ClusterNet imports these helpers, not the other way round).
``method_cfg`` is :func:`method_config` of the validated config: what the method reads of its section (``bgfit``,
``kmeans`` or ``cluster``), with the shared ``evidence`` and ``refine`` sections nested in it where it reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, load_ingested
from motionseg.io.masks import fg_from_probs, write_mask_dir
from motionseg.methods.flowsource import FlowSource
from motionseg.registry import CLUSTER_KEY_GROUPS, spec
from motionseg.settings import Settings, typed


def method_config(config: Settings | dict, method: str) -> dict:
    """The settings one segment job of per-sequence ``method`` reads (its registry ``settings``) from the typed
    :class:`~motionseg.settings.Settings` (or the validated config dict): its section without the keys only other
    modes read, plus the shared sections it reads nested under their names; so an edit of one method's settings
    reruns only that method's jobs."""
    settings = spec(method).settings
    typed_config = typed(Settings, config)
    skip = set()
    if settings.section == "cluster":
        skip = {k for group, keys in CLUSTER_KEY_GROUPS.items() if group not in settings.groups for k in keys}
    section = getattr(typed_config, settings.section).to_dict()
    own = {k: v for k, v in section.items() if k not in skip}
    return {**own, **{k: getattr(typed_config, k).to_dict() for k in settings.shared}}


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


def gtfree_meta(method: str, seed: int, fg_rule: str, cfg: dict, **info: object) -> dict:
    """The ``meta.json`` of an offline GT-free method's mask directory: method, mode ``offline``, no oracle, the seed,
    the foreground rule in words, the job's config slice and method-specific counts ``info``."""
    return {"method": method, "mode": "offline", "oracle": False, "oracle_reason": None, "seed": seed,
            "fg_rule": fg_rule, "config": cfg, **info}


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
    """Segment one sequence with per-sequence ``method`` and write ``out_mask_dir`` (through the registry's dispatch,
    :func:`motionseg.registry.run_method`; this signature is for callers outside the workflow).

    frames_npz: ingested frames (docs/architecture.md); flow_dir: a flow directory with gap-1 forward and backward
    flow at working resolution; method_cfg: :func:`method_config` of the validated config; seed: global seed.
    """
    from motionseg.registry import run_method as dispatch

    if spec(method).kind != "per-sequence":
        raise ValueError(f"{method!r} is a trained method: it needs a model (motionseg.train.run_segment)")
    dispatch(method, {"frames": frames_npz, "flow": flow_dir}, out_mask_dir, method_cfg, seed)
