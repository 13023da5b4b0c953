"""The GT-free propagation stage (motionseg.propagate.gtfree): confidence, fusion, the rule entry and its checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motionseg.dul.model import DULArch, build_model, snapshot_dict
from motionseg.flow.geometry import resize_frames
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import MaskSet, read_mask_dir, write_mask_dir
from motionseg.metrics.jf import jaccard
from motionseg.propagate import lab_features, propagate_from_confident
from motionseg.propagate.fusion import fuse_soft
from motionseg.propagate.gtfree import (
    CONFIDENCE_KINDS,
    check_config,
    confidence_from_probability,
    frame_confidence,
    run_gtfree_propagation,
    seed_propagations,
)
from motionseg.synth import render_sequence

ORIG_HW = (128, 192)
WORK_HW = (64, 96)
T = 16
BAD_EMPTY = [3, 11]  # the method lost the object (PNG empty, probabilities near 0.5)
BAD_SHIFT = [7, 14]  # the method's mask jumped 40 px (original) away, with hesitant probabilities
BAD = sorted(BAD_EMPTY + BAD_SHIFT)
CFG = {"features": "lab", "confidence": "agreement", "n_seeds": 3, "topk": 10, "context": 8, "radius": 12.0,
       "temperature": 0.05, "lab_stride": 4}
META = {"method": "bgfit", "mode": "offline", "oracle": False, "seed": 0, "fg_rule": "x"}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread per test (restored afterwards): faster than two on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_inputs(root: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A synthetic sequence ingested at WORK_HW (original ORIG_HW) and a mask directory of a method that is right
    (probabilities 0.95 / 0.05) except on BAD frames. Returns (npz, mask dir, clean masks bool [T, H, W], the
    method's PNG masks)."""
    seq = render_sequence(0, T, *ORIG_HW, 0)
    names = [f"{t:05d}" for t in range(T)]
    clean = seq.masks.astype(bool)
    npz = root / "frames" / "seq.npz"
    save_ingested(npz, Ingested(frames=resize_frames(seq.frames, WORK_HW), names=names, orig_hw=ORIG_HW,
                                manifest={"sequence": "seq"}))
    soft = np.where(clean, 0.95, 0.05).astype(np.float32)
    for t in BAD_EMPTY:
        soft[t] = 0.4
    for t in BAD_SHIFT:
        soft[t] = np.where(np.roll(clean[t], 40, axis=1), 0.6, 0.4)
    small = resize_frames(soft, WORK_HW)
    probs = np.stack([1.0 - small, small], axis=1)
    flags = np.array([False, True])
    fg = np.stack([resize_frames(p[None], ORIG_HW)[0] > 0.5 for p in small])
    mask_dir = root / "masks" / "bgfit" / "seq"
    write_mask_dir(mask_dir, names, fg, probs, flags, META)
    return npz, mask_dir, clean, fg


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The inputs and one run of the stage on them."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("gtfree")
    npz, mask_dir, clean, fg = write_inputs(root)
    out = root / "prop" / "seq"
    run_gtfree_propagation(npz, mask_dir, out, CFG, progress=False)
    return {"root": root, "npz": npz, "mask_dir": mask_dir, "clean": clean, "fg": fg, "out": out}


def _mean_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([jaccard(x, y) for x, y in zip(a, b, strict=True)]))


def test_confidence_is_low_on_corrupted_frames(stage: dict) -> None:
    masks = read_mask_dir(stage["mask_dir"])
    good = [t for t in range(T) if t not in BAD]
    far = [t for t in good if t - 1 not in BAD and t + 1 not in BAD]  # agreement also doubts a bad frame's neighbours
    for kind in CONFIDENCE_KINDS:
        conf = frame_confidence(masks, WORK_HW, kind)
        assert conf.shape == (T,) and (conf >= 0).all()
        assert conf[BAD].max() < conf[good if kind == "certainty" else far].min(), (kind, conf.round(3))
        assert np.all(conf[BAD_EMPTY] == 0), kind  # empty PNG: gated
    with pytest.raises(ValueError):
        frame_confidence(masks, WORK_HW, "nope")


def test_confidence_gates_empty_and_full_masks_and_reads_pngs_without_probs() -> None:
    fg = np.zeros((4, 20, 30), bool)
    fg[:2, 5:10, 5:10] = True  # frame 2 empty
    fg[3] = True  # covers the whole frame
    only_png = MaskSet(fg=fg, names=["a", "b", "c", "d"])
    for kind in CONFIDENCE_KINDS:
        conf = frame_confidence(only_png, (10, 15), kind)
        assert conf[0] > 0 and conf[1] > 0 and conf[2] == 0 and conf[3] == 0, (kind, conf)
    assert confidence_from_probability(np.full((1, 4, 4), 0.5, np.float32), np.ones((1, 4, 4), bool) * False,
                                       "certainty")[0] == 0


