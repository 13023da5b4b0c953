"""Shared pytest fixtures: a tiny synthetic dataset and the location of the shared real data."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from motionseg.synth import generate_sequence, synth_sequence_names

# The SLURM executor plugin runs `scontrol show config` when Snakemake loads it (every snakemake call does, whatever
# the executor), to word its help text. On a machine with SLURM installed and no controller running (e.g. after
# .ci/slurm-e2e.sh stopped its cluster) each call then waits about 9 s for the controller (MessageTimeout 10 s):
# 15 of the suite's 27 minutes here. No test talks to a controller, so the tests point SLURM at a config whose
# controller answers "connect failure" at once.
_NO_CONTROLLER_CONF = (
    "# motionseg tests: no SLURM controller (see tests/conftest.py)\n"
    "ClusterName=motionseg-tests\nSlurmctldHost=localhost\nMessageTimeout=1\n"
)
_slurm_conf_dir: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Point SLURM_CONF at a controller-less config when SLURM's commands are installed (see above)."""
    global _slurm_conf_dir
    if shutil.which("sinfo") is None or _slurm_conf_dir is not None:
        return
    _slurm_conf_dir = tempfile.mkdtemp(prefix="motionseg-tests-slurm-")
    conf = Path(_slurm_conf_dir) / "slurm.conf"
    conf.write_text(_NO_CONTROLLER_CONF)
    os.environ["SLURM_CONF"] = str(conf)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _slurm_conf_dir is not None:
        shutil.rmtree(_slurm_conf_dir, ignore_errors=True)


# Size of the shared tiny synthetic dataset (sequence 2 has one moving object, the others two).
SYNTH_N_SEQUENCES = 3
SYNTH_N_FRAMES = 8
SYNTH_HEIGHT = 64
SYNTH_WIDTH = 96
SYNTH_SEED = 0


@pytest.fixture(scope="session")
def synth_cfg() -> dict:
    """The ``synthetic`` config block of the tiny shared dataset."""
    return {
        "n_sequences": SYNTH_N_SEQUENCES,
        "n_frames": SYNTH_N_FRAMES,
        "height": SYNTH_HEIGHT,
        "width": SYNTH_WIDTH,
        "seed": SYNTH_SEED,
    }


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory, synth_cfg: dict) -> Path:
    """A tiny synthetic dataset in DAVIS layout (3 sequences x 8 frames x 64x96 px, GT masks and GT flow).

    Session-scoped and shared: treat it as read-only (copy it to a tmp dir before modifying anything).
    """
    root = tmp_path_factory.mktemp("synth") / "synth"
    for index, name in enumerate(synth_sequence_names(synth_cfg["n_sequences"])):
        generate_sequence(
            root, name, index, synth_cfg["n_frames"], synth_cfg["height"], synth_cfg["width"], synth_cfg["seed"]
        )
    return root


@pytest.fixture(scope="session")
def synth_dataset_cfg(synth_root: Path, synth_cfg: dict) -> dict:
    """A ``datasets`` config item for :func:`synth_root` (as the workflow passes it to ``run_*`` functions)."""
    return {"name": "synth", "layout": "davis", "root": str(synth_root), "synthetic": dict(synth_cfg)}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the repository; skips the test when it is absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared real data not found at {path}")
    return path


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread (restored afterwards): on a shared 2-core machine two threads made the many
    small matrix products of label propagation several times slower, not faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
