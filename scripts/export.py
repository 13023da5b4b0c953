"""Rule `export`: palette segment PNGs and soft foreground PNGs of one mask directory (motionseg.io.export)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.io.export import run_export
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_export,
    snakemake.input.masks,
    snakemake.output.export,
    **snakemake.params.export,
)
