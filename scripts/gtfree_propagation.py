"""Rule `gtfree_propagation`: a method's masks propagated from its own most confident frames and fused with them
(motionseg.propagate.gtfree.run_gtfree_propagation; no ground truth)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.propagate.gtfree import run_gtfree_propagation
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_gtfree_propagation,
    snakemake.input.frames,
    snakemake.input.masks,
    snakemake.output.masks,
    snakemake.params.cfg,
    model_path=snakemake.input.get("model"),
)
