"""Published mean-J figures of the seed methods, shown beside ours in ``table.md``.

Facts from ``shared/reference/published-numbers.md`` (collected from the authors' repositories and aggregator pages;
the papers' own tables could not be read). ``J`` is mean IoU x100 as published. Every figure states how it was
scored and whether the ground truth chose the foreground (``oracle``), because none of them is a GT-free number.
"""

from __future__ import annotations

from dataclasses import dataclass

from motionseg.registry import published_columns

BENCHMARKS = ("DAVIS16", "STv2", "FBMS59")
# published method name -> our methods whose columns its figures sit beside (registry ``published``; MG has none)
PUBLISHED_METHODS = published_columns()

_MG_PROTO = "DAVIS scored with fperazzi/davis (first and last frame dropped, mean of sequence means)"
_MG_ORACLE = "per frame the better of 2 slots is picked against GT"
_GWM_PROTO = "K masks merged to 2 (DINO spectral); frames 0, 1 and last dropped; empty/empty = 0"
_GWM_ORACLE = "per frame the better of the 2 merged segments is picked against GT"
_CN_PROTO = "online (previous frames only); all but the last frame; mean over sequences"
_CN_ORACLE = "clusters assigned to foreground against GT, and best of 50 iterations per frame against GT"


@dataclass(frozen=True)
class Published:
    """One published figure: method, benchmark, flow backend, mean J x100 (None = not found), how it was scored."""

    method: str
    benchmark: str
    flow: str
    J: float | None
    protocol: str
    oracle: str
    status: str
    source: str


PUBLISHED: tuple[Published, ...] = (
    Published("MG", "DAVIS16", "PWC-Net", 63.7, _MG_PROTO, _MG_ORACLE, "primary-code",
              "xilin1991/ClusterNet README"),
    Published("MG", "DAVIS16", "RAFT", 68.3, _MG_PROTO, _MG_ORACLE, "primary-code",
              "xilin1991/ClusterNet README; MG paper via wizwand"),
    Published("MG", "DAVIS16", "FlowFormer", 70.3, _MG_PROTO, _MG_ORACLE, "primary-code",
              "xilin1991/ClusterNet README"),
    Published("MG", "STv2", "RAFT", 58.6, "multi-object GT merged (CIS protocol); frame mean", _MG_ORACLE,
              "secondary", "wizwand page of the MG paper"),
    Published("GWM", "DAVIS16", "RAFT", 79.56, _GWM_PROTO + "; mean of sequence means (1356 frames)", _GWM_ORACLE,
              "primary-code", "karazijal/guess-what-moves src/eval-vid_segmentation.ipynb (released checkpoint)"),
    Published("GWM", "STv2", "RAFT", 78.31, "merged GT; frame-pooled mean (1052 frames)", _GWM_ORACLE,
              "primary-code", "karazijal/guess-what-moves src/eval-vid_segmentation.ipynb (released checkpoint)"),
    Published("GWM", "FBMS59", "RAFT", 77.53, "merged GT; annotated frames only, frame-pooled (338 frames)",
              _GWM_ORACLE, "primary-code",
              "karazijal/guess-what-moves src/eval-vid_segmentation.ipynb (released checkpoint)"),
    Published("LRTL", "DAVIS16", "RAFT + CoTracker-v2", None, "as GWM", _GWM_ORACLE, "not found",
              "karazijal/lrtl README has no numbers; paper table not readable"),
    Published("ClusterNet", "DAVIS16", "PWC-Net", 67.9, _CN_PROTO, _CN_ORACLE, "primary-code",
              "xilin1991/ClusterNet README"),
    Published("ClusterNet", "DAVIS16", "RAFT", 72.0, _CN_PROTO, _CN_ORACLE, "primary-code",
              "xilin1991/ClusterNet README"),
    Published("ClusterNet", "DAVIS16", "FlowFormer", 75.4, _CN_PROTO, _CN_ORACLE, "primary-code",
              "xilin1991/ClusterNet README"),
)


def published_for(benchmark: str) -> list[Published]:
    """Published figures of one benchmark (``DAVIS16``, ``STv2`` or ``FBMS59``), in table order."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r} (known: {list(BENCHMARKS)})")
    return [p for p in PUBLISHED if p.benchmark == benchmark]
