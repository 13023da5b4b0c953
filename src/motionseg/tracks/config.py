"""Tracker backends and checks of the ``tracks`` config section (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from motionseg.io.errors import ConfigError
from motionseg.settings import TracksSettings, typed


@dataclass(frozen=True)
class CoTrackerSpec:
    """torch.hub entry name, whether the predictor is the online one, the v2 architecture flag and window_len."""

    entry: str
    online: bool
    v2: bool
    window_len: int


COTRACKER_BACKENDS: dict[str, CoTrackerSpec] = {
    "cotracker3_offline": CoTrackerSpec("cotracker3_offline", online=False, v2=False, window_len=60),
    "cotracker3_online": CoTrackerSpec("cotracker3_online", online=True, v2=False, window_len=16),
    "cotracker2": CoTrackerSpec("cotracker2", online=False, v2=True, window_len=8),
}


FLOWCHAIN = "flowchain"
BACKENDS: tuple[str, ...] = (FLOWCHAIN, *COTRACKER_BACKENDS)

# Keys of the ``tracks`` section every tracker reads (seed grid, query frames, clip length).
SHARED_KEYS = ("grid_stride", "query_stride", "window")
# Keys read only by flowchain (forward-backward and motion-boundary checks) ...
FLOWCHAIN_KEYS = ("fb_alpha", "fb_beta", "mb_alpha", "mb_beta")
# ... and only by the CoTracker backends (weights, their digest, the code, the torch device).
COTRACKER_KEYS = ("checkpoint", "checkpoint_sha256", "cotracker_repo", "device")


def backend_config(tracks: TracksSettings | dict, backend: str) -> dict:
    """What one tracks job of ``backend`` reads from the ``tracks`` settings (or section dict): :data:`SHARED_KEYS` plus
    :data:`FLOWCHAIN_KEYS` (flowchain) or :data:`COTRACKER_KEYS` (CoTracker backends). Never the ``backends`` list
    nor the other trackers' settings, so that adding a tracker or changing one leaves the others' jobs cached."""
    if backend not in BACKENDS:
        raise ConfigError("tracks.backends", f"unknown tracker '{backend}' (known: {', '.join(BACKENDS)})")
    own = FLOWCHAIN_KEYS if backend == FLOWCHAIN else COTRACKER_KEYS
    tracks_cfg = typed(TracksSettings, tracks).to_dict()
    return {k: tracks_cfg[k] for k in (*SHARED_KEYS, *own)}


def is_learned(backend: str) -> bool:
    """True for trackers with weights (CoTracker: needs ``tracks.checkpoint`` and, in practice, a GPU)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown tracks backend '{backend}' (known: {', '.join(BACKENDS)})")
    return backend != FLOWCHAIN


def validate_tracks_config(tracks_cfg: dict, backends: list[str] | tuple[str, ...]) -> None:
    """Check the ``tracks`` section for the tracker backends in use; raises ConfigError naming the key.

    A CoTracker backend needs ``tracks.checkpoint`` to name an existing local file (and, when given,
    ``tracks.cotracker_repo`` an existing clone with hubconf.py).
    """
    for b in backends:
        if b not in BACKENDS:
            raise ConfigError("tracks.backends", f"unknown tracker '{b}' (known: {', '.join(BACKENDS)})")
    for key in ("grid_stride", "query_stride", "window"):
        if int(tracks_cfg[key]) < 1:
            raise ConfigError(f"tracks.{key}", f"must be >= 1, got {tracks_cfg[key]}")
    if int(tracks_cfg["window"]) < 2:
        raise ConfigError("tracks.window", f"must be >= 2 frames, got {tracks_cfg['window']}")
    if not any(is_learned(b) for b in backends):
        return
    ckpt = tracks_cfg.get("checkpoint")
    if not ckpt:
        raise ConfigError("tracks.checkpoint", "a CoTracker backend needs a local checkpoint file (no downloads)")
    if not Path(ckpt).is_file():
        raise ConfigError("tracks.checkpoint", f"checkpoint file '{ckpt}' does not exist")
    repo = tracks_cfg.get("cotracker_repo")
    if repo and not Path(repo, "hubconf.py").is_file():
        raise ConfigError("tracks.cotracker_repo", f"'{repo}' is not a co-tracker clone (no hubconf.py)")
