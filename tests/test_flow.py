"""Tests of motionseg.flow: .flo I/O, geometry, visualisation, backends, run_flow/load_flow, accuracy, flow-eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from flow_helpers import flow_cfg, write_frames

from motionseg.flow import (
    flow_to_rgb,
    get_backend,
    is_learned,
    load_flow,
    read_flo,
    run_flow,
    validate_flow_config,
    write_flo,
)
from motionseg.flow.backends import TorchFlowBackend
from motionseg.flow.cli import apply_overrides
from motionseg.flow.evaluate import discover_pairs, evaluate_pairs, flow_errors, summarise
from motionseg.flow.geometry import crop_padding, pad_amounts, pad_to_multiple, resize_flow, working_size
from motionseg.flow.synthetic import translating_frames
from motionseg.io.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[1]
SHARED_FLOW = Path(__file__).resolve().parents[2] / "shared" / "data" / "flow"

torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------------- helpers


def interior_epe(pred: np.ndarray, shift: tuple[float, float], border: int = 8) -> float:
    """Mean end-point error of pred [..., H, W, 2] against a constant flow, ignoring a border."""
    crop = pred[..., border:-border, border:-border, :]
    return float(np.sqrt(((crop - np.asarray(shift, np.float32)) ** 2).sum(-1)).mean())


# ------------------------------------------------------------------------------------------------- .flo files


def test_flo_round_trip(tmp_path):
    flow = np.random.default_rng(1).normal(0, 5, (7, 11, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    back = read_flo(tmp_path / "a.flo")
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    np.testing.assert_array_equal(back, flow)
    assert (tmp_path / "a.flo").stat().st_size == 12 + 7 * 11 * 2 * 4


def test_flo_shared_samples_round_trip(tmp_path):
    files = sorted(SHARED_FLOW.rglob("*.flo")) if SHARED_FLOW.is_dir() else []
    if not files:
        pytest.skip(f"shared flow samples not found at {SHARED_FLOW}")
    for path in files:
        flow = read_flo(path)
        assert flow.ndim == 3 and flow.shape[2] == 2 and np.isfinite(flow).all(), path
        out = tmp_path / path.name
        write_flo(out, flow)
        assert out.read_bytes() == path.read_bytes()[: out.stat().st_size], path
    chairs = SHARED_FLOW / "FlyingChairs_flownet2" / "0000000-gt.flo"
    if chairs.exists():
        assert read_flo(chairs).shape == (384, 512, 2)


def test_flo_bad_files_raise_input_error(tmp_path):
    bad = tmp_path / "bad.flo"
    bad.write_bytes(np.asarray([1.0, 2.0, 3.0], "<f4").tobytes())
    with pytest.raises(InputError, match="magic"):
        read_flo(bad)
    write_flo(tmp_path / "ok.flo", np.zeros((4, 5, 2), np.float32))
    (tmp_path / "short.flo").write_bytes((tmp_path / "ok.flo").read_bytes()[:-8])
    with pytest.raises(InputError, match="truncated"):
        read_flo(tmp_path / "short.flo")
    with pytest.raises(InputError, match="cannot read"):
        read_flo(tmp_path / "missing.flo")


# ---------------------------------------------------------------------------------------------- visualisation


def test_flow_to_rgb_colour_wheel():
    zero = flow_to_rgb(np.zeros((4, 4, 2), np.float32))
    assert zero.dtype == np.uint8 and zero.shape == (4, 4, 3) and (zero == 255).all()  # no motion = white
    flow = np.zeros((1, 4, 2), np.float32)
    flow[0, 0] = (5, 0)  # right: red end of the wheel
    flow[0, 1] = (-5, 0)  # left: cyan-blue (opposite hue)
    flow[0, 2] = (2.5, 0)  # half the max magnitude: paler red
    flow[0, 3] = (np.nan, 0)  # unknown: black
    rgb = flow_to_rgb(flow, max_mag=5.0).astype(int)
    right, left, half, unknown = rgb[0]
    assert right[0] == 255 and right[1] < 10 and right[2] < 50
    assert left[0] == 0 and left[1] > 150 and left[2] == 255
    assert half[0] == 255 and 110 < half[1] < 140
    assert (unknown == 0).all()
    # beyond max_mag the colour is darkened, not saturated further
    assert flow_to_rgb(np.asarray([[[10.0, 0.0]]]), max_mag=5.0)[0, 0, 0] == int(255 * 0.75)
    # default max magnitude = the largest vector: it is fully saturated
    assert tuple(flow_to_rgb(flow[:, :1] * 3)[0, 0]) == tuple(right)


# ------------------------------------------------------------------------------------------------- geometry


def test_pad_amounts_and_crop_round_trip():
    assert pad_amounts(64, 64, 8) == (0, 0, 0, 0)
    assert pad_amounts(480, 854, 8) == (1, 1, 0, 0)
    assert pad_amounts(61, 70, 8) == (1, 1, 1, 2)
    assert pad_amounts(64, 200, 8, min_size=128) == (0, 0, 32, 32)
    x = torch.arange(2 * 3 * 61 * 70, dtype=torch.float32).reshape(2, 3, 61, 70)
    padded, pads = pad_to_multiple(x, 8)
    assert padded.shape == (2, 3, 64, 72)
    assert torch.equal(crop_padding(padded, pads), x)
    assert torch.equal(padded[..., 0, 1:-1], x[..., 0, :])  # replicate padding at the top
    big, pads = pad_to_multiple(x, 8, min_size=128)
    assert big.shape == (2, 3, 128, 128) and torch.equal(crop_padding(big, pads), x)


def test_resize_flow_scales_vectors():
    flow = np.zeros((40, 60, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, 3.0
    out = resize_flow(flow, (80, 30))
    assert out.shape == (80, 30, 2)
    np.testing.assert_allclose(out[..., 0], 1.0, atol=1e-5)  # u * 30/60
    np.testing.assert_allclose(out[..., 1], 6.0, atol=1e-5)  # v * 80/40
    batch = resize_flow(np.stack([flow, 2 * flow]), (20, 120))
    np.testing.assert_allclose(batch[1, ..., 0], 8.0, atol=1e-5)
    assert working_size(480, 854, 240) == (240, 424) and working_size(480, 854, None) == (480, 854)


class _EchoModel(torch.nn.Module):
    """Stand-in network: flow = (10 * red, -5 * green) of img1, and records the sizes it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, img1, img2):
        self.sizes.append(tuple(img1.shape[-2:]))
        return torch.stack([10 * img1[:, 0], -5 * img1[:, 1]], dim=1)


