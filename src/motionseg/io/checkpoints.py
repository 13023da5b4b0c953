"""Reading torch checkpoint files with errors that name the file (flow, tracks and model weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from motionseg.io.errors import InputError


def load_torch_file(path: str | Path, what: str = "checkpoint", weights_only: bool = True) -> Any:
    """``torch.load`` of a local file on the CPU; InputError naming the file when it is missing or unreadable.

    what: how the file is called in messages (e.g. "CoTracker checkpoint").
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} file does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:
        raise InputError(path, f"unreadable {what} ({type(exc).__name__}: {exc})") from None


def load_state_dict_file(path: str | Path, what: str = "checkpoint") -> dict:
    """A state dict saved with ``torch.save``: bare, or wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``.

    Returns name -> tensor; InputError naming the file when it is missing, unreadable or not a state dict.
    """
    import torch

    obj = load_torch_file(path, what)
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if wrapper in obj and isinstance(obj[wrapper], dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(path, f"{what} is not a state dict of tensors")
    return obj


def load_work_checkpoint(path: str | Path, fp: str, key: str, what: str = "training checkpoint") -> dict | None:
    """The state dict of a resumable run's work checkpoint ``path`` (None when there is none yet).

    fp: the fingerprint of the run about to start (:func:`motionseg.io.resume.fingerprint`); a checkpoint written by
    another run (other settings, inputs or seed) is refused with ConfigError naming ``key`` (the config section), so
    that a work dir is never resumed by a different run. InputError naming the file when it is unreadable.
    """
    from motionseg.io.errors import ConfigError

    path = Path(path)
    if not path.exists():
        return None
    state = load_torch_file(path, what, weights_only=False)
    if not isinstance(state, dict) or state.get("fingerprint") != fp:
        raise ConfigError(key, f"{path} belongs to a different run (settings, inputs, data or seed changed); delete "
                               "the work directory to start over")
    return state
