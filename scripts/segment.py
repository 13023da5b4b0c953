"""Rules `segment` and `infer`: masks of one sequence from any method (per-sequence, or trained with the model among
the inputs) through the registry's one dispatch, motionseg.registry.run_method."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.registry import run_method
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_method,
    snakemake.wildcards.method,
    dict(snakemake.input.items()),
    snakemake.output.masks,
    snakemake.params.cfg,
    seed=snakemake.params.seed,
)
