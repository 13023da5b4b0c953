"""The columns of the score tables, in one place (docs/architecture.md, "Scores"): the per-sequence score CSV written
by the ``evaluate`` rule, its per-frame companion, and the keys the report groups by."""

from __future__ import annotations

# what one score row is about; ``supervision`` what taught the method (``none``, ``self-supervised``, ``supervised``:
# GT masks of other sequences, ``oracle``, ``unknown``); ``post`` the post-processing of the masks (``none`` or
# ``crf``); ``oracle`` is True when GT chose anything
KEY_COLUMNS: list[str] = ["dataset", "sequence", "flow", "tracks", "method", "supervision", "mode", "post", "protocol",
                          "selection", "oracle"]
# the six DAVIS statistics, J and F in [0, 1]
METRIC_COLUMNS: list[str] = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]
# n_frames: scored frames; n_objects: objects the statistics average over (1 for the single-object protocols, the
# sequence's GT objects for davis2017-unsup-multi, whose dataset aggregate is the mean over all objects); n_missing:
# scored frames without a mask, scored as empty masks (0 for the workflow's own methods; external result folders may
# lack frames)
STAT_COLUMNS: list[str] = [*METRIC_COLUMNS, "n_frames", "n_objects", "n_missing"]
SCORE_COLUMNS: list[str] = KEY_COLUMNS + STAT_COLUMNS
FRAME_COLUMNS: list[str] = KEY_COLUMNS + ["frame", "J", "F", "segment"]
# dataset aggregates: one group per key but the sequence (``oracle`` included: oracle rows never mix with GT-free)
GROUP_COLUMNS: list[str] = [c for c in KEY_COLUMNS if c != "sequence"]
