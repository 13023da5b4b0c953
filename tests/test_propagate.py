"""Label propagation (motionseg.propagate) and the semi-supervised DAVIS protocol (motionseg.metrics.semisup).

The official-evaluator comparison needs an importable ``davis2017`` package (a checkout of
davisvideochallenge/davis2017-evaluation on PYTHONPATH); it is skipped with a reason otherwise:

    PYTHONPATH=/path/to/davis2017-evaluation pytest tests/test_propagate.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from motionseg.dul.model import DULArch, build_model
from motionseg.flow.backends import DISBackend
from motionseg.io.instances import write_palette_png
from motionseg.metrics.jf import jaccard
from motionseg.metrics.semisup import score_semisupervised, semisup_aggregate
from motionseg.propagate import (
    dul_features,
    lab_features,
    propagate_by_flow,
    propagate_from_confident,
    propagate_labels,
    propagate_soft,
)
from motionseg.propagate.labelprop import downsample_labels, radius_mask, soft_to_labels
from motionseg.synth import render_sequence

pytestmark = pytest.mark.usefixtures("one_torch_thread")


STATS = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]


def _mean_j(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean over frames 1.. of J between foregrounds (label > 0) of int [T, H, W] arrays."""
    return float(np.mean([jaccard(g > 0, p > 0) for g, p in zip(gt[1:], pred[1:], strict=True)]))


# ------------------------------------------------------------------------------------------------- propagation


def _dense_reference(feats: torch.Tensor, lab0: torch.Tensor, topk: int, context: int, radius: float,
                     temperature: float) -> torch.Tensor:
    """Upstream's propagation written plainly (labelprop/common.py + crw.py): one affinity over all context slots,
    -1e10 outside the radius except on the long-term first frame, divide by the temperature, top-k, softmax."""
    feats = F.normalize(feats, dim=1)
    T, C, h, w = feats.shape
    hw = h * w
    gx, gy = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")  # as MaskedAttention.make
    D = ((gx[None, None, :, :] - gx[:, :, None, None]) ** 2 + (gy[None, None, :, :] - gy[:, :, None, None]) ** 2)
    D = (D.float() ** 0.5 < radius).float().reshape(h * w, h * w)
    mask = torch.where(D == 1, 0.0, -1e10)  # [context pos, target pos]
    labels = [lab0.flatten(1)]
    for t in range(1, T):
        ctx = [0] + [max(tt, 0) for tt in range(t - context, t)]
        aff = torch.stack([feats[f].flatten(1).t() @ feats[t].flatten(1) for f in ctx])  # [n, hw, hw]
        aff[1:] += mask
        aff = aff.reshape(len(ctx) * hw, hw) / temperature
        wts, idx = torch.topk(aff, topk, dim=0)
        wts = torch.softmax(wts, dim=0)
        lbl = torch.cat([labels[f] for f in ctx], 1)  # [M, n * hw]
        labels.append((lbl[:, idx] * wts[None]).sum(1))
    return torch.stack(labels).view(T, -1, h, w)


def test_propagation_equals_dense_upstream_form() -> None:
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(9, 6, 7, 9, generator=g)
    lab0 = downsample_labels(torch.randint(0, 3, (20, 28), generator=g).numpy(), (7, 9))
    kw = {"topk": 5, "context": 3, "radius": 2.5, "temperature": 0.05}
    ref = _dense_reference(feats, lab0, **kw)
    for tile in (0, 1, 2, 3, 8):
        out = propagate_soft(feats, lab0, tile=tile, **kw)
        assert torch.allclose(out, ref, atol=1e-5), float((out - ref).abs().max())


def test_radius_mask_boundary() -> None:
    m = radius_mask(8, 8, 5.0)
    assert m[0, 3 * 8 + 4] == -1e10 and m[0, 4 * 8 + 2] == 0.0  # d = 5 is outside (d < radius), d^2 = 20 inside
    assert torch.equal(m, m.t())
    assert m[0, 5] == -1e10 and m[0, 4] == 0.0


