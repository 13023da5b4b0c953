"""Checks of a finished `snakemake --profile slurm` run against SLURM accounting (used by .ci/slurm-e2e.sh).

    python slurm/testing/check_slurm_run.py success --log run.log --results R --reference R_LOCAL
    python slurm/testing/check_slurm_run.py failure --log run.log --results R --reference R_LOCAL --bad-sequence S

`success`: every SLURM job of the run COMPLETED; every job whose rules asked for a GPU was submitted to a GPU
partition with a gres/gpu request and every other job to a CPU partition without one; the local rules (at least
`report`) ran in the submitting process and never reached SLURM; summary.csv equals the reference run's.
`failure`: the failing sequence's job failed `--attempts` times (retries) and every other job completed, the
failing sequence left no output behind, and every other sequence's scores that do not need a trained model exist.
Exit status 0 when all checks pass, 1 otherwise (each failed check is printed).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

SUBMITTED_RE = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$")
LOCALRULE_RE = re.compile(r"^\s*localrule (\w+):")
GPU_RE = re.compile(r"\bgpu=(\d+)")
RESOURCES_RE = re.compile(r"^\s*resources: (.*)$")
TEMP_SUFFIXES = (".tmp", ".partial", ".part")


@dataclass
class Submission:
    """One sbatch submission of the run: SLURM job id, rule/group name, and its SLURM log file."""

    slurm_id: str
    name: str
    is_group: bool
    log: Path
    gpu: int = 0  # GPUs the job's rules asked for (max over the jobs of a group), read from its SLURM log


@dataclass
class RunLog:
    """What the submitting Snakemake's log says about a run."""

    submissions: list[Submission] = field(default_factory=list)
    local_rules: set[str] = field(default_factory=set)


def parse_run_log(text: str) -> RunLog:
    """Parse the submitting Snakemake's output: submissions (SLURM id, rule or group, log) and local rules run."""
    run = RunLog()
    for line in text.splitlines():
        m = SUBMITTED_RE.search(line)
        if m:
            log = Path(m.group(2))
            kind = next((p for p in log.parts if p.startswith(("rule_", "group_"))), None)
            if kind is None:
                raise ValueError(f"cannot tell the rule or group from the SLURM log path {log}")
            is_group = kind.startswith("group_")
            run.submissions.append(Submission(m.group(1), kind.split("_", 1)[1], is_group, log))
            continue
        m = LOCALRULE_RE.match(line)
        if m:
            run.local_rules.add(m.group(1))
    return run


def requested_gpus(slurm_log_text: str) -> int:
    """Largest `gpu=N` among the job resource lines of one SLURM job log (0 when no job asked for a GPU)."""
    gpus = [0]
    for line in slurm_log_text.splitlines():
        m = RESOURCES_RE.match(line)
        if m:
            g = GPU_RE.search(m.group(1))
            if g:
                gpus.append(int(g.group(1)))
    return max(gpus)


def sacct_rows(job_ids: list[str]) -> dict[str, dict[str, str]]:
    """sacct allocation rows (JobID, State, Partition, ReqTRES, Comment, ExitCode) of the given SLURM job ids."""
    if not job_ids:
        return {}
    fields = ["JobID", "State", "Partition", "ReqTRES", "Comment", "ExitCode"]
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), f"--format={','.join(fields)}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        values = line.split("|")
        if len(values) == len(fields):
            rows[values[0]] = dict(zip(fields, values, strict=True))
    return rows


def gpu_partitions(partitions_file: Path) -> tuple[set[str], set[str]]:
    """(GPU partitions, CPU partitions) named in the plugin's partition file (max_gpu > 0 or not)."""
    parts = yaml.safe_load(partitions_file.read_text())["partitions"]
    gpu = {name for name, lim in parts.items() if (lim or {}).get("max_gpu", 0) > 0}
    return gpu, set(parts) - gpu


def gres_gpu(req_tres: str) -> int:
    """GPU count in a sacct ReqTRES string such as `billing=1,cpu=1,gres/gpu=1,mem=1000M,node=1` (0 if none)."""
    m = re.search(r"gres/gpu(?::[^=,]+)?=(\d+)", req_tres)
    return int(m.group(1)) if m else 0


class Checks:
    """Collects check results; prints each one."""

    def __init__(self) -> None:
        self.failed = 0

    def check(self, ok: bool, what: str) -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        self.failed += not ok
        return ok


