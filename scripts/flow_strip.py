"""Rule `flow_strip`: colour-wheel strip of one sequence's flow (motionseg.report.render_flow_strip)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.report import render_flow_strip
from motionseg.workflow import run_step

run_step(
    snakemake,
    render_flow_strip,
    snakemake.input.flow,
    snakemake.output.png,
    n_frames=snakemake.params.n_frames,
    frames_npz=snakemake.input.frames,
)