class _EchoBackend(TorchFlowBackend):
    stride = 8
    min_size = 32

    def __init__(self) -> None:
        super().__init__(_EchoModel(), torch.device("cpu"), amp=False)
        self.name = "echo"

    def _forward(self, img1, img2):
        return self.model(img1, img2)


def test_torch_backend_pads_and_crops_back_in_place():
    backend = _EchoBackend()
    img = np.random.default_rng(0).integers(0, 256, (2, 21, 45, 3), dtype=np.uint8)
    flow = backend.compute(img, img[::-1].copy())
    assert flow.shape == (2, 21, 45, 2) and flow.dtype == np.float32
    assert backend.model.sizes == [(32, 48)]
    rgb = img.astype(np.float64) / 255.0
    np.testing.assert_allclose(flow[..., 0], 10 * rgb[..., 0], rtol=1e-6)
    np.testing.assert_allclose(flow[..., 1], -5 * rgb[..., 1], rtol=1e-6)


# --------------------------------------------------------------------------------------- config and backends


def test_is_learned_and_unknown_backend():
    assert not is_learned("dis") and not is_learned("farneback")
    assert is_learned("raft_large") and is_learned("raft_small") and is_learned("ptlflow:flowformer")
    with pytest.raises(ConfigError, match="unknown flow backend 'pwc'"):
        is_learned("pwc")


