"""``motionseg segment``: segment your own videos or frame folders with the Snakemake workflow, in one command."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from motionseg.io.atomic import atomic_path
from motionseg.io.errors import ConfigError

if TYPE_CHECKING:
    from motionseg.plan import Plan

CONFIG_NAME = "motionseg.yaml"  # the generated config, written in --out beside results/


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` command to the ``motionseg`` parser."""
    p = subparsers.add_parser(
        "segment",
        help="masks and overlays for your own videos or frame folders (runs the Snakemake workflow)",
        description=__doc__.splitlines()[0] + f" Writes OUT/{CONFIG_NAME} (rerun or edit it with `snakemake "
        "--configfile`), runs the workflow with OUT as its working directory (cached, resumable, --keep-going) and "
        "prints where each input's masks and overlay are. Exit status 1 when any input failed.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders of frames, or folders holding either")
    p.add_argument("--out", type=Path, default=Path("motionseg-out"),
                   help="output folder: the config and results/ go there (default ./motionseg-out)")
    p.add_argument("--methods", nargs="+", help="methods (default: config/segment.yaml, bgfit)")
    p.add_argument("--flow", nargs="+", dest="flows", help="flow backends (default: config/segment.yaml, dis)")
    p.add_argument("--probs", action="store_true", default=None, help="also write soft foreground PNGs")
    p.add_argument("--cores", help="cores for Snakemake (default: all, or what --profile sets)")
    p.add_argument("--profile", help="Snakemake profile, e.g. slurm (a folder of the workflow directory is found too)")
    p.add_argument("--dry-run", "-n", action="store_true", help="write the config and show the plan, run nothing")
    p.add_argument("--snakemake-args", default="", help="more Snakemake arguments, one quoted string")
    p.add_argument("--workflow", type=Path, help="workflow directory holding the Snakefile (default: this checkout)")
    p.set_defaults(func=_main)


def snakemake_executable() -> str:
    """The ``snakemake`` of this Python environment (else the one on PATH); ConfigError when there is none."""
    exe = Path(sys.executable).with_name("snakemake")
    found = str(exe) if exe.exists() else shutil.which("snakemake")
    if found is None:
        raise ConfigError("snakemake", "the snakemake command was not found (pip install -e . installs it)")
    return found


def snakemake_command(workflow: Path, out: Path, config_path: Path, cores: str | None, profile: str | None,
                      dry_run: bool, extra: list[str]) -> list[str]:
    """The ``snakemake`` command line of a run: the workflow's Snakefile, ``out`` as working directory (the
    Snakefile's ``config/config.yaml`` is then absent and only ``config_path`` counts), ``--keep-going`` (other
    inputs go on when one fails) and ``--rerun-incomplete`` (resume after a kill; outputs are written atomically)."""
    cmd = [snakemake_executable(), "--snakefile", str(workflow / "Snakefile"), "--directory", str(out),
           "--configfile", str(config_path), "--keep-going", "--rerun-incomplete"]
    if profile:
        in_workflow = workflow / profile
        cmd += ["--profile", str(in_workflow if not Path(profile).exists() and in_workflow.is_dir() else profile)]
    if cores or not profile:
        cmd += ["--cores", cores or "all"]
    if dry_run:
        cmd.append("--dry-run")
    return [*cmd, *extra]


def write_config(cfg: dict, path: Path, rerun: str) -> None:
    """Write the generated config atomically, headed by how to rerun it."""
    text = (f"# Written by `motionseg segment`: the complete workflow config of this run (keys: config/schema.yaml).\n"
            f"# Rerun or edit and rerun: {rerun}\n" + yaml.safe_dump(cfg, sort_keys=False))
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def validate_config(cfg: dict, workflow: Path) -> Plan:
    """Check the generated config against the workflow's schema and plan (ConfigError naming the key); returns the
    plan, which also lists where each input's outputs go."""
    import jsonschema

    from motionseg.plan import Plan

    schema = yaml.safe_load((workflow / "config" / "schema.yaml").read_text())
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(cfg))
    if error is not None:
        raise ConfigError(".".join(map(str, error.absolute_path)) or "config", error.message)
    return Plan.from_config(cfg)


def _main(args: argparse.Namespace) -> int:
    from motionseg.outputs import describe_combo, failure_reason, sequence_outputs
    from motionseg.segment.inputs import build_config, collect_inputs, dataset_entries, workflow_dir

    inputs = collect_inputs(args.inputs)
    workflow = (args.workflow or workflow_dir()).absolute()
    out = args.out.absolute()
    cfg = build_config(inputs, workflow, out, args.methods, args.flows, args.probs)
    plan = validate_config(cfg, workflow)
    config_path = out / CONFIG_NAME
    extra = shlex.split(args.snakemake_args)
    cmd = snakemake_command(workflow, out, config_path, args.cores, args.profile, args.dry_run, extra)
    rerun = shlex.join(c for c in cmd if c not in ("--dry-run", *extra))
    write_config(cfg, config_path, rerun)
    print(f"motionseg segment: {len(inputs)} input(s); config {config_path}", flush=True)
    rc = subprocess.run(cmd).returncode
    if args.dry_run:
        return rc
    names = {(e["root"], e["layout"]): e["name"] for e in dataset_entries(inputs)}
    failed = 0
    print("motionseg segment: outputs per input")
    for inp in inputs:
        dataset = names[(str(inp.root), inp.layout)]
        seq = sequence_outputs(plan, dataset, inp.sequence)
        if seq.complete:
            print(f"  {inp.path}")
            for c in seq.combos:
                print(f"    [{c.combo}] {describe_combo(c)}")
        else:
            failed += 1
            reason = failure_reason(plan, dataset, inp.sequence) or "no masks (see the Snakemake output above)"
            print(f"  FAILED {inp.path}: {reason}")
    print(f"motionseg segment: {len(inputs) - failed} of {len(inputs)} input(s) done; rerun: {rerun}")
    return 1 if failed or rc != 0 else 0
