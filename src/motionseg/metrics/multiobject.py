"""The DAVIS-2017 unsupervised multi-object protocol: proposals matched to GT objects, J and F per object.

Facts of the official evaluator (davisvideochallenge/davis2017-evaluation, ``davis2017/``) reproduced here:

- GT: every annotated frame is scored (the unsupervised task drops no frame). Pixel value 255 is void in every frame
  and is excluded from J and F of every (proposal, object) pair; the objects are the ids 1..N with N = the largest id
  of the *first* annotated frame (void removed), so an object absent from that frame but with a smaller id than one
  present is still scored (empty in that frame), and one with a larger id than all objects of the first frame is
  never scored (its pixels count as background). ``objects_from="all-frames"`` takes N over all scored frames instead
  (not the official rule).
- Proposals: the number of proposals is the largest id in any scored frame of the result PNGs (ids 1..P; an id that
  never occurs is an empty proposal). More than 20 is refused. With fewer proposals than objects, empty proposals are
  appended up to N (an object left with one of them scores J = F = 0 on every frame where it is present and 1 where
  it is absent, the empty/empty rule).
- J and F of every (proposal, object, frame) as in :mod:`motionseg.metrics.jf`; the proposals are matched to the
  objects by a Hungarian assignment (``scipy.optimize.linear_sum_assignment``) maximising the sum over matched pairs
  of (mean over frames of J + mean over frames of F) / 2.
- Each object's J and F sequences give mean, recall and decay (``db_statistics``, i.e. ``sequence_stats`` with
  ``decay="official"``; both decay modes agree up to 255 frames). The dataset figures are means over *all objects of
  all sequences* (J&F = (mean J_mean + mean F_mean) / 2), not means of sequence means: :func:`dataset_aggregate`
  computes them from sequence rows weighted by their ``n_objects``.

The official code lists a sequence's objects as ``<seq>_1``, ``<seq>_2``, ... in the order of the matched pairs sorted
by proposal index, not by GT id, so its per-object labels need not be the GT ids;
:attr:`MultiObjectResult.official_order` gives that order. The assignment uses GT only at evaluation; it is the
benchmark's protocol, not a selection rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from motionseg.metrics.columns import KEY_COLUMNS, METRIC_COLUMNS
from motionseg.metrics.jf import DECAY_MODES, frame_jf, sequence_stats

MAX_PROPOSALS = 20
VOID = 255
OBJECT_RULES: tuple[str, ...] = ("first-frame", "all-frames")


@dataclass
class MultiObjectResult:
    """Multi-object scores of one sequence.

    frames: the scored frame names [n_frames]; object_ids: GT ids of the objects, int [n_obj] (= 1..n_obj);
    j, f: float64 [n_obj, n_frames], J and F of each object against its matched proposal; assignment: int [n_obj],
    the proposal id (1..n_proposals) matched to each object, 0 when it got a padded (empty) proposal; official_order:
    int [n_obj], object indices (0-based) in the order the official evaluator lists them (its ``<seq>_<i+1>`` is
    object ``official_order[i]``); pair_score: float64 [max(n_proposals, n_obj), n_obj], mean-over-frames (J + F) / 2
    of every (proposal row, object) pair, the matrix that was assigned (row p-1 = proposal p, rows from n_proposals on
    are the padding); n_objects, n_proposals: counts as defined in the module docstring; missing: scored frames
    absent from the predictions (scored as empty); stats: float64 [n_obj, 6], per-object J_mean, J_recall, J_decay,
    F_mean, F_recall, F_decay (:data:`METRIC_COLUMNS` order; J, F in [0, 1]).
    """

    frames: list[str]
    object_ids: np.ndarray
    j: np.ndarray
    f: np.ndarray
    assignment: np.ndarray
    official_order: np.ndarray
    pair_score: np.ndarray
    n_objects: int
    n_proposals: int
    missing: list[str] = field(default_factory=list)
    stats: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def n_missing(self) -> int:
        return len(self.missing)

    def object_stats(self, index: int) -> dict[str, float]:
        """The six statistics of object ``index`` (0-based) as ``{column: value}``."""
        return {c: float(v) for c, v in zip(METRIC_COLUMNS, self.stats[index], strict=True)}


def count_objects(gt_ids: Mapping[str, np.ndarray], frames: Sequence[str], objects_from: str = "first-frame") -> int:
    """Number of GT objects N (ids 1..N) of a sequence: the largest non-void id of the first scored frame
    (``first-frame``, official) or of all scored frames (``all-frames``)."""
    if objects_from not in OBJECT_RULES:
        raise ValueError(f"objects_from must be one of {', '.join(OBJECT_RULES)}, got {objects_from!r}")
    used = frames[:1] if objects_from == "first-frame" else frames
    n = 0
    for name in used:
        g = np.asarray(gt_ids[name])
        valid = g[g != VOID]
        if valid.size:
            n = max(n, int(valid.max()))
    return n


def _pair_scores(gt: list[np.ndarray], pred: list[np.ndarray], n_obj: int, n_rows: int,
                 bound_th: float) -> tuple[np.ndarray, np.ndarray]:
    """J and F float64 [n_rows, n_obj, n_frames] of proposal ids 1..n_rows against objects 1..n_obj (void = 255)."""
    T = len(gt)
    J = np.zeros((n_rows, n_obj, T))
    F = np.zeros((n_rows, n_obj, T))
    for t, (g, p) in enumerate(zip(gt, pred, strict=True)):
        void = g == VOID
        has_void = bool(void.any())
        objs = [g == o for o in range(1, n_obj + 1)]
        props = [p == r for r in range(1, n_rows + 1)]
        for r, pm in enumerate(props):
            for o, om in enumerate(objs):
                J[r, o, t], F[r, o, t], _ = frame_jf(om, pm, void if has_void else None, bound_th)
    return J, F


def score_multiobject(
    gt_ids: Mapping[str, np.ndarray],
    pred_ids: Mapping[str, np.ndarray],
    frames: Sequence[str],
    *,
    bound_th: float = 0.008,
    max_proposals: int = MAX_PROPOSALS,
    decay: str = "official",
    objects_from: str = "first-frame",
) -> MultiObjectResult:
    """Score one sequence with the DAVIS-2017 unsupervised protocol (module docstring).

    gt_ids: frame -> uint8 [H, W] GT ids (0 background, 1..N objects, 255 void); pred_ids: frame -> integer [H, W]
    proposal ids (0 background, 1..P), a scored frame missing here is an empty prediction (counted in ``missing``);
    frames: the scored frames in temporal order (all annotated frames for the official protocol; each must be in
    ``gt_ids``); bound_th: F tolerance (fraction of the diagonal, or pixels when >= 1); max_proposals: largest id
    accepted (ValueError above; the official evaluator refuses more than 20); decay: ``official`` (the official
    ``db_statistics``) or ``correct`` (:mod:`motionseg.metrics.jf`); objects_from: ``first-frame`` (official) or
    ``all-frames``.
    """
    if decay not in DECAY_MODES:
        raise ValueError(f"decay must be one of {', '.join(DECAY_MODES)}, got {decay!r}")
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to score")
    absent = [n for n in frames if n not in gt_ids]
    if absent:
        raise ValueError(f"{len(absent)} scored frame(s) have no GT, first: {absent[0]!r}")
    gt = [np.asarray(gt_ids[n]) for n in frames]
    shape = gt[0].shape
    missing: list[str] = []
    pred: list[np.ndarray] = []
    for name, g in zip(frames, gt, strict=True):
        if g.ndim != 2 or g.shape != shape:
            raise ValueError(f"GT of frame {name!r} is {g.shape}, the first scored frame's is {shape}")
        if name not in pred_ids:
            missing.append(name)
            pred.append(np.zeros(shape, dtype=np.uint8))
            continue
        p = np.asarray(pred_ids[name])
        if p.shape != shape:
            raise ValueError(f"prediction of frame {name!r} is {p.shape}, its GT is {shape}")
        pred.append(p)
    n_prop = max(int(p.max()) if p.size else 0 for p in pred)
    if n_prop > max_proposals:
        raise ValueError(f"the predictions hold id {n_prop}: more than {max_proposals} proposals (the official "
                         f"evaluator refuses more than {MAX_PROPOSALS})")
    if min(int(p.min()) if p.size else 0 for p in pred) < 0:
        raise ValueError("prediction ids must be >= 0")
    n_obj = count_objects(gt_ids, frames, objects_from)
    n_rows = max(n_prop, n_obj)
    J, F = _pair_scores(gt, pred, n_obj, n_rows, bound_th)
    # same arithmetic as the official code (mean over the frame axis of the [rows, objects, frames] arrays)
    pair = (np.mean(J, axis=2) + np.mean(F, axis=2)) / 2 if J.size else np.zeros((n_rows, n_obj))
    rows, cols = linear_sum_assignment(-pair)
    assignment = np.zeros(n_obj, dtype=np.int64)
    j = np.zeros((n_obj, len(frames)))
    f = np.zeros((n_obj, len(frames)))
    for r, o in zip(rows, cols, strict=True):
        assignment[o] = r + 1 if r < n_prop else 0
        j[o], f[o] = J[r, o], F[r, o]
    stats = np.array([[*sequence_stats(j[o], decay), *sequence_stats(f[o], decay)]  # type: ignore[arg-type]
                      for o in range(n_obj)], dtype=np.float64).reshape(n_obj, 6)
    return MultiObjectResult(
        frames=frames, object_ids=np.arange(1, n_obj + 1), j=j, f=f, assignment=assignment,
        official_order=np.asarray(cols, dtype=np.int64), pair_score=pair, n_objects=n_obj, n_proposals=n_prop,
        missing=missing, stats=stats,
    )


# ---------------------------------------------------------------- rows


def multiobject_rows(result: MultiObjectResult, keys: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The score-CSV row of one sequence: ``[row]``.

    row: ``keys`` (the :data:`KEY_COLUMNS` values, copied as given), the six statistics = mean over the sequence's
    objects of the per-object statistics (NaN when the sequence has no object), ``n_frames``, and the extra values
    ``n_objects`` (weight of the row in the official dataset mean, :func:`dataset_aggregate`), ``n_proposals`` and
    ``n_missing`` (scored frames without a prediction PNG).
    """
    row: dict[str, Any] = {c: keys[c] for c in KEY_COLUMNS if c in keys}
    row.update({k: v for k, v in keys.items() if k not in row})
    for i, c in enumerate(METRIC_COLUMNS):
        row[c] = float(np.mean(result.stats[:, i])) if result.n_objects else math.nan
    row["n_frames"] = result.n_frames
    row["n_objects"] = result.n_objects
    row["n_proposals"] = result.n_proposals
    row["n_missing"] = result.n_missing
    return [row]


