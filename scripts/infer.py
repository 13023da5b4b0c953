"""Rule `infer`: masks of one sequence from a trained network (motionseg.train.run_segment)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.train import run_segment
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_segment,
    snakemake.input.model,
    snakemake.input.frames,
    snakemake.output.masks,
    snakemake.params.cfg,
    seed=snakemake.params.seed,
)
