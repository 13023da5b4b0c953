"""Rule `ingest`: validate and resize one sequence's frames (motionseg.io.ingest.run_ingest)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.io.ingest import run_ingest
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_ingest,
    snakemake.params.dataset,
    snakemake.wildcards.sequence,
    snakemake.output.frames,
    snakemake.params.ingest,
    fail=snakemake.params.fail,
)
