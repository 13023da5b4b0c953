"""Shared helpers of the flow tests (test_flow.py, test_flow_ptlflow.py) and in-memory flow stand-ins for the method
tests (test_bgfit.py, test_cluster.py)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from motionseg.io.ingest_format import Ingested, save_ingested

REPO = Path(__file__).resolve().parents[1]


def flow_cfg(**overrides) -> dict:
    """The flow section of the repository's config/config.yaml with top-level overrides."""
    cfg = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["flow"])
    cfg.update(overrides)
    return cfg


def write_frames(path: Path, frames: np.ndarray) -> Path:
    """Save frames as an ingested-frames file (names 00000, 00001, ...)."""
    names = [f"{i:05d}" for i in range(len(frames))]
    save_ingested(path, Ingested(frames=frames, names=names, orig_hw=frames.shape[1:3], manifest={"sequence": "seq"}))
    return path


class ArrayFlowSet:
    """A stand-in for the FlowSet of :func:`motionseg.flow.load_flow`, holding gap-1 flows in memory.

    fwd: float32 [T-1, h, w, 2] flows t -> t+1; bwd: float32 [T-1, h, w, 2], element i = flow i+1 -> i.
    """

    def __init__(self, fwd: np.ndarray, bwd: np.ndarray, meta: dict | None = None) -> None:
        self._fwd = np.asarray(fwd, dtype=np.float32)
        self._bwd = np.asarray(bwd, dtype=np.float32)
        self.gaps = [1]
        self.meta = dict(meta or {})

    def forward(self, gap: int) -> np.ndarray:
        """Forward flows of ``gap`` (only gap 1 is held): float32 [T-1, h, w, 2]."""
        if gap != 1:
            raise KeyError(f"ArrayFlowSet holds gap 1 only, asked for {gap}")
        return self._fwd

    def backward(self, gap: int) -> np.ndarray:
        """Backward flows of ``gap`` (only gap 1 is held): float32 [T-1, h, w, 2]."""
        if gap != 1:
            raise KeyError(f"ArrayFlowSet holds gap 1 only, asked for {gap}")
        return self._bwd


def dis_flow(img_a: np.ndarray, img_b: np.ndarray, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> np.ndarray:
    """OpenCV DIS flow from RGB uint8 [h, w, 3] ``img_a`` to ``img_b``: float32 [h, w, 2] px.

    A stand-in for :mod:`motionseg.flow` (single-threaded, deterministic).
    """
    cv2.setNumThreads(1)
    dis = cv2.DISOpticalFlow_create(preset)
    ga = cv2.cvtColor(np.ascontiguousarray(img_a), cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(np.ascontiguousarray(img_b), cv2.COLOR_RGB2GRAY)
    return dis.calc(ga, gb, None).astype(np.float32)


def dis_flowset(frames: Sequence[np.ndarray] | np.ndarray) -> ArrayFlowSet:
    """Gap-1 forward and backward DIS flows of uint8 frames [T, h, w, 3] as an :class:`ArrayFlowSet`."""
    fwd = np.stack([dis_flow(frames[t], frames[t + 1]) for t in range(len(frames) - 1)])
    bwd = np.stack([dis_flow(frames[t + 1], frames[t]) for t in range(len(frames) - 1)])
    return ArrayFlowSet(fwd, bwd, meta={"backend": "dis-standin"})
