"""The semi-supervised task as a workflow step: the first annotated frame's GT objects are given and propagated
through the sequence by one of three label sources (rule ``propagate``, :func:`run_semisup`).

Sources (``semisup.sources``):

- ``lab``: :func:`motionseg.propagate.propagate_labels` on :func:`lab_features` of the ingested (working-size) frames,
  weight-free;
- ``dul``: the same propagation on the ``res4`` features of a DUL network (:mod:`motionseg.dul`; trained by rule
  ``train_dul`` or a released snapshot named by ``dul.snapshot``);
- ``flow-<id>``: :func:`motionseg.propagate.propagate_by_flow` chaining the forward gap-1 flow of the configured flow
  backend ``<id>`` (e.g. ``flow-dis``), weight-free; ``flow`` in the config stands for every configured backend.

Frames before the first annotated one are predicted empty (the protocol never scores them). Predictions are instance
PNGs (ids 0..N, :func:`motionseg.io.instances.write_instance_dir`) at the annotation size, named like the frames.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motionseg.io.errors import ConfigError, InputError

log = logging.getLogger(__name__)

FEATURE_SOURCES = ("lab", "dul")
FLOW_PREFIX = "flow-"
VOID = 255


def check_source(source: str, flows: list[str] | tuple[str, ...] | None = None) -> str:
    """``source`` if it names a label source (``lab``, ``dul``, ``flow``: every configured flow backend, or
    ``flow-<id>`` with ``<id>`` among ``flows`` when given), else ConfigError naming ``semisup.sources``."""
    if source in FEATURE_SOURCES or source == "flow":
        return source
    if source.startswith(FLOW_PREFIX) and len(source) > len(FLOW_PREFIX):
        flow = source[len(FLOW_PREFIX):]
        if flows is not None and flow not in flows:
            raise ConfigError("semisup.sources", f"{source!r} needs the flow backend {flow!r} in flow.backends "
                                                 f"(configured: {', '.join(flows) or 'none'})")
        return source
    raise ConfigError("semisup.sources", f"unknown source {source!r}; known: lab, dul, flow (every flow backend), "
                                         "flow-<flow id> (e.g. flow-dis)")


def propagation_params(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``propagation`` section checked (:class:`motionseg.settings.PropagationSettings`: ConfigError naming a
    missing or unknown key, then the ranges), returned as ``{topk: int, context: int, radius: float, temperature:
    float, lab_stride: int}``."""
    from motionseg.settings import PropagationSettings

    s = PropagationSettings.from_dict(dict(cfg))  # ConfigError naming a missing or unknown key
    out = {"topk": int(s.topk), "context": int(s.context), "radius": float(s.radius),
           "temperature": float(s.temperature), "lab_stride": int(s.lab_stride)}
    for k in ("topk", "context", "lab_stride"):
        if out[k] < 1:
            raise ConfigError(f"propagation.{k}", f"must be >= 1, got {out[k]}")
    for k in ("radius", "temperature"):
        if not out[k] > 0:
            raise ConfigError(f"propagation.{k}", f"must be > 0, got {out[k]}")
    return out


def first_frame_labels(gt_ids: Mapping[str, np.ndarray], annotated: list[str]) -> tuple[str, np.ndarray]:
    """(name, ids) of the first annotated frame: uint8 [H, W] object ids 1..N, void (255) set to background."""
    if not annotated:
        raise ValueError("the sequence has no annotated frame")
    first = annotated[0]
    ids = np.asarray(gt_ids[first]).copy()
    ids[ids == VOID] = 0
    return first, ids.astype(np.uint8)


def propagate_sequence(source: str, frames: np.ndarray, first_ids: np.ndarray, cfg: Mapping[str, Any], *,
                       flow_fwd: np.ndarray | None = None, model: Any = None) -> np.ndarray:
    """Labels uint8 [T, H, W] of frames ``frames`` (uint8 [T, h, w, 3], working size, frame 0 = the annotated one)
    propagated from ``first_ids`` (uint8 [H, W] at annotation size) by ``source``; ``cfg``:
    :func:`propagation_params`; ``flow_fwd``: float [T-1, h, w, 2] for ``flow-*``; ``model``: a DUL model for
    ``dul``. Frame 0 is ``first_ids`` itself."""
    from motionseg.propagate import dul_features, lab_features, propagate_by_flow, propagate_labels

    knn = {k: cfg[k] for k in ("topk", "context", "radius", "temperature")}
    if source == "lab":
        out = propagate_labels(lab_features(frames, int(cfg["lab_stride"])), first_ids, **knn)
    elif source == "dul":
        if model is None:
            raise ValueError("source dul needs a DUL model")
        out = propagate_labels(dul_features(model, frames), first_ids, **knn)
    elif source.startswith(FLOW_PREFIX):
        if flow_fwd is None:
            raise ValueError(f"source {source} needs the forward flow")
        out = propagate_by_flow(flow_fwd, first_ids)
    else:
        raise ConfigError("semisup.sources", f"unknown source {source!r}")
    return np.asarray(out).astype(np.uint8)


