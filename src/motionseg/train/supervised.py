"""MTNet as a supervised trained method: training with ground-truth masks, and inference (docs/architecture.md).

Entry points: :func:`run_train_supervised` (resumable training of one :class:`motionseg.models.mtnet.MTNet` on the
labelled frames of several sequences), :func:`run_infer_supervised` (a mask directory of one sequence) and
:func:`run_method` (the registry's dispatch signature, ``"motionseg.train.supervised:run_method"``).

What follows upstream (hy0523/MTNet, snapshot e62604b; facts only, no code):

- inputs: the RGB frame and the optical flow of the same frame rendered as a colour image (here with the Middlebury
  wheel of :func:`motionseg.flow.viz.flow_to_rgb`, normalised by the frame's largest flow, as RAFT's renderer that
  produces upstream's flow images), both resized to ``resolution`` (upstream 512 x 512, aspect ratio not kept) and
  normalised with the ImageNet statistics (inside the network);
- clips of ``n_frames`` frames (upstream 3), played backwards with probability 1/2, mirrored with probability 1/2,
  the same random crop for the whole clip (upstream: up to 30 px off each side of a 480p frame, then resized back);
- loss: BCE-with-logits on the finest output + 0.5 x the sum over the three coarser outputs (deep supervision);
- two stages, each with a new AdamW (weight decay 0.05 on every parameter) and its own iterations, learning rate and
  batch: ``pre_train`` (upstream 80k iterations, lr 1e-4, batch 4, on YouTube-VOS clips; linear warm-up from 1e-6
  over 1500 iterations, then linear decay to 0) and ``main_train`` (10k iterations, lr 1e-4 constant, batch 2, on
  DAVIS-2016 train, starting from the pre-trained weights); mixed precision (float16 autocast + gradient scaling);
- inference on consecutive non-overlapping clips (upstream 9 frames), the finest output's sigmoid.

What differs, and why:

- ``pre_train`` data: upstream pre-trains on another dataset (YouTube-VOS). A workflow train job has the sequences of
  one dataset, so ``pre_train`` runs on the same labelled clips (``pretrain_inputs`` may name other sequences, e.g.
  an ingested YouTube-VOS, when a caller has them); its point here is upstream's warm-up + decay schedule before the
  constant-rate stage. ``pre_train.iterations: 0`` skips it. Its warm-up is upstream's fraction (1500 / 80000) of its
  iterations.
- frames without ground truth are never targets: a clip is drawn around a labelled frame and the loss averages over
  the clip's labelled frames only (upstream's training sets are fully annotated);
- the motion of a mirrored clip is the mirrored flow rendered again (upstream mirrors the flow image, whose colours
  then describe the unmirrored motion); no rotation or colour jitter (upstream: rotation +-15 deg with p 0.2,
  brightness/contrast/colour/sharpness jitter);
- checkpoint: the last iteration (upstream keeps the one with the best IoU on DAVIS val, i.e. chosen with
  ground truth of the evaluation set);
- inference thresholds the sigmoid at 0.5 (upstream first stretches each frame's map to [0, 1] by its min and max,
  which always finds some foreground); AMP only on CUDA; determinism on CPU for a seed.
- flow of the last ``flow_gap`` frames, which have no forward flow: the backward flow of the same gap, negated (flow
  t -> t-g, sign flipped, approximates t -> t+g); upstream's data sets ship one flow image per frame.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motionseg.device import select_device
from motionseg.flow.geometry import resize_frames, resize_masks
from motionseg.flow.store import FlowSet, load_flow
from motionseg.flow.viz import flow_to_rgb as _wheel_rgb
from motionseg.io.atomic import atomic_path
from motionseg.io.checkpoints import load_torch_file, load_work_checkpoint
from motionseg.io.datasets import read_gt_entry
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import Ingested, load_ingested
from motionseg.io.masks import fg_from_probs, write_mask_dir
from motionseg.io.resume import SigtermFlag
from motionseg.io.resume import fingerprint as run_fingerprint
from motionseg.models.mtnet import ENCODERS, MTNet
from motionseg.train.loop import checkpoint_or_stop, restart_logs

log = logging.getLogger(__name__)

METHOD = "mtnet"
CKPT_FORMAT = "motionseg-mtnet-1"
CKPT_NAME = "last.pt"
METRIC_COLUMNS = ["iteration", "stage", "lr", "loss", "loss_main", "loss_aux"]
STAGES = ("pre_train", "main_train")
STAGE_KEYS = ("iterations", "lr", "batch_size")
# keys of the ``mtnet`` config section that training reads (and that its fingerprint holds)
TRAIN_KEYS = ("encoder", "width", "mtt_layers", "ctd_layers", "backbone_weights", "resolution", "n_frames",
              "pre_train", "main_train", "weight_decay", "grad_clip", "augment_flip", "checkpoint_every", "device",
              "amp", "flow_gap")
# keys only inference reads (they change no weight); inference reads these and ``device``
INFER_ONLY_KEYS = ("infer_clip_length",)
INFER_KEYS = ("device", *INFER_ONLY_KEYS)
ALL_KEYS = (*TRAIN_KEYS, *INFER_ONLY_KEYS)

UPSTREAM_WARMUP_FRACTION = 1500 / 80000  # core/utils/args.py: warm_up_steps 1500 of pre_train's max_iter 80000
WARMUP_START_LR = 1e-6  # core/manager/trainer.py: warmup_lr_start
AUX_WEIGHT = 0.5  # core/manager/trainer.py: (aux1 + aux2 + aux3) * 0.5
CROP_MAX_FRAC = 30 / 480  # core/dataloader/video_vos_dataset.py randomCrop: border 30 px (480p frames)
FG_RULE = ("sigmoid of the finest MTNet output > 0.5 (resized to the original size first); the network was trained "
           "with ground-truth masks of its training sequences (supervised)")
LAST_FRAMES_FLOW = "negated backward flow of the same gap (frames without forward flow)"


# -------------------------------------------------------------------------------------------------------- config


def _fail(key: str, problem: str) -> ConfigError:
    return ConfigError(f"mtnet.{key}", problem)


def _int(cfg: Mapping, key: str, minimum: int, name: str | None = None) -> int:
    val = cfg[key]
    if isinstance(val, bool) or not isinstance(val, int) or val < minimum:
        raise _fail(name or key, f"must be an integer >= {minimum}, got {val!r}")
    return int(val)


def _number(cfg: Mapping, key: str, positive: bool, name: str | None = None) -> float:
    val = cfg[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or val < 0 or (positive and val == 0):
        raise _fail(name or key, f"must be a number {'> 0' if positive else '>= 0'}, got {val!r}")
    return float(val)


def _check_keys(cfg: Mapping, required: Sequence[str], allowed: Sequence[str], where: str = "") -> None:
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise _fail(f"{where}{unknown[0]}", f"unknown key (known: {', '.join(allowed)})")
    for key in required:
        if key not in cfg:
            raise _fail(f"{where}{key}", "missing")


def check_train_config(cfg: Mapping) -> dict:
    """Validate the training settings of the ``mtnet`` section (:data:`TRAIN_KEYS`; :data:`INFER_ONLY_KEYS` may be
    present too and are dropped) and return them as a plain dict. ConfigError ``mtnet.<key>`` for a missing, unknown
    or invalid key."""
    if not isinstance(cfg, Mapping):
        raise ConfigError("mtnet", f"must be a mapping, got {type(cfg).__name__}")
    _check_keys(cfg, TRAIN_KEYS, ALL_KEYS)
    if cfg["encoder"] not in ENCODERS:
        raise _fail("encoder", f"unknown encoder {cfg['encoder']!r} (use one of {', '.join(ENCODERS)})")
    width = _int(cfg, "width", 16)
    if width % 4:
        raise _fail("width", f"must be a multiple of the 4 attention heads, got {width}")
    _int(cfg, "mtt_layers", 1)
    _int(cfg, "ctd_layers", 1)
    bw = cfg["backbone_weights"]
    if bw is not None and not isinstance(bw, str):
        raise _fail("backbone_weights", f"must be a path or null, got {bw!r}")
    if bw is not None and cfg["encoder"] == "tiny":
        raise _fail("backbone_weights", "the 'tiny' encoder has no pretrained weights; set it to null")
    res = cfg["resolution"]
    if (not isinstance(res, (list, tuple)) or len(res) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 64 == 0 for v in res)):
        raise _fail("resolution", f"must be [height, width], positive multiples of 64 px (stride 32 x the 2x2 "
                                  f"windows of the temporal module), got {res!r}")
    _int(cfg, "n_frames", 1)
    total = 0
    for stage in STAGES:
        sc = cfg[stage]
        if not isinstance(sc, Mapping):
            raise _fail(stage, f"must be a mapping with {', '.join(STAGE_KEYS)}")
        _check_keys(sc, STAGE_KEYS, STAGE_KEYS, f"{stage}.")
        total += _int(sc, "iterations", 0, f"{stage}.iterations")
        _number(sc, "lr", True, f"{stage}.lr")
        _int(sc, "batch_size", 1, f"{stage}.batch_size")
    if total < 1:
        raise _fail("main_train.iterations", "pre_train and main_train have no iteration between them")
    _number(cfg, "weight_decay", False)
    if cfg["grad_clip"] is not None:
        _number(cfg, "grad_clip", True)
    for key in ("augment_flip", "amp"):
        if not isinstance(cfg[key], bool):
            raise _fail(key, f"must be true or false, got {cfg[key]!r}")
    _int(cfg, "checkpoint_every", 1)
    if not isinstance(cfg["device"], str):
        raise _fail("device", f"must be auto, cpu, cuda or cuda:N, got {cfg['device']!r}")
    _int(cfg, "flow_gap", 1)
    return {k: (dict(cfg[k]) if k in STAGES else list(cfg[k]) if k == "resolution" else cfg[k]) for k in TRAIN_KEYS}


def check_infer_config(cfg: Mapping) -> dict:
    """Validate what inference reads of the ``mtnet`` section (:data:`INFER_KEYS`; the rest of the section may be
    present) and return it. ConfigError ``mtnet.<key>`` for a missing, unknown or invalid key."""
    if not isinstance(cfg, Mapping):
        raise ConfigError("mtnet", f"must be a mapping, got {type(cfg).__name__}")
    _check_keys(cfg, INFER_KEYS, ALL_KEYS)
    _int(cfg, "infer_clip_length", 1)
    if not isinstance(cfg["device"], str):
        raise _fail("device", f"must be auto, cpu, cuda or cuda:N, got {cfg['device']!r}")
    return {k: cfg[k] for k in INFER_KEYS}


def model_from_config(cfg: Mapping, with_backbone_weights: bool = True) -> MTNet:
    """The network a (validated) training config describes; the backbone checkpoint is read only when asked (inference
    takes every weight from the trained checkpoint)."""
    weights = cfg["backbone_weights"] if with_backbone_weights else None
    return MTNet(str(cfg["encoder"]), int(cfg["width"]), int(cfg["n_frames"]), backbone_weights=weights,
                 mtt_layers=int(cfg["mtt_layers"]), ctd_layers=int(cfg["ctd_layers"]))


# ------------------------------------------------------------------------------------------------------------ data


def flow_to_rgb(flow: np.ndarray) -> np.ndarray:
    """Flow float [H, W, 2] (u, v in px) as the colour image MTNet reads: uint8 [H, W, 3] RGB, the Middlebury wheel of
    :func:`motionseg.flow.viz.flow_to_rgb`, saturated at this field's largest finite magnitude."""
    return _wheel_rgb(flow)


