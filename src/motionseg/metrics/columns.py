"""The columns of the score tables, in one place (docs/architecture.md, "Scores"): the per-sequence score CSV written
by the ``evaluate`` rule, its per-frame companion, and the keys the report groups by."""

from __future__ import annotations

# what one score row is about; ``oracle`` is True when GT chose anything
KEY_COLUMNS: list[str] = ["dataset", "sequence", "flow", "tracks", "method", "mode", "protocol", "selection", "oracle"]
# the six DAVIS statistics, J and F in [0, 1]
METRIC_COLUMNS: list[str] = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]
STAT_COLUMNS: list[str] = [*METRIC_COLUMNS, "n_frames"]
SCORE_COLUMNS: list[str] = KEY_COLUMNS + STAT_COLUMNS
FRAME_COLUMNS: list[str] = KEY_COLUMNS + ["frame", "J", "F", "segment"]
# dataset aggregates: one group per key but the sequence (``oracle`` included: oracle rows never mix with GT-free)
GROUP_COLUMNS: list[str] = [c for c in KEY_COLUMNS if c != "sequence"]