@pytest.mark.parametrize(
    ("backend", "key", "file"),
    [
        ("raft_large", "flow.raft_large.checkpoint", "raft_large_C_T_SKHT_V2-ff5fadd5.pth"),
        ("raft_small", "flow.raft_small.checkpoint", "raft_small_C_T_V2-01064c6d.pth"),
        ("ptlflow:flowformer", "flow.ptlflow.checkpoints.flowformer", "flowformer-things-dbe62dd3.ckpt"),
    ],
)
def test_missing_checkpoint_is_a_clear_config_error(backend, key, file, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n == "ptlflow" else real_find_spec(n, *a)
    )
    cfg = flow_cfg()
    assert cfg["allow_random_weights"] is False
    validate_flow_config(cfg, ["dis", "farneback"])  # weight-free backends need nothing
    with pytest.raises(ConfigError) as err:
        validate_flow_config(cfg, ["dis", backend])
    assert err.value.key == key and file in str(err.value) and "allow_random_weights" in str(err.value)
    validate_flow_config(flow_cfg(allow_random_weights=True), [backend])


def test_missing_checkpoint_error_from_get_backend_and_bad_path(tmp_path):
    with pytest.raises(ConfigError, match="raft_small_C_T_V2-01064c6d.pth"):
        get_backend("raft_small", flow_cfg())
    cfg = apply_overrides(flow_cfg(), "raft_large", str(tmp_path / "nope.pth"), allow_random=False)
    with pytest.raises(ConfigError, match="does not exist") as err:
        validate_flow_config(cfg, ["raft_large"])
    assert err.value.key == "flow.raft_large.checkpoint"


def test_dis_recovers_a_translation():
    frames = translating_frames(2, 96, 128, (3, -2))
    for preset in ("ultrafast", "fast", "medium"):
        cfg = flow_cfg()
        cfg["dis"]["preset"] = preset
        flow = get_backend("dis", cfg).compute(frames[:1], frames[1:])
        assert flow.shape == (1, 96, 128, 2)
        assert interior_epe(flow, (3, -2)) < 0.3, preset
    flow = get_backend("farneback", flow_cfg()).compute(frames[:1], frames[1:])
    assert interior_epe(flow, (3, -2)) < 0.5


def test_dis_epe_on_flyingchairs():
    root = SHARED_FLOW / "FlyingChairs_flownet2"
    if not root.is_dir():
        pytest.skip(f"FlyingChairs samples not found at {root}")
    rows = evaluate_pairs(get_backend("dis", flow_cfg()), discover_pairs(root))
    s = summarise(rows)
    assert s["pairs"] == 6
    # measured 3.93 px (zero flow: 12.9 px); bound with margin for OpenCV version drift
    assert s["epe"] < 5.0 and s["epe"] < 0.45 * s["epe_zero"]
    assert s["fl"] < 0.25


def test_flow_errors_definition():
    gt = np.zeros((2, 2, 2), np.float32)
    gt[..., 0] = [[100.0, 10.0], [1.0, 2e9]]  # last pixel: unknown flow
    pred = gt.copy()
    pred[0, 0, 0] += 4.0  # 4 px, 4% of 100: not an outlier
    pred[0, 1, 0] += 4.0  # 4 px, 40%: outlier
    e = flow_errors(pred, gt)
    assert e["n_valid"] == 3 and e["fl_count"] == 1
    assert e["epe"] == pytest.approx(8.0 / 3) and e["epe_zero"] == pytest.approx(111.0 / 3)


# --------------------------------------------------------------------------------------- run_flow / load_flow


def test_run_flow_dis_directions_gaps_and_storages(tmp_path):
    frames = translating_frames(5, 64, 80, (2, 1))
    npz = write_frames(tmp_path / "seq.npz", frames)
    flows = {}
    for storage in ("npz", "flo"):
        out = tmp_path / storage
        run_flow(npz, out, flow_cfg(storage=storage), "dis", [1, 2])
        fs = load_flow(out)
        assert fs.gaps == [1, 2] and fs.meta["backend"] == "dis" and fs.meta["random_weights"] is False
        assert fs.meta["working_hw"] == [64, 80] and fs.meta["storage"] == storage
        for gap in (1, 2):
            fw, bw = fs.forward(gap), fs.backward(gap)
            assert fw.shape == bw.shape == (5 - gap, 64, 80, 2) and fw.dtype == np.float32
            assert interior_epe(fw, (2 * gap, gap)) < 0.3
            assert interior_epe(bw, (-2 * gap, -gap)) < 0.3
        flows[storage] = fs.forward(2)
        assert (out / "flow_vis.png").is_file()
    assert sorted(p.name for p in (tmp_path / "flo" / "Flows_gap-2").iterdir()) == [
        "00002.flo",
        "00003.flo",
        "00004.flo",
    ]
    assert sorted(p.name for p in (tmp_path / "flo" / "Flows_gap2").iterdir()) == [
        "00000.flo",
        "00001.flo",
        "00002.flo",
    ]
    np.testing.assert_allclose(flows["npz"], flows["flo"], atol=0.02)  # float16 storage
    with pytest.raises(InputError, match="no flow for gap 3"):
        load_flow(tmp_path / "npz").forward(3)


