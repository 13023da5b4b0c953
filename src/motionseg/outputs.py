"""What a workflow run has made and where: the final message of every run and the listing of ``motionseg segment``.

Everything here looks at the files that exist NOW (``Path.exists``), never at what the plan expects, so the message
never names a file that is not there: a dataset without ground truth gets no report, a run of one target gets no
report, a failed sequence gets no masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from motionseg.plan import Plan

# at most this many GT-free sequence lines in the final message (the rest are summed up in one line)
MAX_SEQUENCE_LINES = 20


@dataclass
class ComboOutputs:
    """Existing outputs of one sequence for one (flow, tracks, method); a path is None when the file is absent.

    n_masks: number of ``<frame>.png`` masks in ``masks``; segments / probs: the export's sub-folders.
    """

    flow: str
    tracks: str
    method: str
    masks: str | None = None
    n_masks: int = 0
    segments: str | None = None
    probs: str | None = None
    overlay_mp4: str | None = None
    overlay_gif: str | None = None

    @property
    def combo(self) -> str:
        return f"{self.flow}/{self.tracks}/{self.method}"


@dataclass
class SequenceOutputs:
    """Existing outputs of one sequence: ``scored`` when it has ground truth; ``combos`` one per (flow, tracks,
    method) of the plan, in plan order."""

    dataset: str
    sequence: str
    scored: bool
    combos: list[ComboOutputs] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every combination has its masks."""
        return bool(self.combos) and all(c.masks is not None for c in self.combos)


def _if_exists(path: str | Path) -> str | None:
    return str(path) if Path(path).exists() else None


def sequence_outputs(plan: Plan, dataset: str, sequence: str) -> SequenceOutputs:
    """The outputs of one sequence that exist now (masks, export folders, overlay MP4 and GIF)."""
    out = SequenceOutputs(dataset, sequence, plan.has_gt(dataset, sequence))
    for flow, tracks, method in plan.combos():
        key = (dataset, flow, tracks, method, sequence)
        c = ComboOutputs(flow, tracks, method)
        mask_dir = Path(plan.masks(*key))
        if mask_dir.is_dir():
            c.masks = str(mask_dir)
            c.n_masks = sum(1 for _ in mask_dir.glob("*.png"))
        export = Path(plan.export(*key))
        c.segments = _if_exists(export / "segments")
        c.probs = _if_exists(export / "probs")
        c.overlay_mp4 = _if_exists(plan.overlay(*key, ext="mp4"))
        c.overlay_gif = _if_exists(plan.overlay(*key, ext="gif"))
        out.combos.append(c)
    return out


def report_files(plan: Plan) -> dict[str, str]:
    """Report files that exist now: label -> path (full report, then the partial one of ``report_partial``)."""
    base = Path(plan.results) / "reports"
    labels = {
        "summary": base / "summary.csv",
        "per sequence": base / "per_sequence.csv",
        "table": base / "table.md",
        "missing": base / "missing.csv",
        "partial summary": base / "partial" / "summary.csv",
        "partial missing": base / "partial" / "missing.csv",
    }
    return {k: str(p) for k, p in labels.items() if p.exists()}


def describe_combo(c: ComboOutputs) -> str:
    """One line's worth for one combination: ``masks DIR/ (N PNGs), segments DIR/, overlay FILE.mp4``."""
    parts = []
    if c.masks:
        parts.append(f"masks {c.masks}/ ({c.n_masks} PNGs)")
    if c.segments:
        parts.append(f"segments {c.segments}/")
    if c.probs:
        parts.append(f"soft masks {c.probs}/")
    if c.overlay_mp4:
        parts.append(f"overlay {c.overlay_mp4}")
    elif c.overlay_gif:
        parts.append(f"overlay {c.overlay_gif}")
    return ", ".join(parts)


