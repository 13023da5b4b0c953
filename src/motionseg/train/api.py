"""Entry points called by the workflow: :func:`run_train` and :func:`run_segment` (docs/architecture.md)."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from motionseg.device import select_device
from motionseg.flow.geometry import resize_flow
from motionseg.io.atomic import atomic_path
from motionseg.io.checkpoints import load_torch_file
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, load_ingested
from motionseg.io.masks import fg_from_probs, read_mask_dir, write_mask_dir
from motionseg.methods.refine import refine_prob
from motionseg.registry import names, spec
from motionseg.settings import RefineSettings, typed
from motionseg.train.config import refine_applies
from motionseg.train.loop import model_from_cfg, train_model
from motionseg.train.segment import FG_RULE_BOOT, FG_RULE_BORDER, foreground_segments, predict_probs

CKPT_FORMAT = "motionseg-segnet-1"


def _abs_gaps(cfg: dict) -> list[int]:
    """Positive flow gaps needed for the signed ``flow_gaps`` of the config."""
    return sorted({abs(int(g)) for g in cfg["flow_gaps"]})


def _to_train_res(flow: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Shrink flow float [n, H, W, 2] to the training resolution at once (keeps memory flat for 480p inputs)."""
    return resize_flow(flow, hw)


def load_inputs(inputs: list[dict], cfg: dict, method: str) -> tuple[list, list, list, list[str]]:
    """Read frames, flows and (lrtl) tracks of every sequence; returns (frames, flows, tracks, sequence names).

    Each element of ``inputs`` is {"frames": ingested npz, "flow": flow dir, "tracks": track npz or None}. Flow and
    tracks are checked against the frames (frame count, track shape); mismatches raise InputError naming the file.
    Flows are returned already resized to ``cfg["resolution"]`` (vectors rescaled) to keep memory small.
    """
    from motionseg.flow import load_flow

    hw = (int(cfg["resolution"][0]), int(cfg["resolution"][1]))
    frames_list, flows_list, tracks_list, names = [], [], [], []
    for item in inputs:
        ing = load_ingested(item["frames"])
        n = len(ing.frames)
        fs = load_flow(item["flow"])
        flows: dict[str, dict[int, np.ndarray]] = {"forward": {}, "backward": {}}
        for g in _abs_gaps(cfg):
            if g not in fs.gaps:
                raise InputError(item["flow"], f"flow gap {g} needed by train.flow_gaps is missing (has {fs.gaps})")
            for direction in ("forward", "backward"):
                arr = getattr(fs, direction)(g)
                if len(arr) != n - g:
                    raise InputError(item["flow"], f"gap {g}: {len(arr)} {direction} flows for {n} frames")
                flows[direction][g] = _to_train_res(arr, hw)
        tracks = None
        if method == "lrtl":
            if not item.get("tracks"):
                raise InputError(item["frames"], "method lrtl needs a track file for this sequence")
            from motionseg.tracks import load_tracks

            ts = load_tracks(item["tracks"])
            if ts.tracks.shape[0] != n:
                raise InputError(item["tracks"], f"tracks cover {ts.tracks.shape[0]} frames, sequence has {n}")
            tracks = {"tracks": ts.tracks, "visible": ts.visible, "orig_hw": ing.orig_hw}
        frames_list.append(ing.frames)
        flows_list.append(flows)
        tracks_list.append(tracks)
        names.append(str(ing.manifest.get("sequence", Path(item["frames"]).stem)))
    return frames_list, flows_list, tracks_list, names


def load_pseudo_labels(inputs: list[dict], n_frames: list[int]) -> list[np.ndarray] | None:
    """GT-free foreground masks used as pseudo-labels, one float32 [T, H, W] array in {0, 1} per sequence.

    Each ``inputs`` item may name a mask directory under "pseudo" (written by another method of the workflow, e.g.
    bgfit); None when no item does. Raises InputError (naming the directory) when only some items have one, when a
    directory's frame count differs from its sequence's, or when its masks are labelled oracle (ground truth must not
    reach training).
    """
    if not any(item.get("pseudo") for item in inputs):
        return None
    out = []
    for item, n in zip(inputs, n_frames, strict=True):
        if not item.get("pseudo"):
            raise InputError(item["frames"], "train.pseudo_labels is set but this sequence has no pseudo-label masks")
        ms = read_mask_dir(item["pseudo"], with_probs=False)
        if ms.meta.get("oracle"):
            raise InputError(item["pseudo"], "pseudo-label masks are labelled oracle (chosen with ground truth); "
                                             "training must not see ground truth")
        if len(ms.fg) != n:
            raise InputError(item["pseudo"], f"{len(ms.fg)} pseudo-label masks for a sequence of {n} frames")
        out.append(ms.fg.astype(np.float32))
    return out


