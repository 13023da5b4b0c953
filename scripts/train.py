"""Rule `train`: train a segmentation network from motion over one dataset (motionseg.train.run_train)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.train import run_train
from motionseg.workflow import run_step

inputs = [
    {"frames": frames, "flow": flow, "tracks": tracks}
    for frames, flow, tracks in zip(
        snakemake.input.frames,
        snakemake.input.flow,
        snakemake.input.get("tracks") or [None] * len(snakemake.input.frames),
        strict=True,
    )
]
run_step(
    snakemake,
    run_train,
    inputs,
    snakemake.output.model,
    snakemake.params.cfg,
    method=snakemake.wildcards.method,
    seed=snakemake.params.seed,
    workdir=snakemake.params.workdir,
)
