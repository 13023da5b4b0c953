"""How many SLURM jobs does `snakemake --profile slurm` submit for a large dataset, with and without job grouping?

Dry-runs (`snakemake -n`: nothing is submitted or executed) the shipped workflow under the SLURM profile for a
synthetic dataset of N sequence entries (synthetic datasets need no frames on disk) and counts what the profile would
submit: one SLURM job per group job (the profile's `groups` and `group-components`) plus one per ungrouped non-local
job. Without grouping the plugin submits one SLURM job per non-local job of the DAG, which is the figure it is
compared with. Prints, per N: jobs in the DAG, SLURM jobs without and with grouping (per group), and the ratio.

Usage: python bench/slurm_jobs.py [--sizes 300 3000] [--methods bgfit kmeans clusternet-online gwm lrtl gwm-boot]
(default methods: those of config/config.yaml). Needs snakemake-executor-plugin-slurm (the `dev` extra).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_RULES = {"all", "report", "report_partial"}


def count_submissions(dry_run_log: str) -> tuple[Counter, int]:
    """Parse a `snakemake -n --profile slurm` log: (SLURM submissions per group name or ``rule:<name>`` for
    ungrouped non-local jobs, total jobs in the DAG from the "Job stats" table)."""
    subs: Counter = Counter()
    for m in re.finditer(r"^\[[^\]]+\] Group job (\S+)", dry_run_log, re.MULTILINE):
        subs[m.group(1)] += 1
    for m in re.finditer(r"^rule (\w+):", dry_run_log, re.MULTILINE):  # top level = not inside a group job
        if m.group(1) not in LOCAL_RULES:
            subs[f"rule:{m.group(1)}"] += 1
    total = re.search(r"^total\s+(\d+)", dry_run_log, re.MULTILINE)
    return subs, int(total.group(1)) if total else -1


def local_jobs(dry_run_log: str) -> int:
    """Jobs of local rules in the "Job stats" table (they run in the submitting process, never under sbatch)."""
    n = 0
    for rule in LOCAL_RULES:
        m = re.search(rf"^{rule}\s+(\d+)$", dry_run_log, re.MULTILINE)
        n += int(m.group(1)) if m else 0
    return n


def dry_run(n: int, methods: list[str] | None, workdir: Path) -> tuple[float, str]:
    """Dry-run the workflow under the SLURM profile for ``n`` synthetic sequences; returns (seconds, log)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"][0]["synthetic"]["n_sequences"] = n
    if methods:
        cfg["methods"] = methods
    cfg_path = workdir / f"config_{n}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake), "-n", "--profile", str(REPO / "slurm"), "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(cfg_path)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    dt = time.perf_counter() - t0
    log = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"dry run failed for n={n}:\n{log[-3000:]}")
    return dt, log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--methods", nargs="+", default=None, help="default: the methods of config/config.yaml")
    args = ap.parse_args()
    methods = args.methods or yaml.safe_load((REPO / "config" / "config.yaml").read_text())["methods"]
    prof = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    print(f"methods: {' '.join(methods)}")
    print(f"group-components: {prof['group-components']}")
    tmp = Path(tempfile.mkdtemp(prefix="slurmjobs_"))
    try:
        for n in args.sizes:
            dt, log = dry_run(n, methods, tmp)
            subs, total = count_submissions(log)
            ungrouped = total - local_jobs(log)
            grouped = sum(subs.values())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(subs.items()))
            print(f"{n:>6} sequences: {total} jobs in the DAG; SLURM jobs without grouping {ungrouped}, "
                  f"with grouping {grouped} ({detail}); {ungrouped / grouped:.1f}x fewer; dry run {dt:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
