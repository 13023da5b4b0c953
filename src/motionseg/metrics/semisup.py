"""The DAVIS-2017 semi-supervised protocol: the first frame's GT objects are given, prediction id k is object k.

Facts of the official evaluator (davisvideochallenge/davis2017-evaluation, ``davis2017/``) reproduced here, with
the per-frame J and F of :mod:`motionseg.metrics.jf` and the object count of :mod:`motionseg.metrics.multiobject`:

- Frames (``evaluation.py``, ``evaluate``): the first and the last annotated frame are not scored
  (``all_gt_masks[:, 1:-1]``, ``all_masks_id[1:-1]``); every other annotated frame is.
- Objects (``davis.py``, ``get_all_masks``): void pixels (255) are set to 0 (background) and the objects are the ids
  1..N with N = the largest id of the *first* annotated frame (an id <= N absent from a frame is an empty object
  there; a larger id is background). Void pixels are then *not* excluded from J and F: the semi-supervised branch
  passes ``None`` as the void mask (``_evaluate_semisupervised(..., None, metric)``), so a void pixel counts as
  background of the GT.
- Predictions (``results.py``, ``read_masks``; ``_evaluate_semisupervised``): no assignment, id k is object k; ids
  above N are refused (the official code exits: "an index higher than the number of objects"), a missing id is an
  empty prediction (zero padding), a missing frame is refused (the official code exits too).
- Statistics (``utils.db_statistics``): per object, mean / recall (> 0.5) / decay of the J and F sequences, with the
  official decay bins (``decay="official"``; both modes agree up to 255 frames). The sequence's figures here are
  means over its objects; the benchmark's J&F is ``(mean J_mean + mean F_mean) / 2`` over *all objects of all
  sequences* (``evaluation_method.py``), i.e. :func:`motionseg.metrics.multiobject.dataset_aggregate` of the rows of
  :func:`semisup_rows`, which weights each sequence by its ``n_objects``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motionseg.metrics.columns import KEY_COLUMNS, METRIC_COLUMNS
from motionseg.metrics.jf import DECAY_MODES, frame_jf, sequence_stats
from motionseg.metrics.multiobject import VOID, count_objects, dataset_aggregate


def score_semisupervised(
    gt_ids: Mapping[str, np.ndarray],
    pred_ids: Mapping[str, np.ndarray],
    frames: Sequence[str],
    *,
    bound_th: float = 0.008,
    decay: str = "official",
) -> dict[str, Any]:
    """Score one sequence with the semi-supervised protocol (module docstring).

    gt_ids: frame -> uint8 [H, W] GT ids (0 background, 1..N objects, 255 void); pred_ids: frame -> integer [H, W]
    predicted ids (0 background, k = object k); frames: ALL annotated frames of the sequence in temporal order (the
    first and the last are dropped here; at least 3 are needed). Returns a dict:

    - ``frames``: the scored frame names [n] (``frames[1:-1]``); ``n_frames``; ``n_objects`` (N);
    - ``J``, ``F``: float64 [N, n] per object and frame (J, F in [0, 1]);
    - ``objects``: one dict per object ``{"object": id, J_mean, J_recall, J_decay, F_mean, F_recall, F_decay}``;
    - the six statistics as means over the objects (NaN without objects) and ``J&F`` = (J_mean + F_mean) / 2.

    Raises ValueError for fewer than 3 frames, a frame missing from ``gt_ids`` or ``pred_ids``, mismatched sizes or
    predicted ids outside 0..N (what the official evaluator refuses).
    """
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {', '.join(DECAY_MODES)}, got {decay!r}")
    frames = list(frames)
    if len(frames) < 3:
        raise ValueError(f"the semi-supervised protocol drops the first and the last frame: need >= 3, got "
                         f"{len(frames)}")
    absent = [n for n in frames if n not in gt_ids]
    if absent:
        raise ValueError(f"{len(absent)} frame(s) have no GT, first: {absent[0]!r}")
    n_obj = count_objects(gt_ids, frames, "first-frame")
    scored = frames[1:-1]
    missing = [n for n in scored if n not in pred_ids]
    if missing:
        raise ValueError(f"{len(missing)} scored frame(s) have no prediction, first: {missing[0]!r}")
    shape = np.asarray(gt_ids[frames[0]]).shape
    J = np.zeros((n_obj, len(scored)))
    F = np.zeros((n_obj, len(scored)))
    for i, name in enumerate(scored):
        g = np.asarray(gt_ids[name])
        p = np.asarray(pred_ids[name])
        if g.ndim != 2 or g.shape != shape or p.shape != shape:
            raise ValueError(f"frame {name!r}: GT {g.shape} and prediction {p.shape} must both be {shape}")
        if p.size and (int(p.min()) < 0 or int(p.max()) > n_obj):
            raise ValueError(f"frame {name!r}: predicted ids must lie in 0..{n_obj} (the GT objects of the first "
                             f"frame), got {int(p.min())}..{int(p.max())}")
        g = np.where(g == VOID, 0, g)
        for o in range(n_obj):
            J[o, i], F[o, i], _ = frame_jf(g == o + 1, p == o + 1, None, bound_th)
    stats = np.array([[*sequence_stats(J[o], decay), *sequence_stats(F[o], decay)]  # type: ignore[arg-type]
                      for o in range(n_obj)], dtype=np.float64).reshape(n_obj, 6)
    out: dict[str, Any] = {"frames": scored, "n_frames": len(scored), "n_objects": n_obj, "J": J, "F": F,
                           "objects": [{"object": o + 1, **dict(zip(METRIC_COLUMNS, map(float, stats[o]),
                                                                     strict=True))} for o in range(n_obj)]}
    for i, c in enumerate(METRIC_COLUMNS):
        out[c] = float(np.mean(stats[:, i])) if n_obj else math.nan
    out["J&F"] = (out["J_mean"] + out["F_mean"]) / 2
    return out


def semisup_rows(result: Mapping[str, Any], keys: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The score row of one sequence: ``keys`` (:data:`KEY_COLUMNS` first), the six object-mean statistics,
    ``n_frames``, ``n_objects`` (the weight of the row in :func:`semisup_aggregate`) and ``n_missing`` (0)."""
    row: dict[str, Any] = {c: keys[c] for c in KEY_COLUMNS if c in keys}
    row.update({k: v for k, v in keys.items() if k not in row})
    for c in METRIC_COLUMNS:
        row[c] = result[c]
    row["n_frames"] = result["n_frames"]
    row["n_objects"] = result["n_objects"]
    row["n_missing"] = 0  # the protocol refuses missing frames
    return [row]


