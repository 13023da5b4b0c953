"""Optical-flow backends behind one interface: ``FlowBackend.compute(img1, img2) -> flow``.

Weight-free: ``dis`` (OpenCV DIS), ``farneback`` (OpenCV). Learned: ``raft_large`` / ``raft_small``
(torchvision.models.optical_flow) and ``ptlflow:<model>`` (optional package ptlflow). Learned backends load their
weights from a local file (``flow.<backend>.checkpoint``), from the torch hub cache (``checkpoint: download``), or are
randomly initialised only when ``flow.allow_random_weights`` is true (then ``random_weights`` is True).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np
import torch

from motionseg.device import select_device
from motionseg.flow.config import (
    DOWNLOAD,
    backend_kind,
    checkpoint_key,
    checkpoint_value,
    expected_weight_file,
    ptlflow_model_name,
)
from motionseg.flow.geometry import crop_padding, pad_to_multiple
from motionseg.io.checkpoints import load_state_dict_file
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.hashing import sha256_file

log = logging.getLogger(__name__)

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# config key of flow.dis -> DIS setter; a null value keeps the preset's setting
DIS_OPTIONS = {
    "finest_scale": "setFinestScale",
    "patch_size": "setPatchSize",
    "patch_stride": "setPatchStride",
    "gradient_descent_iterations": "setGradientDescentIterations",
    "variational_refinement_iterations": "setVariationalRefinementIterations",
}


def _check_pair(img1: np.ndarray, img2: np.ndarray) -> None:
    """Raise ValueError unless img1 and img2 are equal-shaped uint8 [B, H, W, 3]."""
    if img1.shape != img2.shape or img1.ndim != 4 or img1.shape[-1] != 3 or img1.dtype != np.uint8:
        raise ValueError(
            f"expected two uint8 [B,H,W,3] batches, got {img1.dtype}{img1.shape} and {img2.dtype}{img2.shape}"
        )


def _per_grey_pair(img1: np.ndarray, img2: np.ndarray, flow_fn) -> np.ndarray:
    """Apply ``flow_fn(grey_a, grey_b) -> float32 [H, W, 2]`` to each pair of uint8 RGB [B, H, W, 3] batches."""
    _check_pair(img1, img2)
    out = np.empty((*img1.shape[:3], 2), dtype=np.float32)
    for i, (a, b) in enumerate(zip(img1, img2, strict=True)):
        out[i] = flow_fn(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY))
    return out


class FlowBackend:
    """Base class. ``compute(img1, img2)`` maps uint8 RGB [B, H, W, 3] pairs to float32 [B, H, W, 2] forward flow.

    The flow (u, v) in pixels maps pixel (x, y) of img1 to (x + u, y + v) in img2.
    """

    name: str = ""
    learned: bool = False
    random_weights: bool = False
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    device: torch.device = torch.device("cpu")

    def compute(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        """Flow float32 [B, H, W, 2] (px) from img1 to img2 (uint8 RGB [B, H, W, 3] each)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Provenance for meta.json: backend, checkpoint path and sha256, random_weights, device."""
        return {
            "backend": self.name,
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "random_weights": self.random_weights,
            "device": str(self.device),
        }


class DISBackend(FlowBackend):
    """OpenCV Dense Inverse Search on grey images; options from ``flow.dis``."""

    def __init__(self, cfg: dict) -> None:
        self.name = "dis"
        preset = cfg["preset"]
        if preset not in DIS_PRESETS:
            raise ConfigError("flow.dis.preset", f"unknown DIS preset '{preset}' (use {', '.join(DIS_PRESETS)})")
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        for key, setter in DIS_OPTIONS.items():
            if cfg.get(key) is not None:
                getattr(self._dis, setter)(int(cfg[key]))

    def compute(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        return _per_grey_pair(img1, img2, lambda ga, gb: self._dis.calc(ga, gb, None))


class FarnebackBackend(FlowBackend):
    """OpenCV Farneback polynomial-expansion flow on grey images; parameters from ``flow.farneback``."""

    def __init__(self, cfg: dict) -> None:
        self.name = "farneback"
        self._args = (
            float(cfg["pyr_scale"]),
            int(cfg["levels"]),
            int(cfg["winsize"]),
            int(cfg["iterations"]),
            int(cfg["poly_n"]),
            float(cfg["poly_sigma"]),
            0,
        )

    def compute(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        return _per_grey_pair(img1, img2, lambda ga, gb: cv2.calcOpticalFlowFarneback(ga, gb, None, *self._args))


class TorchFlowBackend(FlowBackend):
    """Shared plumbing of the network backends: to tensor, pad to ``stride``, inference mode, AMP on CUDA, crop back.

    Frames smaller than ``min_size`` are replicate-padded up to it (torchvision RAFT needs >= 128 px per side).
    """

    learned = True
    stride = 8
    min_size = 0

    def __init__(self, model: torch.nn.Module, device: torch.device, amp: bool) -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.amp = bool(amp) and device.type == "cuda"

    def _forward(self, img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
        """Network call on padded float RGB [B, 3, H, W] in [0, 1]; returns flow [B, 2, H, W] (px)."""
        raise NotImplementedError

    def compute(self, img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
        _check_pair(img1, img2)
        with torch.inference_mode():
            t1 = torch.from_numpy(np.ascontiguousarray(img1)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            t2 = torch.from_numpy(np.ascontiguousarray(img2)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
            t1, pads = pad_to_multiple(t1, self.stride, self.min_size)
            t2, _ = pad_to_multiple(t2, self.stride, self.min_size)
            autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
            with autocast:
                flow = self._forward(t1, t2)
            flow = crop_padding(flow.float(), pads)
            return flow.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class RaftBackend(TorchFlowBackend):
    """torchvision RAFT (``raft_large`` / ``raft_small``): input RGB in [-1, 1], returns the last refinement."""

    min_size = 128  # its correlation pyramid needs feature maps of >= 16 px (1/8 resolution)

    def __init__(self, name: str, model: torch.nn.Module, device: torch.device, amp: bool, updates: int) -> None:
        super().__init__(model, device, amp)
        self.name = name
        self.num_flow_updates = int(updates)

    def _forward(self, img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
        return self.model(img1 * 2.0 - 1.0, img2 * 2.0 - 1.0, num_flow_updates=self.num_flow_updates)[-1]


class PtlflowBackend(TorchFlowBackend):
    """A ptlflow model: input ``{"images": [B, 2, 3, H, W]}`` BGR in [0, 1] (what ptlflow's IOAdapter builds).

    Frames are padded to >= 128 px: RAFT-like models (4-level correlation pyramids on 1/8 features) give NaN below.
    """

    min_size = 128

    def __init__(self, name: str, model: torch.nn.Module, device: torch.device, amp: bool) -> None:
        super().__init__(model, device, amp)
        self.name = name
        self.stride = int(getattr(model, "output_stride", 8) or 8)

    def _forward(self, img1: torch.Tensor, img2: torch.Tensor) -> torch.Tensor:
        images = torch.stack([img1, img2], dim=1).flip(2).contiguous()  # RGB -> BGR on the channel axis
        preds = self.model({"images": images})
        return preds["flows"][:, 0]


def _seeded_init(build, seed: int) -> torch.nn.Module:
    """Call ``build()`` with torch's global RNG seeded by ``seed`` (restored afterwards): reproducible weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _build_raft(name: str, flow_cfg: dict, device: torch.device, seed: int) -> RaftBackend:
    """Build a torchvision RAFT backend from ``flow.<name>`` (checkpoint file, hub download, or random init)."""
    from torchvision.models import optical_flow

    ctor = getattr(optical_flow, name)
    key = checkpoint_key(name)
    ckpt = checkpoint_value(flow_cfg, name)
    random_weights = False
    sha = None
    if ckpt == DOWNLOAD:
        weights_enum = optical_flow.Raft_Large_Weights if name == "raft_large" else optical_flow.Raft_Small_Weights
        weights = weights_enum.DEFAULT
        ckpt = str(Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name)
        try:
            model = ctor(weights=weights, progress=False)
        except Exception as exc:
            raise ConfigError(
                key,
                f"could not fetch {Path(weights.url).name} into the torch hub cache ({exc}); without a network put the "
                f"file at {ckpt} or set {key} to its path",
            ) from exc
        sha = sha256_file(ckpt) if Path(ckpt).is_file() else None
    elif ckpt:
        model = ctor(weights=None)
        state = load_state_dict_file(ckpt)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(
                ckpt, f"checkpoint does not match torchvision {name} ({str(exc).splitlines()[0]})"
            ) from exc
        sha = sha256_file(ckpt)
    else:
        _require_random_allowed(flow_cfg, name)
        model = _seeded_init(lambda: ctor(weights=None), seed)
        random_weights = True
        ckpt = None
    backend = RaftBackend(name, model, device, flow_cfg["amp"], flow_cfg[name]["num_flow_updates"])
    backend.checkpoint, backend.checkpoint_sha256, backend.random_weights = ckpt, sha, random_weights
    return backend


def _build_ptlflow(name: str, flow_cfg: dict, device: torch.device, seed: int) -> PtlflowBackend:
    """Build a ``ptlflow:<model>`` backend (local ``.ckpt`` file, ptlflow checkpoint name, or random init)."""
    try:
        import ptlflow
    except ImportError as exc:
        raise ConfigError(
            "flow.backends", f"backend '{name}' needs ptlflow: pip install -e \".[ptlflow]\" ({exc})"
        ) from exc
    model_name = ptlflow_model_name(name)
    if model_name not in ptlflow.get_model_names():
        raise ConfigError("flow.backends", f"ptlflow has no model '{model_name}' (see ptlflow.get_model_names())")
    ckpt = checkpoint_value(flow_cfg, name)
    random_weights = False
    sha = None
    if ckpt:
        if Path(ckpt).suffix and not Path(ckpt).is_file():
            raise InputError(ckpt, "checkpoint file does not exist")
        try:
            model = ptlflow.get_model(model_name, ckpt_path=str(ckpt))
        except (KeyError, RuntimeError, ValueError) as exc:
            raise InputError(ckpt, f"cannot load as a ptlflow {model_name} checkpoint ({exc!r})") from exc
        if not Path(ckpt).is_file():  # a release checkpoint name: ptlflow keeps the file in the torch hub cache
            url = getattr(model, "pretrained_checkpoints", {}).get(ckpt, "")
            ckpt = str(Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name) if url else ckpt
        sha = sha256_file(ckpt) if Path(ckpt).is_file() else None
    else:
        _require_random_allowed(flow_cfg, name)
        model = _seeded_init(lambda: ptlflow.get_model(model_name, ckpt_path=None), seed)
        random_weights = True
        ckpt = None
    backend = PtlflowBackend(name, model, device, flow_cfg["amp"])
    backend.checkpoint, backend.checkpoint_sha256, backend.random_weights = ckpt, sha, random_weights
    return backend


def _require_random_allowed(flow_cfg: dict, backend: str) -> None:
    """Raise the missing-checkpoint ConfigError unless ``flow.allow_random_weights`` is true."""
    if not flow_cfg["allow_random_weights"]:
        key = checkpoint_key(backend)
        raise ConfigError(
            key,
            f"learned flow backend '{backend}' has no checkpoint: set {key} to a local copy of "
            f"{expected_weight_file(backend)} (random weights need flow.allow_random_weights: true)",
        )
    log.warning("flow backend %s runs with RANDOM weights (flow.allow_random_weights: true)", backend)


def get_backend(name: str, flow_cfg: dict, *, seed: int = 0, device: str | None = None) -> FlowBackend:
    """Build the flow backend ``name`` configured by the ``flow`` section ``flow_cfg``.

    ``seed`` seeds random initialisation (only used when random weights are allowed); ``device`` overrides
    ``flow.device`` for learned backends.
    """
    kind = backend_kind(name)
    if kind == "classical":
        return DISBackend(flow_cfg["dis"]) if name == "dis" else FarnebackBackend(flow_cfg["farneback"])
    dev = select_device(device or flow_cfg["device"])
    if kind == "torchvision":
        return _build_raft(name, flow_cfg, dev, seed)
    return _build_ptlflow(name, flow_cfg, dev, seed)
