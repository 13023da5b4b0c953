"""Rule `synth`: generate one synthetic sequence (motionseg.synth.run_synth)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.synth import run_synth
from motionseg.workflow import run_step

run_step(snakemake, run_synth, snakemake.params.synthetic, snakemake.params.root, snakemake.wildcards.sequence)
