"""Rule `evaluate_semisup`: the DAVIS-2017 semi-supervised scores of one sequence's predictions
(motionseg.metrics.semisup.run_evaluate_semisup)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.metrics.semisup import run_evaluate_semisup
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_evaluate_semisup,
    snakemake.input.masks,
    snakemake.params.dataset,
    snakemake.wildcards.sequence,
    snakemake.wildcards.source,
    snakemake.output.scores,
    bound_th=snakemake.params.bound_th,
    decay=snakemake.params.decay,
)
