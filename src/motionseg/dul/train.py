"""Training a DUL network on ingested frames: resumable, preemption-safe and deterministic on the CPU for a seed.

``run_train_dul(frames_npzs, out_ckpt, cfg, seed, workdir)`` trains :class:`motionseg.dul.model.DULModel` with
:func:`motionseg.dul.loss.dul_loss` on clips of the given sequences (the frames only: no flow, no ground truth) and
writes the upstream snapshot layout ``{"model": state_dict, "arch", "epoch", "score", ...}`` atomically to
``out_ckpt`` (:func:`motionseg.dul.model.load_snapshot` reads it back).

The schedule and augmentations follow the upstream code (visinf/dense-ulearn-vos, snapshot 88e5e35):

- Clips (``datasets/dataloader_video.py`` L209-232): window = min(T, ``frame_gap`` * ``video_len``), spacing =
  window // ``video_len``, frames ``start + arange(window)[::spacing][:video_len]`` with a uniform random start, then
  randomly permuted inside the clip (``torch.randperm``, L230-232), so the reference frame 0 is a random one.
  Sequences shorter than ``video_len`` are skipped (L46-48). Every sequence is drawn once per epoch in a shuffled
  order (``datasets/__init__.py`` L49-58: ``shuffle=True``, ``drop_last=True``; we run the epochs back to back).
- Shared geometric augmentation of the clip (L104-114, ``daugm_video.py``): smaller side scaled to a random size in
  ``smallest_range`` (``MaskScaleSmallest`` L198-227), a random (``random_crop``) or centre crop of ``crop_size``
  with the padded pixels marked invalid (``MaskRandCrop`` L229-261), a random horizontal flip of the whole clip
  (``random_hflip``, ``MaskRandHFlip`` L276-286, ``core/config.py`` L47 RND_HFLIP = True).
- View 2 only (L119-127): a guided horizontal flip with probability 0.5 (``GuidedRandHFlip`` L96-108) and a random
  zoom-in: a crop of scale s ~ U(``zoom_range``) at a uniform position, resized back (``MaskRandScaleCrop``
  L119-196); its affine map (``dataloader_video.py`` L160-207) aligns view 1 to view 2 in the loss. There is no
  photometric augmentation upstream (the list named "photometric noise", L97-98, only ever holds the geometric
  transforms). Invalid (padded) pixels are set to 0 after the ImageNet normalisation (``ApplyMask`` L83-94).
- Optimiser (``base_trainer.py`` L49-61, ``models/base.py`` L34-37, L94-127): Adam with betas (``beta1``,
  0.999) (``MODEL.BETA1`` = 0.5, ``core/config.py`` L85), weights (convolutions and BN scales) with ``lr`` and
  ``weight_decay``, biases with ``bias_lr_mult`` x ``lr`` (2) and no weight decay. Step decay (``train.py``
  L77-80, L427-428): the rate is multiplied by ``lr_gamma`` every ``lr_step`` (upstream counts epochs, we count
  iterations).
- BatchNorm is in training mode for both views (``TRAIN.BLOCK_BN`` = False, ``core/config.py`` L36).

Resumability is that of :mod:`motionseg.train.loop`: the batch of iteration ``it`` depends only on (seed, it), the
full state goes to ``workdir/last.pt`` every ``checkpoint_every`` iterations and on SIGTERM (then
:class:`motionseg.io.errors.Preempted`, exit 143), and a work dir is resumed only when its fingerprint
(:func:`motionseg.io.resume.fingerprint` of the input files, the config and the seed) matches.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionseg.device import select_device
from motionseg.dul.loss import dul_loss
from motionseg.dul.model import DULArch, DULModel, build_model, normalise_frames, snapshot_dict
from motionseg.flow.geometry import resize_frames
from motionseg.io.atomic import atomic_path
from motionseg.io.checkpoints import load_work_checkpoint
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import load_ingested
from motionseg.io.resume import SigtermFlag
from motionseg.io.resume import fingerprint as run_fingerprint
from motionseg.train.loop import checkpoint_or_stop, restart_logs

log = logging.getLogger(__name__)

CKPT_NAME = "last.pt"
METRICS_NAME = "metrics.csv"
METRIC_COLUMNS = ["iteration", "lr", "loss", "loss_temp", "loss_cross"]

# every key of the ``dul`` config section a training reads (config/config.yaml: CPU demo values; config/dul_gpu.yaml:
# the paper's) and its kind: int, float, bool, str, or a pair of ints / floats
CONFIG_KEYS: dict[str, str] = {
    "width": "int", "blocks": "int", "feature_dim": "int",
    "video_len": "int", "frame_gap": "int", "batch_size": "int",
    "smallest_range": "int2", "crop_size": "int2", "random_crop": "bool", "random_hflip": "bool",
    "guided_hflip": "bool", "zoom_range": "float2",
    "grid_size": "int", "grid_size_ref": "int", "temperature": "float", "ce_ref": "float",
    "lr": "float", "beta1": "float", "weight_decay": "float", "bias_lr_mult": "float",
    "lr_step": "int", "lr_gamma": "float",
    "iterations": "int", "checkpoint_every": "int", "device": "str",
}

def dul_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Check the ``dul`` section ``cfg`` and return it as a plain dict with typed values.

    Raises ``ConfigError("dul.<key>", ...)`` for a missing or unknown key, a value of the wrong kind or out of range.
    An integer is accepted for a float setting (and read as a float).
    """
    unknown = sorted(set(cfg) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"dul.{unknown[0]}", f"unknown key (known: {', '.join(CONFIG_KEYS)})")
    out: dict[str, Any] = {}
    for key, kind in CONFIG_KEYS.items():
        if key not in cfg:
            raise ConfigError(f"dul.{key}", "missing")
        out[key] = _typed(key, kind, cfg[key])
    _check_ranges(out)
    return out


