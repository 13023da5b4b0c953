"""Rule `overlay`: GIF, MP4 and HTML page of frames, GT contour and predicted mask (motionseg.report.render_overlay)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.report import render_overlay
from motionseg.workflow import run_step

run_step(
    snakemake,
    render_overlay,
    snakemake.input.frames,
    snakemake.input.masks,
    None,
    snakemake.output.gif,
    out_html=snakemake.output.html,
    out_mp4=snakemake.output.mp4,
    **snakemake.params.overlay,
)