def object_rows(result: MultiObjectResult, keys: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per GT object: ``keys``, ``object`` (GT id), ``proposal`` (matched id, 0 = none), the six per-object
    statistics and ``n_frames``; in GT-id order."""
    out = []
    for o in range(result.n_objects):
        row: dict[str, Any] = dict(keys)
        row["object"] = int(result.object_ids[o])
        row["proposal"] = int(result.assignment[o])
        row.update(result.object_stats(o))
        row["n_frames"] = result.n_frames
        out.append(row)
    return out


def dataset_aggregate(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The official dataset figures from sequence rows (:func:`multiobject_rows`): each statistic averaged over all
    objects of all sequences, i.e. the ``n_objects``-weighted mean of the rows, plus ``J&F`` = (J_mean + F_mean) / 2
    and ``n_objects`` (total). Rows with no object carry no weight; NaN everywhere when there is no object."""
    rows = list(rows)
    w = np.array([float(r["n_objects"]) for r in rows])
    total = float(w.sum())
    out: dict[str, float] = {}
    for c in METRIC_COLUMNS:
        if total == 0:
            out[c] = math.nan
            continue
        v = np.array([float(r[c]) if r["n_objects"] else 0.0 for r in rows])
        out[c] = float(np.sum(w * v) / total)
    out["J&F"] = (out["J_mean"] + out["F_mean"]) / 2
    out["n_objects"] = total
    return out


__all__ = ["MAX_PROPOSALS", "OBJECT_RULES", "MultiObjectResult", "count_objects", "dataset_aggregate",
           "multiobject_rows", "object_rows", "score_multiobject"]
