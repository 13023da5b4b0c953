"""The training loop on arrays: resumable, deterministic for a seed on CPU, never reads ground truth (except for the
explicitly labelled oracle checkpoint selection, which needs the caller to hand GT masks in)."""

from __future__ import annotations

import copy
import csv
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from motionseg.device import select_device
from motionseg.io.atomic import atomic_path
from motionseg.io.checkpoints import load_work_checkpoint
from motionseg.io.errors import ConfigError, Preempted
from motionseg.io.resume import SigtermFlag
from motionseg.io.resume import fingerprint as run_fingerprint
from motionseg.losses import (
    flow_reconstruction_loss,
    pseudo_label_loss,
    sample_masks_at_points,
    temporal_smoothing_loss,
    trajectory_gram,
    truncated_nuclear_norm,
)
from motionseg.models import build_model
from motionseg.train.config import INFERENCE_ONLY_KEYS
from motionseg.train.data import (
    SequenceData,
    TrackData,
    batch_tensors,
    draw_batch,
    frames_tensor,
    prepare_flows,
    prepare_tracks,
    resize_prob,
    sample_tracks,
)

log = logging.getLogger(__name__)

# the loss sets train_model implements (registry ``losses`` of each trained method): GWM flow reconstruction, and
# LRTL = GWM + trajectory low-rank and temporal losses
LOSS_SETS = ("gwm", "lrtl")
CKPT_NAME = "last.pt"
METRICS_NAME = "metrics.csv"
METRIC_COLUMNS = ["iteration", "lr", "loss", "loss_flow", "loss_traj", "loss_temp", "loss_pseudo", "select_score"]
_WARMUP_FACTOR = 1e-6  # reference WarmupPolyLR start factor
_POLY_POWER = 0.9  # reference WarmupPolyLR power
_RAMP_START = 1e-3  # LRTL temporal-loss ramp starts at this factor and reaches 1 at the last iteration


@dataclass
class TrainResult:
    """Outcome of :func:`train_model`: the selected weights, where they came from, and a loss history."""

    state_dict: dict[str, torch.Tensor]
    selected_iteration: int
    selection: str
    select_score: float | None
    resumed_from: int
    history: list[dict[str, float]] = field(default_factory=list)


def model_from_cfg(cfg: dict) -> torch.nn.Module:
    """Build the network named by the ``train`` config section (model, K, width, depth, backbone_weights)."""
    return build_model(cfg["model"], int(cfg["K"]), int(cfg["width"]), int(cfg["depth"]), cfg.get("backbone_weights"))


def learning_rate(cfg: dict, it: int) -> float:
    """Learning rate at (0-based) iteration ``it``: linear warmup from 1e-6 x lr, then poly(0.9) decay or constant."""
    lr = float(cfg["lr"])
    warm = int(cfg["warmup_iters"])
    factor = 1.0
    if it < warm:
        alpha = it / warm
        factor = _WARMUP_FACTOR * (1 - alpha) + alpha
    if cfg["schedule"] == "poly":
        factor *= (1 - it / int(cfg["iterations"])) ** _POLY_POWER
    return lr * factor


