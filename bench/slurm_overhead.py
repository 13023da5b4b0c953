"""Overhead of running the demo DAG under SLURM: wall time vs `snakemake --cores 2`, and submitted jobs with and
without the profile's job grouping.

    slurm/testing/local-cluster.sh start          # as root; or pass --start-cluster
    .venv/bin/python bench/slurm_overhead.py [--skip-ungrouped] [--json out.json]

Each run happens in its own copy of the working tree (tracked + untracked, not ignored files) in a temporary
directory; the checkout's results/ is never touched. The SLURM runs use slurm/config.yaml plus the test overrides of
slurm/testing/profile (2 s to the first status check instead of 40 s); "ungrouped" is the same profile without its
`groups`/`group-components` keys. The demo config is shrunk by slurm/testing/e2e-config.yaml unless --full-demo (CI
runs the full demo). Prints one line per run: wall time, SLURM jobs submitted, jobs in the DAG.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SUBMITTED = "has been submitted with SLURM jobid"
CLUSTER = REPO / "slurm" / "testing" / "local-cluster.sh"


def copy_tree(dest: Path) -> None:
    """Copy the working tree to ``dest`` without ignored files (.venv, results/, logs/, .snakemake/) and without any
    virtual environment in the checkout (ignored or not, e.g. .ci/run's .ci-venv)."""
    dest.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    venvs = {d.name for d in REPO.iterdir() if (d / "pyvenv.cfg").is_file()}
    files = b"".join(
        f + b"\0" for f in listed.split(b"\0") if f and f.split(b"/", 1)[0].decode() not in venvs
    )
    subprocess.run(
        ["rsync", "-a", "--from0", "--files-from=-", "--ignore-missing-args", f"{REPO}/", f"{dest}/"],
        input=files,
        check=True,
    )


def write_ungrouped_profile(tree: Path) -> str:
    """A copy of the slurm profile without job grouping, as ``tree/slurm-ungrouped``; returns its name."""
    src, dst = tree / "slurm", tree / "slurm-ungrouped"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("testing"))
    prof = yaml.safe_load((src / "config.yaml").read_text())
    for key in ("groups", "group-components"):
        prof.pop(key, None)
    (dst / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dst.name


def dag_jobs(log: str) -> int:
    """Total of the 'Job stats' table Snakemake prints at the start of a run (every job, local rules included)."""
    m = re.search(r"^total\s+(\d+)\s*$", log, re.MULTILINE)
    if m is None:
        raise RuntimeError("no 'Job stats' total in the snakemake output")
    return int(m.group(1))


def run(tree: Path, args: list[str], timeout_s: int) -> dict:
    """Run snakemake in ``tree``; return wall seconds, submitted SLURM jobs and DAG jobs. Raises on failure."""
    snakemake = Path(sys.executable).parent / "snakemake"
    t0 = time.monotonic()
    proc = subprocess.run(
        ["timeout", "-k", "30", str(timeout_s), str(snakemake), *args],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    (tree / "snakemake.out").write_text(out)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed ({proc.returncode}); see {tree / 'snakemake.out'}")
    return {"wall_s": round(wall, 1), "slurm_jobs": out.count(SUBMITTED), "dag_jobs": dag_jobs(out)}


def cluster_up() -> bool:
    return subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-ungrouped", action="store_true", help="do not run the ungrouped SLURM variant")
    p.add_argument("--start-cluster", action="store_true", help="start (and afterwards stop) the local test cluster")
    p.add_argument("--timeout", type=int, default=1200, help="seconds per snakemake run")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--full-demo", action="store_true",
                   help="the full demo config, as CI runs it (default: shrunk by slurm/testing/e2e-config.yaml)")
    args = p.parse_args(argv)

    started = False
    if args.start_cluster and not cluster_up():
        subprocess.run([str(CLUSTER), "start"], check=True)
        started = True
    if not cluster_up():
        sys.exit(f"no SLURM cluster answers sinfo: run {CLUSTER} start (as root) or pass --start-cluster")
    work = Path(tempfile.mkdtemp(prefix="motionseg-slurm-bench."))
    results: dict[str, dict] = {}
    slurm_args = ["--workflow-profile", "slurm/testing/profile"]
    config_args = [] if args.full_demo else ["--configfile", "config/config.yaml", "slurm/testing/e2e-config.yaml"]
    try:
        for name in ("local", "slurm_grouped") + (() if args.skip_ungrouped else ("slurm_ungrouped",)):
            tree = work / name
            copy_tree(tree)
            if name == "local":
                cmd = ["--cores", "2"]
            elif name == "slurm_grouped":
                cmd = ["--profile", "slurm", *slurm_args]
            else:
                cmd = ["--profile", write_ungrouped_profile(tree), *slurm_args]
            print(f"running {name}: snakemake {' '.join(cmd)}", file=sys.stderr, flush=True)
            results[name] = run(tree, cmd + config_args, args.timeout)
            print(f"{name:16s} wall {results[name]['wall_s']:7.1f} s   SLURM jobs {results[name]['slurm_jobs']:4d}"
                  f"   DAG jobs {results[name]['dag_jobs']:4d}", flush=True)
    finally:
        if started:
            subprocess.run([str(CLUSTER), "stop"], check=False)
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if "local" in results and "slurm_grouped" in results:
        ratio = results["slurm_grouped"]["wall_s"] / results["local"]["wall_s"]
        print(f"SLURM (grouped) / local wall time: {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
