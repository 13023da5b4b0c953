"""Scoring mask folders and mask directories against ground truth.

Two entry points share the per-frame scorer of :mod:`motionseg.metrics.jf`:

- :func:`evaluate_dirs`: any ``<seq>/<frame>.png`` prediction folder against a ``<seq>/<frame>.png`` GT folder (the
  ``motionseg evaluate`` command; any nonzero pixel is foreground, so multi-object label maps are merged into one
  foreground; palette PNGs are read by index, colour PNGs by "any channel nonzero", alpha ignored; or, with a
  threshold T in 1..255, grey value >= T, RGB by its BT.601 luma: :mod:`motionseg.io.external`).
- :func:`run_evaluate`: one sequence of the workflow (a mask directory, GT from :mod:`motionseg.io.datasets`), every
  configured protocol x selection, one CSV row each.

The frames of a sequence (whose positions the protocols use) are the dataset's frame list in the workflow, and the
union of the GT and prediction frame names in natural order in the CLI (predictions normally cover every video frame,
GT may be sparse); each protocol then picks the annotated frames it scores.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from motionseg.io.atomic import atomic_path
from motionseg.io.datasets import MASK_ENCODING, read_mask
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.external import check_threshold, list_pngs, missing_warning, read_prediction, soft_map_warning
from motionseg.io.masks import MaskSet, read_mask_dir
from motionseg.metrics.columns import FRAME_COLUMNS, METRIC_COLUMNS, SCORE_COLUMNS
from motionseg.metrics.jf import DECAY_MODES, frame_jf, sequence_stats
from motionseg.metrics.protocols import (
    MULTI_OBJECT_PROTOCOL,
    SINGLE_OBJECT_PROTOCOLS,
    Protocol,
    get_protocol,
    video_order,
)
from motionseg.metrics.selection import ORACLE_SELECTIONS, SELECTIONS, binary_candidates, segment_masks, select
from motionseg.settings import EvaluationSettings, typed

SIDECARS: frozenset[str] = frozenset({"meta.json", "segments.npz"})  # allowed beside the PNGs of a mask directory
MISSING_MODES: tuple[str, ...] = ("error", "empty")
CHUNK = 8  # frames per worker task
# count columns of evaluate_dirs' per-sequence table, summed in the _MEAN_ / _FRAME_POOLED_ rows
COUNT_COLUMNS: tuple[str, ...] = ("n_frames", "n_missing", "n_soft")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- reading


def list_mask_pngs(seq_dir: str | Path) -> dict[str, Path]:
    """``{frame name: path}`` of the ``<frame>.png`` files of one sequence folder.

    Hidden files and the mask-directory sidecars (``meta.json``, ``segments.npz``) are skipped; any other file or a
    sub-folder raises InputError naming it.
    """
    return list_pngs(seq_dir, SIDECARS)


# ---------------------------------------------------------------- parallel scoring


def _n_workers(workers: int) -> int:
    """``workers`` if >= 1, else every CPU this process may use."""
    if workers >= 1:
        return workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker() -> None:
    cv2.setNumThreads(1)


PathTask = tuple[str, str | None, float, int | None, bool]  # gt_png, pred_png, bound_th, threshold, count_levels


def _score_path_chunk(chunk: list[PathTask]) -> list[tuple[float, float, bool, int]] | InputError:
    """Score ``(gt_png, pred_png or None (= empty), bound_th, threshold, count_levels)`` tasks: one ``(J, F,
    both_empty, grey_levels)`` each (grey levels of the prediction, 0 when not counted or missing; see
    :func:`motionseg.io.external.read_prediction`). GT is read with the official rule, the prediction with
    ``threshold`` (None: any non-zero pixel; else grey >= T). An InputError is returned, not raised (it would not
    survive pickling back from a worker)."""
    out = []
    try:
        for gt_path, pred_path, bound_th, threshold, count_levels in chunk:
            gt = read_mask(gt_path, MASK_ENCODING)
            if pred_path is None:
                pred, levels = np.zeros_like(gt), 0
            else:
                pred, levels = read_prediction(pred_path, threshold, count_levels)
            if pred.shape != gt.shape:
                raise InputError(pred_path, f"mask is {pred.shape[1]}x{pred.shape[0]} (WxH) but its GT {gt_path} is "
                                            f"{gt.shape[1]}x{gt.shape[0]}")
            out.append((*frame_jf(gt, pred, bound_th=bound_th), levels))
    except InputError as exc:
        return exc
    return out


def _score_array_chunk(chunk: list[tuple[np.ndarray, np.ndarray, float]]) -> list[np.ndarray]:
    """Score ``(gt bool [H, W], candidates bool [K, H, W], bound_th)`` tasks: one float [3, K] (J, F, both-empty)
    per task."""
    out = []
    for gt, cands, bound_th in chunk:
        out.append(np.array([frame_jf(gt, c, bound_th=bound_th) for c in cands], dtype=np.float64).T)
    return out


def _chunked(tasks: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` tasks (the last may be shorter), produced lazily."""
    it = iter(tasks)
    while chunk := list(islice(it, size)):
        yield chunk


