"""Rule `synth`: generate one synthetic sequence (motionseg.synth.run_synth)."""

from motionseg.synth import run_synth
from motionseg.workflow import run_step

run_step(snakemake, run_synth, snakemake.params.synthetic, snakemake.params.root, snakemake.wildcards.sequence)
