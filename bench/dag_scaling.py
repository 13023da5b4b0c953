"""How long does Snakemake take to build the DAG as the number of sequences grows?

Runs `snakemake -n` (dry run: the whole DAG is built, nothing is executed) on the shipped workflow with a synthetic
dataset of 10, 100, 1,000 and 3,500 sequence entries (synthetic datasets need no frames on disk) and prints the wall
time, the number of jobs and the ratio to the 100-sequence time. Linear scaling gives ratios ~0.1, 1, 10, 35.

Usage: python bench/dag_scaling.py [--sizes 10 100 1000 3500] [--methods bgfit]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def dry_run(n: int, methods: list[str], workdir: Path) -> tuple[float, int]:
    """Dry-run the workflow for ``n`` synthetic sequences; returns (seconds, number of jobs)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"] = [
        {"name": "synth", "layout": "davis", "root": "results/data/synth", "protocol": "davis2017-unsup",
         "synthetic": dict(cfg["datasets"][0]["synthetic"], n_sequences=n)}
    ]
    cfg["methods"] = methods
    cfg_path = workdir / f"config_{n}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake), "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(cfg_path), "--quiet", "rules"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"dry run failed for n={n}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    m = re.search(r"^total\s+(\d+)", res.stdout + res.stderr, re.MULTILINE)
    return dt, int(m.group(1)) if m else -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 3500])
    ap.add_argument("--methods", nargs="+", default=["bgfit", "kmeans", "gwm", "lrtl"])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dagbench_"))
    try:
        rows = [(n, *dry_run(n, args.methods, tmp)) for n in args.sizes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref = dict((n, t) for n, t, _ in rows).get(100) or rows[0][1]
    print(f"methods: {' '.join(args.methods)}")
    print(f"{'sequences':>10} {'jobs':>8} {'dry-run s':>10} {'ratio to 100':>13} {'ms/job':>8}")
    for n, t, jobs in rows:
        print(f"{n:>10} {jobs:>8} {t:>10.2f} {t / ref:>13.2f} {1000 * t / max(jobs, 1):>8.2f}")


if __name__ == "__main__":
    main()
