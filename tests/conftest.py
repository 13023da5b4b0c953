"""Shared pytest fixtures: a tiny synthetic dataset and the location of the shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from motionseg.synth import generate_sequence, synth_sequence_names

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
