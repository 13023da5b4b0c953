"""Rules `evaluate` and `evaluate_crf`: J/F of one sequence under every protocol and selection, and the
multi-object row of datasets with `objects: multi` (motionseg.metrics.run_evaluate)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.metrics import run_evaluate
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_evaluate,
    snakemake.input.masks,
    snakemake.params.dataset,
    snakemake.wildcards.sequence,
    snakemake.output.scores,
    snakemake.params.cfg,
    keys=snakemake.params.labels,
    out_frames_csv=snakemake.output.frames,
    instances_dir=snakemake.input.get("instances"),
)
