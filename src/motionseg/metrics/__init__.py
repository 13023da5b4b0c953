"""motionseg.metrics: DAVIS J/F (official definitions), paper protocols, foreground selection and aggregates.

Entry points: :func:`run_evaluate` (workflow rule ``evaluate``), :func:`evaluate_dirs` (``motionseg evaluate``),
:func:`aggregate` (reports). See ``jf.py`` for the metric definitions, ``protocols.py`` and ``selection.py`` for the
protocol and selection tables.
"""

from motionseg.metrics.aggregate import aggregate
from motionseg.metrics.columns import FRAME_COLUMNS, GROUP_COLUMNS, METRIC_COLUMNS, SCORE_COLUMNS, STAT_COLUMNS
from motionseg.metrics.evaluate import (
    evaluate_dirs,
    run_evaluate,
    score_sequence,
    with_summary_rows,
)
from motionseg.metrics.jf import boundary_f, disk, frame_jf, jaccard, seg2bmap, sequence_stats
from motionseg.metrics.protocols import PROTOCOLS, Protocol, get_protocol
from motionseg.metrics.selection import ORACLE_SELECTIONS, SELECTIONS

__all__ = [
    "FRAME_COLUMNS",
    "GROUP_COLUMNS",
    "METRIC_COLUMNS",
    "ORACLE_SELECTIONS",
    "PROTOCOLS",
    "SCORE_COLUMNS",
    "SELECTIONS",
    "STAT_COLUMNS",
    "Protocol",
    "aggregate",
    "boundary_f",
    "disk",
    "evaluate_dirs",
    "frame_jf",
    "get_protocol",
    "jaccard",
    "run_evaluate",
    "score_sequence",
    "seg2bmap",
    "sequence_stats",
    "with_summary_rows",
]
