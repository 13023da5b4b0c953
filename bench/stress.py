"""Stress: the workflow on hundreds of synthetic sequences, a few deliberately broken, with --keep-going.

Generates N small synthetic sequences (DAVIS layout) with `motionseg synth`, breaks a few of them in each of the ways
in motionseg.synth.corrupt (missing frame, truncated JPEG, garbage file, frames of different sizes, a mask of the
wrong size, an empty and a one-frame sequence), runs `snakemake --keep-going` with the bgfit method and prints how
many sequences finished, how many failed with a clear one-line error naming the broken file, and whether any failed
sequence left output behind (it must not), plus whether missing.csv lists exactly the failed sequences.

Usage: python bench/stress.py [--sequences 200] [--frames 6] [--cores 2]
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

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from motionseg.synth import generate_sequence, synth_sequence_names  # noqa: E402
from motionseg.synth.corrupt import CORRUPTIONS, corrupt_sequence  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=200)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="motionseg_stress_"))
    data = tmp / "data"
    names = synth_sequence_names(args.sequences)
    t0 = time.perf_counter()
    for i, name in enumerate(names):
        generate_sequence(data, name, i, args.frames, 48, 64, seed=0)
    gen_s = time.perf_counter() - t0
    broken: dict[str, tuple[str, Path]] = {}
    kinds = list(CORRUPTIONS)
    for k, name in zip(kinds, names[1 :: max(1, len(names) // len(kinds))], strict=False):
        broken[name] = (k, corrupt_sequence(data, name, k))

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"] = [{"name": "stress", "layout": "davis", "root": str(data), "protocol": "davis2017-unsup"}]
    cfg["methods"] = ["bgfit"]
    cfg["report"]["overlays_per_dataset"] = 0
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"), "--directory",
           str(tmp), "--configfile", str(tmp / "config.yaml"), "--quiet", "--cores", str(args.cores), "--keep-going"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    run_s = time.perf_counter() - t0
    out = res.stdout + res.stderr

    error_line = r"motionseg: ERROR in rule \w+ \([^)]*sequence=([^,)]+)[^)]*\): (.*)"
    errors = {m.group(1): m.group(2) for m in re.finditer(error_line, out)}
    scores = tmp / "results" / "stress" / "scores"
    finished = {p.stem for p in scores.rglob("*.csv") if not p.name.endswith(".frames.csv")}
    clear = [n for n, (kind, path) in broken.items() if n in errors and str(path) in errors[n]]
    leaked = [n for n in broken if n in finished or (tmp / "results" / "stress" / "frames" / f"{n}.npz").exists()
              and broken[n][0] != "mask_size"]
    partial = subprocess.run([*cmd[:-3], "--cores", "1", "report_partial"], capture_output=True, text=True)
    if partial.returncode != 0:
        print(f"report_partial failed:\n{(partial.stdout + partial.stderr)[-2000:]}")
    missing_csv = tmp / "results" / "reports" / "partial" / "missing.csv"
    listed = set(pd.read_csv(missing_csv)["sequence"]) if missing_csv.exists() else set()

    print(f"sequences: {len(names)} ({args.frames} frames, 48x64), broken on purpose: {len(broken)}")
    print(f"generation {gen_s:.1f} s, workflow {run_s:.1f} s (exit code {res.returncode}, expected non-zero)")
    print(f"finished (scored): {len(finished)} / {len(names) - len(broken)} intact")
    print(f"failed with a clear error naming the broken file: {len(clear)} / {len(broken)}")
    for n, (kind, _path) in broken.items():
        print(f"  {n:<12} {kind:<15} {'OK ' if n in clear else 'BAD'} {errors.get(n, '(no error line)')[:110]}")
    print(f"broken sequences that produced output: {len(leaked)} {leaked if leaked else ''}")
    exact = sorted(listed) == sorted(broken)
    print(f"`snakemake report_partial`: missing.csv lists exactly the broken sequences: {exact}")
    if args.keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
