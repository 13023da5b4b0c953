"""Training a segmentation network from motion (GWM flow reconstruction, LRTL trajectory losses) and inference.

Entry points: :func:`run_train` (resumable training of one network on several sequences) and :func:`run_segment`
(K soft masks per frame and the GT-free foreground rule). :func:`train_model` is the array-level core. The
``-boot`` variants (``gwm-boot``, ``lrtl-boot``) add a pseudo-label loss towards another GT-free method's masks.
"""

from motionseg.train.api import BOOT_SUFFIX, load_checkpoint, run_segment, run_train, split_method
from motionseg.train.loop import Preempted, TrainResult, train_model
from motionseg.train.segment import FG_RULE_BOOT, FG_RULE_BORDER, foreground_segments, predict_probs

__all__ = [
    "BOOT_SUFFIX",
    "FG_RULE_BOOT",
    "FG_RULE_BORDER",
    "Preempted",
    "TrainResult",
    "foreground_segments",
    "load_checkpoint",
    "predict_probs",
    "run_segment",
    "run_train",
    "split_method",
    "train_model",
]
