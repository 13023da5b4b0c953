"""Evaluation protocols: which frames are scored, how a frame with empty GT and empty prediction scores, and which
dataset aggregate a paper reports.

| protocol | frames scored (of the annotated ones) | empty GT & empty pred | paper's dataset aggregate |
|---|---|---|---|
| ``davis2017-unsup`` | all | 1 | mean of sequence means |
| ``davis2016`` | all but the first and the last frame of the video | 1 | mean of sequence means |
| ``mg`` | all | 0 | mean over all frames pooled |
| ``gwm`` | all but the last frame; DAVIS layout: also frames 0, 1 | 0 | DAVIS: mean of sequence means; others pooled |
| ``davis2017-unsup-multi`` | all | 1 | mean over all objects of all sequences |

``davis2017-unsup-multi`` is the official DAVIS-2017 unsupervised multi-object protocol (davis2017-evaluation): the
method's instance PNGs (at most 20 proposals per sequence) are matched to the GT objects of the sequence by one
Hungarian assignment on the mean over frames of (J + F) / 2, and each GT object gets its matched proposal's J and F
(:mod:`motionseg.metrics.multiobject`). It is scored only on datasets with ``objects: multi``, on instance PNGs, never
on merged masks; the single-object protocols score the merged foreground of the same dataset.

Frames are positions in the video's frame list (natural sort of the frame names; on DAVIS position 0 is ``00000``),
and only annotated frames are ever scored (so FBMS, whose GT is sparse, is scored on its annotated frames). ``mg`` and
``gwm`` only define J; their "empty/empty = 0" rule is applied to F as well (both masks empty -> J = F = 0), so that
every protocol reports both. Selection of the foreground segment is a separate axis (``selection.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAVIS_LAYOUTS: frozenset[str] = frozenset({"davis"})


@dataclass(frozen=True)
class Protocol:
    """One scoring protocol.

    drop_first: leading video frames never scored (``drop_first_davis`` replaces it on DAVIS-layout datasets);
    drop_last: trailing video frames never scored; empty_empty: J and F of a frame where GT and prediction are both
    empty; aggregate: the paper's dataset aggregate, ``sequence`` (mean of per-sequence means), ``frame`` (all
    frames pooled), ``object`` (mean over all objects of all sequences: per-sequence rows weighted by ``n_objects``)
    or ``layout`` (``sequence`` on DAVIS layouts, ``frame`` elsewhere); multi_object: scored on instance PNGs against
    instance GT (:mod:`motionseg.metrics.multiobject`), not on merged masks.
    """

    name: str
    description: str
    drop_first: int = 0
    drop_last: int = 0
    drop_first_davis: int | None = None
    empty_empty: float = 1.0
    aggregate: str = "sequence"
    multi_object: bool = False

    def n_drop_first(self, layout: str) -> int:
        """Leading frames dropped for a dataset of this ``layout``."""
        if layout in DAVIS_LAYOUTS and self.drop_first_davis is not None:
            return self.drop_first_davis
        return self.drop_first

    def scored_frames(self, video_frames: Sequence[str], annotated: Iterable[str], layout: str = "davis") -> list[str]:
        """Names of the frames this protocol scores, in video order.

        video_frames: every frame name of the sequence in temporal order; annotated: names that have GT; layout:
        the dataset layout (``davis``, ``segtrackv2``, ``fbms``, ...).
        """
        ann = set(annotated)
        lo = self.n_drop_first(layout)
        hi = len(video_frames) - self.drop_last
        return [f for f in video_frames[lo:max(hi, lo)] if f in ann]

    def paper_aggregate(self, layout: str | None) -> str | None:
        """``sequence`` or ``frame``: the dataset aggregate the protocol's paper reports (None if it depends on an
        unknown layout)."""
        if self.aggregate != "layout":
            return self.aggregate
        if layout is None:
            return None
        return "sequence" if layout in DAVIS_LAYOUTS else "frame"


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "davis2017-unsup",
            "official DAVIS-2017 unsupervised task: all frames, empty/empty = 1, mean of sequence means",
        ),
        Protocol(
            "davis2016",
            "DAVIS-2016 code (fperazzi/davis) as cited by MG: first and last frame dropped, empty/empty = 1",
            drop_first=1,
            drop_last=1,
        ),
        Protocol(
            "mg",
            "MotionGrouping's in-code metric: all frames, empty/empty = 0, all frames pooled",
            empty_empty=0.0,
            aggregate="frame",
        ),
        Protocol(
            "gwm",
            "GWM/LRTL: last frame unscored (no forward flow), frames 0 and 1 also dropped on DAVIS, empty/empty = 0, "
            "DAVIS: mean of sequence means, SegTrackV2/FBMS: frames pooled",
            drop_last=1,
            drop_first_davis=2,
            empty_empty=0.0,
            aggregate="layout",
        ),
        Protocol(
            "davis2017-unsup-multi",
            "official DAVIS-2017 unsupervised multi-object task: instance PNGs (<= 20 proposals) matched to the GT "
            "objects by Hungarian assignment on J&F, all frames, mean over all objects",
            aggregate="object",
            multi_object=True,
        ),
    )
}
# the protocols that score one merged foreground (``evaluation.protocols`` chooses among these)
SINGLE_OBJECT_PROTOCOLS: tuple[str, ...] = tuple(n for n, p in PROTOCOLS.items() if not p.multi_object)
MULTI_OBJECT_PROTOCOL = "davis2017-unsup-multi"


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; ValueError listing the known ones otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def natural_key(name: str) -> list[object]:
    """Sort key that orders embedded numbers numerically (``frame2`` < ``frame10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def video_order(names: Iterable[str]) -> list[str]:
    """Unique frame names in temporal (natural) order."""
    return sorted(set(names), key=natural_key)
