"""Rule `crf`: dense-CRF version of one mask directory (motionseg.post.crf.run_crf)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.post.crf import run_crf
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_crf,
    snakemake.input.frames,
    snakemake.input.masks,
    snakemake.output.masks,
    snakemake.params.cfg,
)
