"""The ptlflow adapter: contract with a stand-in model (always); a random-weight model when ptlflow is installed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from flow_helpers import flow_cfg, write_frames

from motionseg.flow import get_backend, load_flow, run_flow, validate_flow_config
from motionseg.flow.backends import PtlflowBackend
from motionseg.flow.cli import apply_overrides
from motionseg.flow.synthetic import translating_frames
from motionseg.io.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


class _FakePtlflowModel(torch.nn.Module):
    """Mimics a ptlflow model's call: ``{"images": [B, 2, 3, H, W]}`` BGR [0, 1] -> ``{"flows": [B, 1, 2, H, W]}``."""

    output_stride = 16

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs):
        images = inputs["images"]
        self.seen.append(images.clone())
        # flow u = blue of image 1 (channel 0 in BGR), v = red of image 2 (channel 2 in BGR)
        flow = torch.stack([images[:, 0, 0], images[:, 1, 2]], dim=1)
        return {"flows": flow[:, None]}


def test_ptlflow_adapter_contract_with_stand_in():
    backend = PtlflowBackend("ptlflow:fake", _FakePtlflowModel(), torch.device("cpu"), amp=False)
    assert backend.stride == 16
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
    flow = backend.compute(a, b)
    images = backend.model.seen[0]
    assert images.shape == (2, 2, 3, 128, 128) and float(images.max()) <= 1.0  # padded to >= 128 px
    assert flow.shape == (2, 20, 30, 2)
    np.testing.assert_allclose(flow[..., 0], a[..., 2] / 255.0, rtol=1e-6)  # blue of img1
    np.testing.assert_allclose(flow[..., 1], b[..., 0] / 255.0, rtol=1e-6)  # red of img2


def test_ptlflow_missing_checkpoint_key_names_model(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "ptlflow" else real(n, *a))
    with pytest.raises(ConfigError) as err:
        validate_flow_config(flow_cfg(), ["ptlflow:sea_raft_s"])
    assert err.value.key == "flow.ptlflow.checkpoints.sea_raft_s" and "sea_raft_s-things-a15c1713.ckpt" in str(
        err.value
    )


def test_ptlflow_not_installed_is_a_config_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "ptlflow" else real(n, *a))
    with pytest.raises(ConfigError, match=r"pip install -e \"\.\[ptlflow\]\""):
        validate_flow_config(flow_cfg(allow_random_weights=True), ["ptlflow:raft_small"])


def test_ptlflow_raft_small_random_through_run_flow_and_checkpoint(tmp_path, monkeypatch):
    pytest.importorskip("ptlflow", reason="optional extra: pip install -e '.[ptlflow]'")
    npz = write_frames(tmp_path / "seq.npz", translating_frames(3, 64, 64, (1, 0)))
    cfg = flow_cfg(allow_random_weights=True, device="cpu", storage="flo")
    run_flow(npz, tmp_path / "out", cfg, "ptlflow:raft_small", [1], seed=5)
    fs = load_flow(tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["random_weights"] is True and meta["backend"] == "ptlflow:raft_small"
    assert fs.forward(1).shape == fs.backward(1).shape == (2, 64, 64, 2)
    assert np.isfinite(fs.forward(1)).all()

    # a ptlflow-format checkpoint ({"state_dict": ...}) saved from the random model loads back identically
    frames = translating_frames(2, 64, 64, (1, 0))
    ref = get_backend("ptlflow:raft_small", cfg, seed=5)
    expected = ref.compute(frames[:1], frames[1:])
    torch.save({"state_dict": ref.model.state_dict()}, tmp_path / "raft_small.ckpt")
    ck_cfg = apply_overrides(cfg, "ptlflow:raft_small", str(tmp_path / "raft_small.ckpt"), allow_random=False)
    ck_cfg["allow_random_weights"] = False
    validate_flow_config(ck_cfg, ["ptlflow:raft_small"])
    loaded = get_backend("ptlflow:raft_small", ck_cfg, seed=6)
    assert loaded.random_weights is False and len(loaded.checkpoint_sha256) == 64
    np.testing.assert_array_equal(loaded.compute(frames[:1], frames[1:]), expected)
    # a release checkpoint name ("things") loads the upstream-named file from the torch hub cache, no network
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": ref.model.state_dict()}, hub / "checkpoints" / "raft_small-things-b7d9f997.ckpt")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    named = get_backend("ptlflow:raft_small", apply_overrides(ck_cfg, "ptlflow:raft_small", "things", False))
    assert named.checkpoint == str(hub / "checkpoints" / "raft_small-things-b7d9f997.ckpt")
    np.testing.assert_array_equal(named.compute(frames[:1], frames[1:]), expected)
    torch.save(ref.model.state_dict(), tmp_path / "bare.ckpt")  # bare state dict: not ptlflow's format
    bad = apply_overrides(cfg, "ptlflow:raft_small", str(tmp_path / "bare.ckpt"), allow_random=False)
    with pytest.raises(InputError, match="cannot load as a ptlflow raft_small checkpoint"):
        get_backend("ptlflow:raft_small", bad)
    with pytest.raises(ConfigError, match="no model 'nonexistent'"):
        get_backend("ptlflow:nonexistent", cfg)
