"""Rule `report_semisup`: the semi-supervised report (motionseg.report.semisup.run_semisup_report)."""

from pathlib import Path

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.report.semisup import run_semisup_report
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_semisup_report,
    list(snakemake.input.scores),
    Path(snakemake.output.table).parent,
    scale=snakemake.params.scale,
)
