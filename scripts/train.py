"""Rule `train`: train a segmentation network from motion over one dataset (motionseg.train.run_train)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.train import run_train
from motionseg.workflow import run_step

n_seq = len(snakemake.input.frames)
# "pseudo" (the -boot methods' GT-free masks) only where given: it is part of the run's fingerprint
inputs = [
    {"frames": frames, "flow": flow, "tracks": tracks} | ({"pseudo": pseudo} if pseudo else {})
    for frames, flow, tracks, pseudo in zip(
        snakemake.input.frames,
        snakemake.input.flow,
        snakemake.input.get("tracks") or [None] * n_seq,
        snakemake.input.get("pseudo") or [None] * n_seq,
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
