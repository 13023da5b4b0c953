"""Training a segmentation network from motion (GWM flow reconstruction, LRTL trajectory losses) and inference.

Entry points: :func:`run_train` (resumable training of one network on several sequences) and :func:`run_segment`
(K soft masks per frame and the GT-free foreground rule). :func:`train_model` is the array-level core. The
``-boot`` variants (``gwm-boot``, ``lrtl-boot``) add a pseudo-label loss towards another GT-free method's masks.
Light imports at the top (no torch), so the Snakefile can read :mod:`motionseg.train.config` cheaply; the torch
modules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionseg.io.errors import Preempted
from motionseg.lazy import lazy_attributes
from motionseg.train.config import infer_config, train_config

if TYPE_CHECKING:
    from motionseg.train.api import load_checkpoint, run_segment, run_train, split_method
    from motionseg.train.loop import TrainResult, train_model
    from motionseg.train.segment import FG_RULE_BOOT, FG_RULE_BORDER, foreground_segments, predict_probs

__all__ = [
    "FG_RULE_BOOT",
    "FG_RULE_BORDER",
    "Preempted",
    "TrainResult",
    "foreground_segments",
    "infer_config",
    "load_checkpoint",
    "predict_probs",
    "run_segment",
    "run_train",
    "split_method",
    "train_config",
    "train_model",
]

_LAZY = {
    "load_checkpoint": "motionseg.train.api",
    "run_segment": "motionseg.train.api",
    "run_train": "motionseg.train.api",
    "split_method": "motionseg.train.api",
    "TrainResult": "motionseg.train.loop",
    "train_model": "motionseg.train.loop",
    "FG_RULE_BOOT": "motionseg.train.segment",
    "FG_RULE_BORDER": "motionseg.train.segment",
    "foreground_segments": "motionseg.train.segment",
    "predict_probs": "motionseg.train.segment",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
