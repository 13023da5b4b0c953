"""ClusterNet (motionseg.cluster) and the kmeans baseline: Sinkhorn, causality of the online mode, oracle labelling,
GT-free accuracy on a synthetic panning sequence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from flow_helpers import dis_flow, dis_flowset
from PIL import Image

import motionseg.flow
from motionseg.cluster.colorwheel import flow_to_wheel
from motionseg.cluster.net import FlowAE, border_saliency, cluster_embeddings, sinkhorn
from motionseg.cluster.run import online_steps, run_clusternet
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.methods import run_method
from motionseg.methods.kmeans import kmeans_sequence
from motionseg.registry import METHODS

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
CFG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
# the reference loss/clustering settings from config.yaml, with compute cut for a unit test; on the CPU even on a GPU
# node (bitwise determinism is a CPU promise: CUDA kernels differ by ~1e-5 between runs; test_cuda.py covers CUDA)
# (every mode's keys: the union of method_config of the three modes)
FAST = dict(
    CFG["cluster"],
    evidence=CFG["evidence"],
    refine=CFG["refine"],
    work_height=None,
    channels=[8, 16, 32],
    warmup_iters=15,
    iters_per_frame=2,
    pretrain_epochs=2,
    threads=1,
    device="cpu",
)


class FutureFrameError(RuntimeError):
    """Raised when a frame after the allowed horizon is read."""


class LazyFrames:
    """Frames read one by one; reading a frame index > ``limit`` raises (a frame 'not yet recorded')."""

    def __init__(self, frames: np.ndarray, limit: int | None = None) -> None:
        self._frames, self.limit, self.read = frames, limit, set()

    def __getitem__(self, i: int) -> np.ndarray:
        if self.limit is not None and i > self.limit:
            raise FutureFrameError(f"frame {i} read while only frames <= {self.limit} exist")
        self.read.add(i)
        return self._frames[i]


class LazyDISSource:
    """FlowSource stand-in computing DIS flow (and serving RGB frames) on demand from :class:`LazyFrames`."""

    has_frames = True

    def __init__(self, frames: LazyFrames, n_frames: int) -> None:
        self.frames, self.n_frames = frames, n_frames

    def pair(self, a: int, b: int) -> np.ndarray:
        assert abs(a - b) == 1
        return dis_flow(self.frames[a], self.frames[b])

    def frame(self, t: int) -> np.ndarray:
        return self.frames[t]


def panning_sequence(T: int = 10, h: int = 96, w: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured background panning right/down with a textured 28x28 square moving left against it.

    Returns frames uint8 [T, h, w, 3] and GT masks bool [T, h, w].
    """
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.integers(0, 255, (h + 60, w + 80, 3)).astype(np.uint8), (0, 0), 1.2)
    obj = cv2.GaussianBlur(rng.integers(0, 255, (28, 28, 3)).astype(np.uint8), (0, 0), 1.0)
    frames, masks = [], []
    for t in range(T):
        ox, oy = 2 * t, t  # background pan (px per frame)
        f = big[oy : oy + h, ox : ox + w].copy()
        x0, y0 = 70 - 3 * t, 34 + (t % 3)
        f[y0 : y0 + 28, x0 : x0 + 28] = obj
        m = np.zeros((h, w), bool)
        m[y0 : y0 + 28, x0 : x0 + 28] = True
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


# ----------------------------------------------------------------------------------------------- building blocks


def test_sinkhorn_is_balanced() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(900, 10, generator=g), dim=1)
    protos = torch.nn.functional.normalize(torch.randn(30, 10, generator=g), dim=1)
    q = sinkhorn(z @ protos.T, eps=0.05, n_iters=3)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(900), atol=1e-4, rtol=0)  # each sample: one unit of mass
    soft = torch.softmax(z @ protos.T / 0.05, dim=1).sum(dim=0)  # without Sinkhorn: far from balanced
    dev3 = float((q.sum(dim=0) - 30).abs().max()) / 30
    assert dev3 < 0.5 * float((soft - 30).abs().max()) / 30
    q50 = sinkhorn(z @ protos.T, eps=0.05, n_iters=50)
    assert float((q50.sum(dim=0) - 30).abs().max()) < 0.02 * 30  # converges to equipartition: N/K per prototype
    labels, _ = cluster_embeddings(z, 30, 3, 0.05, 3, torch.Generator().manual_seed(1))
    counts = torch.bincount(labels, minlength=30)
    assert int((counts > 0).sum()) == 30 and int(counts.max()) <= 3 * 900 // 30


