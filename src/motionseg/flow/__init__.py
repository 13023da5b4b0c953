"""motionseg.flow: optical flow between the frames of a sequence (forward and backward, several gaps).

Light imports (no torch) at the top so the Snakefile can call :func:`is_learned` and :func:`validate_flow_config`
cheaply; ``run_flow``, ``get_backend`` and ``FlowBackend`` import torch on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionseg.flow.config import is_learned, validate_flow_config
from motionseg.flow.flo import read_flo, write_flo
from motionseg.flow.store import FlowSet, load_flow
from motionseg.flow.viz import flow_to_rgb
from motionseg.lazy import lazy_attributes

if TYPE_CHECKING:
    from motionseg.flow.backends import FlowBackend, get_backend
    from motionseg.flow.run import run_flow

__all__ = [
    "FlowBackend",
    "FlowSet",
    "flow_to_rgb",
    "get_backend",
    "is_learned",
    "load_flow",
    "read_flo",
    "run_flow",
    "validate_flow_config",
    "write_flo",
]

_LAZY = {
    "run_flow": "motionseg.flow.run",
    "get_backend": "motionseg.flow.backends",
    "FlowBackend": "motionseg.flow.backends",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