def _typed(key: str, kind: str, value: Any) -> Any:
    def scalar(v: Any, k: str) -> Any:
        if k == "int" and isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        if k == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if k == "bool" and isinstance(v, bool):
            return v
        if k == "str" and isinstance(v, str):
            return v
        raise ConfigError(f"dul.{key}", f"expected {k}, got {v!r}")

    if kind.endswith("2"):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"dul.{key}", f"expected a pair [a, b], got {value!r}")
        return [scalar(v, kind[:-1]) for v in value]
    return scalar(value, kind)


def _check_ranges(c: dict[str, Any]) -> None:
    positive = ("width", "blocks", "feature_dim", "frame_gap", "batch_size", "grid_size", "grid_size_ref",
                "lr_step", "iterations", "checkpoint_every")
    for key in positive:
        if c[key] < 1:
            raise ConfigError(f"dul.{key}", f"must be >= 1, got {c[key]}")
    if c["video_len"] < 2:
        raise ConfigError("dul.video_len", f"clips need >= 2 frames, got {c['video_len']}")
    lo, hi = c["smallest_range"]
    if not 1 <= lo <= hi:
        raise ConfigError("dul.smallest_range", f"need 1 <= min <= max, got {c['smallest_range']}")
    ch, cw = c["crop_size"]
    if ch < 8 * c["grid_size"] or cw < 8 * c["grid_size"]:
        raise ConfigError("dul.crop_size", f"{c['crop_size']} gives fewer than grid_size={c['grid_size']} feature "
                                           "pixels per side (features are at 1/8)")
    zlo, zhi = c["zoom_range"]
    if not 0 < zlo <= zhi <= 1:
        raise ConfigError("dul.zoom_range", f"need 0 < min <= max <= 1 (zoom-in crops), got {c['zoom_range']}")
    for key in ("temperature", "lr"):
        if not c[key] > 0:
            raise ConfigError(f"dul.{key}", f"must be > 0, got {c[key]}")
    for key in ("weight_decay", "ce_ref", "bias_lr_mult"):
        if c[key] < 0:
            raise ConfigError(f"dul.{key}", f"must be >= 0, got {c[key]}")
    if not 0 <= c["beta1"] < 1:
        raise ConfigError("dul.beta1", f"must be in [0, 1), got {c['beta1']}")
    if not 0 < c["lr_gamma"] <= 1:
        raise ConfigError("dul.lr_gamma", f"must be in (0, 1], got {c['lr_gamma']}")


def arch_of(cfg: Mapping[str, Any]) -> DULArch:
    """The network size named by a checked ``dul`` config."""
    return DULArch(width=int(cfg["width"]), blocks=int(cfg["blocks"]), feature_dim=int(cfg["feature_dim"]))


