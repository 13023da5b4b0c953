"""The semi-supervised report (rule ``report_semisup``): its own per-sequence and summary CSVs and table, never
mixed with the unsupervised ones (the first annotated frame's ground truth is an input of this task)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from motionseg.io.atomic import atomic_path
from motionseg.metrics.semisup import SEMISUP_COLUMNS, semisup_summary

log = logging.getLogger(__name__)

SOURCE_NOTES = {
    "lab": "Lab colour + position features (weight-free)",
    "dul": "DUL res4 features (learned without labels: rule train_dul, or a released snapshot)",
    "flow": "labels warped along the chained forward optical flow (weight-free)",
}


def source_note(source: str) -> str:
    """What a label source is, in words (``flow-<id>``: the flow backend named)."""
    if source.startswith("flow-"):
        return f"{SOURCE_NOTES['flow']}, flow {source[5:]}"
    return SOURCE_NOTES.get(source, source)


def read_semisup_scores(score_csvs: Sequence[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """Rows of the semi-supervised score CSVs that exist (:data:`SEMISUP_COLUMNS`) and the paths that do not."""
    frames, absent = [], []
    for p in score_csvs:
        if not Path(p).exists():
            absent.append(str(p))
            continue
        df = pd.read_csv(p)
        missing = [c for c in SEMISUP_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{p}: not a semi-supervised score file (no column {missing[0]!r})")
        frames.append(df[SEMISUP_COLUMNS])
    per_sequence = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SEMISUP_COLUMNS))
    if len(per_sequence):
        per_sequence = per_sequence.sort_values(["dataset", "source", "sequence"], kind="stable")
    return per_sequence.reset_index(drop=True), absent


def render_semisup_table(summary: pd.DataFrame, n_missing: int, scale: float = 100.0) -> str:
    """Markdown: one table per dataset, a row per label source (J&F, J mean / recall / decay, F mean / recall /
    decay, sequences, objects), figures x ``scale``."""
    lines = ["# Semi-supervised task (first annotated frame's GT given)", "",
             "Protocol davis2017-semi (the official DAVIS-2017 semi-supervised evaluation: first and last annotated "
             "frames not scored, J&F = mean over all objects). These rows use ground truth of the first frame as "
             "INPUT and are never averaged with the unsupervised tables (../table.md).", ""]
    if summary.empty:
        lines.append("No semi-supervised scores.")
    for dataset, g in summary.groupby("dataset", sort=True):
        lines += [f"## {dataset}", "",
                  "| source | J&F | J mean | J recall | J decay | F mean | F recall | F decay | sequences | objects |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in g.itertuples(index=False):
            d = r._asdict()
            vals = " | ".join(f"{scale * float(d[c]):.1f}" for c in
                              ("J_F", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"))
            lines.append(f"| {r.source} | {vals} | {r.n_sequences} | {r.n_objects} |")
        lines += ["", *[f"- {s}: {source_note(s)}" for s in sorted(g["source"].unique())], ""]
    if n_missing:
        lines.append(f"**{n_missing} expected score file(s) missing** (missing.csv): the figures above leave them out.")
    return "\n".join(lines) + "\n"


def run_semisup_report(score_csvs: Sequence[str | Path], out_dir: str | Path, scale: float = 100.0) -> None:
    """Write ``per_sequence.csv``, ``summary.csv`` (:func:`motionseg.metrics.semisup.semisup_summary`),
    ``missing.csv`` (expected score files that are absent) and ``table.md`` into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_sequence, absent = read_semisup_scores(score_csvs)
    for p in absent:
        log.warning("semi-supervised score file not found (listed in missing.csv): %s", p)
    summary = semisup_summary(per_sequence)
    for name, df in (("per_sequence.csv", per_sequence), ("summary.csv", summary),
                     ("missing.csv", pd.DataFrame({"scores": absent}))):
        with atomic_path(out_dir / name) as tmp:
            df.to_csv(tmp, index=False)
    table = render_semisup_table(summary.rename(columns={"J&F": "J_F"}), len(absent), scale)
    with atomic_path(out_dir / "table.md") as tmp:
        tmp.write_text(table)
    print(f"semi-supervised report: {len(per_sequence)} sequence rows, {len(summary)} summary rows, "
          f"{len(absent)} missing -> {out_dir}", file=sys.stderr, flush=True)


__all__ = ["read_semisup_scores", "render_semisup_table", "run_semisup_report", "source_note"]
