"""motionseg.tracks: point trajectories (CoTracker backends and the weight-free ``flowchain`` tracker).

Public API: :func:`run_tracks` (the Snakemake rule's entry point), :func:`load_tracks` / :class:`TrackSet`,
:func:`trajectory_window` (LRTL's trajectory matrices), :func:`is_learned`, :func:`validate_tracks_config`,
:func:`render_track_overlay`. Light imports at the top (numpy only) so the Snakefile can call :func:`is_learned`
cheaply; ``run_tracks`` and ``render_track_overlay`` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from motionseg.lazy import lazy_attributes
from motionseg.tracks.config import BACKENDS, is_learned, validate_tracks_config
from motionseg.tracks.store import (
    TrackSet,
    TrajectoryWindow,
    load_tracks,
    save_track_rows,
    save_tracks,
    trajectory_window,
)

if TYPE_CHECKING:
    from motionseg.tracks.overlay import render_track_overlay
    from motionseg.tracks.run import run_tracks

__all__ = [
    "BACKENDS",
    "TrackSet",
    "TrajectoryWindow",
    "is_learned",
    "load_tracks",
    "render_track_overlay",
    "run_tracks",
    "save_track_rows",
    "save_tracks",
    "trajectory_window",
    "validate_tracks_config",
]

_LAZY = {"run_tracks": "motionseg.tracks.run", "render_track_overlay": "motionseg.tracks.overlay"}


__getattr__ = lazy_attributes(__name__, _LAZY)