def test_clustering_is_deterministic_for_a_seed() -> None:
    z = torch.randn(500, 10, generator=torch.Generator().manual_seed(0))
    a, pa = cluster_embeddings(z, 30, 3, 0.05, 3, torch.Generator().manual_seed(7))
    b, pb = cluster_embeddings(z, 30, 3, 0.05, 3, torch.Generator().manual_seed(7))
    c, _ = cluster_embeddings(z, 30, 3, 0.05, 3, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert not torch.equal(a, c)


def test_colour_wheel_and_saliency() -> None:
    flow = np.zeros((32, 48, 2), np.float32)
    flow[10:20, 15:30] = (3.0, 0.0)
    img = flow_to_wheel(flow)
    assert img.shape == (3, 32, 48) and img.min() >= -1 and img.max() <= 1
    np.testing.assert_allclose(img[:, 0, 0], 1.0)  # zero motion is white
    assert np.abs(img[:, 15, 20] - img[:, 0, 0]).max() > 1.0
    z = torch.zeros(1, 4, 12, 16)
    z[0, 0] = 1.0
    z[0, 1, 4:8, 5:10] = 5.0
    sal = border_saliency(z, 2)[0]
    assert float(sal[0, 0]) == pytest.approx(0.0, abs=1e-5) and float(sal[5, 7]) == pytest.approx(1.0, abs=1e-5)
    model = FlowAE([4, 8, 8], 3)
    emb, rec = model(torch.zeros(2, 3, 32, 48))
    assert emb.shape == (2, 3, 8, 12) and rec.shape == (2, 3, 32, 48)


# ----------------------------------------------------------------------------------------------- online causality


#: FAST with the online mode's causal colour memory switched off (config.yaml ships it on)
FAST_NO_CM = dict(FAST, colour_memory=dict(FAST["colour_memory"], weight=0.0))


def test_shipped_config_has_the_colour_memory_on() -> None:
    assert FAST["colour_memory"]["weight"] > 0


@pytest.mark.parametrize("cfg", [FAST_NO_CM, FAST], ids=["no-colour-memory", "colour-memory"])
def test_online_never_reads_a_future_frame(cfg: dict) -> None:
    frames, _ = panning_sequence(T=5)
    full = dict(online_steps(LazyDISSource(LazyFrames(frames), 5), cfg, seed=0))
    assert sorted(full) == list(range(5))
    for t in (1, 3):
        lazy = LazyFrames(frames, limit=t)
        got = {}
        with pytest.raises(FutureFrameError):
            for i, p in online_steps(LazyDISSource(lazy, 5), cfg, seed=0):
                got[i] = p
        assert sorted(got) == list(range(t + 1))  # every frame <= t was produced before the first future read
        assert max(lazy.read) == t
        for i, mask in got.items():  # and the results do not depend on the future
            np.testing.assert_array_equal(mask, full[i])


@pytest.mark.parametrize("cfg", [FAST_NO_CM, FAST], ids=["no-colour-memory", "colour-memory"])
def test_online_gt_free_segments_panning_sequence(cfg: dict) -> None:
    frames, gt = panning_sequence(T=10)
    res = dict(online_steps(LazyDISSource(LazyFrames(frames), len(frames)), cfg, seed=0))
    js = [jaccard(res[t] > 0.5, gt[t]) for t in range(len(frames))]
    assert float(np.mean(js)) >= 0.8, js


# ----------------------------------------------------------------------------------------------- run_method / modes


def _write_sequence(tmp_path: Path, frames: np.ndarray, gt: np.ndarray, gt_exists: bool = True) -> Path:
    gt_paths = {}
    for i, m in enumerate(gt):
        p = tmp_path / "gt" / f"{i:05d}.png"
        if gt_exists:
            p.parent.mkdir(exist_ok=True)
            Image.fromarray((m * 255).astype(np.uint8)).save(p)
        gt_paths[f"{i:05d}"] = str(p)
    ing = Ingested(
        frames=frames,
        names=[f"{i:05d}" for i in range(len(frames))],
        orig_hw=frames.shape[1:3],
        manifest={"gt_paths": gt_paths},
    )
    save_ingested(tmp_path / "seq.npz", ing)
    return tmp_path / "seq.npz"


def test_oracle_mode_is_flagged_and_gt_free_modes_never_read_gt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, gt = panning_sequence(T=5)
    fs = dis_flowset(frames)
    monkeypatch.setattr(motionseg.flow, "load_flow", lambda d: fs)
    # GT paths point at files that do not exist: any GT read by a GT-free mode would raise
    npz = _write_sequence(tmp_path, frames, gt, gt_exists=False)
    for method in ("clusternet-online", "clusternet-offline"):
        run_method(method, npz, tmp_path / "flow", tmp_path / method, FAST, seed=0)
        ms = read_mask_dir(tmp_path / method)
        assert ms.meta["oracle"] is False and ms.meta["oracle_reason"] is None
        assert ms.meta["mode"] == method.removeprefix("clusternet-")
        assert ms.fg.shape == gt.shape
    with pytest.raises(InputError, match="does not exist"):
        run_method("clusternet-oracle", npz, tmp_path / "flow", tmp_path / "oracle", FAST, seed=0)
    npz = _write_sequence(tmp_path, frames, gt, gt_exists=True)
    run_method("clusternet-oracle", npz, tmp_path / "flow", tmp_path / "oracle", FAST, seed=0)
    ms = read_mask_dir(tmp_path / "oracle")
    assert ms.meta["oracle"] is True and ms.meta["oracle_reason"]
    assert ms.meta["mode"] == "oracle" == METHODS["clusternet-oracle"].mode
    assert METHODS["clusternet-oracle"].oracle and not METHODS["clusternet-online"].oracle
    assert np.mean([jaccard(a, b) for a, b in zip(ms.fg, gt, strict=True)]) > 0.5


def test_oracle_without_gt_paths_raises(tmp_path: Path) -> None:
    frames, _ = panning_sequence(T=3)
    ing = Ingested(frames=frames, names=["a", "b", "c"], orig_hw=frames.shape[1:3], manifest={})
    from motionseg.methods.flowsource import FlowSource

    with pytest.raises(InputError, match="gt_paths"):
        run_clusternet(FlowSource(dis_flowset(frames), 3), ing, "oracle", FAST, seed=0)


def test_offline_is_deterministic() -> None:
    frames, _ = panning_sequence(T=4)
    from motionseg.methods.flowsource import FlowSource

    ing = Ingested(frames=frames, names=list("abcd"), orig_hw=frames.shape[1:3], manifest={})
    a, _, _ = run_clusternet(FlowSource(dis_flowset(frames), 4), ing, "offline", FAST, seed=5)
    b, _, _ = run_clusternet(FlowSource(dis_flowset(frames), 4), ing, "offline", FAST, seed=5)
    np.testing.assert_array_equal(a, b)


def test_kmeans_baseline_finds_the_object() -> None:
    frames, gt = panning_sequence(T=4)
    from motionseg.methods.flowsource import FlowSource

    probs, seg, meta = kmeans_sequence(FlowSource(dis_flowset(frames), 4), CFG["kmeans"], seed=0)
    assert probs.shape == (4, 2, *gt.shape[1:]) and list(seg) == [False, True] and meta["oracle"] is False
    assert np.mean([jaccard(p[1] > 0.5, g) for p, g in zip(probs, gt, strict=True)]) > 0.6


def test_kmeans_is_deterministic() -> None:
    frames, _ = panning_sequence(T=3)
    from motionseg.methods.flowsource import FlowSource

    a = kmeans_sequence(FlowSource(dis_flowset(frames), 3), CFG["kmeans"], seed=2)[0]
    b = kmeans_sequence(FlowSource(dis_flowset(frames), 3), CFG["kmeans"], seed=2)[0]
    np.testing.assert_array_equal(a, b)


def test_colour_memory_raises_the_remembered_foreground_colour() -> None:
    from motionseg.cluster.colour import ColourMemory, colour_bins

    frame = np.zeros((20, 30, 3), np.uint8)
    frame[:, :15] = (200, 30, 30)  # red foreground on the left, green background on the right
    frame[:, 15:] = (30, 200, 30)
    fg = np.zeros((20, 30), bool)
    fg[:, :15] = True
    mem = ColourMemory(0.2, 4, 0.7, 20)
    np.testing.assert_array_equal(mem.gain(colour_bins(frame, 4)), 1.0)  # nothing remembered yet: no effect
    mem.update(colour_bins(frame, 4), fg)
    g = mem.gain(colour_bins(frame, 4))
    assert g.shape == (20, 30) and g.dtype == np.float32
    np.testing.assert_allclose(g[:, :15], 1.2, atol=1e-3)
    np.testing.assert_allclose(g[:, 15:], 0.8, atol=1e-3)
    unseen = np.full((20, 30, 3), (30, 30, 200), np.uint8)  # a colour in neither histogram: neutral
    np.testing.assert_allclose(mem.gain(colour_bins(unseen, 4)), 1.0, atol=1e-3)
    mem.update(colour_bins(frame, 4), np.zeros_like(fg))  # too few fg pixels: the memory is kept
    np.testing.assert_array_equal(mem.gain(colour_bins(frame, 4)), g)
    off = ColourMemory(0.0, 4, 0.7, 20)
    off.update(colour_bins(frame, 4), fg)
    np.testing.assert_array_equal(off.gain(colour_bins(frame, 4)), 1.0)
    with pytest.raises(ValueError, match="weight"):
        ColourMemory(0.8, 4, 0.7, 20)