def frame_flows(fs: FlowSet, gap: int, n_frames: int, where: str | Path) -> np.ndarray:
    """One flow per frame, float32 [T, h, w, 2] (px): the forward flow t -> t+gap; for the last ``gap`` frames the
    negated backward flow t -> t-gap (:data:`LAST_FRAMES_FLOW`); a frame with neither (sequences shorter than
    2 x gap) takes the previous frame's. InputError naming ``where`` when the gap is missing or the sequence is not
    longer than it."""
    if gap not in fs.gaps:
        raise InputError(where, f"flow gap {gap} (mtnet.flow_gap) is missing (gaps here: {fs.gaps})")
    if len(fs.names) != n_frames:
        raise InputError(where, f"flow of {len(fs.names)} frames for a sequence of {n_frames}")
    if n_frames <= gap:
        raise InputError(where, f"a sequence of {n_frames} frames has no flow of gap {gap}")
    fwd = fs.forward(gap)
    bwd = fs.backward(gap)  # element i: flow from frame i+gap back to frame i
    out = [fwd[t] if t + gap < n_frames else -bwd[t - gap] if t >= gap else None for t in range(n_frames)]
    for t in range(n_frames):
        if out[t] is None:
            out[t] = out[t - 1]
    return np.stack(out).astype(np.float32)