def learning_rate(cfg: Mapping[str, Any], it: int) -> float:
    """Base learning rate at (0-based) iteration ``it``: ``lr * lr_gamma ** (it // lr_step)``."""
    return float(cfg["lr"]) * float(cfg["lr_gamma"]) ** (it // int(cfg["lr_step"]))


def make_optimizer(model: torch.nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Adam:
    """Adam with upstream's two parameter groups: weights (``lr``, ``weight_decay``), biases (``bias_lr_mult`` x
    ``lr``, no weight decay); betas (``beta1``, 0.999)."""
    weights = [p for n, p in model.named_parameters() if not n.endswith(".bias")]
    biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
    lr = float(cfg["lr"])
    groups = [{"params": weights, "weight_decay": float(cfg["weight_decay"]), "lr": lr, "lr_mult": 1.0},
              {"params": biases, "weight_decay": 0.0, "lr": lr * float(cfg["bias_lr_mult"]),
               "lr_mult": float(cfg["bias_lr_mult"])}]
    return torch.optim.Adam(groups, lr=lr, betas=(float(cfg["beta1"]), 0.999))


# ------------------------------------------------------------------------------------------------------ sampling


@dataclass
class ClipBatch:
    """One training batch: view1, view2 float32 [B, T, 3, h, w] (normalised, invalid pixels 0); theta1 float32
    [B, 2, 3] (view-2 normalised coordinates -> view-1 ones, the same for every frame of a clip); clips: (sequence
    index, frame indices [T]) per clip."""

    view1: torch.Tensor
    view2: torch.Tensor
    theta1: torch.Tensor
    clips: list[tuple[int, list[int]]] = field(default_factory=list)


def clip_frames(rng: np.random.Generator, n_frames: int, video_len: int, frame_gap: int) -> list[int]:
    """Frame indices [video_len] of one clip of an ``n_frames`` sequence (upstream ``DataVideo.__getitem__``):
    evenly spaced in a window of min(n_frames, frame_gap * video_len) frames at a random start, randomly permuted."""
    window = min(n_frames, frame_gap * video_len)
    spacing = window // video_len
    ids = np.arange(window)[::spacing][:video_len]
    start = int(rng.integers(0, n_frames - ids[-1]))
    return [int(v) for v in start + ids[rng.permutation(video_len)]]


def _scale_smallest(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 [T, H, W, 3] so the smaller side is ``size`` px (the other side ``int(size * aspect)``)."""
    H, W = frames.shape[1:3]
    if W > H:
        hw = (size, int(size * W / H))
    else:
        hw = (int(size * H / W), size)
    return resize_frames(frames, hw)


def _crop(frames: np.ndarray, valid: np.ndarray, rng: np.random.Generator, size: tuple[int, int],
          random: bool) -> tuple[np.ndarray, np.ndarray]:
    """Crop [T, H, W, 3] frames and bool [H, W] validity to ``size`` (h, w), padding (invalid) where too small."""
    ch, cw = size
    H, W = frames.shape[1:3]
    ph, pw = max(ch - H, 0), max(cw - W, 0)
    if ph or pw:
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        frames = np.pad(frames, ((0, 0), *pads, (0, 0)))
        valid = np.pad(valid, pads)
        H, W = frames.shape[1:3]
    if random:
        i, j = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    else:
        i, j = int(round((H - ch) / 2.0)), int(round((W - cw) / 2.0))
    return frames[:, i:i + ch, j:j + cw], valid[i:i + ch, j:j + cw]


def _zoom(frames: np.ndarray, valid: np.ndarray, rng: np.random.Generator, zoom: tuple[float, float],
          guided_hflip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """View 2 of a clip: guided flip (p = 0.5) and a zoom-in crop resized back. Returns (frames, valid, theta
    [2, 3]) with theta mapping view-2 normalised coordinates to view-1 ones (``align_corners=False``)."""
    H, W = frames.shape[1:3]
    flip = guided_hflip and rng.random() > 0.5
    if flip:
        frames, valid = frames[:, :, ::-1], valid[:, ::-1]
    s = rng.uniform(*zoom)
    h, w = max(int(s * H), 1), max(int(s * W), 1)
    i, j = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
    crop = np.ascontiguousarray(frames[:, i:i + h, j:j + w])
    out = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_LINEAR) for f in crop])
    vout = cv2.resize(np.ascontiguousarray(valid[i:i + h, j:j + w]).astype(np.uint8), (W, H),
                      interpolation=cv2.INTER_NEAREST) > 0
    f = -1.0 if flip else 1.0
    theta = np.array([[f * w / W, 0.0, f * ((2 * j + w) / W - 1)],
                      [0.0, h / H, (2 * i + h) / H - 1]], dtype=np.float32)
    return out, vout, theta


def _to_tensor(frames: np.ndarray, valid: np.ndarray) -> torch.Tensor:
    x = normalise_frames(np.ascontiguousarray(frames))
    return x * torch.from_numpy(np.ascontiguousarray(valid)).float()[None, None]


def make_clip(rng: np.random.Generator, frames: np.ndarray, cfg: Mapping[str, Any]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Sample and augment one clip of ``frames`` uint8 [N, H, W, 3]: (view1 [T, 3, h, w], view2 [T, 3, h, w],
    theta1 [2, 3], frame indices [T])."""
    ids = clip_frames(rng, len(frames), int(cfg["video_len"]), int(cfg["frame_gap"]))
    lo, hi = cfg["smallest_range"]
    size = lo + int((hi - lo) * rng.random())
    clip = _scale_smallest(frames[ids], size)
    valid = np.ones(clip.shape[1:3], dtype=bool)
    clip, valid = _crop(clip, valid, rng, tuple(cfg["crop_size"]), bool(cfg["random_crop"]))
    if cfg["random_hflip"] and rng.random() > 0.5:
        clip, valid = clip[:, :, ::-1], valid[:, ::-1]
    clip2, valid2, theta = _zoom(clip, valid, rng, tuple(cfg["zoom_range"]), bool(cfg["guided_hflip"]))
    return _to_tensor(clip, valid), _to_tensor(clip2, valid2), torch.from_numpy(theta), ids


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled order of the ``n`` sequences in epoch ``epoch`` (depends on seed and epoch only)."""
    return np.random.default_rng([seed, epoch, 0xD01]).permutation(n)


def draw_batch(seed: int, it: int, videos: Sequence[np.ndarray], cfg: Mapping[str, Any]) -> ClipBatch:
    """The batch of (0-based) iteration ``it``: sequences in epoch order, clips and augmentations from
    ``default_rng([seed, it])``; nothing else is read, so a resumed run draws the same batches."""
    rng = np.random.default_rng([seed, it])
    bs, n = int(cfg["batch_size"]), len(videos)
    v1, v2, th, clips = [], [], [], []
    for b in range(bs):
        k = it * bs + b
        seq = int(epoch_order(seed, k // n, n)[k % n])
        a, c, t, ids = make_clip(rng, videos[seq], cfg)
        v1.append(a)
        v2.append(c)
        th.append(t)
        clips.append((seq, ids))
    return ClipBatch(torch.stack(v1), torch.stack(v2), torch.stack(th), clips)


# ------------------------------------------------------------------------------------------------------ training


def train_step(model: DULModel, batch: ClipBatch, cfg: Mapping[str, Any], generator: torch.Generator,
               device: torch.device) -> dict[str, torch.Tensor]:
    """Forward both views and return :func:`motionseg.dul.loss.dul_loss` of the batch. View 1 plus view 2's frame 0
    go through the network with gradients, view 2's frames 1..T-1 without (upstream ``train.py`` L172-183)."""
    B, T = batch.view1.shape[:2]
    x1 = torch.cat([batch.view1, batch.view2[:, :1]], 1).flatten(0, 1).to(device)
    key_a = model(x1)[0]
    with torch.no_grad():
        key_b = model(batch.view2[:, 1:].flatten(0, 1).to(device))[0]
    K, h, w = key_a.shape[1:]
    key_a = key_a.view(B, T + 1, K, h, w)
    key1 = key_a[:, :T].flatten(0, 1)
    key2 = torch.cat([key_a[:, T:], key_b.view(B, T - 1, K, h, w)], 1).flatten(0, 1)
    theta1 = batch.theta1.to(device).repeat_interleave(T, 0)
    theta2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=device).expand(B * T, 2, 3)
    return dul_loss(key1, key2, theta1, theta2, T, grid=int(cfg["grid_size"]), grid_ref=int(cfg["grid_size_ref"]),
                    temperature=float(cfg["temperature"]), ce_ref=float(cfg["ce_ref"]), generator=generator)


def _load_videos(frames_npzs: Sequence[str | Path], video_len: int) -> tuple[list[np.ndarray], list[str]]:
    videos, names = [], []
    for path in frames_npzs:
        ing = load_ingested(path)
        if len(ing.frames) < video_len:
            log.warning("%s: %d frames, fewer than dul.video_len=%d: skipped", path, len(ing.frames), video_len)
            continue
        videos.append(ing.frames)
        names.append(str(ing.manifest.get("sequence", Path(path).stem)))
    if not videos:
        raise InputError(frames_npzs[0] if frames_npzs else "frames", f"no sequence has dul.video_len={video_len} "
                                                                      "frames")
    return videos, names


@dataclass
class DULTrainResult:
    """What :func:`train_dul` did: the trained model (CPU, eval mode), the iteration it resumed from, the
    per-iteration losses of this call, the run's fingerprint and the sequences trained on."""

    model: DULModel
    resumed_from: int
    history: list[dict[str, float]]
    fingerprint: str
    sequences: list[str] = field(default_factory=list)


def train_dul(frames_npzs: Sequence[str | Path], cfg: Mapping[str, Any], seed: int, workdir: str | Path,
              progress: bool = True) -> DULTrainResult:
    """Train a DUL model on the frames of ``frames_npzs`` (ingested-frames files); resumable from ``workdir``.

    See the module docstring. ``cfg`` is the ``dul`` section (:func:`dul_config`).
    """
    cfg = dul_config(cfg)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in frames_npzs]
    videos, names = _load_videos(paths, int(cfg["video_len"]))
    device = select_device(cfg["device"])
    fp = run_fingerprint({"cfg": cfg, "seed": int(seed), "kind": "dul"}, files=paths)[:16]

    torch.manual_seed(seed)
    model = build_model(arch_of(cfg)).to(device)
    optim = make_optimizer(model, cfg)
    start = 0
    ckpt = workdir / CKPT_NAME
    state = load_work_checkpoint(ckpt, fp, "dul", "DUL training checkpoint")
    if state is not None:
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optimizer"])
        start = int(state["iteration"])
        log.info("resuming DUL training from %s at iteration %d", ckpt, start)

    iterations, every = int(cfg["iterations"]), int(cfg["checkpoint_every"])
    metrics, writer = restart_logs(workdir, start, METRIC_COLUMNS)

    def checkpoint(done: int) -> None:
        with atomic_path(ckpt) as tmp:
            torch.save({"fingerprint": fp, "iteration": done, "model": model.state_dict(),
                        "optimizer": optim.state_dict()}, tmp)

    history: list[dict[str, float]] = []
    stop = SigtermFlag().install()
    model.train()
    try:
        with open(metrics, "a", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            bar = tqdm(range(start, iterations), initial=start, total=iterations, desc="train dul",
                       disable=not progress, leave=False)
            for it in bar:
                batch = draw_batch(seed, it, videos, cfg)
                gen = torch.Generator().manual_seed(int(np.random.default_rng([seed, it, 1]).integers(2**62)))
                lr = learning_rate(cfg, it)
                for group in optim.param_groups:
                    group["lr"] = lr * group["lr_mult"]
                losses = train_step(model, batch, cfg, gen, device)
                optim.zero_grad(set_to_none=True)
                losses["main"].backward()
                optim.step()
                done = it + 1
                row = {"iteration": done, "lr": lr, "loss": float(losses["main"].item()),
                       "loss_temp": float(losses["temp"].item()), "loss_cross": float(losses["cross_key"].item())}
                if not all(math.isfinite(v) for v in row.values()):
                    raise FloatingPointError(f"DUL loss is not finite at iteration {done}: {row}")
                wr.writerow(row)
                fh.flush()
                for k in ("loss", "loss_temp", "loss_cross", "lr"):
                    writer.add_scalar(f"dul/{k}", row[k], done)
                history.append(row)
                bar.set_postfix(loss=f"{row['loss']:.4g}")
                checkpoint_or_stop(done, every, iterations, checkpoint, stop, "DUL ")
    finally:
        stop.restore()
        writer.close()
    model = model.cpu().eval()
    return DULTrainResult(model=model, resumed_from=start, history=history, fingerprint=fp, sequences=names)


def run_train_dul(frames_npzs: list, out_ckpt: str | Path, cfg: Mapping[str, Any], seed: int,
                  workdir: str | Path, progress: bool = True) -> None:
    """Rule entry point: train a DUL network on ``frames_npzs`` (ingested-frames files, frames only) and write the
    snapshot ``{"model", "arch", "epoch" (= iterations), "score": None, "config", "seed", "fingerprint",
    "sequences", "resumed_from"}`` atomically to ``out_ckpt``. Work files (``last.pt``, ``metrics.csv``) live in
    ``workdir``; a rerun resumes from them; SIGTERM checkpoints and exits with status 143."""
    checked = dul_config(cfg)
    res = train_dul(frames_npzs, checked, seed, workdir, progress)
    snap = snapshot_dict(res.model, epoch=int(checked["iterations"]), score=None, config=checked, seed=int(seed),
                         fingerprint=res.fingerprint, sequences=res.sequences, resumed_from=res.resumed_from)
    with atomic_path(out_ckpt) as tmp:
        torch.save(snap, tmp)


__all__ = ["CONFIG_KEYS", "ClipBatch", "DULTrainResult", "arch_of", "clip_frames",
           "draw_batch", "dul_config", "learning_rate", "make_clip", "make_optimizer", "run_train_dul", "train_dul",
           "train_step"]