def split_method(method: str) -> tuple[str, bool]:
    """(loss set, bootstrapped) of a trained method (registry ``losses`` and ``pseudo_labels``), e.g. ``gwm-boot``
    -> (``gwm``, True); ValueError for a method that is not trained."""
    m = spec(method)
    if m.losses is None:
        raise ValueError(f"{method!r} is not a trained method (trained: {', '.join(names(kind='trained'))})")
    return m.losses, m.pseudo_labels


def run_train(inputs: list[dict], out_ckpt: str | Path, train_cfg: dict, method: str, seed: int,
              workdir: str | Path, oracle_gt: list[np.ndarray] | None = None, progress: bool = True) -> None:
    """Train one network on all ``inputs`` sequences and write it atomically to ``out_ckpt``.

    inputs: one {"frames", "flow", "tracks"} dict per sequence (see :func:`load_inputs`), plus, for the bootstrapped
    methods, "pseudo" (a GT-free mask directory, :func:`load_pseudo_labels`); method ``gwm`` or ``lrtl``, or
    ``gwm-boot`` / ``lrtl-boot`` (the same losses plus ``loss_weights.pseudo`` x
    :func:`motionseg.losses.pseudo_label_loss` towards those masks on segment 0; ``train_cfg["pseudo_labels"]`` names
    their method for the provenance);
    work files (``last.pt`` checkpoint, ``metrics.csv``, ``tensorboard/``) live in ``workdir`` and a rerun resumes
    from them. SIGTERM checkpoints and exits with status 143. Ground truth is never read here; ``oracle_gt`` (bool
    [T, H, W] per sequence, loaded by the caller) is accepted only with ``select: oracle`` and marks the checkpoint
    as an oracle. The checkpoint holds {"format", "state_dict", "config", "provenance"}.
    """
    base, boot = split_method(method)
    frames, flows, tracks, names = load_inputs(inputs, train_cfg, base)
    pseudo = load_pseudo_labels(inputs, [len(f) for f in frames])
    weights = dict(train_cfg["loss_weights"])
    if boot:
        if pseudo is None:
            raise ValueError(f"method {method} needs a pseudo-label mask directory per sequence (inputs 'pseudo')")
        # a weight of 0 is refused by train_model, which gets the pseudo-labels
    else:
        if pseudo is not None:
            raise ValueError(f"method {method} takes no pseudo-labels (use {method}-boot)")
        weights.pop("pseudo", None)
    cfg = {**train_cfg, "loss_weights": weights}
    run_id = [{k: str(v) if v is not None else None for k, v in item.items()} for item in inputs]
    res = train_model(frames, flows, tracks, cfg, base, seed, workdir, oracle_gt=oracle_gt, run_id=run_id,
                      progress=progress, pseudo_list=pseudo)
    oracle = train_cfg["select"] == "oracle"
    provenance = {
        "method": method,
        "pseudo_labels": (train_cfg.get("pseudo_labels") or "unnamed GT-free masks") if boot else None,
        "seed": seed,
        "sequences": names,
        "inputs": run_id,
        "iterations": int(train_cfg["iterations"]),
        "selection": res.selection,
        "selected_iteration": res.selected_iteration,
        "select_score": res.select_score,
        "resumed_from": res.resumed_from,
        "oracle": oracle,
        "oracle_reason": "checkpoint chosen by ground-truth IoU (train.select: oracle)" if oracle else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    with atomic_path(out_ckpt) as tmp:
        torch.save({"format": CKPT_FORMAT, "state_dict": res.state_dict, "config": cfg,
                    "provenance": provenance}, tmp)


def load_checkpoint(ckpt: str | Path) -> dict:
    """Read a checkpoint written by :func:`run_train`; raise InputError when it is not one."""
    ckpt = Path(ckpt)
    state = load_torch_file(ckpt, "model checkpoint", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise InputError(ckpt, f"not a motionseg segmentation checkpoint (format {CKPT_FORMAT} expected)")
    return state


def refine_foreground(probs: np.ndarray, fg_seg: np.ndarray, ing: Ingested, refine_cfg: dict,
                      seed: int) -> np.ndarray:
    """GT-free foreground of probs float [T, K, h, w] (segments fg_seg bool [K]) refined per frame on the ingested
    RGB frames (:func:`motionseg.methods.refine.refine_prob`): bool [T, H, W] at the original resolution."""
    fgp = probs[:, fg_seg].sum(axis=1)
    refine = typed(RefineSettings, refine_cfg)
    ref = np.stack([refine_prob(p, f, refine, seed + t) for t, (p, f) in enumerate(zip(fgp, ing.frames,
                                                                                          strict=True))])
    return fg_from_probs(ref[:, None], np.array([True]), ing.orig_hw)


def run_segment(ckpt: str | Path, frames_npz: str | Path, out_mask_dir: str | Path, train_cfg: dict, seed: int,
                progress: bool = True) -> None:
    """Segment one sequence with a trained network and write its mask directory.

    The network (architecture and resolution from the checkpoint's config) predicts K soft masks per frame; they are
    stored at the ingested working resolution; the GT-free border rule (:data:`FG_RULE_BORDER`, parameters from
    ``train_cfg``: fg_border_frac, fg_border_ratio) picks the foreground segments, and the foreground PNGs are the
    summed foreground probability resized to the original resolution and thresholded at 0.5 (with ``refine_masks``
    true or naming the checkpoint's method first refined per frame by GrabCut, :func:`refine_foreground`, settings
    ``train_cfg['refine']``; the stored K probabilities stay the network's, so the oracle-frame selection scores the
    raw network). ``train_cfg`` also gives the device; ``seed`` is recorded (inference is deterministic).
    """
    state = load_checkpoint(ckpt)
    cfg = state["config"]
    ing = load_ingested(frames_npz)
    device = select_device(train_cfg["device"])
    torch.manual_seed(seed)
    model = model_from_cfg(cfg)
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise InputError(
            ckpt, f"weights do not match the network its config describes ({str(exc).splitlines()[-1].strip()})"
        ) from exc
    model.to(device)
    h, w = ing.frames.shape[1:3]
    probs = predict_probs(model, ing.frames, tuple(int(v) for v in cfg["resolution"]), (h, w), device,
                          batch_size=int(train_cfg["batch_size"]), progress=progress,
                          flip=bool(train_cfg["tta_flip"]))
    boot_source = state["provenance"].get("pseudo_labels")
    if boot_source:
        fg_seg = np.arange(probs.shape[1]) == 0
        fg_rule = FG_RULE_BOOT.format(source=boot_source)
    else:
        fg_seg = foreground_segments(probs, float(train_cfg["fg_border_frac"]), float(train_cfg["fg_border_ratio"]))
        fg_rule = FG_RULE_BORDER
    refined = refine_applies(train_cfg["refine_masks"], str(state["provenance"]["method"]))
    if refined:
        fg = refine_foreground(probs, fg_seg, ing, train_cfg["refine"], seed)
    else:
        fg = fg_from_probs(probs, fg_seg, ing.orig_hw)
    prov = state["provenance"]
    meta = {
        "method": prov["method"],
        "mode": "trained",
        "oracle": bool(prov.get("oracle", False)),
        "oracle_reason": prov.get("oracle_reason"),
        "seed": seed,
        "fg_rule": fg_rule + (" Then refined by GrabCut on each frame (refine section)." if refined else ""),
        "refined": refined,
        "fg_border_frac": float(train_cfg["fg_border_frac"]),
        "fg_border_ratio": float(train_cfg["fg_border_ratio"]),
        "K": int(cfg["K"]),
        "checkpoint": str(ckpt),
        "selected_iteration": prov.get("selected_iteration"),
        "selection": prov.get("selection"),
    }
    write_mask_dir(out_mask_dir, ing.names, fg, probs, fg_seg, meta)


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of the trained methods (:func:`motionseg.registry.run_method`): :func:`run_segment`
    with the ``model`` and ``frames`` of ``inputs`` (``method`` is the checkpoint's; ``cfg`` is
    :func:`motionseg.train.config.infer_config`)."""
    run_segment(inputs["model"], inputs["frames"], out_mask_dir, cfg, seed)
