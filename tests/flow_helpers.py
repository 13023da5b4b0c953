"""Shared helpers of the flow tests (test_flow.py, test_flow_ptlflow.py)."""

from __future__ import annotations

import copy
from pathlib import Path

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
