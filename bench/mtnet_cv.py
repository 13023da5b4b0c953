"""MTNet (supervised) cross-validated on the 13 shared DAVIS-2016 sequences, beside the unsupervised methods.

Runs the workflow (`snakemake --cores 2`) on ../shared/data/DAVIS2016 with config/davis2016.yaml's CPU setting and
`cross_validation: K` on the dataset: K `mtnet` models, fold i trained on the GT of the sequences outside fold i
(sequences in name order, the j-th in fold j mod K) and segmenting only fold i's sequences, so every sequence is scored
by a model that never saw it. The unsupervised methods (default: bgfit) run in the same DAG on the same frames and
flow. Prints per-sequence J (davis2017-unsup protocol, GT-free selection), each method's mean J, supervised rows
apart, the folds, and the training time per fold (the workflow's own benchmark files). Budget: `mtnet` as in
config/config.yaml (tiny encoder, random initialisation: no ImageNet weights here) unless --iterations is given.

Usage: python bench/mtnet_cv.py [--folds 4] [--iterations N] [--methods bgfit] [--out /tmp/mtnet_cv] [--cores 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"


def write_config(out: Path, folds: int, iterations: int | None, methods: list[str]) -> Path:
    """The run's extra config file (over config/config.yaml and config/davis2016.yaml)."""
    cfg = {
        "datasets": [{"name": "davis2016", "layout": "davis", "root": str(DATA), "protocol": "davis2017-unsup",
                      "cross_validation": folds}],
        "methods": [*methods, "mtnet"],
        "crf": {"methods": []},
        "evaluation": {"selections": ["gt-free"]},
        "report": {"overlays_per_dataset": 0},
    }
    if iterations is not None:
        cfg["mtnet"] = {"main_train": {"iterations": iterations}}
    path = out / "mtnet_cv.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=None, help="mtnet.main_train.iterations (default: config)")
    ap.add_argument("--methods", nargs="+", default=["bgfit"], help="unsupervised methods run beside")
    ap.add_argument("--out", type=Path, default=Path("/tmp/mtnet_cv"))
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: the shared DAVIS-2016 sequences are not at {DATA}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    extra = write_config(args.out, args.folds, args.iterations, args.methods)
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"), "--cores",
           str(args.cores), "--configfile",
           str(REPO / "config" / "config.yaml"), str(REPO / "config" / "davis2016.yaml"), str(extra)]
    t0 = time.time()
    with open(args.out / "snakemake.log", "w") as log:
        res = subprocess.run(cmd, cwd=args.out, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if res.returncode != 0:
        print(f"workflow failed ({res.returncode}); see {args.out / 'snakemake.log'}")
        return 1
    reports = args.out / "results" / "reports"
    ps = pd.read_csv(reports / "per_sequence.csv")
    ps = ps[(ps.protocol == "davis2017-unsup") & (ps.selection == "gt-free") & (ps.post == "none")]
    seqs = sorted(ps.sequence.unique())
    fold = {s: f"fold{i % args.folds}" for i, s in enumerate(seqs)}
    table = ps.pivot_table(index="sequence", columns="method", values="J_mean")
    table.insert(0, "fold", [fold[s] for s in table.index])
    print(f"davis2017-unsup protocol, GT-free selection, {len(seqs)} sequences, {args.folds} folds "
          f"(sequences in name order, the j-th in fold j mod {args.folds}); workflow wall time {wall / 60:.1f} min")
    print((table.round(3)).to_string())
    sup = ps.groupby(["method", "supervision"]).J_mean.mean().reset_index()
    print("\nmean J (mean of sequence means):")
    for kind, rows in (("unsupervised", sup[sup.supervision != "supervised"]),
                       ("SUPERVISED, cross-validated", sup[sup.supervision == "supervised"])):
        print(f"  {kind}: " + ", ".join(f"{r.method} {r.J_mean:.3f}" for r in rows.itertuples()))
    bench = args.out / "results" / "benchmarks" / "train_supervised"
    for tsv in sorted(bench.rglob("*.tsv")):
        t = pd.read_csv(tsv, sep="\t")
        mins, rss = t["s"].iloc[0] / 60, t["max_rss"].iloc[0]
        print(f"  train {tsv.parent.name}/{tsv.stem}: {mins:.1f} min, max RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
