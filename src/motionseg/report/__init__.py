"""motionseg.report: reports people read.

- :func:`run_report`: per-sequence and summary CSVs, missing list, provenance, paper-style ``table.md`` and plots.
- :func:`render_overlay`: mask-overlay GIF of one sequence (frame, GT contour, prediction).
- :func:`render_flow_strip`: flow visualisation strip of one sequence.
- :func:`collect_provenance`: git commit, config hash, library versions, backends and checkpoint hashes.

Imports are lazy so that ``import motionseg.report`` does not pull in matplotlib or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["collect_provenance", "render_flow_strip", "render_overlay", "run_report"]

_LAZY = {
    "run_report": "motionseg.report.run",
    "render_overlay": "motionseg.report.overlay",
    "render_flow_strip": "motionseg.report.overlay",
    "collect_provenance": "motionseg.report.provenance",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motionseg.report' has no attribute {name!r}")