def test_propagate_labels_shapes_values_and_determinism() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((6, 8, 4, 5)).astype(np.float32)
    first = np.zeros((30, 40), dtype=np.int64)
    first[5:15, 5:20], first[18:28, 22:38] = 1, 3  # id 2 absent: its channel stays empty
    out = propagate_labels(feats, first)
    assert out.shape == (6, 30, 40) and out.dtype == np.int64
    assert np.array_equal(out[0], first)
    assert set(np.unique(out)) <= {0, 1, 3}
    assert np.array_equal(out, propagate_labels(feats, first))
    assert propagate_labels(feats, first.astype(np.uint8)).dtype == np.uint8  # DAVIS ids stay uint8
    # features identical in every frame: every pixel's neighbours are itself, so each frame gets the first frame's
    # labels resampled to the feature grid and back
    same = np.repeat(feats[:1], 6, 0)
    resampled = soft_to_labels(downsample_labels(first, (4, 5))[None], (30, 40))[0]
    assert np.all(propagate_labels(same, first)[1:] == resampled)


def test_lab_features_shapes() -> None:
    frames = render_sequence(0, 3, 64, 96, 0).frames
    for kernel, c in (("rff", 64), ("raw", 5)):
        f = lab_features(frames, 8, kernel=kernel)
        assert f.shape == (3, c, 8, 12) and f.dtype == np.float32
    assert lab_features(frames[:, :63, :90], 8).shape[2:] == (8, 12)  # ceil(H / stride)
    with pytest.raises(ValueError):
        lab_features(frames.astype(np.float32), 8)


def test_dul_features_shape_and_norm() -> None:
    torch.manual_seed(0)
    model = build_model(DULArch(width=8, blocks=1, feature_dim=16))
    frames = render_sequence(1, 3, 64, 96, 0).frames
    f = dul_features(model, frames, batch_size=2)
    assert f.shape == (3, 64, 8, 12)
    assert np.allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-4)
    assert f.shape[1] == dul_features(model, frames, key="key").shape[1] * 4
    assert model.training  # the caller's mode is restored


