"""Backend names and validation of the ``flow`` config section.

No torch import here: the Snakefile calls this at parse time.

Backend names: ``dis``, ``farneback`` (OpenCV, weight-free), ``raft_large``, ``raft_small`` (torchvision) and
``ptlflow:<model>`` (optional extra ``pip install -e ".[ptlflow]"``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from motionseg.io.errors import ConfigError
from motionseg.settings import FlowSettings, typed

CLASSICAL_BACKENDS = ("dis", "farneback")
TORCHVISION_BACKENDS = ("raft_large", "raft_small")
PTLFLOW_PREFIX = "ptlflow:"

# Upstream weight files, named in the error for a missing checkpoint (torchvision's DEFAULT weights).
TORCHVISION_WEIGHT_FILES = {
    "raft_large": "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
    "raft_small": "raft_small_C_T_V2-01064c6d.pth",
}
# ptlflow's converted release files ({"state_dict": ...}); other models: see the model's `pretrained_checkpoints`.
PTLFLOW_WEIGHT_FILES = {
    "flowformer": "flowformer-things-dbe62dd3.ckpt",
    "flowformer_pp": "flowformerplusplus-things-4db3ecff.ckpt",
    "pwcnet": "pwcnet-things-6a2e540b.ckpt",
    "sea_raft_s": "sea_raft_s-things-a15c1713.ckpt",
    "sea_raft_m": "sea_raft_m-things-ac45dd7f.ckpt",
    "raft": "raft-things-802bbcfd.ckpt",
    "raft_small": "raft_small-things-b7d9f997.ckpt",
}
# Checkpoint value meaning "use the torch hub cache (downloads when online)" for torchvision backends.
DOWNLOAD = "download"

# Keys of the ``flow`` section that every flow job reads (run_flow), whatever its backend.
SHARED_KEYS = ("storage", "compute_height", "batch_size", "vis_frames")
# Keys that only learned backends read besides their own section (device, precision, random-weights permission).
LEARNED_KEYS = ("device", "amp", "allow_random_weights")


def backend_kind(backend: str) -> str:
    """Return ``"classical"``, ``"torchvision"`` or ``"ptlflow"`` for a backend name; ConfigError when unknown."""
    if backend in CLASSICAL_BACKENDS:
        return "classical"
    if backend in TORCHVISION_BACKENDS:
        return "torchvision"
    if backend.startswith(PTLFLOW_PREFIX) and len(backend) > len(PTLFLOW_PREFIX):
        return "ptlflow"
    known = ", ".join([*CLASSICAL_BACKENDS, *TORCHVISION_BACKENDS, "ptlflow:<model>"])
    raise ConfigError("flow.backends", f"unknown flow backend '{backend}' (known: {known})")


def is_learned(backend: str) -> bool:
    """True when ``backend`` is a neural network (wants a GPU and a checkpoint), False for OpenCV backends."""
    return backend_kind(backend) != "classical"


def ptlflow_model_name(backend: str) -> str:
    """The ptlflow model name of a ``ptlflow:<model>`` backend."""
    return backend[len(PTLFLOW_PREFIX) :]


def checkpoint_key(backend: str) -> str:
    """Dotted config key holding the checkpoint of a learned backend (e.g. ``flow.raft_large.checkpoint``)."""
    kind = backend_kind(backend)
    if kind == "torchvision":
        return f"flow.{backend}.checkpoint"
    if kind == "ptlflow":
        return f"flow.ptlflow.checkpoints.{ptlflow_model_name(backend)}"
    raise ValueError(f"backend '{backend}' has no checkpoint")


def checkpoint_value(flow_cfg: dict, backend: str) -> str | None:
    """The configured checkpoint of a learned backend (path, ``download``, a ptlflow checkpoint name, or None)."""
    if backend_kind(backend) == "torchvision":
        return flow_cfg[backend]["checkpoint"]
    return (flow_cfg["ptlflow"]["checkpoints"] or {}).get(ptlflow_model_name(backend))


def backend_config(flow: FlowSettings | dict, backend: str) -> dict:
    """What one flow job of ``backend`` reads from the ``flow`` settings (or section dict): the shared keys
    (:data:`SHARED_KEYS`), for learned backends also :data:`LEARNED_KEYS`, and the backend's own settings
    (``dis``, ``farneback``, ``raft_large``, ``raft_small``, or for ``ptlflow:<model>`` its entry of
    ``ptlflow.checkpoints``). Never the ``backends`` list, the ``gaps`` (a parameter of their own) nor another
    backend's settings, so that adding a backend or changing one leaves the others' jobs cached."""
    flow_cfg = typed(FlowSettings, flow).to_dict()
    out = {k: flow_cfg[k] for k in SHARED_KEYS}
    if is_learned(backend):
        out.update({k: flow_cfg[k] for k in LEARNED_KEYS})
    if backend_kind(backend) == "ptlflow":
        model = ptlflow_model_name(backend)
        checkpoints = flow_cfg["ptlflow"]["checkpoints"] or {}
        out["ptlflow"] = {"checkpoints": {model: checkpoints[model]} if model in checkpoints else {}}
    else:
        out[backend] = flow_cfg[backend]
    return out


def reads_seed(flow_cfg: dict, backend: str) -> bool:
    """Whether a flow job of ``backend`` reads the global seed: only a learned backend without a checkpoint does
    (random initialisation, allowed by ``flow.allow_random_weights`` in tests)."""
    return is_learned(backend) and checkpoint_value(flow_cfg, backend) in (None, "")


def expected_weight_file(backend: str) -> str:
    """Upstream file name of the usual weights of a learned backend (for error messages and the README)."""
    if backend_kind(backend) == "torchvision":
        return TORCHVISION_WEIGHT_FILES[backend]
    model = ptlflow_model_name(backend)
    return PTLFLOW_WEIGHT_FILES.get(model, f"{model}-<dataset>-<hash>.ckpt (see ptlflow's release 'weights1')")


def _is_checkpoint_name(value: str) -> bool:
    """A bare word without a path separator or suffix (``things``, ``sintel``) names a ptlflow release checkpoint."""
    return "/" not in value and "." not in value


def validate_flow_config(flow_cfg: dict, backends: list[str]) -> None:
    """Check that every backend in ``backends`` can run with ``flow_cfg`` (the schema-validated ``flow`` section).

    Raises ConfigError naming the key: an unknown backend; a learned backend without a checkpoint (the message names
    the expected upstream file, e.g. ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``) unless ``flow.allow_random_weights`` is
    true; a checkpoint path that does not exist; ``ptlflow:<model>`` when ptlflow is not installed.
    """
    for backend in backends:
        kind = backend_kind(backend)
        if kind == "classical":
            continue
        if kind == "ptlflow" and importlib.util.find_spec("ptlflow") is None:
            raise ConfigError(
                "flow.backends",
                f"backend '{backend}' needs the optional package ptlflow: pip install -e \".[ptlflow]\"",
            )
        key = checkpoint_key(backend)
        value = checkpoint_value(flow_cfg, backend)
        if value in (None, ""):
            if flow_cfg["allow_random_weights"]:
                continue
            raise ConfigError(
                key,
                f"learned flow backend '{backend}' has no checkpoint: download {expected_weight_file(backend)} on a "
                f"machine with a network and set {key} to its local path (see src/motionseg/flow/README.md, "
                "'Flow checkpoints'); "
                "random weights are only allowed with flow.allow_random_weights: true (tests)",
            )
        if kind == "torchvision" and value == DOWNLOAD:
            continue
        if kind == "ptlflow" and _is_checkpoint_name(value):
            continue
        if not Path(value).is_file():
            raise ConfigError(
                key, f"checkpoint file '{value}' does not exist (expected {expected_weight_file(backend)})"
            )