def _make_optimizer(cfg: dict, params: Any) -> torch.optim.Optimizer:
    name = cfg["optimizer"]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    if name == "adam":
        return torch.optim.Adam(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    raise ConfigError("train.optimizer", f"unknown optimiser '{name}' (use adamw or adam)")


def prepare_data(frames_list: list[np.ndarray], flows_list: list[dict], tracks_list: list[dict | None],
                 cfg: dict, method: str, pseudo_list: list[np.ndarray] | None = None) -> list[SequenceData]:
    """Bring every sequence to the network resolution.

    frames_list[i]: uint8 [T, H, W, 3]; flows_list[i]: {"forward": {g: [T-g, h, w, 2]}, "backward": {g: ...}} (the
    FlowSet convention of docs/architecture.md, pixels of the stored resolution); tracks_list[i]: None or
    {"tracks": [T, N, 2] original px, "visible": [T, N], "orig_hw": (H, W)}; ``lrtl`` requires tracks for every
    sequence. pseudo_list: None or, per sequence, float [T, H', W'] foreground probability of a GT-free method
    (any resolution; resized here), needed when ``loss_weights.pseudo`` > 0.
    """
    if not (len(frames_list) == len(flows_list) == len(tracks_list)) or not frames_list:
        raise ValueError("frames_list, flows_list and tracks_list must be non-empty and of equal length")
    if pseudo_list is not None and len(pseudo_list) != len(frames_list):
        raise ValueError(f"{len(pseudo_list)} pseudo-label arrays for {len(frames_list)} sequences")
    hw = (int(cfg["resolution"][0]), int(cfg["resolution"][1]))
    data = []
    for i, (frames, flows, tracks) in enumerate(zip(frames_list, flows_list, tracks_list, strict=True)):
        n = len(frames)
        td: TrackData | None = None
        if method == "lrtl":
            if tracks is None:
                raise ValueError(f"method lrtl needs tracks, sequence {i} has none")
            td = prepare_tracks(tracks["tracks"], tracks["visible"], tuple(tracks["orig_hw"]),
                                int(cfg["track_filter"]), float(cfg["track_min_visible"]))
            if td.xy.shape[0] != n:
                raise ValueError(f"sequence {i}: {td.xy.shape[0]} track frames for {n} frames")
        data.append(SequenceData(
            images=frames_tensor(frames, hw),
            flows=prepare_flows(flows["forward"], flows["backward"], n, hw, [int(g) for g in cfg["flow_gaps"]]),
            tracks=td,
            pseudo=None if pseudo_list is None else _pseudo_for(pseudo_list[i], n, hw, i),
        ))
    return data


def _pseudo_for(prob: np.ndarray, n_frames: int, hw: tuple[int, int], i: int) -> torch.Tensor:
    if len(prob) != n_frames:
        raise ValueError(f"sequence {i}: {len(prob)} pseudo-label frames for {n_frames} frames")
    return resize_prob(prob, hw)


def _batch_losses(model: torch.nn.Module, data: list[SequenceData], samples: list, rng: np.random.Generator,
                  cfg: dict, method: str, ramp: float, device: torch.device) -> dict[str, torch.Tensor]:
    """Forward one batch and return the weighted loss terms and their total (key ``loss``)."""
    imgs, flows, pseudo = batch_tensors(data, samples)
    imgs, flows = imgs.to(device), flows.to(device)
    use_amp = bool(cfg["amp"]) and device.type == "cuda"
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
        logits = model(imgs)
    masks = logits.float().softmax(dim=1)
    w = cfg["loss_weights"]
    out = {"loss_flow": float(w["flow"]) * flow_reconstruction_loss(
        masks, flows, model=cfg["flow_model"], clip=cfg["flow_clip"])}
    total = out["loss_flow"]
    if method == "lrtl":
        grams: dict[int, list[torch.Tensor]] = {}  # by trajectory length D (shorter for short sequences)
        temp_terms = []
        for i, s in enumerate(samples):
            td = data[s.seq].tracks
            pair = samples[s.pair].frame if (s.pair is not None and s.pair > i) else None
            tb = sample_tracks(rng, td, s.frame, pair, s.flip, int(cfg["n_tracks"]), int(cfg["context"]))
            if tb is None:
                continue
            m_i = sample_masks_at_points(masks[i:i + 1], tb.pos[None].to(device), tb.orig_hw)
            grams.setdefault(tb.traj.shape[0], []).append(trajectory_gram(m_i, tb.traj[None].to(device)))
            if pair is not None:
                m_j = sample_masks_at_points(masks[s.pair:s.pair + 1], tb.pos_pair[None].to(device), tb.orig_hw)
                temp_terms.append(temporal_smoothing_loss(m_i, m_j, tb.vis_pair[None].to(device)))
        zero = masks.sum() * 0.0
        # one eigenproblem call per D for the whole batch: the mean over samples and segments of
        # trajectory_lowrank_loss, as one call per sample would give it
        traj = [truncated_nuclear_norm(torch.cat(g), int(cfg["rank"])) for g in grams.values()]
        out["loss_traj"] = float(w["traj"]) * (torch.cat([t.flatten() for t in traj]).mean().float() if traj else zero)
        out["loss_temp"] = float(w["temporal"]) * ramp * (torch.stack(temp_terms).mean() if temp_terms else zero)
        total = total + out["loss_traj"] + out["loss_temp"]
    if pseudo is not None:
        out["loss_pseudo"] = float(w["pseudo"]) * pseudo_label_loss(masks, pseudo.to(device))
        total = total + out["loss_pseudo"]
    out["loss"] = total
    return out


def _selection_samples(data: list[SequenceData], cfg: dict, seed: int, method: str) -> list:
    """The fixed GT-free selection set: ``select_frames`` samples drawn once from the seed, without flips."""
    rng = np.random.default_rng([seed, 0x5E1EC7])
    n = int(cfg["select_frames"])
    n += n % 2
    return draw_batch(rng, data, n, paired=method == "lrtl", pair_offset=int(cfg["temporal_offset"]), flip=False)


def _selection_score(model: torch.nn.Module, data: list[SequenceData], samples: list, cfg: dict, seed: int,
                     method: str, device: torch.device, oracle_gt: list[torch.Tensor] | None) -> float:
    """Lower is better. GT-free: total loss (ramp 1) on the fixed selection set. Oracle: minus the mean over the
    selection frames of the best IoU over 2-way groupings of the argmax segments against GT."""
    model.eval()
    with torch.no_grad():
        if oracle_gt is None:
            rng = np.random.default_rng([seed, 0x5E1EC8])
            score = 0.0
            bs = int(cfg["batch_size"])
            for k in range(0, len(samples), bs):
                chunk = samples[k:k + bs]
                # re-index pairs inside the chunk (chunks keep pairs together: bs and len are even for lrtl)
                fixed = [copy.copy(s) for s in chunk]
                for s in fixed:
                    if s.pair is not None:
                        s.pair -= k
                score += _batch_losses(model, data, fixed, rng, cfg, method, 1.0, device)["loss"].item() * len(chunk)
            result = score / len(samples)
        else:
            ious = []
            for s in samples:
                img = data[s.seq].images[s.frame:s.frame + 1].to(device)
                lab = model(img).argmax(dim=1)[0].cpu()
                gt = oracle_gt[s.seq][s.frame]
                ious.append(_best_grouping_iou(lab, gt, int(cfg["K"])))
            result = -float(np.mean(ious))
    model.train()
    return result


def _best_grouping_iou(labels: torch.Tensor, gt: torch.Tensor, k: int) -> float:
    """Max IoU against ``gt`` (bool [h, w]) over all non-empty proper subsets of the K segments of ``labels``."""
    best = 0.0
    for bits in range(1, 2**k - 1):
        sel = torch.tensor([(bits >> j) & 1 for j in range(k)], dtype=torch.bool)
        pred = sel[labels]
        union = (pred | gt).sum().item()
        best = max(best, (pred & gt).sum().item() / union if union else 1.0)
    return best


def fingerprint(cfg: dict, method: str, seed: int, extra: Any = None) -> str:
    """Hash of everything that determines a run; a work dir written under another fingerprint is not resumed."""
    cfg = {k: v for k, v in cfg.items() if k not in INFERENCE_ONLY_KEYS and k != "refine"}
    return run_fingerprint({"cfg": cfg, "method": method, "seed": seed, "extra": extra})[:16]


def data_digest(data: list[SequenceData]) -> str:
    """SHA-256 (hex, 16 chars) of every array training reads: images, flows, tracks and pseudo-labels, in order."""
    h = hashlib.sha256()
    for seq in data:
        arrays = [seq.images.numpy(), *(seq.flows[g].numpy() for g in sorted(seq.flows))]
        if seq.tracks is not None:
            arrays += [seq.tracks.xy, seq.tracks.visible]
        if seq.pseudo is not None:
            arrays.append(seq.pseudo.numpy())
        for a in arrays:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_metrics(path: Path, upto: int) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if int(r["iteration"]) <= upto]


