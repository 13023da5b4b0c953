"""Dataset aggregates of per-sequence score rows (the report calls :func:`aggregate`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from motionseg.metrics.columns import GROUP_COLUMNS
from motionseg.metrics.protocols import PROTOCOLS


def _group_stats(g: pd.DataFrame) -> dict[str, float | int]:
    """Aggregates of one group of per-sequence rows (see :func:`aggregate`)."""
    n = g["n_frames"].to_numpy(dtype=np.int64)
    objects = (g["n_objects"].to_numpy(dtype=np.int64) if "n_objects" in g.columns
               else np.ones(len(g), dtype=np.int64))
    valid = n > 0
    total = int(n.sum())
    pooled_w = (n * objects)[valid]  # object-frames
    out: dict[str, float | int] = {"n_sequences": int(len(g)), "n_scored_sequences": int(valid.sum()),
                                   "n_frames": total, "n_objects": int(objects[valid].sum())}
    if "n_missing" in g.columns:
        out["n_missing"] = int(g["n_missing"].sum())
    for m in ("J", "F"):
        for s in ("mean", "recall", "decay"):
            v = g[f"{m}_{s}"].to_numpy(dtype=np.float64)[valid]
            w = objects[valid][~np.isnan(v)]
            ok = v[~np.isnan(v)]
            out[f"{m}_{s}"] = float((ok * w).sum() / w.sum()) if ok.size else math.nan
        for s in ("mean", "recall"):
            v = g[f"{m}_{s}"].to_numpy(dtype=np.float64)[valid]
            out[f"{m}_{s}_pooled"] = float((v * pooled_w).sum() / pooled_w.sum()) if total else math.nan
    out["JF_mean"] = (out["J_mean"] + out["F_mean"]) / 2
    out["JF_mean_pooled"] = (out["J_mean_pooled"] + out["F_mean_pooled"]) / 2
    return out


def aggregate(per_sequence: pd.DataFrame, layouts: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Dataset-level aggregates of per-sequence score rows (columns of ``motionseg.metrics.SCORE_COLUMNS``).

    Groups by (dataset, flow, tracks, method, supervision, mode, post, protocol, selection, oracle); oracle and GT-free
    rows are never mixed, nor raw and post-processed (``post``) rows, nor supervised and unsupervised ones. Per group:

    - ``{J,F}_mean``, ``{J,F}_recall``, ``{J,F}_decay``: mean over sequences of the per-sequence values (the DAVIS
      convention; sequences with no scored frame, and NaN decays, are skipped), weighted by ``n_objects``, which is 1
      except for the multi-object protocol, where this is the official mean over all objects of all sequences;
      ``JF_mean`` = (J_mean + F_mean) / 2; ``n_objects`` the objects averaged over.
    - ``{J,F}_mean_pooled``, ``{J,F}_recall_pooled``, ``JF_mean_pooled``: the same over all scored frames pooled,
      computed from the per-sequence values weighted by ``n_frames`` (exact: a sequence mean / recall is a mean over
      its n_frames frames). Decay is per sequence only.
    - ``n_sequences``, ``n_scored_sequences`` (with at least one scored frame), ``n_frames`` (total scored frames).
    - ``paper_aggregate``: ``sequence`` or ``frame``, the aggregate the protocol's paper reports (for ``gwm`` it
      depends on the dataset layout, given by ``layouts`` {dataset: layout}; None when unknown).
    """
    if "post" not in per_sequence.columns:  # tables from before post-processing existed: raw masks only
        per_sequence = per_sequence.assign(post="none")
    if "supervision" not in per_sequence.columns:  # tables from before the column existed
        per_sequence = per_sequence.assign(supervision="unknown")
    missing = [c for c in GROUP_COLUMNS + ["n_frames", "J_mean", "F_mean"] if c not in per_sequence.columns]
    if missing:
        raise ValueError(f"per-sequence table lacks columns: {', '.join(missing)}")
    rows = []
    for key, g in per_sequence.groupby(GROUP_COLUMNS, dropna=False, sort=False):
        row = dict(zip(GROUP_COLUMNS, key, strict=True))
        row.update(_group_stats(g))
        proto = PROTOCOLS.get(str(row["protocol"]))
        layout = None if layouts is None else layouts.get(str(row["dataset"]))
        row["paper_aggregate"] = None if proto is None else proto.paper_aggregate(layout)
        rows.append(row)
    return pd.DataFrame(rows)