def test_run_flow_compute_height_resizes_back(tmp_path):
    frames = translating_frames(3, 96, 128, (4, 2))
    npz = write_frames(tmp_path / "seq.npz", frames)
    run_flow(npz, tmp_path / "out", flow_cfg(compute_height=48), "dis", [1])
    fs = load_flow(tmp_path / "out")
    assert fs.meta["compute_hw"] == [48, 64] and fs.meta["working_hw"] == [96, 128]
    fw = fs.forward(1)
    assert fw.shape == (2, 96, 128, 2)
    assert interior_epe(fw, (4, 2), border=16) < 0.5  # in working-resolution px, not (2, 1)


def test_run_flow_finer_than_working_frames_reads_the_original_frames(tmp_path):
    """compute_height above ingest.height: the backend sees the original frames, not upsampled working frames."""
    from PIL import Image

    from motionseg.io.ingest import run_ingest

    rng = np.random.default_rng(0)
    src = tmp_path / "data" / "seq"
    src.mkdir(parents=True)
    originals = rng.integers(0, 256, size=(3, 64, 96, 3), dtype=np.uint8)  # fine texture a 2x shrink destroys
    for i, f in enumerate(originals):
        Image.fromarray(f).save(src / f"{i:05d}.png")
    npz = tmp_path / "seq.npz"
    run_ingest({"name": "d", "layout": "frames", "root": str(tmp_path / "data")}, "seq", npz, {"height": 32})
    seen = []

    class Recorder:
        name, random_weights = "recorder", False

        def compute(self, a, b):
            seen.append(a)
            return np.zeros((*a.shape[:3], 2), np.float32)

        def describe(self):
            return {"backend": "recorder"}

    run_flow(npz, tmp_path / "out", flow_cfg(compute_height=64), "dis", [1], flow_backend=Recorder())
    got = np.concatenate(seen)
    np.testing.assert_array_equal(got[:2], originals[:2])  # forward pairs start at frames 0 and 1
    assert load_flow(tmp_path / "out").forward(1).shape == (2, 32, 48, 2)
    # the sources are needed then: a missing one is named
    (src / "00001.png").unlink()
    with pytest.raises(InputError, match="00001"):
        run_flow(npz, tmp_path / "out2", flow_cfg(compute_height=64), "dis", [1], flow_backend=Recorder())
    assert not (tmp_path / "out2").exists()
    # at (or below) the working size the ingested frames are enough
    run_flow(npz, tmp_path / "out3", flow_cfg(compute_height=32), "dis", [1], flow_backend=Recorder())


def test_run_flow_bad_inputs_and_atomicity(tmp_path):
    npz = write_frames(tmp_path / "seq.npz", translating_frames(3, 32, 32, (1, 0)))
    with pytest.raises(InputError, match="too few for flow gap 3"):
        run_flow(npz, tmp_path / "out", flow_cfg(), "dis", [1, 3])
    with pytest.raises(InputError, match="does not exist"):
        run_flow(tmp_path / "missing.npz", tmp_path / "out", flow_cfg(), "dis", [1])

    class Broken:
        name, random_weights = "broken", False

        def compute(self, a, b):
            raise RuntimeError("backend died")

    with pytest.raises(RuntimeError, match="backend died"):
        run_flow(npz, tmp_path / "out", flow_cfg(), "dis", [1], flow_backend=Broken())
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [npz]
    with pytest.raises(InputError, match="flow directory does not exist"):
        load_flow(tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="meta.json"):
        load_flow(tmp_path / "empty")