def checkpoint_or_stop(done: int, every: int, total: int, checkpoint: Any, stop: Any, what: str = "") -> None:
    """End of training iteration ``done`` (1-based) of ``total``: ``checkpoint(done)`` every ``every`` iterations and
    at the last; on SIGTERM (``stop()`` true) checkpoint, log and raise :class:`Preempted` (exit status 143)."""
    if done % every == 0 or done == total:
        checkpoint(done)
    if stop():
        checkpoint(done)
        log.warning("SIGTERM: %scheckpoint written at iteration %d, exiting", what, done)
        raise Preempted()


def restart_logs(workdir: Path, start: int, columns: list[str]) -> tuple[Path, Any]:
    """Logs of a training run that (re)starts at iteration ``start``: ``workdir/metrics.csv`` rewritten atomically with
    its rows up to ``start`` (a resumed run drops what the killed one logged after its checkpoint), and a TensorBoard
    writer in ``workdir/tensorboard`` purged after ``start``. Returns (metrics path, writer)."""
    metrics_path = workdir / METRICS_NAME
    rows = _load_metrics(metrics_path, start)
    with atomic_path(metrics_path) as tmp, open(tmp, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=columns)
        wr.writeheader()
        wr.writerows(rows)
    from torch.utils.tensorboard import SummaryWriter

    return metrics_path, SummaryWriter(log_dir=str(workdir / "tensorboard"), purge_step=start + 1)


