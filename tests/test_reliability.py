"""Reliability of the whole workflow: determinism, and SIGKILL at several stages followed by a clean resume."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_utils import copy_workflow, small_config, snakemake, write_config

METHODS = ["bgfit", "clusternet-online", "lrtl"]


def _digest_tree(root: Path, pattern: str) -> dict[str, str]:
    """Relative path -> sha256 of every file matching ``pattern`` under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob(pattern))
        if p.is_file()
    }


def _outputs(work: Path) -> dict[str, str]:
    res = work / "results"
    out = _digest_tree(res / "synth" / "masks", "*.png")
    out.update({f"reports/{k}": v for k, v in _digest_tree(res / "reports", "*.csv").items()})
    return out


def _run_and_kill_when(work: Path, cfg: Path, marker_glob: str, timeout: float = 600) -> bool:
    """Start the workflow, SIGKILL its whole process group as soon as a NEW file matching ``marker_glob`` (under
    results/) appears; returns False if the run finished before that."""
    before = set((work / "results").glob(marker_glob))
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [str(exe), "--cores", "2", "--configfile", str(cfg), "--rerun-incomplete"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if set((work / "results").glob(marker_glob)) - before:
                time.sleep(0.5)  # let the job get going
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
        raise AssertionError(f"no {marker_glob} within {timeout} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("ref"))
    cfg = write_config(work, small_config(methods=METHODS))
    snakemake(work, "--cores", "2", "--configfile", str(cfg))
    return work


@pytest.mark.slow
def test_same_seed_gives_identical_masks_and_summary(reference, tmp_path):
    work = copy_workflow(tmp_path / "again")
    cfg = write_config(work, small_config(methods=METHODS))
    snakemake(work, "--cores", "2", "--configfile", str(cfg))
    ref, again = _outputs(reference), _outputs(work)
    assert any(k.endswith(".png") for k in ref)
    assert "reports/summary.csv" in ref
    assert again == ref


@pytest.mark.slow
def test_sigkill_at_each_stage_then_resume_is_byte_identical(reference, tmp_path):
    work = copy_workflow(tmp_path / "killed")
    cfg = write_config(work, small_config(methods=METHODS))
    killed_at = []
    markers = {
        "flow": "logs/flow/**/*.log",
        "tracks": "logs/tracks/**/*.log",
        "train": "synth/models/**/work/**/*.pt",  # killed once training has written a checkpoint
        "evaluate": "logs/evaluate/**/*.log",
    }
    for stage, marker in markers.items():
        if _run_and_kill_when(work, cfg, marker):
            killed_at.append(stage)
        snakemake(work, "--unlock", "--configfile", str(cfg))
    assert killed_at == ["flow", "tracks", "train", "evaluate"], killed_at
    # a SIGKILLed job cannot clean up: only hidden temporaries (".<name>.*.tmp*") may remain, never a visible output
    leftovers = [p for p in (work / "results").rglob("*") if ".tmp" in p.name]
    assert all(p.name.startswith(".") for p in leftovers), leftovers
    snakemake(work, "--cores", "2", "--configfile", str(cfg), "--rerun-incomplete")
    assert _outputs(work) == _outputs(reference)
    # the resumed jobs removed the stale temporaries of their outputs
    leftovers = [p for p in (work / "results").rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
