"""Preemption of the trajectory rule: SIGTERM during ``run_tracks`` (flowchain) saves progress and exits 143; the
rerun resumes from the saved state and writes a track file byte-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from motionseg.flow import load_flow, run_flow
from motionseg.io.ingest import run_ingest
from motionseg.synth import generate_sequence
from motionseg.tracks import load_tracks, run_tracks
from motionseg.tracks.run import work_dir_for
from motionseg.workflow import PREEMPT_EXIT_CODE

REPO = Path(__file__).resolve().parents[1]
T, H, W = 24, 32, 48
FORWARD_READS = 1 + 2 * (T - 1)  # one pair to learn the size, then a forward and a backward pair per forward step


def _cfg(section: str) -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())[section]


TRACKS_CFG = dict(_cfg("tracks"), grid_stride=4, query_stride=5, window=8, device="cpu")


class CountingFlow:
    """A FlowSet-like view (``forward_pair`` / ``backward_pair``) of a flow directory that counts the pairs read."""

    def __init__(self, flow_dir: Path) -> None:
        fs = load_flow(flow_dir)
        self.gaps, self.meta, self.names = fs.gaps, fs.meta, fs.names
        self._fwd, self._bwd = fs.forward(1), fs.backward(1)
        self.calls = 0

    def forward_pair(self, t: int, gap: int) -> np.ndarray:
        self.calls += 1
        return self._fwd[t]

    def backward_pair(self, t: int, gap: int) -> np.ndarray:
        self.calls += 1
        return self._bwd[t]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Ingested frames and DIS flow of a 24-frame synthetic sequence."""
    root = tmp_path_factory.mktemp("preempt")
    generate_sequence(root / "data", "synth_000", 0, T, H, W, seed=0)
    frames = root / "frames.npz"
    run_ingest({"name": "d", "layout": "davis", "root": str(root / "data")}, "synth_000", frames, {"height": None})
    run_flow(frames, root / "flow", _cfg("flow"), "dis", [1], threads=1)
    return frames, root / "flow"


# The child runs the rule exactly as scripts/tracks.py does (through motionseg.workflow.run_step), with a flow loader
# that is slowed down and drops a marker file once `trigger` flow pairs were read, so the parent knows when to send
# SIGTERM: mid forward sweep or mid backward sweep.
CHILD = textwrap.dedent(
    """
    import sys, time, types
    from pathlib import Path
    import yaml
    from motionseg.flow import load_flow
    from motionseg.tracks import run_tracks
    from motionseg.workflow import run_step

    frames, flow_dir, out, marker, trigger, log = sys.argv[1:7]
    trigger = int(trigger)
    cfg = yaml.safe_load(sys.argv[7])

    class Slow:
        def __init__(self, d):
            fs = load_flow(d)
            self.gaps, self.meta, self.names = fs.gaps, fs.meta, fs.names
            self.fwd, self.bwd, self.calls = fs.forward(1), fs.backward(1), 0

        def _tick(self):
            self.calls += 1
            if self.calls == trigger:
                Path(marker).write_text("go")
            time.sleep(0.03)

        def forward_pair(self, t, gap):
            self._tick()
            return self.fwd[t]

        def backward_pair(self, t, gap):
            self._tick()
            return self.bwd[t]

    smk = types.SimpleNamespace(log=[log], wildcards={"sequence": "synth_000"}, rule="tracks")
    run_step(smk, run_tracks, frames, flow_dir, out, cfg, backend="flowchain", flow_loader=Slow, progress=True)
    """
)


def _preempt(tmp_path: Path, frames: Path, flow_dir: Path, out: Path, trigger: int) -> subprocess.CompletedProcess:
    """Run the tracks rule in a child process and SIGTERM it once ``trigger`` flow pairs were read."""
    marker = tmp_path / "marker"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = [sys.executable, "-c", CHILD, str(frames), str(flow_dir), str(out), str(marker), str(trigger),
            str(tmp_path / "tracks.log"), yaml.safe_dump(TRACKS_CFG)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"child ended or stalled before the trigger (rc={proc.returncode}): {err[-2000:]}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize(("phase", "trigger"), [("forward", 12), ("backward", FORWARD_READS + 4)])
def test_sigterm_checkpoints_and_rerun_is_identical(tmp_path, inputs, phase, trigger):
    frames, flow_dir = inputs
    ref = tmp_path / "ref" / "synth_000.npz"
    full = CountingFlow(flow_dir)
    run_tracks(frames, flow_dir, ref, TRACKS_CFG, "flowchain", flow_loader=lambda d: full, progress=False)
    assert full.calls > FORWARD_READS + 20  # the backward sweep reads pairs too (SIGTERM lands there)

    out = tmp_path / "tracks" / "synth_000.npz"
    res = _preempt(tmp_path, frames, flow_dir, out, trigger)
    assert res.returncode == PREEMPT_EXIT_CODE, res.stderr[-2000:]
    assert "motionseg: PREEMPTED rule tracks (sequence=synth_000)" in res.stderr
    assert not out.exists()  # nothing at the output path
    assert sorted(p.name for p in out.parent.iterdir()) == [work_dir_for(out).name]  # only the hidden work dir
    with np.load(work_dir_for(out) / "state.npz") as z:
        assert str(z["phase"]) == phase

    resumed = CountingFlow(flow_dir)
    run_tracks(frames, flow_dir, out, TRACKS_CFG, "flowchain", flow_loader=lambda d: resumed, progress=False)
    assert 0 < resumed.calls < full.calls  # it continued from the checkpoint instead of starting over
    assert out.read_bytes() == ref.read_bytes()
    a, b = load_tracks(out), load_tracks(ref)
    np.testing.assert_array_equal(a.tracks, b.tracks)
    np.testing.assert_array_equal(a.visible, b.visible)
    assert not work_dir_for(out).exists()  # the work dir is removed once the track file is complete
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_checkpoint_of_another_run_is_discarded(tmp_path, inputs):
    """A work dir left by a run with different settings is not resumed: the result equals a fresh run's."""
    frames, flow_dir = inputs
    out = tmp_path / "tracks" / "synth_000.npz"
    res = _preempt(tmp_path, frames, flow_dir, out, 12)
    assert res.returncode == PREEMPT_EXIT_CODE, res.stderr[-2000:]
    other_cfg = dict(TRACKS_CFG, grid_stride=6)
    counting, fresh = CountingFlow(flow_dir), CountingFlow(flow_dir)
    run_tracks(frames, flow_dir, out, other_cfg, "flowchain", flow_loader=lambda d: counting, progress=False)
    ref = tmp_path / "ref.npz"
    run_tracks(frames, flow_dir, ref, other_cfg, "flowchain", flow_loader=lambda d: fresh, progress=False)
    assert counting.calls == fresh.calls  # started over
    assert out.read_bytes() == ref.read_bytes()
    assert not work_dir_for(out).exists()


def test_error_removes_the_work_dir(tmp_path, inputs):
    """A run that fails (here: a flow pair cannot be read) leaves neither output nor work dir behind."""
    frames, flow_dir = inputs

    class Broken(CountingFlow):
        def backward_pair(self, t: int, gap: int) -> np.ndarray:
            if t == 5:
                raise OSError("disk went away")
            return super().backward_pair(t, gap)

    out = tmp_path / "tracks" / "synth_000.npz"
    with pytest.raises(OSError, match="disk went away"):
        run_tracks(frames, flow_dir, out, TRACKS_CFG, "flowchain", flow_loader=Broken, progress=False)
    assert list(out.parent.iterdir()) == []
