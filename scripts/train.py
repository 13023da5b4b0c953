"""Rules `train` and `train_supervised`: train one network over a dataset's (training) sequences
(motionseg.registry.run_training)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.registry import run_training
from motionseg.workflow import run_step

n_seq = len(snakemake.input.frames)
# "tracks" and "pseudo" (the -boot methods' GT-free masks) only where given: part of the run's fingerprint. The GT of a
# supervised method's training sequences is found through each ingested file's manifest (the `gt` input only makes
# an edited mask rerun the training).
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
    run_training,
    snakemake.wildcards.method,
    inputs,
    snakemake.output.model,
    snakemake.params.cfg,
    seed=snakemake.params.seed,
    workdir=snakemake.params.workdir,
)
