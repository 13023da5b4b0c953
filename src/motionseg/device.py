"""Choosing the torch device for GPU-capable stages (flow, tracks, training, clustering)."""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def select_device(requested: str = "auto") -> torch.device:
    """Return the device for ``requested`` in {"auto", "cpu", "cuda", "cuda:N"}.

    "auto" takes CUDA when it works and otherwise the CPU, logging a warning when ``CUDA_VISIBLE_DEVICES`` names a GPU
    that torch cannot use (e.g. a SLURM node with a fake or broken GPU). An explicit "cuda" that is not available
    raises RuntimeError instead of falling back.
    """
    if requested == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if requested.startswith("cuda"):
        if not available:
            raise RuntimeError(
                f"device '{requested}' requested in config but CUDA is not available here "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); set device: auto or cpu"
            )
        return torch.device(requested)
    if requested != "auto":
        raise ValueError(f"unknown device '{requested}' (use auto, cpu, cuda or cuda:N)")
    if available:
        return torch.device("cuda")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if visible not in ("", "-1", "NoDevFiles"):
        log.warning("CUDA_VISIBLE_DEVICES=%s but torch sees no usable GPU: running on the CPU", visible)
    return torch.device("cpu")
