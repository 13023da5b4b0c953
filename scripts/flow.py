"""Rule `flow`: forward and backward optical flow of one sequence (motionseg.flow.run_flow)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.flow import run_flow
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_flow,
    snakemake.input.frames,
    snakemake.output.flow,
    snakemake.params.cfg,
    backend=snakemake.params.backend,
    gaps=snakemake.params.gaps,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