def test_run_flow_random_raft_small_is_marked_and_deterministic(tmp_path):
    frames = translating_frames(3, 64, 64, (1, 1))
    npz = write_frames(tmp_path / "seq.npz", frames)
    cfg = flow_cfg(allow_random_weights=True, device="cpu")
    cfg["raft_small"]["num_flow_updates"] = 2
    run_flow(npz, tmp_path / "a", cfg, "raft_small", [1, 2], seed=3)
    run_flow(npz, tmp_path / "b", cfg, "raft_small", [1, 2], seed=3)
    a, b = load_flow(tmp_path / "a"), load_flow(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "meta.json").read_text())
    assert meta["random_weights"] is True and meta["checkpoint"] is None and meta["seed"] == 3
    assert meta["backend"] == "raft_small" and meta["gaps"] == [1, 2]
    assert a.forward(1).shape == (2, 64, 64, 2) and a.backward(2).shape == (1, 64, 64, 2)
    assert np.isfinite(a.forward(1)).all() and np.isfinite(a.backward(2)).all()
    np.testing.assert_array_equal(a.forward(1), b.forward(1))
    np.testing.assert_array_equal(a.backward(2), b.backward(2))


def test_raft_checkpoint_file_round_trip(tmp_path):
    frames = translating_frames(2, 64, 64, (2, 0))
    random_cfg = flow_cfg(allow_random_weights=True, device="cpu")
    random_cfg["raft_small"]["num_flow_updates"] = 2
    reference = get_backend("raft_small", random_cfg, seed=7)
    expected = reference.compute(frames[:1], frames[1:])
    torch.save(reference.model.state_dict(), tmp_path / "raft_small_test.pth")
    torch.save({"state_dict": reference.model.state_dict()}, tmp_path / "wrapped.pth")
    for name in ("raft_small_test.pth", "wrapped.pth"):
        cfg = apply_overrides(random_cfg, "raft_small", str(tmp_path / name), allow_random=False)
        cfg["allow_random_weights"] = False
        validate_flow_config(cfg, ["raft_small"])
        loaded = get_backend("raft_small", cfg, seed=99)
        assert loaded.random_weights is False and loaded.checkpoint == str(tmp_path / name)
        assert len(loaded.checkpoint_sha256) == 64
        np.testing.assert_array_equal(loaded.compute(frames[:1], frames[1:]), expected)
    other = get_backend("raft_small", random_cfg, seed=8).compute(frames[:1], frames[1:])
    assert not np.array_equal(other, expected)  # a different init gives different flow: the check can fail
    torch.save({"foo": torch.zeros(3)}, tmp_path / "wrong.pth")
    cfg = apply_overrides(random_cfg, "raft_small", str(tmp_path / "wrong.pth"), allow_random=False)
    with pytest.raises(InputError, match="does not match torchvision raft_small"):
        get_backend("raft_small", cfg)


# --------------------------------------------------------------------------------------------------- flow-eval


def make_davis_flow_dataset(root: Path, shift: tuple[int, int] = (2, 1)) -> Path:
    """A DAVIS-layout dataset with GT flow (JPEGImages/s0, Flows_gap1/s0, Flows_gap-1/s0), translating texture."""
    from PIL import Image

    frames = translating_frames(3, 48, 64, shift, seed=4)
    for t, f in enumerate(frames):
        (root / "JPEGImages" / "s0").mkdir(parents=True, exist_ok=True)
        Image.fromarray(f).save(root / "JPEGImages" / "s0" / f"{t:05d}.jpg", quality=98)
        gt = np.broadcast_to(np.asarray(shift, np.float32), (48, 64, 2))
        if t < 2:
            write_flo(root / "Flows_gap1" / "s0" / f"{t:05d}.flo", gt)
        if t > 0:
            write_flo(root / "Flows_gap-1" / "s0" / f"{t:05d}.flo", -gt)
    return root


def test_flow_eval_cli_on_synthetic_dataset(tmp_path, capsys):
    from motionseg.cli import main

    root = make_davis_flow_dataset(tmp_path / "ds")
    pairs = discover_pairs(root)
    assert len(pairs) == 4 and pairs[0].img1.name == "00000.jpg" and pairs[0].img0.name == "00001.jpg"
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump({"flow": flow_cfg()}))
    rc = main(
        [
            "flow-eval",
            "--backend",
            "dis",
            "--pairs",
            str(root),
            "--config",
            str(cfg_path),
            "--csv",
            str(tmp_path / "r.csv"),
        ]
    )
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "4 pairs" in last
    epe = float(last.split("EPE ")[1].split(" px")[0])
    assert epe < 0.5
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 5
    with pytest.raises(InputError, match="no flow pairs"):
        discover_pairs(tmp_path)


