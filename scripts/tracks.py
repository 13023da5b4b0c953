"""Rule `tracks`: point trajectories of one sequence (motionseg.tracks.run_tracks)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.tracks import run_tracks
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_tracks,
    snakemake.input.frames,
    snakemake.input.get("flow"),
    snakemake.output.tracks,
    snakemake.params.cfg,
    backend=snakemake.params.backend,
)