def render_flows(flows: np.ndarray, hw: tuple[int, int], mirrored: bool = False) -> np.ndarray:
    """Colour images of flows float [T, h, w, 2] resized to ``hw``: uint8 [T, 3, H, W]. With ``mirrored`` the
    horizontally mirrored motion (u negated) of the mirrored frames is rendered, i.e. the flow image of the mirrored
    clip."""
    if mirrored:
        flows = flows[:, :, ::-1] * np.asarray([-1.0, 1.0], np.float32)
    rgb = np.stack([flow_to_rgb(f) for f in flows])
    return np.ascontiguousarray(resize_frames(rgb, hw).transpose(0, 3, 1, 2))


def _gt_files(entry: str | list) -> list[str]:
    return [str(p) for p in entry] if isinstance(entry, (list, tuple)) else [str(entry)]


def load_gt_masks(ing: Ingested, frames_npz: str | Path, gt_files: Sequence[str | Path] | None,
                  hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of one ingested sequence at ``hw``: (masks bool [T, h, w], labelled bool [T]).

    Read from the manifest's ``gt_paths`` (frame name -> mask file or list of per-object files) with its
    ``gt_encoding`` / ``gt_threshold`` by :func:`motionseg.io.datasets.read_gt_entry` at the original size, then
    resized by nearest neighbour. When ``gt_files`` (the job's GT inputs) is given, every file the manifest names must
    be among them (so the workflow tracks what training reads). InputError naming the file otherwise.
    """
    m = ing.manifest
    names = list(ing.names)
    masks = np.zeros((len(names), *hw), dtype=bool)
    labelled = np.zeros(len(names), dtype=bool)
    listed = None if gt_files is None else {Path(p).resolve() for p in gt_files}
    index = {n: i for i, n in enumerate(names)}
    for name, entry in (m.get("gt_paths") or {}).items():
        if name not in index:
            raise InputError(frames_npz, f"its manifest has ground truth for frame {name!r}, which it does not hold")
        for f in _gt_files(entry):
            if listed is not None and Path(f).resolve() not in listed:
                raise InputError(f, "ground-truth mask named by the ingest manifest is not among the job's GT inputs")
        fg = read_gt_entry(entry, m.get("gt_encoding", "auto"), expected_hw=tuple(ing.orig_hw),
                           threshold=m.get("gt_threshold"))
        masks[index[name]] = resize_masks(fg, hw)
        labelled[index[name]] = True
    return masks, labelled


@dataclass
class SequenceClips:
    """One sequence at the network resolution (h, w).

    frames: uint8 [T, 3, h, w] RGB; flow: uint8 [T, 3, h, w] its flow image per frame; flow_mirror: uint8 [T, 3, h, w]
    the flow image of the mirrored frames (None without flip augmentation); gt: bool [T, h, w]; labelled: bool [T]
    frames with ground truth (the only targets); name: the sequence.
    """

    frames: torch.Tensor
    flow: torch.Tensor
    flow_mirror: torch.Tensor | None
    gt: torch.Tensor
    labelled: np.ndarray
    name: str

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def load_sequences(inputs: Sequence[Mapping], cfg: Mapping) -> list[SequenceClips]:
    """Read frames, flow and ground truth of every input {"frames", "flow", "gt"} at ``cfg["resolution"]``."""
    hw = (int(cfg["resolution"][0]), int(cfg["resolution"][1]))
    gap = int(cfg["flow_gap"])
    out = []
    for item in inputs:
        ing = load_ingested(item["frames"])
        n = len(ing.frames)
        flows = frame_flows(load_flow(item["flow"]), gap, n, item["flow"])
        gt, labelled = load_gt_masks(ing, item["frames"], item.get("gt"), hw)
        out.append(SequenceClips(
            frames=torch.from_numpy(np.ascontiguousarray(resize_frames(ing.frames, hw).transpose(0, 3, 1, 2))),
            flow=torch.from_numpy(render_flows(flows, hw)),
            flow_mirror=torch.from_numpy(render_flows(flows, hw, mirrored=True)) if cfg["augment_flip"] else None,
            gt=torch.from_numpy(gt),
            labelled=labelled,
            name=str(ing.manifest.get("sequence", Path(item["frames"]).stem)),
        ))
    if not any(s.labelled.any() for s in out):
        raise InputError(inputs[0]["frames"] if inputs else "inputs",
                         "no frame of the training sequences has a ground-truth mask (supervised training needs some)")
    return out


def data_digest(data: Sequence[SequenceClips]) -> str:
    """SHA-256 (16 hex chars) of every array training reads, in order."""
    h = hashlib.sha256()
    for seq in data:
        arrays = [seq.frames.numpy(), seq.flow.numpy(), seq.gt.numpy(), seq.labelled]
        if seq.flow_mirror is not None:
            arrays.append(seq.flow_mirror.numpy())
        for a in arrays:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@dataclass
class Clip:
    """One training clip: sequence index, frame indices in playing order, mirrored or not, crop box (y0, x0, h, w)
    in network-resolution pixels."""

    seq: int
    frames: list[int]
    flip: bool
    crop: tuple[int, int, int, int]


def draw_clips(rng: np.random.Generator, data: Sequence[SequenceClips], batch_size: int, n_frames: int,
               flip: bool) -> list[Clip]:
    """Draw ``batch_size`` clips: a sequence with labels uniformly, one of its labelled frames uniformly, a window of
    ``n_frames`` neighbouring frames holding it at a uniform position (clamped into the sequence; frames repeat when
    the sequence is shorter), reversed with p 1/2, mirrored with p 1/2 (with ``flip``), and one crop box per clip
    (each side shortened by up to :data:`CROP_MAX_FRAC`, placed uniformly)."""
    usable = [i for i, s in enumerate(data) if s.labelled.any()]
    clips = []
    for _ in range(batch_size):
        s = usable[int(rng.integers(len(usable)))]
        seq = data[s]
        t = int(rng.choice(np.flatnonzero(seq.labelled)))
        start = t - int(rng.integers(n_frames))
        start = min(max(start, 0), max(seq.n_frames - n_frames, 0))
        idx = np.clip(start + np.arange(n_frames), 0, seq.n_frames - 1).tolist()
        if rng.random() < 0.5:
            idx = idx[::-1]
        mirrored = bool(flip and rng.random() < 0.5)
        h, w = seq.frames.shape[-2:]
        ch = h - int(rng.integers(int(CROP_MAX_FRAC * h) + 1))
        cw = w - int(rng.integers(int(CROP_MAX_FRAC * w) + 1))
        y0, x0 = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        clips.append(Clip(seq=s, frames=[int(i) for i in idx], flip=mirrored, crop=(y0, x0, ch, cw)))
    return clips


def _crop_resize(x: torch.Tensor, crop: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Crop [N, C, h, w] to ``crop`` and resize back to (h, w) (bilinear or nearest)."""
    y0, x0, ch, cw = crop
    h, w = x.shape[-2:]
    if (ch, cw) == (h, w):
        return x
    part = x[..., y0:y0 + ch, x0:x0 + cw]
    if mode == "nearest":
        return F.interpolate(part, size=(h, w), mode="nearest")
    return F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False)


def clip_tensors(data: Sequence[SequenceClips], clips: Sequence[Clip]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tensors of ``clips``: rgb, flow float [B, T, 3, h, w] in [0, 1], targets float [B*T, 1, h, w] in {0, 1} and
    weights float [B*T] (1 for labelled frames, 0 for the others)."""
    rgbs, flows, gts, weights = [], [], [], []
    for c in clips:
        seq = data[c.seq]
        rgb = seq.frames[c.frames].float() / 255.0
        flow = (seq.flow_mirror if c.flip else seq.flow)[c.frames].float() / 255.0
        gt = seq.gt[c.frames][:, None].float()
        if c.flip:
            rgb, gt = rgb.flip(-1), gt.flip(-1)
        rgbs.append(_crop_resize(rgb, c.crop, "bilinear"))
        flows.append(_crop_resize(flow, c.crop, "bilinear"))
        gts.append(_crop_resize(gt, c.crop, "nearest"))
        weights.append(torch.from_numpy(seq.labelled[c.frames].astype(np.float32)))
    return torch.stack(rgbs), torch.stack(flows), torch.cat(gts), torch.cat(weights)


# -------------------------------------------------------------------------------------------------------- training


def deep_supervision_loss(logits: Sequence[torch.Tensor], target: torch.Tensor, weight: torch.Tensor
                          ) -> dict[str, torch.Tensor]:
    """Upstream's loss over the decoder outputs: BCE-with-logits of the finest (``loss_main``) + 0.5 x the sum over the
    others (``loss_aux``); ``loss`` is their sum. logits: [N, 1, H, W] each, finest first; target: float [N, 1, H, W]
    in {0, 1}; weight: float [N], frames of weight 0 (no ground truth) do not count. Each term is the mean over the
    pixels of the weighted frames."""
    denom = weight.sum().clamp_min(1.0)
    terms = []
    for lg in logits:
        per_frame = F.binary_cross_entropy_with_logits(lg.float(), target, reduction="none").mean(dim=(1, 2, 3))
        terms.append((per_frame * weight).sum() / denom)
    main, aux = terms[0], AUX_WEIGHT * torch.stack(terms[1:]).sum()
    return {"loss": main + aux, "loss_main": main, "loss_aux": aux}


def stage_learning_rate(stage: str, stage_cfg: Mapping, it: int) -> float:
    """Learning rate at (0-based) iteration ``it`` of ``stage``: ``main_train`` constant; ``pre_train`` linear warm-up
    from 1e-6 over :data:`UPSTREAM_WARMUP_FRACTION` of its iterations, then linear decay towards 0 (upstream's
    ``adjust_learning_rate`` with power 1)."""
    lr = float(stage_cfg["lr"])
    if stage == "main_train":
        return lr
    n = int(stage_cfg["iterations"])
    warm = int(round(n * UPSTREAM_WARMUP_FRACTION))
    if it < warm:
        return WARMUP_START_LR + (lr - WARMUP_START_LR) * it / warm
    return lr * (1.0 - (it - warm) / (n - warm + 1))


def _stage_at(cfg: Mapping, it: int) -> tuple[str, int]:
    """(stage, iteration inside the stage) of global iteration ``it``."""
    pre = int(cfg["pre_train"]["iterations"])
    return ("pre_train", it) if it < pre else ("main_train", it - pre)


def _optimizer(model: torch.nn.Module, cfg: Mapping, stage: str) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=float(cfg[stage]["lr"]), weight_decay=float(cfg["weight_decay"]))


@dataclass
class TrainOutcome:
    """Weights after the last iteration, where the run resumed from, and the per-iteration metrics of this call."""

    state_dict: dict[str, torch.Tensor]
    resumed_from: int
    history: list[dict[str, Any]]


def train_mtnet(data: list[SequenceClips], cfg: Mapping, seed: int, workdir: str | Path, run_id: Any = None,
                progress: bool = True, pretrain_data: list[SequenceClips] | None = None) -> TrainOutcome:
    """Train MTNet on prepared sequences (:func:`load_sequences`); resumable from ``workdir``.

    ``cfg``: validated training settings (:func:`check_train_config`). Global iterations 0 .. pre + main - 1 run
    ``pre_train`` on ``pretrain_data`` (default ``data``) then ``main_train`` on ``data``, each stage with a fresh
    AdamW. Clips depend only on (seed, iteration), so a resumed run reproduces the uninterrupted one. Every
    ``checkpoint_every`` iterations, at the end and on SIGTERM (then :class:`Preempted`, exit 143) the state
    (weights, optimiser, gradient scaler, RNG) goes to ``workdir/last.pt``; a work dir of another run (settings,
    seed, inputs or data differ: :func:`motionseg.io.resume.fingerprint`) is refused with ConfigError. Metrics go to
    ``workdir/metrics.csv`` and ``workdir/tensorboard``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = select_device(str(cfg["device"]))
    use_amp = bool(cfg["amp"]) and device.type == "cuda"
    pre_data = data if pretrain_data is None else pretrain_data
    torch.manual_seed(seed)
    model = model_from_config(cfg).to(device)  # first: InputError for an unusable backbone_weights file
    files = [cfg["backbone_weights"]] if cfg["backbone_weights"] else []
    digest = [data_digest(data), None if pretrain_data is None else data_digest(pretrain_data)]
    fp = run_fingerprint({"cfg": dict(cfg), "seed": seed, "inputs": run_id, "data": digest}, files=files)[:16]
    total = int(cfg["pre_train"]["iterations"]) + int(cfg["main_train"]["iterations"])
    every = int(cfg["checkpoint_every"])

    optim: torch.optim.Optimizer | None = None
    opt_stage: str | None = None
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start = 0
    ckpt_path = workdir / CKPT_NAME
    state = load_work_checkpoint(ckpt_path, fp, "mtnet", "MTNet training checkpoint")
    if state is not None:
        model.load_state_dict(state["model"])
        start = int(state["iteration"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        if start < total and state["opt_stage"] == _stage_at(cfg, start)[0]:
            opt_stage = state["opt_stage"]
            optim = _optimizer(model, cfg, opt_stage)
            optim.load_state_dict(state["optimizer"])
            if state.get("scaler") and use_amp:  # empty when saved without AMP (e.g. device auto on a CPU node)
                scaler.load_state_dict(state["scaler"])
        log.info("resuming MTNet training from %s at iteration %d", ckpt_path, start)

    metrics_path, tb = restart_logs(workdir, start, METRIC_COLUMNS)
    stop = SigtermFlag().install()

    def checkpoint(done: int) -> None:
        with atomic_path(ckpt_path) as tmp_ckpt:
            torch.save({
                "fingerprint": fp, "iteration": done, "model": model.state_dict(), "opt_stage": opt_stage,
                "optimizer": None if optim is None else optim.state_dict(), "scaler": scaler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            }, tmp_ckpt)

    history: list[dict[str, Any]] = []
    model.train()
    try:
        with open(metrics_path, "a", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            bar = tqdm(range(start, total), initial=start, total=total, desc="train mtnet", disable=not progress,
                       leave=False)
            for it in bar:
                stage, it_stage = _stage_at(cfg, it)
                if optim is None or opt_stage != stage:
                    optim, opt_stage = _optimizer(model, cfg, stage), stage
                    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
                lr = stage_learning_rate(stage, cfg[stage], it_stage)
                for group in optim.param_groups:
                    group["lr"] = lr
                rng = np.random.default_rng([seed, it])
                clips = draw_clips(rng, pre_data if stage == "pre_train" else data, int(cfg[stage]["batch_size"]),
                                   int(cfg["n_frames"]), bool(cfg["augment_flip"]))
                rgb, flow, target, weight = (t.to(device) for t in clip_tensors(
                    pre_data if stage == "pre_train" else data, clips))
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    logits = model(rgb, flow)
                losses = deep_supervision_loss(logits, target, weight)
                optim.zero_grad(set_to_none=True)
                scaler.scale(losses["loss"]).backward()
                if cfg["grad_clip"] is not None:
                    scaler.unscale_(optim)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                scaler.step(optim)
                scaler.update()
                done = it + 1
                row: dict[str, Any] = {"iteration": done, "stage": stage, "lr": lr}
                for key in ("loss", "loss_main", "loss_aux"):
                    row[key] = float(losses[key].item())
                    tb.add_scalar(f"train/{key}", row[key], done)
                tb.add_scalar("train/lr", lr, done)
                wr.writerow(row)
                fh.flush()
                history.append(row)
                bar.set_postfix(stage=stage, loss=f"{row['loss']:.4g}")
                checkpoint_or_stop(done, every, total, checkpoint, stop)
    finally:
        tb.close()
        stop.restore()
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return TrainOutcome(state_dict=state_dict, resumed_from=start, history=history)


def _run_id(inputs: Sequence[Mapping]) -> list[dict]:
    """The inputs as JSON-able strings (paths; GT file lists kept as lists)."""
    out = []
    for item in inputs:
        out.append({k: ([str(p) for p in v] if isinstance(v, (list, tuple)) else None if v is None else str(v))
                    for k, v in item.items()})
    return out


def run_train_supervised(inputs: list[dict], out_ckpt: str | Path, cfg: Mapping, seed: int, workdir: str | Path,
                         progress: bool = True, pretrain_inputs: list[dict] | None = None) -> None:
    """Train MTNet with ground-truth masks on all ``inputs`` sequences and write it atomically to ``out_ckpt``.

    inputs: one {"frames": ingested npz, "flow": flow dir, "gt": list of the sequence's GT mask files (or None)} per
    sequence; the GT of each frame comes from the ingest manifest's ``gt_paths`` (:func:`load_gt_masks`), frames
    without GT are never targets. cfg: the ``mtnet`` section (:func:`check_train_config`); seed: the global seed;
    workdir: resumable work files (``last.pt``, ``metrics.csv``, ``tensorboard/``). ``pretrain_inputs`` (same form)
    are the sequences of the ``pre_train`` stage when given (upstream pre-trains on YouTube-VOS), else ``inputs``.
    The checkpoint holds {"format", "state_dict", "config", "provenance"}.
    """
    tcfg = check_train_config(cfg)
    if not inputs:
        raise ValueError("run_train_supervised needs at least one input sequence")
    data = load_sequences(inputs, tcfg)
    pre = load_sequences(pretrain_inputs, tcfg) if pretrain_inputs else None
    run_id = {"inputs": _run_id(inputs), "pretrain_inputs": _run_id(pretrain_inputs) if pretrain_inputs else None}
    res = train_mtnet(data, tcfg, seed, workdir, run_id=run_id, progress=progress, pretrain_data=pre)
    provenance = {
        "method": METHOD,
        "supervision": "supervised",
        "seed": seed,
        "sequences": [s.name for s in data],
        "labelled_frames": int(sum(int(s.labelled.sum()) for s in data)),
        "pretrain_sequences": [s.name for s in pre] if pre is not None else "the training sequences",
        "inputs": run_id["inputs"],
        "iterations": {stage: int(tcfg[stage]["iterations"]) for stage in STAGES},
        "selection": "last",
        "resumed_from": res.resumed_from,
        "oracle": False,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    with atomic_path(out_ckpt) as tmp:
        torch.save({"format": CKPT_FORMAT, "state_dict": res.state_dict, "config": tcfg,
                    "provenance": provenance}, tmp)


def import_released(released: str | Path, out_ckpt: str | Path, cfg: Mapping) -> None:
    """Write the authors' released MTNet weights (``mtnet.pth``, ``{"it", "network"}``) as a checkpoint of this
    module, so that :func:`run_infer_supervised` can use them. ``cfg`` must describe the paper's network
    (``encoder: convnext_tiny``, ``width: 96``; upstream ran it at ``resolution: [512, 512]``)."""
    tcfg = check_train_config(cfg)
    model = model_from_config(tcfg, with_backbone_weights=False)
    model.load_released(released)
    provenance = {"method": METHOD, "supervision": "supervised", "released": str(released), "sequences": [],
                  "selection": "released", "oracle": False, "torch": torch.__version__}
    with atomic_path(out_ckpt) as tmp:
        torch.save({"format": CKPT_FORMAT, "state_dict": model.state_dict(), "config": tcfg,
                    "provenance": provenance}, tmp)


# ------------------------------------------------------------------------------------------------------- inference


def load_checkpoint(ckpt: str | Path) -> dict:
    """Read a checkpoint written by :func:`run_train_supervised`; InputError naming the file when it is not one."""
    state = load_torch_file(ckpt, "MTNet checkpoint", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise InputError(ckpt, f"not a motionseg MTNet checkpoint (format {CKPT_FORMAT} expected)")
    return state


def predict_sequence(model: MTNet, frames: np.ndarray, flows: np.ndarray, hw: tuple[int, int], clip_length: int,
                     device: torch.device, progress: bool = False) -> np.ndarray:
    """Foreground probability of every frame: float32 [T, h, w] at the network resolution ``hw``.

    frames: uint8 [T, H, W, 3]; flows: float [T, h', w', 2] one flow per frame (:func:`frame_flows`). The sequence is
    cut into consecutive clips of ``clip_length`` frames (the last one shorter), each segmented in one forward; the
    probability is the sigmoid of the finest output.
    """
    rgb_all = np.ascontiguousarray(resize_frames(frames, hw).transpose(0, 3, 1, 2))
    flow_all = render_flows(flows, hw)
    model.eval()
    out = []
    with torch.no_grad():
        starts = range(0, len(frames), clip_length)
        for s in tqdm(starts, desc="mtnet", disable=not progress, leave=False):
            rgb = torch.from_numpy(rgb_all[s:s + clip_length]).float().div(255.0)[None].to(device)
            flow = torch.from_numpy(flow_all[s:s + clip_length]).float().div(255.0)[None].to(device)
            out.append(torch.sigmoid(model(rgb, flow)[0].float())[:, 0].cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def run_infer_supervised(ckpt: str | Path, frames_npz: str | Path, flow_dir: str | Path, out_mask_dir: str | Path,
                         cfg: Mapping, seed: int, progress: bool = True) -> None:
    """Segment one sequence with a trained MTNet and write its mask directory (:mod:`motionseg.io.masks`).

    The network and its settings (resolution, flow gap) come from the checkpoint; ``cfg`` gives ``device`` and
    ``infer_clip_length`` (:func:`check_infer_config`). Every frame is segmented (:func:`predict_sequence`; the last
    ``flow_gap`` frames read the negated backward flow). Written: binary masks at the original resolution (the
    probability resized bilinearly, > 0.5), 2-segment probabilities [background, foreground] at the ingested working
    resolution with foreground flags [0, 1], and ``meta.json`` (method ``mtnet``, mode ``trained``, supervision
    ``supervised``, not an oracle). ``seed`` is recorded (inference is deterministic).
    """
    icfg = check_infer_config(cfg)
    state = load_checkpoint(ckpt)
    tcfg = state["config"]
    ing = load_ingested(frames_npz)
    flows = frame_flows(load_flow(flow_dir), int(tcfg["flow_gap"]), len(ing.frames), flow_dir)
    device = select_device(str(icfg["device"]))
    torch.manual_seed(seed)
    model = model_from_config(tcfg, with_backbone_weights=False)
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as exc:
        raise InputError(ckpt, f"weights do not match the network its config describes "
                               f"({str(exc).splitlines()[-1].strip()})") from exc
    model.to(device)
    hw = (int(tcfg["resolution"][0]), int(tcfg["resolution"][1]))
    prob = predict_sequence(model, ing.frames, flows, hw, int(icfg["infer_clip_length"]), device, progress)
    work_hw = tuple(int(v) for v in ing.frames.shape[1:3])
    prob_t = torch.from_numpy(prob)[:, None]
    prob = F.interpolate(prob_t, size=work_hw, mode="bilinear", align_corners=False)[:, 0].clamp(0, 1).numpy()
    probs = np.stack([1.0 - prob, prob], axis=1).astype(np.float32)
    fg_seg = np.array([False, True])
    fg = fg_from_probs(probs, fg_seg, ing.orig_hw)
    prov = state["provenance"]
    meta = {
        "method": METHOD,
        "mode": "trained",
        "supervision": "supervised",
        "oracle": False,
        "oracle_reason": None,
        "seed": seed,
        "fg_rule": FG_RULE,
        "K": 2,
        "checkpoint": str(ckpt),
        "encoder": tcfg["encoder"],
        "resolution": list(tcfg["resolution"]),
        "flow_gap": int(tcfg["flow_gap"]),
        "last_frames_flow": LAST_FRAMES_FLOW,
        "infer_clip_length": int(icfg["infer_clip_length"]),
        "trained_on": prov.get("sequences"),
        "selection": prov.get("selection"),
    }
    write_mask_dir(out_mask_dir, ing.names, fg, probs, fg_seg, meta)


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of ``mtnet`` (:func:`motionseg.registry.run_method`): :func:`run_infer_supervised` with
    the ``model``, ``frames`` and ``flow`` of ``inputs``; ``cfg`` is the ``mtnet`` section (or its inference keys)."""
    if method != METHOD:
        raise ValueError(f"motionseg.train.supervised runs method {METHOD!r}, not {method!r}")
    run_infer_supervised(inputs["model"], inputs["frames"], inputs["flow"], out_mask_dir, cfg, seed)
