"""Helpers for tests that run the real Snakemake workflow in a temporary copy of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "rules", "scripts", "config", "report", "envs", "src"]


def copy_workflow(dest: Path) -> Path:
    """Copy what a fresh clone needs to run the workflow into ``dest`` (results/ excluded)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    return dest


def small_config(**overrides: Any) -> dict:
    """The shipped demo config made smaller for tests (2 sequences x 8 frames, short training)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"][0]["synthetic"].update(n_sequences=2, n_frames=8, height=64, width=96)
    cfg["tracks"]["window"] = 8  # sequences shorter than the tracker window are an error
    tiny_train = REPO / "tests" / "data" / "tiny_train.yaml"
    if tiny_train.exists():
        cfg["train"].update(yaml.safe_load(tiny_train.read_text()))
    cfg["dul"].update(iterations=4, checkpoint_every=2)  # the semi-supervised DUL source: a few iterations only
    cfg.update(overrides)
    return cfg


def write_config(workdir: Path, cfg: dict, name: str = "test_config.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the venv's snakemake in ``workdir``; returns the completed process (stdout+stderr in ``.stdout``)."""
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    res = subprocess.run([str(exe), *args], cwd=workdir, capture_output=True, text=True, env=env, timeout=timeout)
    res.stdout = res.stdout + res.stderr
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-6000:]}")
    return res
