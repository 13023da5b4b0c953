"""motionseg.report: reports people read.

- :func:`run_report`: per-sequence and summary CSVs, missing list, provenance, paper-style ``table.md`` and plots.
- :func:`render_overlay`: mask-overlay GIF of one sequence (frame, GT contour, prediction).
- :func:`render_flow_strip`: flow visualisation strip of one sequence.
- :func:`collect_provenance`: git commit, config hash, library versions, backends and checkpoint hashes.

Imports are lazy so that ``import motionseg.report`` does not pull in matplotlib or pandas.
"""

from __future__ import annotations

from motionseg.lazy import lazy_attributes

__all__ = ["collect_provenance", "render_flow_strip", "render_overlay", "run_report"]

_LAZY = {
    "run_report": "motionseg.report.run",
    "render_overlay": "motionseg.report.overlay",
    "render_flow_strip": "motionseg.report.overlay",
    "collect_provenance": "motionseg.report.provenance",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
