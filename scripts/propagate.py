"""Rule `propagate`: the semi-supervised predictions of one sequence from one label source
(motionseg.propagate.semisup.run_semisup)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.propagate.semisup import run_semisup
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_semisup,
    snakemake.input.frames,
    snakemake.params.dataset,
    snakemake.wildcards.sequence,
    snakemake.wildcards.source,
    snakemake.output.masks,
    snakemake.params.cfg,
    flow_dir=snakemake.input.get("flow"),
    model_path=snakemake.input.get("model"),
)