def train_model(
    frames_list: list[np.ndarray],
    flows_list: list[dict],
    tracks_list: list[dict | None],
    cfg: dict,
    method: str,
    seed: int,
    workdir: str | Path,
    oracle_gt: list[np.ndarray] | None = None,
    run_id: Any = None,
    progress: bool = True,
    pseudo_list: list[np.ndarray] | None = None,
) -> TrainResult:
    """Train an image -> K masks network from motion; resumable from ``workdir``.

    Inputs as in :func:`prepare_data`. ``method``: ``gwm`` (flow reconstruction only) or ``lrtl`` (+ trajectory
    low-rank + temporal smoothing). Every ``checkpoint_every`` iterations and on SIGTERM the full state (weights,
    optimiser, iteration, selection state, torch RNG) goes to ``workdir/last.pt``; a later call with the same
    inputs/config resumes from it. Batches depend only on (seed, iteration), so a resumed run reproduces the
    uninterrupted one. ``cfg["select"]``: ``last``, ``lowest-loss`` (GT-free) or ``oracle`` (needs ``oracle_gt``,
    bool [T, H, W] per sequence, and is labelled as such by the caller). ``run_id`` is folded into the fingerprint.
    ``pseudo_list`` (float [T, H', W'] per sequence, GT-free foreground in [0, 1]) adds ``loss_weights.pseudo`` x
    :func:`motionseg.losses.pseudo_label_loss` (bootstrapping). Metrics go to ``workdir/metrics.csv`` and
    ``workdir/tensorboard``.
    """
    if method not in LOSS_SETS:
        raise ConfigError("method", f"unknown loss set '{method}' (use {' or '.join(LOSS_SETS)})")
    select = cfg["select"]
    if select == "oracle" and oracle_gt is None:
        raise ConfigError("train.select", "'oracle' selection needs ground-truth masks (oracle_gt); none were given")
    if select != "oracle" and oracle_gt is not None:
        raise ValueError("oracle_gt given but train.select is not 'oracle': ground truth must not reach training")
    if pseudo_list is not None and not float(cfg["loss_weights"].get("pseudo", 0.0)) > 0:
        raise ConfigError("train.loss_weights.pseudo", "pseudo-labels were given but their loss weight is not > 0")
    if method == "lrtl" and int(cfg["batch_size"]) % 2:
        raise ConfigError("train.batch_size", "lrtl builds batches of frame pairs: batch_size must be even")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg["device"])
    data = prepare_data(frames_list, flows_list, tracks_list, cfg, method, pseudo_list)
    gt_small = None
    if oracle_gt is not None:
        hw = tuple(int(v) for v in cfg["resolution"])
        gt_small = [frames_tensor(np.repeat(np.asarray(g, np.uint8)[..., None] * 255, 3, -1), hw)[:, 0] > 0.5
                    for g in oracle_gt]
    iterations = int(cfg["iterations"])
    every = int(cfg["checkpoint_every"])
    # the data itself is part of the fingerprint: a work dir of a run on other frames, flows, tracks or pseudo-labels
    # (e.g. recomputed under the same paths) is never resumed
    fp = fingerprint(cfg, method, seed, [run_id, data_digest(data)])

    torch.manual_seed(seed)
    model = model_from_cfg(cfg).to(device)
    optim = _make_optimizer(cfg, model.parameters())
    start, best = 0, {"score": None, "iteration": 0, "state": None}
    ckpt_path = workdir / CKPT_NAME
    state = load_work_checkpoint(ckpt_path, fp, "train")
    if state is not None:
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start, best = int(state["iteration"]), state["best"]
        log.info("resuming from %s at iteration %d", ckpt_path, start)
    resumed_from = start

    sel_samples = _selection_samples(data, cfg, seed, method) if select != "last" else []
    metrics_path, tb = restart_logs(workdir, start, METRIC_COLUMNS)
    stop = SigtermFlag().install()

    def checkpoint(it: int) -> None:
        _save_checkpoint(ckpt_path, {
            "fingerprint": fp, "iteration": it, "model": model.state_dict(), "optimizer": optim.state_dict(),
            "torch_rng": torch.get_rng_state(), "best": best,
        })

    history: list[dict[str, float]] = []
    model.train()
    paired = method == "lrtl"
    try:
        with open(metrics_path, "a", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            bar = tqdm(range(start, iterations), initial=start, total=iterations, desc=f"train {method}",
                       disable=not progress, leave=False)
            for it in bar:
                rng = np.random.default_rng([seed, it])
                samples = draw_batch(rng, data, int(cfg["batch_size"]), paired, int(cfg["temporal_offset"]),
                                     bool(cfg["augment_flip"]))
                lr = learning_rate(cfg, it)
                for group in optim.param_groups:
                    group["lr"] = lr
                ramp = _RAMP_START + (1 - _RAMP_START) * it / max(iterations - 1, 1)
                losses = _batch_losses(model, data, samples, rng, cfg, method, ramp, device)
                optim.zero_grad(set_to_none=True)
                losses["loss"].backward()
                if cfg["grad_clip"] is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                optim.step()
                done = it + 1
                row: dict[str, Any] = {"iteration": done, "lr": lr, "select_score": ""}
                for key in ("loss", "loss_flow", "loss_traj", "loss_temp", "loss_pseudo"):
                    row[key] = float(losses[key].item()) if key in losses else ""
                    if key in losses:
                        tb.add_scalar(f"train/{key}", row[key], done)
                bar.set_postfix(loss=f"{row['loss']:.4g}")
                if select != "last" and (done % every == 0 or done == iterations):
                    score = _selection_score(model, data, sel_samples, cfg, seed, method, device, gt_small)
                    row["select_score"] = score
                    tb.add_scalar("select/score", score, done)
                    if best["score"] is None or score < best["score"]:
                        best = {"score": score, "iteration": done,
                                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
                wr.writerow(row)
                fh.flush()
                history.append({k: v for k, v in row.items() if v != ""})
                checkpoint_or_stop(done, every, iterations, checkpoint, stop)
    finally:
        tb.close()
        stop.restore()

    if select == "last" or best["state"] is None:
        state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        sel_iter, sel_score = iterations, None
    else:
        state_dict, sel_iter, sel_score = best["state"], int(best["iteration"]), float(best["score"])
    return TrainResult(state_dict=state_dict, selected_iteration=sel_iter, selection=select,
                       select_score=sel_score, resumed_from=resumed_from, history=history)