def _run_chunks(func: Callable[[list], Any], tasks: Iterable[Any], n_tasks: int, workers: int, progress: bool,
                desc: str) -> list:
    """``func`` over chunks of ``tasks`` (in a process pool when workers > 1), results concatenated in task order.

    ``tasks`` may be a generator (consumed lazily when run in-process, so that big arrays are not all held at once);
    ``n_tasks`` is its length.
    """
    n = min(_n_workers(workers), math.ceil(n_tasks / CHUNK))
    bar = tqdm(total=n_tasks, desc=desc, unit="frame", file=sys.stderr, disable=not progress, leave=False)
    results: list = []
    pool = None
    try:
        if n <= 1:
            parts: Iterable = map(func, _chunked(tasks, CHUNK))
        else:
            method = "fork" if "fork" in get_all_start_methods() else None
            pool = get_context(method).Pool(n, initializer=_init_worker)
            parts = pool.imap(func, _chunked(tasks, CHUNK))
        for part in parts:
            if isinstance(part, InputError):
                raise InputError(part.path, part.problem)
            results.extend(part)
            bar.update(len(part))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return results


# ---------------------------------------------------------------- per-sequence statistics


def apply_empty_rule(
    j: np.ndarray, f: np.ndarray, both_empty: np.ndarray, protocol: Protocol
) -> tuple[np.ndarray, np.ndarray]:
    """J and F (any shape, official convention) with frames where both masks are empty set to the protocol's value."""
    if protocol.empty_empty == 1.0:
        return j, f
    e = np.asarray(both_empty, dtype=bool)
    return np.where(e, protocol.empty_empty, j), np.where(e, protocol.empty_empty, f)


def stats_row(j: np.ndarray, f: np.ndarray, decay: str) -> dict[str, float | int]:
    """The statistic columns of one single-object sequence from per-frame J and F float [n] (``n_objects`` = 1)."""
    jm, jr, jd = sequence_stats(j, decay)  # type: ignore[arg-type]
    fm, fr, fd = sequence_stats(f, decay)  # type: ignore[arg-type]
    return {"J_mean": jm, "J_recall": jr, "J_decay": jd, "F_mean": fm, "F_recall": fr, "F_decay": fd,
            "n_frames": int(np.size(j)), "n_objects": 1}


def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


# ---------------------------------------------------------------- folders of PNGs (the CLI)


