"""Rule `train_dul`: train a DUL feature network on the frames of a set of datasets (motionseg.dul.train)."""

import _src  # noqa: F401  (puts src/ on sys.path)

from motionseg.dul.train import run_train_dul
from motionseg.workflow import run_step

run_step(
    snakemake,
    run_train_dul,
    list(snakemake.input.frames),
    snakemake.output.model,
    snakemake.params.cfg,
    seed=snakemake.params.seed,
    workdir=snakemake.params.workdir,
)
