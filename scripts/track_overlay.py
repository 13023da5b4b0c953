"""Rule `track_overlay`: GIF of one sequence's point tracks (motionseg.tracks.render_track_overlay)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.tracks import render_track_overlay
from motionseg.workflow import run_step

run_step(snakemake, render_track_overlay, snakemake.input.frames, snakemake.input.tracks, snakemake.output.gif)
