"""``run_report``: per-sequence and summary CSVs, missing list, provenance, paper-style table and plots."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from motionseg.io.atomic import atomic_dir, atomic_path
from motionseg.report import scores as sc
from motionseg.report.table import add_labels, markdown_to_html, render_table

log = logging.getLogger(__name__)



def aggregate(per_sequence: pd.DataFrame, layouts: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Summary rows from :func:`motionseg.metrics.aggregate` (one per :data:`~motionseg.report.scores.GROUP_KEY`,
    ``oracle`` included: mean of sequence means, frame-pooled ``*_pooled``, counts), sorted by the key.
    layouts: {dataset: layout} so that the ``paper_aggregate`` column can be filled (None leaves it unknown)."""
    from motionseg.metrics import aggregate as metrics_aggregate

    if per_sequence.empty:
        return pd.DataFrame(columns=[*sc.GROUP_KEY, "n_sequences", "n_frames", *sc.METRIC_COLS])
    out = metrics_aggregate(per_sequence, layouts)
    return out.sort_values(sc.GROUP_KEY, kind="stable").reset_index(drop=True)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _series(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``variant`` and ``series`` (variant, plus the selection when a group holds several selections)."""
    df = add_labels(df)
    multi = df["selection"].nunique() > 1 if "selection" in df.columns else False
    df["series"] = df["variant"] + (" <" + df["selection"] + ">" if multi else "")
    return df


def write_plots(plot_dir: Path, per_sequence: pd.DataFrame, summary: pd.DataFrame, frames: pd.DataFrame,
                report_cfg: Mapping) -> list[Path]:
    """All plots into ``plot_dir``, named ``{kind}__{dataset}__{protocol}__{gt-free|oracle}.png``; returns them."""
    from motionseg.report import plots

    pc = report_cfg["plots"]
    scale = float(report_cfg["display_scale"])
    groups = [(False, "gt-free")] + ([(True, "oracle")] if pc["oracle"] else [])
    variants = set(add_labels(per_sequence)["variant"]) if len(per_sequence) else set()
    colours = plots.variant_colours(sorted(variants | (set(add_labels(frames)["variant"]) if len(frames) else set())))
    written = []
    keys = per_sequence[["dataset", "protocol"]].drop_duplicates().sort_values(["dataset", "protocol"])
    jobs = [(d, p, o, gname) for d, p in keys.itertuples(index=False) for o, gname in groups]
    for dataset, protocol, oracle, gname in tqdm(jobs, desc="report plots", unit="group"):
        ps = per_sequence[(per_sequence["dataset"] == dataset) & (per_sequence["protocol"] == protocol)
                          & (per_sequence["oracle"] == oracle)]
        if ps.empty:
            continue
        ps = _series(ps)
        sm = _series(summary[(summary["dataset"] == dataset) & (summary["protocol"] == protocol)
                             & (summary["oracle"] == oracle)])
        what = "GT-free" if not oracle else "ORACLE: ground truth chose the foreground"
        head = f"{dataset} · protocol {protocol} · {what}"
        stem = f"{dataset}__{protocol}__{gname}.png"
        out = plot_dir / f"j_per_sequence__{stem}"
        plots.plot_per_sequence(ps, colours, out, f"Per-sequence J — {head}", scale, int(pc["max_bar_sequences"]),
                                int(pc["dpi"]))
        written.append(out)
        out = plot_dir / f"j_by_flow__{stem}"
        plots.plot_by_flow(sm, ps, colours, out, f"J by flow backend — {head}", scale, int(pc["dpi"]))
        written.append(out)
        fr = _frames_for(frames, dataset, protocol, oracle)
        if len(fr):
            out = plot_dir / f"j_over_time__{stem}"
            plots.plot_over_time(_series(fr), colours, out, f"J over time — {head}", scale,
                                 int(pc["max_time_sequences"]), int(pc["dpi"]))
            written.append(out)
    return written


def _frames_for(frames: pd.DataFrame, dataset: str, protocol: str, oracle: bool) -> pd.DataFrame:
    if frames.empty:
        return frames
    sel = frames["dataset"] == dataset
    if "protocol" in frames.columns:
        sel &= frames["protocol"] == protocol
    if "oracle" in frames.columns:
        sel &= frames["oracle"] == oracle
    elif oracle:
        return frames.iloc[0:0]  # per-frame rows without an oracle flag are taken as GT-free only
    out = frames[sel].copy()
    if "selection" not in out.columns:
        out["selection"] = ""
    return out


def _frame_csvs_to_plot(frame_csvs: Sequence[str | Path], per_sequence: pd.DataFrame, n: int) -> list[str]:
    """The per-frame CSVs the J-over-time plot will draw: those of the first ``n`` sequences (by name) of each
    dataset, recognised by the keys of their first row (:func:`motionseg.report.scores.frame_csv_key`; a file
    without one is kept, and fails or is skipped when read). Saves reading thousands of files on large datasets."""
    if per_sequence.empty:
        return []
    keep = {(d, s) for d, g in per_sequence.groupby("dataset") for s in sorted(g["sequence"].unique())[:n]}
    out = []
    for p in frame_csvs:
        key = sc.frame_csv_key(p)
        if key is None or key in keep:
            out.append(str(p))
    return out


def run_report(score_csvs: Sequence[str | Path], out_dir: str | Path, report_cfg: Mapping,
               provenance: Mapping | None = None, *, config: Mapping | None = None,
               expected: Sequence[Mapping] | None = None, frame_csvs: Sequence[str | Path] | None = None,
               flow_meta: Sequence[str | Path] = (), tracks_meta: Sequence[str | Path] = ()) -> None:
    """Write the aggregate report into ``out_dir`` (each file atomically; ``plots/`` as one atomic directory).

    score_csvs: per-sequence score CSVs (docs/architecture.md, "Scores"; J/F in [0, 1]); paths that do not exist
    are listed in ``missing.csv``. report_cfg: the validated ``report`` config section. provenance: from
    :func:`collect_provenance`; when None it is collected here from ``config`` (the whole validated config) and the
    ``flow_meta``/``tracks_meta`` paths. expected: dicts with dataset, sequence, flow, tracks, method that should
    have scores; those without are listed in ``missing.csv`` and counted in ``summary.csv`` (``n_expected``,
    ``complete``). frame_csvs: per-frame score CSVs for the J-over-time plot.

    config: the whole validated config (also gives dataset layouts for the ``paper_aggregate`` column).

    Outputs: ``per_sequence.csv``, ``summary.csv`` (motionseg.metrics.aggregate columns: GROUP_KEY, counts,
    mean-of-means and ``*_pooled`` frame-pooled metrics; plus n_expected, complete, provenance columns),
    ``missing.csv``, ``provenance.json``, ``table.md``, ``table.html`` (the same table as a web page),
    ``plots/*.png``.
    """
    from motionseg.report.provenance import collect_provenance, provenance_columns

    if provenance is None:
        if config is None:
            raise ValueError("run_report needs either provenance or config")
        provenance = collect_provenance(config, flow_meta=flow_meta, tracks_meta=tracks_meta)
    out_dir = Path(out_dir)
    per_sequence, absent = sc.load_scores(score_csvs)
    for p in absent:
        log.warning("score file not found (listed in missing.csv): %s", p)
    missing = sc.find_missing(per_sequence, expected, absent)
    layouts = {d["name"]: d["layout"] for d in config.get("datasets", [])} if config is not None else None
    summary = sc.missing_counts(aggregate(per_sequence, layouts), expected)
    prov_cols = pd.DataFrame([provenance_columns(provenance, f, t) for f, t in zip(summary["flow"], summary["tracks"],
                                                                                  strict=True)],
                             index=summary.index)
    summary = pd.concat([summary, prov_cols], axis=1) if len(summary) else summary.reindex(
        columns=[*summary.columns, *provenance_columns(provenance, "", "")])
    frames = sc.read_frame_csvs(_frame_csvs_to_plot(frame_csvs or [], per_sequence,
                                                    int(report_cfg["plots"]["max_time_sequences"])))

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(per_sequence, out_dir / "per_sequence.csv")
    _write_csv(summary, out_dir / "summary.csv")
    _write_csv(missing, out_dir / "missing.csv")
    with atomic_path(out_dir / "provenance.json") as tmp:
        tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n")
    table_md = render_table(summary, report_cfg, provenance, len(missing))
    with atomic_path(out_dir / "table.md") as tmp:
        tmp.write_text(table_md)
    with atomic_path(out_dir / "table.html") as tmp:
        tmp.write_text(markdown_to_html(table_md))
    with atomic_dir(out_dir / "plots") as tmp:
        written = write_plots(tmp, per_sequence, summary, frames, report_cfg) if len(per_sequence) else []
    n_or = int(summary["oracle"].sum()) if len(summary) else 0
    print(f"report: {per_sequence['sequence'].nunique() if len(per_sequence) else 0} sequences, "
          f"{len(summary)} summary rows ({n_or} oracle), {len(missing)} missing, {len(written)} plots -> {out_dir}",
          file=sys.stderr, flush=True)