# the rows the workflow writes (rule evaluate_semisup) and the report reads; never mixed with SCORE_COLUMNS rows
TASK = "semi-supervised"
PROTOCOL = "davis2017-semi"
SEMISUP_KEY_COLUMNS: list[str] = ["task", "dataset", "sequence", "source", "protocol"]
SEMISUP_COLUMNS: list[str] = [*SEMISUP_KEY_COLUMNS, *METRIC_COLUMNS, "J&F", "n_frames", "n_objects"]


def run_evaluate_semisup(pred_dir: str | Path, dataset_cfg: Mapping[str, Any], sequence: str, source: str,
                         out_csv: str | Path, *, bound_th: float = 0.008, decay: str = "official") -> None:
    """Rule ``evaluate_semisup``: score one sequence's semi-supervised predictions (instance PNGs of rule
    ``propagate``) against every annotated frame's GT ids (:func:`motionseg.io.datasets.load_gt_instances`) with
    :func:`score_semisupervised`, and write one row of :data:`SEMISUP_COLUMNS` (``task=semi-supervised``, protocol
    ``davis2017-semi``) atomically to ``out_csv``. InputError naming the folder when a scored frame has no
    prediction or an id is out of range."""
    import pandas as pd

    from motionseg.io.atomic import atomic_path
    from motionseg.io.datasets import get_sequence, load_gt_instances, reader_options
    from motionseg.io.errors import InputError
    from motionseg.io.instances import read_instance_pngs

    info = get_sequence(dataset_cfg["root"], dataset_cfg["layout"], sequence, options=reader_options(dataset_cfg))
    gt = load_gt_instances(info)
    preds = read_instance_pngs(pred_dir, max_proposals=255)
    try:
        res = score_semisupervised(gt, preds, list(info.annotated), bound_th=bound_th, decay=decay)
    except ValueError as exc:
        raise InputError(pred_dir, str(exc)) from None
    row = {"task": TASK, "dataset": dataset_cfg.get("name", ""), "sequence": sequence, "source": source,
           "protocol": PROTOCOL, **{c: res[c] for c in METRIC_COLUMNS}, "J&F": res["J&F"],
           "n_frames": res["n_frames"], "n_objects": res["n_objects"]}
    with atomic_path(out_csv) as tmp:
        pd.DataFrame([row], columns=SEMISUP_COLUMNS).to_csv(tmp, index=False)


def semisup_summary(per_sequence: Any) -> Any:
    """Dataset figures of semi-supervised rows (a DataFrame of :data:`SEMISUP_COLUMNS`): one row per (dataset,
    source) with the six statistics averaged over all objects of all sequences (the official benchmark's weighting,
    each sequence by ``n_objects``), ``J&F`` = (J_mean + F_mean) / 2, ``n_sequences`` and ``n_objects``."""
    import pandas as pd

    cols = ["task", "dataset", "source", "protocol", *METRIC_COLUMNS, "J&F", "n_sequences", "n_objects"]
    rows = []
    for (dataset, source), g in per_sequence.groupby(["dataset", "source"], sort=True):
        agg = dataset_aggregate(g.to_dict("records"))
        rows.append({"task": TASK, "dataset": dataset, "source": source, "protocol": PROTOCOL,
                     **{c: agg[c] for c in METRIC_COLUMNS}, "J&F": agg["J&F"], "n_sequences": len(g),
                     "n_objects": int(agg["n_objects"])})
    return pd.DataFrame(rows, columns=cols)


def semisup_aggregate(results: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The official benchmark figures over several sequences' :func:`score_semisupervised` results: every statistic
    averaged over all objects of all sequences, ``J&F`` = (J_mean + F_mean) / 2 and ``n_objects``."""
    return dataset_aggregate([semisup_rows(r, {})[0] for r in results])


__all__ = ["PROTOCOL", "SEMISUP_COLUMNS", "SEMISUP_KEY_COLUMNS", "TASK", "run_evaluate_semisup",
           "score_semisupervised", "semisup_aggregate", "semisup_rows", "semisup_summary"]