def final_message(plan: Plan, max_sequence_lines: int = MAX_SEQUENCE_LINES) -> str:
    """The message printed at the end of a successful run: the report files that exist (if any), where the masks of
    scored sequences are, and the masks / segments / overlays of each sequence without ground truth (at most
    ``max_sequence_lines`` lines, then a count). Only existing files are named."""
    lines = ["motionseg: finished."]
    reports = report_files(plan)
    if "summary" in reports:
        extra = ", ".join(f"{k}: {reports[k]}" for k in ("per sequence", "table") if k in reports)
        lines.append(f"  Summary: {reports['summary']}" + (f" ({extra})" if extra else ""))
    if "partial summary" in reports:
        missing = f" (missing: {reports['partial missing']})" if "partial missing" in reports else ""
        lines.append(f"  Partial summary: {reports['partial summary']}{missing}")
    semisup = Path(plan.results) / "reports" / "semisup" / "table.md"
    if semisup.is_file():
        lines.append(f"  Semi-supervised (first-frame GT given; separate rows): {semisup} "
                     f"(CSV: {semisup.parent}/summary.csv, per_sequence.csv)")
    overlays = Path(plan.results) / "reports" / "overlays"
    if overlays.is_dir():
        lines.append(f"  Overlays (GIF, MP4): {overlays}/<dataset>/<flow>/<tracks>/<method>/<sequence>.*")
    unscored: list[str] = []
    n_unscored = 0
    for dataset in plan.dataset_names:
        scored_masks = False
        for sequence in plan.sequences(dataset):
            if plan.has_gt(dataset, sequence):
                # scored: only whether any mask folder exists (one line per dataset), no listing of each folder
                scored_masks = scored_masks or any(
                    Path(plan.masks(dataset, f, t, m, sequence)).is_dir() for f, t, m in plan.combos()
                )
                continue
            seq = sequence_outputs(plan, dataset, sequence)
            for c in (c for c in seq.combos if describe_combo(c)):
                n_unscored += 1
                if len(unscored) < max_sequence_lines:
                    unscored.append(f"    {dataset}/{sequence} [{c.combo}]: {describe_combo(c)}")
        if scored_masks:
            lines.append(f"  Masks ({dataset}, scored): {plan.results}/{dataset}/masks/<flow>/<tracks>/<method>/"
                         "<sequence>/")
    if unscored:
        lines.append("  Sequences without ground truth (masks and overlays, no scores):")
        lines.extend(unscored)
        if n_unscored > len(unscored):
            lines.append(f"    ... and {n_unscored - len(unscored)} more under {plan.results}/<dataset>/masks/")
    if len(lines) == 1:
        lines[0] = "motionseg: finished (no report, masks or overlays exist yet for the configured datasets)."
    return "\n".join(lines)


def error_message(plan: Plan) -> str:
    """The message printed when jobs failed: where the errors are and how to resume; `report_partial` is offered
    only when some sequence has ground truth (a run without scores has nothing to report)."""
    msg = (f"motionseg: some jobs failed; see the 'motionseg: ERROR' lines above (under SLURM: in each failed job's "
           f"SLURM log, logs/slurm/...) and the rule logs under {plan.results}/logs/. Fix the cause and rerun the same "
           "command to resume")
    if plan.all_scores():
        msg += (f"; `snakemake report_partial` reports what finished and lists what failed in {plan.results}/reports/"
                "partial/missing.csv")
    return msg + "."


def failure_reason(plan: Plan, dataset: str, sequence: str) -> str | None:
    """The first ``motionseg: ERROR`` line in the rule logs of one sequence (``<results>/logs/<rule>/<dataset>/...
    /<sequence>.log``; the ingest log first), or None when no log of it holds one."""
    logs = Path(plan.results) / "logs"
    found = logs.glob(f"*/{dataset}/**/{sequence}.log") if logs.is_dir() else []
    candidates = sorted(found, key=lambda p: (p.relative_to(logs).parts[0] != "ingest", str(p)))
    for log in candidates:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("motionseg: ERROR"):
                return f"{line} (log: {log})"
    return None
