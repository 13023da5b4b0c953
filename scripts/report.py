"""Rule `report`: aggregate CSVs, paper-style table, plots and provenance (motionseg.report.run_report)."""

from pathlib import Path

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.report import run_report
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_report,
    list(snakemake.input.scores),
    str(Path(snakemake.output.summary).parent),
    snakemake.params.cfg,
    config=snakemake.params.config,
    expected=snakemake.params.expected,
    frame_csvs=list(snakemake.input.frames),
    flow_meta=list(snakemake.input.flow_meta),
    tracks_meta=list(snakemake.input.tracks_meta),
)
