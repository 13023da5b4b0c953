"""motionseg.metrics against the official davis2017-evaluation functions on the real DAVIS-2016 sequences.

Needs ``../shared/data`` and an importable ``davis2017`` package (the official code, e.g. a checkout of
davisvideochallenge/davis2017-evaluation on PYTHONPATH) with scikit-image; skipped otherwise. The official code is
never vendored here: this test only imports it when it is present.

    PYTHONPATH=/path/to/davis2017-evaluation pytest tests/test_metrics_official.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from motionseg.metrics import evaluate_dirs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ANN = DATA / "DAVIS2016" / "Annotations"
STATS = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]
FAST_SEQUENCES = ["car-shadow", "motocross-jump"]  # the two shortest (40 frames each)


def _shift(masks: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Masks bool [T, H, W] moved by (dx, dy) px, uncovered pixels empty."""
    out = np.zeros_like(masks)
    H, W = masks.shape[1:]
    out[:, max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = masks[
        :, max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def _morph(masks: np.ndarray, op: int, radius: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return np.stack([cv2.morphologyEx(m.astype(np.uint8), op, k) > 0 for m in masks])


def _blobs(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Random filled ellipses, a few per frame, drifting; some frames empty."""
    rng = np.random.default_rng(seed)
    T, H, W = shape
    out = np.zeros(shape, dtype=np.uint8)
    for t in range(T):
        if rng.random() < 0.1:
            continue
        for _ in range(rng.integers(1, 4)):
            c = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            axes = (int(rng.integers(5, W // 4)), int(rng.integers(5, H // 4)))
            cv2.ellipse(out[t], c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return out > 0


def prediction_sets(gt: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Prediction sets bool [T, H, W] derived from GT bool [T, H, W]: the GT itself, shifted by 5 and 20 px, eroded,
    dilated, empty, random blobs, and a half-empty one (GT in the first half, nothing after)."""
    half = gt.copy()
    half[gt.shape[0] // 2 :] = False
    return {
        "gt": gt.copy(),
        "shift5": _shift(gt, 5, 5),
        "shift20": _shift(gt, 20, -20),
        "eroded": _morph(gt, cv2.MORPH_ERODE, 6),
        "dilated": _morph(gt, cv2.MORPH_DILATE, 6),
        "empty": np.zeros_like(gt),
        "blobs": _blobs(gt.shape, seed),
        "half": half,
    }


def _official():
    if not ANN.is_dir():
        pytest.skip(f"shared DAVIS-2016 data not found at {ANN}")
    try:
        from davis2017.metrics import db_eval_boundary, db_eval_iou
        from davis2017.utils import db_statistics
    except ImportError as exc:
        pytest.skip(f"official davis2017-evaluation code not importable ({exc}); put a checkout on PYTHONPATH")
    return db_eval_iou, db_eval_boundary, db_statistics


def _compare(tmp_path: Path, sequences: list[str]) -> None:
    db_eval_iou, db_eval_boundary, db_statistics = _official()
    for seq in sequences:
        files = sorted((ANN / seq).glob("*.png"))
        gt = np.stack([np.asarray(Image.open(f)) > 0 for f in files])
        for name, pred in prediction_sets(gt, seed=len(seq)).items():
            out = tmp_path / name / seq
            out.mkdir(parents=True)
            for f, p in zip(files, pred, strict=True):
                Image.fromarray(p.astype(np.uint8) * 255).save(out / f.name)
            jo = np.array([db_eval_iou(g, p) for g, p in zip(gt, pred, strict=True)], dtype=np.float64)
            fo = np.array([db_eval_boundary(g, p) for g, p in zip(gt, pred, strict=True)], dtype=np.float64)
            official = np.array([*db_statistics(jo), *db_statistics(fo)], dtype=np.float64)
            per_seq, per_frame = evaluate_dirs(ANN, tmp_path / name, sequences=[seq], progress=False)
            ours = per_seq.iloc[0][STATS].to_numpy(dtype=np.float64)
            np.testing.assert_allclose(per_frame["J"].to_numpy(), jo, rtol=0, atol=1e-9, err_msg=f"{seq}/{name} J")
            np.testing.assert_allclose(per_frame["F"].to_numpy(), fo, rtol=0, atol=1e-9, err_msg=f"{seq}/{name} F")
            np.testing.assert_allclose(ours, official, rtol=0, atol=1e-6, err_msg=f"{seq}/{name} statistics")
            assert int(per_seq.iloc[0]["n_frames"]) == len(files)


def test_matches_official_on_two_sequences(tmp_path: Path) -> None:
    _compare(tmp_path, FAST_SEQUENCES)


@pytest.mark.slow
def test_matches_official_on_all_shared_sequences(tmp_path: Path) -> None:
    if not ANN.is_dir():
        pytest.skip(f"shared DAVIS-2016 data not found at {ANN}")
    _compare(tmp_path, sorted(p.name for p in ANN.iterdir() if p.is_dir()))


@pytest.mark.parametrize("n", [4, 100, 255, 256, 300, 400, 1021])
def test_official_decay_switch_reproduces_official_statistics(n: int) -> None:
    _, _, db_statistics = _official()
    from motionseg.metrics.jf import sequence_stats

    v = np.random.default_rng(n).random(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the official uint8 edge overflow
        official = np.array(db_statistics(v), dtype=np.float64)
    np.testing.assert_array_equal(np.array(sequence_stats(v, "official")), official)
    correct = np.array(sequence_stats(v, "correct"))
    assert not np.isnan(correct).any()
    if n <= 255:
        np.testing.assert_array_equal(correct, official)


def test_disk_equals_skimage() -> None:
    morphology = pytest.importorskip("skimage.morphology")
    from motionseg.metrics import disk

    for r in [0, 1, 2, 3, 5, 8, 8.0, 13, 20]:
        np.testing.assert_array_equal(disk(r), morphology.disk(r).astype(np.uint8), err_msg=f"radius {r}")

