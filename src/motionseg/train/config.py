"""What training and inference read from the config (light: no torch import, the Snakefile calls it at parse time).

:func:`train_config` and :func:`infer_config` slice the validated config into the settings of one ``train`` or one
``infer`` job, so that a job's params (and the training fingerprint) change only when something it reads changes.
"""

from __future__ import annotations

from motionseg.io.errors import ConfigError
from motionseg.registry import spec
from motionseg.settings import Settings, TrainSettings, typed

# Keys of the train section that only inference reads: they do not change the trained weights.
INFERENCE_ONLY_KEYS = ("fg_border_frac", "fg_border_ratio", "refine_masks", "tta_flip")
# Keys of the train section that inference reads besides :data:`INFERENCE_ONLY_KEYS` (device, batch of frames).
INFERENCE_SHARED_KEYS = ("device", "batch_size")

# ``train.select`` values the workflow runs: both choose the checkpoint without ground truth.
WORKFLOW_SELECTIONS = ("last", "lowest-loss")


def check_workflow_selection(train: TrainSettings | dict) -> None:
    """Refuse ``train.select: oracle`` in a workflow config: the workflow never hands ground truth to training.

    (:func:`motionseg.train.run_train` still accepts it with ``oracle_gt`` given by a caller outside the workflow.)
    """
    select = typed(TrainSettings, train).select
    if select not in WORKFLOW_SELECTIONS:
        raise ConfigError(
            "train.select",
            f"{select} needs ground truth, which the workflow does not hand to training; use "
            f"{' or '.join(WORKFLOW_SELECTIONS)}",
        )


def refine_applies(refine_masks: bool | list[str] | tuple[str, ...], method: str) -> bool:
    """Whether ``train.refine_masks`` (true, false, or a list of trained method names) asks to refine ``method``."""
    if isinstance(refine_masks, bool):
        return refine_masks
    return method in refine_masks


def train_config(config: Settings | dict, method: str | None = None) -> dict:
    """Settings of :func:`motionseg.train.run_train`: the ``train`` section without :data:`INFERENCE_ONLY_KEYS` (so
    changing an inference setting neither reruns nor invalidates a training run); for a method without the
    pseudo-label loss (registry ``pseudo_labels``: ``gwm-boot``, ``lrtl-boot``) also without the pseudo-label settings
    (``pseudo_labels``, ``loss_weights.pseudo``), which it does not use."""
    cfg = {k: v for k, v in typed(Settings, config).train.to_dict().items() if k not in INFERENCE_ONLY_KEYS}
    if method is not None and not spec(method).pseudo_labels:
        cfg.pop("pseudo_labels", None)
        cfg["loss_weights"] = {k: v for k, v in cfg["loss_weights"].items() if k != "pseudo"}
    return cfg


def infer_config(config: Settings | dict, method: str) -> dict:
    """Settings of :func:`motionseg.train.run_segment` for trained ``method``: :data:`INFERENCE_SHARED_KEYS` and
    :data:`INFERENCE_ONLY_KEYS` of the ``train`` section, with ``refine_masks`` resolved to a bool for ``method``
    and the ``refine`` section nested only when it applies (the network's own settings come from its checkpoint)."""
    settings = typed(Settings, config)
    train = settings.train.to_dict()
    cfg = {k: train[k] for k in (*INFERENCE_SHARED_KEYS, *INFERENCE_ONLY_KEYS)}
    cfg["refine_masks"] = refine_applies(settings.train.refine_masks, method)
    if cfg["refine_masks"]:
        cfg["refine"] = settings.refine.to_dict()
    return cfg