def run_semisup(frames_npz: str | Path, dataset_cfg: Mapping[str, Any], sequence: str, source: str,
                out_dir: str | Path, cfg: Mapping[str, Any], *, flow_dir: str | Path | None = None,
                model_path: str | Path | None = None) -> None:
    """Rule ``propagate``: semi-supervised predictions of one sequence written atomically to ``out_dir``.

    frames_npz: the ingested frames (working size); dataset_cfg: the dataset's ``layout``, ``root`` and reader
    options (GT read with :func:`motionseg.io.datasets.load_gt_instances`); source: see the module docstring; cfg:
    the ``propagation`` section; flow_dir: the sequence's flow directory (``flow-*``); model_path: DUL snapshot
    (``dul``). Writes ``<frame>.png`` instance maps (uint8 ids, annotation size) for every frame and
    ``instances.json`` with ``task: semi-supervised``, the source, the first frame and the settings. InputError
    naming the file when the sequence has no annotated frame or its frames differ from the ingested ones.
    """
    from motionseg.io.datasets import get_sequence, load_gt_instances, reader_options
    from motionseg.io.ingest_format import load_ingested
    from motionseg.io.instances import write_instance_dir

    p = propagation_params(cfg)
    check_source(source)
    info = get_sequence(dataset_cfg["root"], dataset_cfg["layout"], sequence, options=reader_options(dataset_cfg))
    if not info.annotated:
        raise InputError(dataset_cfg["root"], f"sequence {sequence!r} has no annotated frame: the semi-supervised "
                                              "task needs the first one")
    ing = load_ingested(frames_npz)
    names = list(ing.names)
    if names != list(info.frame_names):
        raise InputError(frames_npz, f"its {len(names)} frames differ from the {len(info.frame_names)} frames of "
                                     f"sequence {sequence!r} under {dataset_cfg['root']}")
    first, first_ids = first_frame_labels(load_gt_instances(info, [info.annotated[0]]), info.annotated)
    if first_ids.shape != tuple(ing.orig_hw):
        raise InputError(info.gt_paths[first] if not isinstance(info.gt_paths[first], list) else
                         info.gt_paths[first][0], f"mask is {first_ids.shape[1]}x{first_ids.shape[0]}, the frames "
                                                  f"are {ing.orig_hw[1]}x{ing.orig_hw[0]}")
    t0 = names.index(first)
    flow_fwd = model = None
    if source.startswith(FLOW_PREFIX):
        from motionseg.flow.store import load_flow

        if flow_dir is None:
            raise ConfigError("semisup.sources", f"{source} needs the sequence's flow directory")
        fs = load_flow(flow_dir)
        if list(fs.names) != names:
            raise InputError(flow_dir, f"flow frames differ from the {len(names)} ingested frames of {frames_npz}")
        flow_fwd = fs.forward(1)[t0:]
    elif source == "dul":
        from motionseg.dul.model import load_snapshot

        if model_path is None:
            raise ConfigError("dul.snapshot", "source dul needs a DUL snapshot (rule train_dul or dul.snapshot)")
        model = load_snapshot(model_path)
    log.info("propagating %d objects of frame %s through %d frames (%s)", int(first_ids.max()), first,
             len(names) - t0, source)
    ids = np.zeros((len(names), *first_ids.shape), dtype=np.uint8)
    ids[t0:] = propagate_sequence(source, ing.frames[t0:], first_ids, p, flow_fwd=flow_fwd, model=model)
    meta = {"task": "semi-supervised", "source": source, "sequence": sequence, "first_frame": first,
            "n_objects": int(first_ids.max()), "propagation": p,
            "model": str(model_path) if model_path is not None else None}
    write_instance_dir(out_dir, names, ids, meta)


__all__ = ["FEATURE_SOURCES", "FLOW_PREFIX", "check_source", "first_frame_labels",
           "propagate_sequence", "propagation_params", "run_semisup"]
