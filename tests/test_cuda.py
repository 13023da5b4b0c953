"""The CUDA paths: training with bfloat16 autocast, RAFT and ptlflow with float16 autocast, ClusterNet on the GPU.

Skipped (with that reason) where torch sees no CUDA device, which is every CI machine. On a GPU node run
``pytest tests/test_cuda.py`` (README "Checking a GPU node"). The CPU tests cover the same code with device="cpu";
these check what only a GPU exercises: tensors land on the right device, autocast runs and still learns, results
agree with the CPU within float tolerance, and GPU-made checkpoints load on a CPU-only machine.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from flow_helpers import flow_cfg, write_frames
from test_cluster import FAST, LazyDISSource, LazyFrames, jaccard, panning_sequence
from test_train import H, W, gt_free_j, make_sequence, train_cfg

from motionseg.cluster.run import online_steps
from motionseg.flow import load_flow, run_flow
from motionseg.flow.synthetic import translating_frames
from motionseg.train import predict_probs, train_model
from motionseg.train.loop import model_from_cfg

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")


@pytest.mark.parametrize("amp", [False, True])
def test_training_on_cuda_learns_and_loads_on_cpu(tmp_path: Path, amp: bool) -> None:
    seqs = [make_sequence(s) for s in range(2)]
    cfg = train_cfg(device="cuda", amp=amp)
    res = train_model([s[0] for s in seqs], [s[2] for s in seqs], [s[3] for s in seqs], cfg, "lrtl", 0, tmp_path,
                      progress=False)
    losses = [h["loss"] for h in res.history]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-15:]) < 0.3 * np.mean(losses[:15])
    # the selected weights come back as CPU tensors and score on a CPU-only model (gt_free_j runs on the CPU)
    assert all(v.device.type == "cpu" for v in res.state_dict.values())
    assert gt_free_j(res.state_dict, cfg, seqs) > 0.8
    # the checkpoint written on the GPU loads with map_location="cpu" and resumes the same iteration count
    state = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=False)
    assert state["iteration"] == cfg["iterations"]


def test_cuda_inference_matches_cpu() -> None:
    cfg = train_cfg()
    torch.manual_seed(0)
    model = model_from_cfg(cfg).eval()
    frames = make_sequence(0)[0]
    cpu = predict_probs(model, frames, (H, W), (H, W), torch.device("cpu"), progress=False)
    gpu = predict_probs(model.cuda(), frames, (H, W), (H, W), torch.device("cuda"), progress=False)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


@pytest.mark.parametrize("backend", ["raft_small", "ptlflow:raft_small"])
def test_learned_flow_on_cuda_matches_cpu(tmp_path: Path, backend: str) -> None:
    if backend.startswith("ptlflow:"):
        pytest.importorskip("ptlflow", reason="optional extra: pip install -e '.[ptlflow]'")
    npz = write_frames(tmp_path / "seq.npz", translating_frames(3, 64, 96, (2, 1)))
    out = {}
    for device, amp in (("cpu", False), ("cuda", False), ("cuda", True)):
        cfg = flow_cfg(allow_random_weights=True, device=device, amp=amp)
        cfg["raft_small"]["num_flow_updates"] = 4
        run_flow(npz, tmp_path / f"{device}{amp}", cfg, backend, [1], seed=3)
        fs = load_flow(tmp_path / f"{device}{amp}")
        assert json.loads((tmp_path / f"{device}{amp}" / "meta.json").read_text())["random_weights"] is True
        out[device, amp] = np.concatenate([fs.forward(1), fs.backward(1)])
    ref = out["cpu", False]
    scale = float(np.abs(ref).max()) + 1e-6
    # same random weights (seed 3) on both devices: float32 on CUDA agrees with the CPU to well under a pixel
    assert float(np.abs(out["cuda", False] - ref).max()) < 1e-2 * scale + 1e-3
    # float16 autocast: finite and close (half precision, so a looser bound)
    assert np.isfinite(out["cuda", True]).all()
    assert float(np.abs(out["cuda", True] - ref).mean()) < 2e-2 * scale + 1e-2


def test_clusternet_online_on_cuda_segments_panning_sequence() -> None:
    frames, gt = panning_sequence(T=10)
    cfg = dict(FAST, device="cuda")
    res = dict(online_steps(LazyDISSource(LazyFrames(frames), len(frames)), cfg, seed=0))
    js = [jaccard(res[t] > 0.5, gt[t]) for t in range(len(frames))]
    assert float(np.mean(js)) >= 0.8, js



_RUNNER = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_train import make_sequence, train_cfg
from motionseg.train import train_model
seqs = [make_sequence(s) for s in range(2)]
cfg = train_cfg(iterations={iters}, checkpoint_every=5, select="lowest-loss", device="cuda", amp=True)
res = train_model([s[0] for s in seqs], [s[2] for s in seqs], [s[3] for s in seqs], cfg, "lrtl", 3, {work!r},
                  progress=False)
torch.save({{"state": res.state_dict, "resumed_from": res.resumed_from}}, {out!r})
"""


def _run(tmp_path: Path, name: str, iters: int, kill: bool) -> dict:
    out, script = tmp_path / f"{name}.pt", tmp_path / f"{name}.py"
    script.write_text(_RUNNER.format(tests=str(Path(__file__).parent), iters=iters, work=str(tmp_path / name),
                                     out=str(out)))
    if kill:
        proc = subprocess.Popen([sys.executable, str(script)])
        ckpt, deadline = tmp_path / name / "last.pt", time.time() + 120
        while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert ckpt.exists() and not out.exists(), "the run was not interrupted mid-way"
    subprocess.run([sys.executable, str(script)], check=True, timeout=300)
    return torch.load(out)


def test_cuda_sigkill_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """On CUDA, resume restores weights, optimiser and batch order; cuDNN kernels are not bitwise deterministic,
    so a resumed run is compared with an uninterrupted one within the spread of two uninterrupted runs (x10)."""
    iters = 40
    ref, again = _run(tmp_path, "ref", iters, False), _run(tmp_path, "again", iters, False)
    resumed = _run(tmp_path, "killed", iters, True)
    assert 0 < resumed["resumed_from"] < iters
    spread = max(float((ref["state"][k].float() - again["state"][k].float()).abs().max()) for k in ref["state"])
    diff = max(float((ref["state"][k].float() - resumed["state"][k].float()).abs().max()) for k in ref["state"])
    scale = max(float(v.float().abs().max()) for v in ref["state"].values())
    assert diff <= 10 * spread + 1e-5 * scale, (diff, spread, scale)