def test_stage_repairs_corrupted_frames_and_writes_a_complete_mask_dir(stage: dict) -> None:
    out = read_mask_dir(stage["out"])
    clean, fg = stage["clean"], stage["fg"]
    assert out.fg.shape == clean.shape and out.names == [f"{t:05d}" for t in range(T)]
    assert out.probs is not None and out.probs.shape == (T, 2, *WORK_HW)
    assert out.fg_segments.tolist() == [False, True]
    assert np.allclose(out.probs.sum(1), 1.0, atol=2 / 255)
    j_in, j_out = _mean_iou(fg, clean), _mean_iou(out.fg, clean)
    assert j_out > j_in + 0.1, (j_in, j_out)
    assert _mean_iou(out.fg[BAD], clean[BAD]) > 0.5 > _mean_iou(fg[BAD], clean[BAD])
    meta = json.loads((stage["out"] / "meta.json").read_text())
    assert meta["post"] == "prop" and meta["method"] == "bgfit" and meta["fg_rule"] == "x"
    assert meta["propagation"] == CFG and meta["source_mask_dir"] == str(stage["mask_dir"])
    assert len(meta["confidence"]) == T and len(meta["seeds"]) == CFG["n_seeds"]
    assert not set(meta["seeds"]) & set(BAD)
    top = meta["seeds"][0]
    assert np.array_equal(out.fg[top], fg[top])  # the most confident frame keeps its own mask


def test_stage_is_deterministic(stage: dict) -> None:
    out2 = stage["root"] / "prop2" / "seq"
    run_gtfree_propagation(stage["npz"], stage["mask_dir"], out2, CFG, progress=False)
    for name in sorted(p.name for p in stage["out"].iterdir()):
        if name == "segments.npz":
            with np.load(stage["out"] / name) as a, np.load(out2 / name) as b:
                assert all(np.array_equal(a[k], b[k]) for k in a.files)
        else:
            assert (stage["out"] / name).read_bytes() == (out2 / name).read_bytes(), name


def test_soft_fusion_of_a_binary_mask_is_propagate_from_confident(stage: dict) -> None:
    from motionseg.io.ingest_format import load_ingested

    frames = load_ingested(stage["npz"]).frames
    masks = resize_frames(stage["fg"].astype(np.float32), WORK_HW) > 0.5
    conf = np.linspace(0.2, 1.0, T)[::-1].copy()
    conf[BAD] = 0.05
    feats = lab_features(frames, 4)
    kw = {"topk": 10, "context": 8, "radius": 12.0, "temperature": 0.05}
    expected = propagate_from_confident(masks, conf, feats, n_seeds=2, **kw)
    seeds = [0, 1]
    fused = fuse_soft(masks.astype(np.float32), conf, seed_propagations(feats, masks, seeds, **kw), seeds)
    assert np.array_equal(fused >= 0.5, expected)


def test_config_errors_name_the_key(stage: dict) -> None:
    out = stage["root"] / "bad" / "seq"
    cases = [
        ({k: v for k, v in CFG.items() if k != "topk"}, "topk"),
        ({**CFG, "extra": 1}, "extra"),
        ({**CFG, "features": "hog"}, "features"),
        ({**CFG, "n_seeds": 0}, "n_seeds"),
        ({**CFG, "context": 2.5}, "context"),
        ({**CFG, "radius": -1.0}, "radius"),
        ({**CFG, "temperature": "hot"}, "temperature"),
        ({**CFG, "lab_stride": True}, "lab_stride"),
        ({**CFG, "features": "dul"}, "features"),  # dul without a snapshot
    ]
    for cfg, key in cases:
        with pytest.raises(ConfigError) as err:
            run_gtfree_propagation(stage["npz"], stage["mask_dir"], out, cfg, progress=False)
        assert err.value.key == f"gtfree_propagation.{key}", (key, str(err.value))
    assert not out.exists()
    assert check_config({**CFG, "n_seeds": 2.0})["n_seeds"] == 2


def test_mismatched_mask_dir_names_the_folder(tmp_path: Path) -> None:
    npz, mask_dir, _, _ = write_inputs(tmp_path)
    (mask_dir / "00003.png").unlink()
    out = tmp_path / "prop" / "seq"
    with pytest.raises(InputError) as err:
        run_gtfree_propagation(npz, mask_dir, out, CFG, progress=False)
    assert err.value.path == str(mask_dir)
    assert not out.exists()


def test_dul_features_from_a_snapshot(stage: dict) -> None:
    torch.manual_seed(0)
    model = build_model(DULArch(width=8, blocks=1, feature_dim=16))
    snap = stage["root"] / "dul.pth"
    torch.save(snapshot_dict(model), snap)
    out = stage["root"] / "prop_dul" / "seq"
    run_gtfree_propagation(stage["npz"], stage["mask_dir"], out, {**CFG, "features": "dul", "n_seeds": 1},
                           model_path=str(snap), progress=False)
    res = read_mask_dir(out)
    assert res.fg.shape == stage["clean"].shape and json.loads((out / "meta.json").read_text())["post"] == "prop"
