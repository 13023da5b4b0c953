"""Per-frame access to optical flow for the per-sequence methods (bgfit, kmeans, clusternet-*).

Methods never index a whole flow array themselves: they ask a :class:`FlowSource` for the flow *of frame t* (the
motion field defined on frame t's pixel grid). This keeps one convention for every method and makes causality
testable: an online method only ever calls :meth:`FlowSource.pair` with frame indices <= the current step.

Convention for "the flow of frame t" (:func:`frame_flow`):

- frames ``0 .. T-2``: the forward gap-1 flow ``t -> t+1`` (what ClusterNet and MG use);
- the last frame ``T-1`` has no forward flow: it uses the NEGATED backward flow ``T-1 -> T-2``, a first-order estimate
  of its forward motion on its own pixel grid.

The causal variant (:func:`causal_frame_flow`) used by online modes reads only frames ``t-1`` and ``t`` for t >= 1
(negated backward flow ``t -> t-1``) and, for frame 0, the forward flow ``0 -> 1``; the online loop therefore emits
frame 0's result at step 1 (a one-frame latency for the very first frame only, because motion needs two frames).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class FlowSetLike(Protocol):
    """What :func:`motionseg.flow.load_flow` returns (docs/architecture.md, "Flow directory")."""

    def forward(self, gap: int) -> np.ndarray: ...  # float32 [T-gap, h, w, 2]

    def backward(self, gap: int) -> np.ndarray: ...  # float32 [T-gap, h, w, 2]


class FlowSource:
    """Lazy per-pair flow access on top of a FlowSet-like object.

    ``pair(a, b)`` returns float32 [h, w, 2] flow from frame ``a`` to frame ``b`` (|a - b| == 1) in working-resolution
    pixels; ``frame(t)`` the RGB frame t (uint8 [h, w, 3]) when frames were given. ``n_frames`` is T. Tests pass
    in-memory stand-ins (tests/flow_helpers.py) for the flow set.
    """

    def __init__(self, flowset: FlowSetLike, n_frames: int, frames: np.ndarray | None = None) -> None:
        self._fs = flowset
        self.n_frames = int(n_frames)
        self._frames = frames
        self._fwd: np.ndarray | None = None
        self._bwd: np.ndarray | None = None

    @property
    def has_frames(self) -> bool:
        """Whether RGB frames were given (:meth:`frame` works)."""
        return self._frames is not None

    def frame(self, t: int) -> np.ndarray:
        """RGB frame t: uint8 [h, w, 3] (only when the source was given frames)."""
        if self._frames is None:
            raise ValueError("this FlowSource was created without frames")
        if not 0 <= t < self.n_frames:
            raise IndexError(f"no frame {t} in a {self.n_frames}-frame sequence")
        return self._frames[t]

    def pair(self, a: int, b: int) -> np.ndarray:
        """Flow from frame ``a`` to frame ``b`` = a +- 1: float32 [h, w, 2], (dx, dy) px."""
        if not (0 <= a < self.n_frames and 0 <= b < self.n_frames) or abs(a - b) != 1:
            raise IndexError(f"no flow for frame pair ({a}, {b}) in a {self.n_frames}-frame sequence")
        if b == a + 1:
            if self._fwd is None:
                self._fwd = self._fs.forward(1)
            return np.asarray(self._fwd[a], dtype=np.float32)
        if self._bwd is None:
            self._bwd = self._fs.backward(1)
        return np.asarray(self._bwd[b], dtype=np.float32)  # element i of backward(1): frame i+1 -> frame i


def frame_flow(src: FlowSource, t: int) -> np.ndarray:
    """Flow of frame t (forward t->t+1, or the negated backward flow for the last frame): float32 [h, w, 2]."""
    if t < src.n_frames - 1:
        return src.pair(t, t + 1)
    return -src.pair(t, t - 1)


def causal_frame_flow(src: FlowSource, t: int) -> np.ndarray:
    """Flow of frame t from frames <= max(t, 1) only: negated backward t->t-1 (t >= 1), forward 0->1 for t = 0."""
    if t == 0:
        return src.pair(0, 1)
    return -src.pair(t, t - 1)
