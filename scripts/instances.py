"""Rule `instances`: instance PNGs (ids 1..K, official DAVIS-2017 result layout) of one mask directory
(motionseg.io.instances.run_instances)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.io.instances import run_instances
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_instances,
    snakemake.input.masks,
    snakemake.output.instances,
    **snakemake.params.cfg,
)
