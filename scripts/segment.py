"""Rule `segment`: masks of one sequence from a per-sequence method (motionseg.methods.run_method)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.methods import run_method
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_method,
    snakemake.wildcards.method,
    snakemake.input.frames,
    snakemake.input.flow,
    snakemake.output.masks,
    snakemake.params.cfg,
    seed=snakemake.params.seed,
)
