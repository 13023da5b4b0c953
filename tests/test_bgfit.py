"""bgfit (background-motion fit + residual) and the shared per-sequence method plumbing (motionseg.methods)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from flow_helpers import ArrayFlowSet

import motionseg.flow
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.methods import method_config, run_method
from motionseg.methods.bgfit import bgfit_sequence
from motionseg.methods.evidence import fit_background, homography_flow
from motionseg.methods.flowsource import FlowSource
from motionseg.registry import METHODS

REPO = Path(__file__).resolve().parents[1]
CFG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def synthetic_flow(T: int = 6, h: int = 48, w: int = 64) -> tuple[ArrayFlowSet, np.ndarray]:
    """Exact flows of a zooming+panning background with a 14x14 square moving against it; GT masks bool [T, h, w]."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    fwd, bwd, gt = [], [], []
    for t in range(T):
        x0, y0 = 10 + 3 * t, 12 + t
        m = (xs >= x0) & (xs < x0 + 14) & (ys >= y0) & (ys < y0 + 14)
        gt.append(m)
        if t < T - 1:
            bg = np.stack([1.5 + 0.02 * (xs - w / 2), -0.5 + 0.02 * (ys - h / 2)], -1)  # pan + zoom
            f = np.where(m[..., None], np.array([3.0, 1.0], np.float32), bg)
            fwd.append(f)
            nxt = (xs >= x0 + 3) & (xs < x0 + 17) & (ys >= y0 + 1) & (ys < y0 + 15)
            bgb = np.stack([-1.5 - 0.02 * (xs - w / 2), 0.5 - 0.02 * (ys - h / 2)], -1)
            bwd.append(np.where(nxt[..., None], np.array([-3.0, -1.0], np.float32), bgb))
    return ArrayFlowSet(np.stack(fwd).astype(np.float32), np.stack(bwd).astype(np.float32)), np.stack(gt)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_homography_fit_recovers_background_motion() -> None:
    fs, gt = synthetic_flow()
    flow = fs.forward(1)[0]
    H, ok = fit_background(flow, CFG["evidence"], seed=0)
    assert ok
    bg = homography_flow(H, *flow.shape[:2])
    err = np.linalg.norm(bg - flow, axis=-1)
    assert np.median(err[~gt[0]]) < 0.05  # background explained
    assert np.median(err[gt[0]]) > 1.0  # the object is not


def test_bgfit_segments_the_moving_object_and_is_deterministic() -> None:
    fs, gt = synthetic_flow()
    probs, info = bgfit_sequence(FlowSource(fs, len(gt)), method_config(CFG, "bgfit"), seed=3)
    assert probs.shape == (len(gt), 2, *gt.shape[1:])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    js = [jaccard(p[1] > 0.5, g) for p, g in zip(probs, gt, strict=True)]
    assert min(js) > 0.7, js
    assert info["n_fit_failures"] == 0
    again, _ = bgfit_sequence(FlowSource(fs, len(gt)), method_config(CFG, "bgfit"), seed=3)
    np.testing.assert_array_equal(probs, again)


def _ingested(tmp_path: Path, T: int, h: int, w: int, gt_paths: dict | None = None) -> Path:
    ing = Ingested(
        frames=np.zeros((T, h, w, 3), np.uint8),
        names=[f"{i:05d}" for i in range(T)],
        orig_hw=(2 * h, 2 * w),
        manifest={"gt_paths": gt_paths or {}},
    )
    path = tmp_path / "seq.npz"
    save_ingested(path, ing)
    return path


def test_run_method_bgfit_writes_mask_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs, gt = synthetic_flow()
    monkeypatch.setattr(motionseg.flow, "load_flow", lambda d: fs)
    npz = _ingested(tmp_path, *gt.shape)
    run_method("bgfit", npz, tmp_path / "flow", tmp_path / "masks", method_config(CFG, "bgfit"), seed=0)
    ms = read_mask_dir(tmp_path / "masks")
    assert ms.fg.shape == (len(gt), 2 * gt.shape[1], 2 * gt.shape[2])  # original resolution
    assert ms.probs.shape == (len(gt), 2, *gt.shape[1:])
    assert list(ms.fg_segments) == [False, True]
    assert ms.meta["oracle"] is False and ms.meta["method"] == "bgfit"
    assert jaccard(ms.fg[0][::2, ::2], gt[0]) > 0.7
    assert not METHODS["bgfit"].oracle and not METHODS["bgfit"].uses_tracks
    assert ms.meta["mode"] == METHODS["bgfit"].mode
    assert json.loads((tmp_path / "masks" / "meta.json").read_text())["fg_rule"]


def test_run_method_rejects_flow_of_wrong_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs, gt = synthetic_flow()
    monkeypatch.setattr(motionseg.flow, "load_flow", lambda d: fs)
    npz = _ingested(tmp_path, len(gt) + 1, *gt.shape[1:])
    with pytest.raises(InputError, match="gap-1 forward flow has shape"):
        run_method("bgfit", npz, tmp_path / "flow", tmp_path / "masks", method_config(CFG, "bgfit"), seed=0)
    assert not (tmp_path / "masks").exists()


def test_run_method_rejects_unknown_method(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        run_method("nope", tmp_path / "x.npz", tmp_path, tmp_path / "m", {}, seed=0)