def compare_summaries(ck: Checks, results: Path, reference: Path) -> None:
    """summary.csv of both runs (and the semi-supervised report's, when the runs made one): same rows and columns;
    numbers equal within 1e-6 (absolute)."""
    for rel in ("summary.csv", "semisup/summary.csv"):
        a, b = results / "reports" / rel, reference / "reports" / rel
        if rel != "summary.csv" and not (a.exists() or b.exists()):
            continue
        if not ck.check(a.is_file() and b.is_file(), f"both {rel} exist ({a}, {b})"):
            continue
        if a.read_bytes() == b.read_bytes():
            ck.check(True, f"{rel} of the SLURM run is byte-identical to the local --cores 2 run's")
            continue
        da, db = pd.read_csv(a), pd.read_csv(b)
        try:
            pd.testing.assert_frame_equal(da, db, check_exact=False, rtol=0, atol=1e-6)
            ck.check(True, f"{rel} equals the local run's (numbers within 1e-6; bytes differ)")
        except AssertionError as err:
            ck.check(False, f"{rel} differs from the local run's: {err}")


def check_success(args: argparse.Namespace) -> int:
    ck = Checks()
    run = parse_run_log(Path(args.log).read_text())
    ck.check(bool(run.submissions), f"{len(run.submissions)} SLURM jobs submitted")
    rows = sacct_rows([s.slurm_id for s in run.submissions])
    gpu_parts, cpu_parts = gpu_partitions(Path(args.partitions))
    n_gpu_jobs = 0
    for s in run.submissions:
        row = rows.get(s.slurm_id)
        label = f"SLURM job {s.slurm_id} ({'group' if s.is_group else 'rule'} {s.name})"
        if not ck.check(row is not None, f"{label} is in sacct"):
            continue
        ck.check(row["State"] == "COMPLETED", f"{label} state {row['State']}")
        s.gpu = requested_gpus(s.log.read_text()) if s.log.is_file() else -1
        if not ck.check(s.gpu >= 0, f"{label} SLURM log kept ({s.log})"):
            continue
        got = gres_gpu(row["ReqTRES"])
        if s.gpu > 0:
            n_gpu_jobs += 1
            ck.check(got >= s.gpu, f"{label} asked for {s.gpu} GPU(s): ReqTRES {row['ReqTRES']}")
            ck.check(row["Partition"] in gpu_parts, f"{label} ran in GPU partition {row['Partition']}")
        else:
            ck.check(got == 0, f"{label} asked for no GPU: ReqTRES {row['ReqTRES']}")
            ck.check(row["Partition"] in cpu_parts, f"{label} ran in CPU partition {row['Partition']}")
    for rule in args.gpu_rules:
        ck.check(
            any(s.name == rule and s.gpu > 0 for s in run.submissions),
            f"rule {rule} was submitted with a GPU request",
        )
    ck.check(n_gpu_jobs > 0, f"{n_gpu_jobs} job(s) with a GPU request checked (the check is not vacuous)")
    submitted_rules = {s.name for s in run.submissions if not s.is_group}
    for rule in args.local_rules:
        ck.check(rule in run.local_rules, f"local rule {rule} ran in the submitting Snakemake")
        ck.check(rule not in submitted_rules, f"local rule {rule} was not submitted to SLURM")
        ck.check(
            not any(r["Comment"].startswith(f"rule_{rule}_") or r["Comment"] == f"rule_{rule}" for r in rows.values()),
            f"no sacct record of rule {rule}",
        )
    if args.fallback_warning:
        logs = [s.log for s in run.submissions if s.gpu > 0] + sorted(Path(args.results, "logs").rglob("*.log"))
        hits = [p for p in logs if p.is_file() and args.fallback_warning in p.read_text(errors="replace")]
        ck.check(bool(hits), f"GPU jobs logged the CPU-fallback warning '{args.fallback_warning}' ({len(hits)} logs)")
    compare_summaries(ck, Path(args.results), Path(args.reference))
    return 1 if ck.failed else 0


def load_config(files: list[str]) -> dict:
    """The run's config: ``files`` merged in order, later ones overriding nested keys (Snakemake's own merge of
    ``--configfile``)."""
    from snakemake.utils import update_config

    config: dict = {}
    for f in files:
        update_config(config, yaml.safe_load(Path(f).read_text()) or {})
    return config