def evaluate_dirs(
    gt_dir: str | Path,
    pred_dir: str | Path,
    protocol: str = "davis2017-unsup",
    *,
    layout: str = "davis",
    missing: str = "error",
    decay: str = "correct",
    bound_th: float = 0.008,
    workers: int = 1,
    sequences: Sequence[str] | None = None,
    progress: bool = True,
    threshold: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every GT sequence of ``gt_dir`` against ``pred_dir`` (both ``<seq>/<frame>.png``).

    protocol: a name of :data:`PROTOCOLS`; layout: dataset layout for layout-dependent protocols (``gwm``);
    missing: ``error`` (a missing prediction PNG of a scored frame raises InputError) or ``empty`` (scored as an
    empty mask); decay: ``correct`` or ``official``; bound_th: F tolerance; workers: processes (0 = all CPUs);
    sequences: subset of GT sequences (default all). Sequences only in ``pred_dir`` are ignored. threshold: None
    (a prediction pixel is foreground when non-zero, the official rule) or an integer grey value T in 1..255
    (foreground: grey >= T; RGB: BT.601 luma >= T; fractions are a ValueError: :mod:`motionseg.io.external`). GT
    is always read with the official rule.

    Warnings go to ``warn`` (default: this module's logger, which prints to stderr when logging is not set up), one
    line each: per sequence folder, without a threshold under a single-object protocol, how many scored prediction
    PNGs have more than two grey levels (soft maps?), with the first as example; with ``missing="empty"``, how many
    scored frames have no prediction PNG, per sequence and in total.

    Returns ``(per_sequence, per_frame)``: per_sequence has columns ``sequence``, the six statistics (J/F in [0, 1]),
    ``n_frames`` (scored frames), ``n_missing`` (scored frames without a prediction PNG, scored empty) and
    ``n_soft`` (scored prediction PNGs with more than two grey levels; counted only without a threshold), one row
    per GT sequence in name order; per_frame has ``sequence, frame, J, F``.
    """
    proto = get_protocol(protocol)
    _check_choice(missing, MISSING_MODES, "missing")
    _check_choice(decay, DECAY_MODES, "decay")
    threshold = check_threshold(threshold)
    say = log.warning if warn is None else warn
    count_levels = threshold is None and not proto.multi_object
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for d, what in ((gt_dir, "GT"), (pred_dir, "prediction")):
        if not d.is_dir():
            raise InputError(d, f"{what} folder does not exist")
    all_seqs = sorted(p.name for p in gt_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not all_seqs:
        raise InputError(gt_dir, "no sequence folders in the GT folder (expected <seq>/<frame>.png)")
    if sequences is not None:
        unknown = sorted(set(sequences) - set(all_seqs))
        if unknown:
            raise InputError(gt_dir, f"requested sequences not in the GT folder: {', '.join(unknown)}")
        all_seqs = [s for s in all_seqs if s in set(sequences)]

    tasks: list[PathTask] = []
    frames_of: dict[str, list[str]] = {}
    missing_of: dict[str, list[str]] = {}
    for seq in all_seqs:
        gt_files = list_mask_pngs(gt_dir / seq)
        seq_pred = pred_dir / seq
        if not seq_pred.is_dir():
            raise InputError(seq_pred, f"sequence {seq!r} is in the GT folder but has no prediction folder")
        pred_files = list_mask_pngs(seq_pred)
        video = video_order([*gt_files, *pred_files])
        scored = proto.scored_frames(video, gt_files, layout)
        for name in scored:
            pp = pred_files.get(name)
            if pp is None and missing == "error":
                raise InputError(seq_pred / f"{name}.png", "missing prediction for an annotated frame "
                                                           "(--missing empty scores it as an empty mask)")
            tasks.append((str(gt_files[name]), None if pp is None else str(pp), bound_th, threshold, count_levels))
        frames_of[seq] = scored
        missing_of[seq] = [n for n in scored if n not in pred_files]
    _warn_missing(pred_dir, missing_of, frames_of, say)

    scores = _run_chunks(_score_path_chunk, tasks, len(tasks), workers, progress, f"evaluate {protocol}")
    arr = np.array(scores, dtype=np.float64).reshape(-1, 4)
    j, f = apply_empty_rule(arr[:, 0], arr[:, 1], arr[:, 2].astype(bool), proto)
    levels = arr[:, 3].astype(np.int64)

    rows, frame_rows, start = [], [], 0
    for seq in all_seqs:
        names = frames_of[seq]
        sl = slice(start, start + len(names))
        start += len(names)
        soft = [(n, int(v)) for n, v in zip(names, levels[sl], strict=True) if v > 2]
        if soft:
            n_read = len(names) - len(missing_of[seq])
            say(soft_map_warning(pred_dir / seq / f"{soft[0][0]}.png", soft[0][1], len(soft), n_read,
                                 pred_dir / seq))
        rows.append({"sequence": seq, **stats_row(j[sl], f[sl], decay), "n_missing": len(missing_of[seq]),
                     "n_soft": len(soft)})
        frame_rows.append(pd.DataFrame({"sequence": seq, "frame": names, "J": j[sl], "F": f[sl]}))
    per_seq = pd.DataFrame(rows, columns=["sequence", *METRIC_COLUMNS, "n_frames", "n_missing", "n_soft"])
    per_frame = (pd.concat(frame_rows, ignore_index=True) if frame_rows
                 else pd.DataFrame(columns=["sequence", "frame", "J", "F"]))
    return per_seq, per_frame


def _warn_missing(pred_dir: Path, missing_of: Mapping[str, list[str]], frames_of: Mapping[str, list[str]],
                  say: Callable[[str], None]) -> None:
    """Warn, per sequence and in total, of the scored frames without a prediction PNG (scored as empty masks)."""
    total = sum(len(m) for m in missing_of.values())
    if not total:
        return
    what, consequence = "scored frames", "scored as empty masks (--missing empty)"
    for seq, names in missing_of.items():
        if names:
            say(missing_warning(pred_dir / seq, names, len(frames_of[seq]), what, consequence))
    n_seqs = sum(1 for m in missing_of.values() if m)
    n_scored = sum(len(v) for v in frames_of.values())
    say(f"{pred_dir}: in total {total} of {n_scored} scored frames ({n_seqs} of {len(frames_of)} sequences) have no "
        f"prediction PNG: {consequence}")


def with_summary_rows(per_seq: pd.DataFrame, per_frame: pd.DataFrame) -> pd.DataFrame:
    """``per_seq`` followed by a ``_MEAN_`` row and a ``_FRAME_POOLED_`` row.

    ``_MEAN_``: mean over sequences of each statistic (sequences without scored frames skipped), the DAVIS convention.
    ``_FRAME_POOLED_``: mean and recall over all scored frames of all sequences pooled (from the per-frame values);
    decay is a per-sequence quantity and is left empty (NaN) there. The count columns present (``n_frames``, and
    ``n_missing``, ``n_soft`` when ``per_seq`` has them) are the totals in both rows.
    """
    valid = per_seq[per_seq["n_frames"] > 0]
    totals = {c: int(per_seq[c].sum()) for c in COUNT_COLUMNS if c in per_seq.columns}
    mean_row: dict[str, Any] = {"sequence": "_MEAN_", **totals}
    pooled_row: dict[str, Any] = {"sequence": "_FRAME_POOLED_", **totals}
    for m in ("J", "F"):
        for s in ("mean", "recall", "decay"):
            col = f"{m}_{s}"
            mean_row[col] = float(valid[col].mean()) if len(valid) else math.nan
        v = per_frame[m].to_numpy(dtype=np.float64)
        pooled_row[f"{m}_mean"] = float(v.mean()) if v.size else math.nan
        pooled_row[f"{m}_recall"] = float((v > 0.5).mean()) if v.size else math.nan
        pooled_row[f"{m}_decay"] = math.nan
    return pd.concat([per_seq, pd.DataFrame([mean_row, pooled_row])], ignore_index=True)[per_seq.columns]


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` to ``path`` atomically, floats at full precision."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


# ---------------------------------------------------------------- one workflow sequence


def score_sequence(
    masks: MaskSet,
    gt: Mapping[str, np.ndarray],
    keys: Mapping[str, str],
    *,
    protocols: Sequence[str],
    selections: Sequence[str],
    layout: str = "davis",
    decay: str = "correct",
    missing: str = "error",
    bound_th: float = 0.008,
    workers: int = 1,
    video_frames: Sequence[str] | None = None,
    mask_dir: str | Path = "<masks>",
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one sequence's masks under every protocol x selection.

    masks: the mask directory's content (``fg`` bool [T, H, W] at GT size, optional ``probs`` float [T, K, h, w]);
    gt: ``{frame name: bool [H, W]}`` for the annotated frames; keys: ``dataset, sequence, flow, tracks, method``
    (and optionally ``mode``, else ``meta["mode"]``); video_frames: every frame name of the video in temporal order
    (default: the union of mask and GT names in natural order); mask_dir: used in error messages. Returns ``(scores,
    per_frame)`` with columns :data:`SCORE_COLUMNS` and :data:`FRAME_COLUMNS`.
    """
    protos = [get_protocol(p) for p in protocols]
    for s in selections:
        _check_choice(s, SELECTIONS, "selection")
    _check_choice(decay, DECAY_MODES, "decay")
    _check_choice(missing, MISSING_MODES, "missing")
    mask_dir = Path(mask_dir)
    if not gt:
        raise InputError(mask_dir, f"sequence {keys.get('sequence')!r} has no ground truth to evaluate against")
    index = {n: i for i, n in enumerate(masks.names)}
    probs = masks.probs
    if probs is not None and probs.shape[0] != len(masks.names):
        raise InputError(mask_dir / "segments.npz", f"{probs.shape[0]} frames of segment probabilities for "
                                                     f"{len(masks.names)} mask PNGs")
    video = list(video_frames) if video_frames is not None else video_order([*masks.names, *gt])
    unknown = sorted(set(gt) - set(video))
    if unknown:
        raise InputError(mask_dir, f"GT frames {unknown[:3]} are not frames of the video")
    scored = {p.name: p.scored_frames(video, gt, layout) for p in protos}
    wanted = {f for frames in scored.values() for f in frames}
    needed = [f for f in video if f in wanted]
    need_oracle = any(s in ORACLE_SELECTIONS for s in selections)

    n_segments = 2 if probs is None else probs.shape[1]

    def frame_tasks() -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
        """(GT, candidates [1 + K, H, W] = GT-free mask then the oracle segments, bound_th) per needed frame."""
        for name in needed:
            g = np.asarray(gt[name], dtype=bool)
            if name in index:
                pred = masks.fg[index[name]]
            else:
                pred = np.zeros_like(g)
            cands = [pred[None]]
            if need_oracle:
                if probs is None:
                    cands.append(binary_candidates(pred))
                elif name in index:
                    cands.append(segment_masks(probs[index[name]], g.shape))
                else:
                    cands.append(np.zeros((n_segments, *g.shape), dtype=bool))
            yield g, np.concatenate(cands), bound_th

    for name in needed:  # check every frame before scoring any
        g_shape = np.shape(gt[name])
        if name in index:
            if masks.fg[index[name]].shape != g_shape:
                h, w = masks.fg[index[name]].shape
                raise InputError(mask_dir / f"{name}.png", f"mask is {w}x{h} (WxH) but the GT of frame {name} is "
                                                           f"{g_shape[1]}x{g_shape[0]}")
        elif missing == "error":
            raise InputError(mask_dir / f"{name}.png", "missing mask for an annotated frame")
    res = _run_chunks(_score_array_chunk, frame_tasks(), len(needed), workers, progress,
                      f"evaluate {keys.get('sequence', '')}")
    pos = {n: i for i, n in enumerate(needed)}

    meta_oracle = bool(masks.meta.get("oracle", False))
    base = {k: keys[k] for k in ("dataset", "sequence", "flow", "tracks", "method")}
    base["mode"] = str(keys.get("mode", masks.meta.get("mode", "")) or "")
    base["post"] = str(keys.get("post", "none"))
    base["supervision"] = str(keys.get("supervision", masks.meta.get("supervision", "unknown")))
    rows, frame_parts = [], []
    for proto in protos:
        names = scored[proto.name]
        cols = [pos[n] for n in names]
        n_cands = 1 + (n_segments if need_oracle else 0)
        raw = np.stack([res[c] for c in cols], axis=-1) if cols else np.zeros((3, n_cands, 0))
        j_all, f_all = apply_empty_rule(raw[0], raw[1], raw[2].astype(bool), proto)  # [1 + K, n]
        for sel in selections:
            if sel == "gt-free":
                j, f, seg = j_all[0], f_all[0], np.full(len(names), -1, dtype=np.int64)
            else:
                j, f, seg = select(j_all[1:], f_all[1:], sel)
            oracle = sel in ORACLE_SELECTIONS or meta_oracle
            head = {**base, "protocol": proto.name, "selection": sel, "oracle": oracle}
            rows.append({**head, **stats_row(j, f, decay), "n_missing": sum(n not in index for n in names)})
            frame_parts.append(pd.DataFrame({**head, "frame": names, "J": j, "F": f, "segment": seg},
                                            columns=FRAME_COLUMNS))
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    per_frame = pd.concat(frame_parts, ignore_index=True) if frame_parts else pd.DataFrame(columns=FRAME_COLUMNS)
    return scores, per_frame


def run_evaluate(
    mask_dir: str | Path,
    dataset_cfg: Mapping[str, Any],
    sequence: str,
    out_csv: str | Path,
    eval_cfg: EvaluationSettings | Mapping[str, Any],
    keys: Mapping[str, str],
    out_frames_csv: str | Path | None = None,
    instances_dir: str | Path | None = None,
) -> None:
    """Workflow rules ``evaluate`` and ``evaluate_crf``: score one sequence's mask directory and write one CSV row per
    protocol x selection.

    mask_dir: mask directory (docs/architecture.md); dataset_cfg: the dataset's config entry (``root``, ``layout``,
    optional ``protocol``, which is scored too if ``evaluation.protocols`` lacks it, ``objects`` and the GT reader
    options); sequence: its name; out_csv: per-sequence score CSV (:data:`SCORE_COLUMNS`); eval_cfg: the
    ``evaluation`` settings or config section (converted here; a missing or unknown key is a ConfigError naming it);
    keys: ``dataset, flow, tracks, method`` and optionally ``post`` (default ``none``); out_frames_csv: optional
    per-frame CSV (:data:`FRAME_COLUMNS`); instances_dir: the sequence's instance PNGs (rule ``instances``): with
    ``objects: multi`` one more GT-free row, protocol ``davis2017-unsup-multi`` (no per-frame rows). Both CSVs are
    written atomically.
    """
    from motionseg.io.datasets import get_sequence, load_gt, reader_options  # looked up on use (tests use a fake)

    ev = typed(EvaluationSettings, eval_cfg)
    protocols = list(ev.protocols)
    extra = dataset_cfg.get("protocol")
    if extra and extra not in protocols:
        protocols.append(extra)
    for p in protocols:
        if p not in SINGLE_OBJECT_PROTOCOLS:
            known = ", ".join(SINGLE_OBJECT_PROTOCOLS)
            raise ConfigError("evaluation.protocols", f"unknown protocol {p!r}; known: {known} "
                              f"({MULTI_OBJECT_PROTOCOL} is scored on datasets with `objects: multi`)")
    selections = list(ev.selections)
    for s in selections:
        if s not in SELECTIONS:
            raise ConfigError("evaluation.selections", f"unknown selection {s!r}; known: {', '.join(SELECTIONS)}")
    # the multi-object row scores the method's own instance PNGs: raw masks only (post=none), never the CRF version
    multi = dataset_cfg.get("objects") == "multi" and str(keys.get("post", "none")) == "none"
    if multi and instances_dir is None:
        raise ConfigError(f"datasets[{keys.get('dataset')}].objects", "objects: multi needs the sequence's instance "
                          "PNGs (rule instances) as an input of the evaluation")

    info = get_sequence(dataset_cfg["root"], dataset_cfg["layout"], sequence, options=reader_options(dataset_cfg))
    gt = load_gt(info)
    masks = read_mask_dir(mask_dir, with_probs=any(s in ORACLE_SELECTIONS for s in selections))
    scores, per_frame = score_sequence(
        masks,
        gt,
        {**keys, "sequence": sequence},
        protocols=protocols,
        selections=selections,
        layout=dataset_cfg["layout"],
        decay=ev.decay,
        # an external result folder may lack frames (MTNet's release lacks the last): scored empty, counted in n_missing
        missing="empty" if masks.meta.get("mode") == "external" else ev.missing,
        bound_th=ev.bound_th,
        workers=ev.workers,
        video_frames=info.frame_names,
        mask_dir=mask_dir,
    )
    if multi and instances_dir is not None:
        multi_row = score_instances(info, instances_dir, {**keys, "sequence": sequence,
                                                          "mode": str(masks.meta.get("mode", "") or ""),
                                                          "post": "none"}, ev, bool(masks.meta.get("oracle", False)))
        scores = pd.concat([scores, pd.DataFrame([multi_row], columns=SCORE_COLUMNS)], ignore_index=True)
    write_csv(scores, out_csv)
    if out_frames_csv is not None:
        write_csv(per_frame, out_frames_csv)


def score_instances(info: Any, instances_dir: str | Path, keys: Mapping[str, Any], ev: EvaluationSettings,
                    meta_oracle: bool = False) -> dict[str, Any]:
    """The ``davis2017-unsup-multi`` score row of one sequence: its instance PNGs against its instance GT.

    info: the sequence (:class:`motionseg.io.datasets.SequenceInfo`); instances_dir: ``<frame>.png`` id maps (the
    official result layout); keys: the row's key columns (``dataset, sequence, flow, tracks, method, mode, post``).
    Every annotated frame is scored; a frame without a PNG counts as an empty prediction (the workflow writes one
    per frame). The row is ``selection=gt-free``: the proposals use no GT; their assignment to the objects is the
    protocol's (the official evaluator's Hungarian matching).
    """
    from motionseg.io.datasets import load_gt_instances
    from motionseg.io.instances import read_instance_pngs
    from motionseg.metrics.multiobject import multiobject_rows, score_multiobject

    gt_ids = load_gt_instances(info)
    pred = read_instance_pngs(instances_dir)
    frames = get_protocol(MULTI_OBJECT_PROTOCOL).scored_frames(info.frame_names, gt_ids, info.layout)
    result = score_multiobject(gt_ids, pred, frames, bound_th=ev.bound_th, decay=ev.decay)
    row_keys = {**keys, "protocol": MULTI_OBJECT_PROTOCOL, "selection": "gt-free", "oracle": meta_oracle}
    return multiobject_rows(result, row_keys)[0]