def test_flow_propagation_follows_exact_translation() -> None:
    T, H, W = 6, 40, 50
    first = np.zeros((H, W), dtype=np.int64)
    first[10:20, 5:15] = 1
    flow = np.zeros((T - 1, H, W, 2), dtype=np.float32)
    flow[..., 0] = 3.0  # everything moves 3 px right per frame
    out = propagate_by_flow(flow, first)
    for t in range(T):
        expected = np.zeros((H, W), dtype=np.int64)
        expected[10:20, 5 + 3 * t:15 + 3 * t] = 1
        assert np.array_equal(out[t], expected), t
    # flow stored at half resolution: resized (vectors scaled) to the label size
    half = np.full((T - 1, H // 2, W // 2, 2), 0.0, np.float32)
    half[..., 0] = 1.5
    assert np.array_equal(propagate_by_flow(half, first), out)
    assert propagate_by_flow(flow, first.astype(np.uint8)).dtype == np.uint8


@pytest.fixture(scope="module")
def synth_videos() -> list:
    """Three 24-frame 96x128 synthetic sequences (the demo's generator)."""
    return [render_sequence(i, 24, 96, 128, 0) for i in range(3)]


def test_lab_and_flow_propagation_beat_copying_the_first_mask(synth_videos: list) -> None:
    """Acceptance (a): on demo-like synthetic data the propagated first-frame mask beats the copied one (J)."""
    dis = DISBackend({"preset": "medium"})
    for seq in synth_videos:
        gt = seq.instance_ids.astype(np.int64)
        copy = np.repeat(gt[:1], len(gt), 0)
        j_copy = _mean_j(copy, gt)
        j_lab = _mean_j(propagate_labels(lab_features(seq.frames, 4), gt[0]), gt)
        flow = dis.compute(seq.frames[:-1], seq.frames[1:])
        j_flow = _mean_j(propagate_by_flow(flow, gt[0]), gt)
        assert j_lab > j_copy + 0.3, (j_lab, j_copy)
        assert j_flow > j_copy + 0.1, (j_flow, j_copy)


def test_propagate_from_confident_repairs_unconfident_frames(synth_videos: list) -> None:
    seq = synth_videos[0]
    gt = seq.masks
    T = len(gt)
    masks = gt.copy()
    conf = np.ones(T)
    bad = [3, 9, 10, 17]
    masks[bad] = False  # a method that lost the object in a few frames, and knows it
    conf[bad] = 0.1
    feats = lab_features(seq.frames, 4)
    fused = propagate_from_confident(masks, conf, feats, n_seeds=3)
    assert fused.shape == gt.shape and fused.dtype == bool
    j_in = np.mean([jaccard(g, m) for g, m in zip(gt[bad], masks[bad], strict=True)])
    j_out = np.mean([jaccard(g, m) for g, m in zip(gt[bad], fused[bad], strict=True)])
    assert j_in < 0.05 and j_out > 0.5, (j_in, j_out)
    good = [t for t in range(T) if t not in bad]
    assert np.array_equal(fused[good], masks[good])  # confidence 1 = max: those frames keep their mask
    with pytest.raises(ValueError):
        propagate_from_confident(masks, -conf, feats)


# ----------------------------------------------------------------------------------------- semi-supervised score


def _seq(T: int = 5, H: int = 40, W: int = 60) -> dict[str, np.ndarray]:
    """GT ids of a T-frame sequence: object 1 a box moving right, object 2 a fixed box; void band in frame 2."""
    out = {}
    for t in range(T):
        g = np.zeros((H, W), np.uint8)
        g[5:15, 5 + 2 * t:20 + 2 * t] = 1
        g[25:35, 30:50] = 2
        if t == 2:
            g[0:3, :] = 255
        out[f"{t:05d}"] = g
    return out


def test_semisup_perfect_and_first_last_frames_dropped() -> None:
    gt = _seq()
    frames = sorted(gt)
    pred = {k: np.where(v == 255, 0, v) for k, v in gt.items()}
    pred[frames[0]] = np.zeros_like(pred[frames[0]])  # never scored
    pred[frames[-1]] = np.full_like(pred[frames[-1]], 2)
    res = score_semisupervised(gt, pred, frames)
    assert res["frames"] == frames[1:-1] and res["n_objects"] == 2 and res["J"].shape == (2, 3)
    for c in STATS:
        assert res[c] == pytest.approx(0.0 if c.endswith("decay") else 1.0)
    assert res["J&F"] == pytest.approx(1.0)
    assert [o["object"] for o in res["objects"]] == [1, 2]
    # the last frame need not exist in the predictions
    del pred[frames[-1]]
    assert score_semisupervised(gt, pred, frames)["J&F"] == pytest.approx(1.0)


def test_semisup_hand_computed_cases() -> None:
    gt = _seq()
    frames = sorted(gt)
    pred = {k: np.where(v == 255, 0, v) for k, v in gt.items()}
    # frame 2: predict the void band as object 1 too: void counts as background in this protocol
    p2 = pred[frames[2]].copy()
    p2[0:3, :] = 1
    pred[frames[2]] = p2
    # frame 3: object 2 swapped to id 1 (no assignment: both objects now wrong there)
    p3 = pred[frames[3]].copy()
    p3[p3 == 2] = 0
    p3[25:35, 30:50] = 1
    pred[frames[3]] = p3
    res = score_semisupervised(gt, pred, frames)
    area1, band, area2 = 10 * 15, 3 * 60, 10 * 20
    j1 = [1.0, area1 / (area1 + band), area1 / (area1 + area2)]
    j2 = [1.0, 1.0, 0.0]
    assert np.allclose(res["J"][0], j1) and np.allclose(res["J"][1], j2)
    assert res["J_mean"] == pytest.approx((np.mean(j1) + np.mean(j2)) / 2)
    assert res["objects"][1]["J_recall"] == pytest.approx(2 / 3)


def test_semisup_objects_from_first_frame_and_refusals() -> None:
    gt = _seq()
    frames = sorted(gt)
    first = gt[frames[0]].copy()
    first[first == 2] = 0  # object 2 absent from the first frame: only object 1 counts
    gt2 = {**gt, frames[0]: first}
    pred = {k: (v == 1).astype(np.uint8) for k, v in gt.items()}
    res = score_semisupervised(gt2, pred, frames)
    assert res["n_objects"] == 1 and res["J_mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0..1"):
        score_semisupervised(gt2, {k: np.where(v == 255, 0, v) for k, v in gt.items()}, frames)
    with pytest.raises(ValueError, match="no prediction"):
        score_semisupervised(gt, {k: v for k, v in pred.items() if k != frames[2]}, frames)
    with pytest.raises(ValueError, match=">= 3"):
        score_semisupervised(gt, pred, frames[:2])
    # a missing id is an empty object: J = 0 where the object is present
    res = score_semisupervised(gt, pred, frames)
    assert np.all(res["J"][1] == 0.0) and res["objects"][1]["J_mean"] == 0.0


def test_semisup_aggregate_weights_objects() -> None:
    gt = _seq()
    frames = sorted(gt)
    perfect = {k: np.where(v == 255, 0, v) for k, v in gt.items()}
    one = {k: np.minimum(v, 1) for k, v in gt.items()}  # a 1-object sequence, predicted empty
    r2 = score_semisupervised(gt, perfect, frames)
    r1 = score_semisupervised(one, {k: np.zeros_like(v) for k, v in one.items()}, frames)
    agg = semisup_aggregate([r2, r1])
    assert agg["n_objects"] == 3
    assert agg["J_mean"] == pytest.approx(2 / 3) and agg["J&F"] == pytest.approx((2 / 3 + agg["F_mean"]) / 2)


def _official_evaluation():
    try:
        from davis2017.evaluation import DAVISEvaluation
    except Exception as exc:  # not on PYTHONPATH, or its dependencies (scikit-image, tqdm) missing
        pytest.skip(f"the official davis2017-evaluation package is not importable ({exc}); put a checkout of "
                    "davisvideochallenge/davis2017-evaluation on PYTHONPATH")
    return DAVISEvaluation


def test_semisup_equals_official_evaluator(tmp_path: Path) -> None:
    """Against ``DAVISEvaluation(task='semi-supervised')`` on a small synthetic DAVIS tree, to 1e-6."""
    DAVISEvaluation = _official_evaluation()
    root, res_root = tmp_path / "davis", tmp_path / "results"
    rng = np.random.default_rng(3)
    ours = []
    names = ["seq_a", "seq_b"]
    for si, name in enumerate(names):
        seq = render_sequence(si, 9, 48, 64, 1)
        ids = seq.instance_ids.copy()
        ids[2, :2, :] = 255  # a void band
        frames = [f"{t:05d}" for t in range(len(ids))]
        for sub in ("JPEGImages/480p", "Annotations/480p"):
            (root / sub / name).mkdir(parents=True)
        (res_root / name).mkdir(parents=True)
        preds = {}
        for t, f in enumerate(frames):
            Image.fromarray(seq.frames[t]).save(root / "JPEGImages/480p" / name / f"{f}.jpg")
            write_palette_png(root / "Annotations/480p" / name / f"{f}.png", ids[t])
            p = np.where(ids[t] == 255, 0, ids[t]).astype(np.uint8)
            p = np.roll(p, int(rng.integers(-3, 4)), axis=1)
            if t == 4:
                p[p == 1] = 0  # object 1 lost in one frame
            if t == 5 and p.max() >= 2:
                p = np.where(p == 2, 1, np.where(p == 1, 2, p)).astype(np.uint8)  # ids swapped
            preds[f] = p
            write_palette_png(res_root / name / f"{f}.png", p)
        ours.append(score_semisupervised({f: ids[t] for t, f in enumerate(frames)}, preds, frames))
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("\n".join(names) + "\n")
    off = DAVISEvaluation(str(root), "semi-supervised", "val").evaluate(str(res_root))
    keys = {"J": ("J_mean", "J_recall", "J_decay"), "F": ("F_mean", "F_recall", "F_decay")}
    ours_obj = [o for r in ours for o in r["objects"]]
    assert len(off["J"]["M"]) == len(ours_obj) == sum(r["n_objects"] for r in ours) >= 3
    for m, cols in keys.items():
        for stat, col in zip(("M", "R", "D"), cols, strict=True):
            for a, b in zip(off[m][stat], [o[col] for o in ours_obj], strict=True):
                assert math.isclose(float(a), b, abs_tol=1e-6), (m, stat, a, b)
    agg = semisup_aggregate(ours)
    official_jf = (np.mean(off["J"]["M"]) + np.mean(off["F"]["M"])) / 2
    assert agg["J&F"] == pytest.approx(official_jf, abs=1e-6)