def combiners_of_trained(config: dict) -> set[str]:
    """The configured methods that combine other methods' masks (``combine``) with at least one trained component
    in ``combine.methods`` (``gwm-boot``, ``lrtl+prop``, ...): their masks wait for a model."""
    from motionseg.registry import spec

    comps = [c.partition("+")[0] for c in (config.get("combine") or {}).get("methods") or []]
    if not any(spec(c).trained for c in comps):
        return set()
    return {m for m in config.get("methods") or [] if spec(m).combines}


def expected_scores(reference: Path, bad: str, needs_model: set[str]) -> list[Path]:
    """Score files (relative to ``reference``, the complete run's results root) that a run missing sequence ``bad``
    still writes: not those of ``bad``, not the trained methods' (their own, their dense-CRF and propagated
    versions', found by their model.pt), not the semi-supervised DUL source's (its network learns from every
    sequence's frames) and not those of the methods named in ``needs_model`` (combiners of a trained component)."""
    models = [p.parent.relative_to(reference).as_posix() for p in reference.rglob("model.pt")]
    trained = {m.replace("/models/", sub, 1) for m in models if "/models/" in m
               for sub in ("/scores/", "/crf/scores/", "/prop/scores/")}
    if any(m.startswith("dul/") for m in models):
        trained |= {p.relative_to(reference).as_posix() for p in reference.glob("*/semisup/scores/dul")}
    rels = (p.relative_to(reference) for p in reference.rglob("*.csv"))
    return [
        r
        for r in rels
        if "scores" in r.parts
        and bad not in r.name
        and not any(r.as_posix().startswith(t + "/") for t in trained)
        and r.parent.name not in needs_model
    ]


def check_failure(args: argparse.Namespace) -> int:
    ck = Checks()
    run = parse_run_log(Path(args.log).read_text())
    rows = sacct_rows([s.slurm_id for s in run.submissions])
    states = [rows.get(s.slurm_id, {}).get("State", "MISSING") for s in run.submissions]
    n_failed = sum(st == "FAILED" for st in states)
    ck.check(n_failed == args.attempts, f"{n_failed} FAILED SLURM jobs (expected {args.attempts}: 1 + retries)")
    others = [st for st in states if st != "FAILED"]
    ck.check(all(st == "COMPLETED" for st in others), f"all other {len(others)} SLURM jobs COMPLETED: {others}")
    results, reference, bad = Path(args.results), Path(args.reference), args.bad_sequence
    skip = {"logs", "benchmarks"}
    left = [
        p
        for p in results.rglob("*")
        if bad in p.relative_to(results).as_posix() and not skip & set(p.relative_to(results).parts) and p.is_file()
    ]
    ck.check(not left, f"the failing sequence {bad} left no output behind: {left[:5]}")
    temps = [p for p in results.rglob("*") if p.name.endswith(TEMP_SUFFIXES) or ".tmp" in p.name]
    ck.check(not temps, f"no temporary/partial files anywhere: {temps[:5]}")
    expected = expected_scores(reference, bad, combiners_of_trained(load_config(args.configfiles)))
    missing = [p for p in expected if not (results / p).is_file()]
    ck.check(bool(expected), f"{len(expected)} score files of the other sequences expected (none waits for a model)")
    done = len(expected) - len(missing)
    ck.check(not missing, f"the other sequences finished: {done}/{len(expected)} score files {missing[:5]}")
    return 1 if ck.failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("success", "failure"):
        s = sub.add_parser(name)
        s.add_argument("--log", required=True, help="output of the submitting snakemake")
        s.add_argument("--results", required=True, help="results root of the SLURM run")
        s.add_argument("--reference", required=True, help="results root of the local --cores 2 run")
    s = sub.choices["success"]
    s.add_argument("--partitions", default=str(Path(__file__).resolve().parents[1] / "partitions.yaml"))
    s.add_argument("--local-rules", nargs="*", default=["report"], help="rules that must run locally")
    s.add_argument("--gpu-rules", nargs="*", default=[], help="rules that must have been submitted with a GPU")
    s.add_argument("--fallback-warning", default="", help="text GPU jobs must log when no real GPU is usable")
    f = sub.choices["failure"]
    f.add_argument("--bad-sequence", required=True)
    f.add_argument("--attempts", type=int, default=2, help="1 + the profile's retries")
    f.add_argument("--configfiles", nargs="+", default=["config/config.yaml"],
                   help="the run's config files, in --configfile order (which methods wait for a trained model)")
    args = p.parse_args(argv)
    return check_success(args) if args.cmd == "success" else check_failure(args)


if __name__ == "__main__":
    sys.exit(main())