def test_dis_accuracy_on_synthetic_gt(synth_root):
    """DIS against the synthetic generator's GT flow (Flows_gap1 / Flows_gap-1 of the shared tiny dataset)."""
    pairs = discover_pairs(synth_root)
    assert any("@+1" in p.name for p in pairs) and any("@-1" in p.name for p in pairs)
    s = summarise(evaluate_pairs(get_backend("dis", flow_cfg()), pairs))
    # measured at 64x96: EPE ~1.8 px vs 2.1 px for zero flow, Fl ~12 % (large object motions dominate the mean)
    assert s["epe"] < s["epe_zero"] and s["fl"] < 0.2


def test_raft_download_route_uses_the_hub_cache(tmp_path, monkeypatch):
    """``checkpoint: download`` loads a file placed in the torch hub cache under its upstream name, no network."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    frames = translating_frames(2, 64, 64, (1, 2))
    random_cfg = flow_cfg(allow_random_weights=True, device="cpu")
    random_cfg["raft_small"]["num_flow_updates"] = 2
    reference = get_backend("raft_small", random_cfg, seed=11)
    cached = tmp_path / "hub" / "checkpoints" / "raft_small_C_T_V2-01064c6d.pth"
    cached.parent.mkdir(parents=True)
    torch.save(reference.model.state_dict(), cached)
    cfg = apply_overrides(flow_cfg(device="cpu"), "raft_small", "download", allow_random=False)
    cfg["raft_small"]["num_flow_updates"] = 2
    validate_flow_config(cfg, ["raft_small"])
    loaded = get_backend("raft_small", cfg)
    assert loaded.checkpoint == str(cached) and loaded.random_weights is False
    np.testing.assert_array_equal(loaded.compute(frames[:1], frames[1:]), reference.compute(frames[:1], frames[1:]))


def test_flow_writer_errors_surface(tmp_path):
    from motionseg.flow.store import FlowWriter

    (tmp_path / "Flows_gap1").write_text("a file where a folder must go")
    with FlowWriter(tmp_path, "flo", ["a", "b"], [1], (4, 4)) as writer:
        with pytest.raises(ValueError, match="expected"):
            writer.put("forward", 1, 0, np.zeros((3, 4, 2), np.float32))
        writer.put("forward", 1, 0, np.zeros((4, 4, 2), np.float32))
        with pytest.raises(OSError):
            writer.finish({"storage": "flo"})
    assert not (tmp_path / "meta.json").exists()


def test_rule_script_runs_random_raft_small(tmp_path):
    """The production path: scripts/flow.py (the flow rule's script) with a stand-in ``snakemake`` object."""
    import runpy
    from types import SimpleNamespace

    script = REPO / "scripts" / "flow.py"
    if not script.is_file():
        pytest.skip(f"{script} not present yet")
    npz = write_frames(tmp_path / "seq.npz", translating_frames(3, 64, 64, (1, 0)))
    cfg = flow_cfg(allow_random_weights=True, device="cpu")
    cfg["raft_small"]["num_flow_updates"] = 2
    smk = SimpleNamespace(
        input=SimpleNamespace(frames=str(npz)),
        output=SimpleNamespace(flow=str(tmp_path / "flow" / "raft_small" / "seq")),
        params=SimpleNamespace(cfg=cfg, backend="raft_small", gaps=[1, 2], seed=0),
        log=[str(tmp_path / "flow.log")],
        wildcards={"dataset": "t", "flow": "raft_small", "sequence": "seq"},
        rule="flow",
        threads=1,
    )
    import sys

    sys.path.append(str(script.parent))  # Snakemake adds a local script's folder to sys.path (scripts/_src.py)
    runpy.run_path(str(script), init_globals={"snakemake": smk})
    fs = load_flow(smk.output.flow)
    assert fs.meta["random_weights"] is True and fs.forward(2).shape == (1, 64, 64, 2)
    assert "RANDOM weights" in (tmp_path / "flow.log").read_text()
