"""Per-frame combination of GT-free methods (motionseg.post.combine) on synthetic masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import read_mask_dir, write_mask_dir
from motionseg.post.combine import RULES, combine, consensus_confidence, run_combine, run_method, temporal_confidence


def _square(T: int, h: int = 40, w: int = 60) -> np.ndarray:
    """A square moving right one pixel per frame: float32 [T, h, w]."""
    out = np.zeros((T, h, w), np.float32)
    for t in range(T):
        out[t, 12:28, 10 + t:26 + t] = 1.0
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def _three_methods(rng: np.random.Generator, T: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Three methods, each right on most frames and wrong (a mask of the wrong place, empty, or the whole frame) on
    different frames; returns (fgp [3, T, h, w], truth [T, h, w] bool)."""
    truth = _square(T)
    fgp = np.repeat(truth[None], 3, axis=0).copy()
    wrong = rng.permutation(T)[: 3 * (T // 4)].reshape(3, -1)
    for m, frames in enumerate(wrong):
        for t in frames:
            if m == 0:
                fgp[m, t] = 0.0
                fgp[m, t, 2:10, 40:55] = 1.0  # a distractor elsewhere
            elif m == 1:
                fgp[m, t] = 0.0  # missed
            else:
                fgp[m, t] = 1.0  # everything
    return fgp, truth > 0.5


@pytest.mark.parametrize("rule", ["consensus", "product"])
def test_choice_per_frame_beats_every_single_method(rule: str) -> None:
    fgp, truth = _three_methods(np.random.default_rng(0))
    comb, choice = combine(fgp, rule)
    j_comb = np.mean([_iou(c > 0.5, g) for c, g in zip(comb, truth, strict=True)])
    j_single = [np.mean([_iou(f > 0.5, g) for f, g in zip(fm, truth, strict=True)]) for fm in fgp]
    assert j_comb == pytest.approx(1.0)
    assert max(j_single) < 0.8
    assert set(np.unique(choice)) <= {0, 1, 2}


def test_temporal_rule_avoids_a_method_that_flickers() -> None:
    truth = _square(10) > 0.5
    good = truth.astype(np.float32)
    flicker = good.copy()
    flicker[1::2] = 0.0
    flicker[1::2, 0:8, 0:8] = 1.0  # a jumping blob on odd frames
    comb, choice = combine(np.stack([flicker, good]), "temporal")
    assert (choice == 1).mean() > 0.8
    assert np.mean([_iou(c > 0.5, g) for c, g in zip(comb, truth, strict=True)]) > 0.95


def test_confidences_shapes_and_gates() -> None:
    fgp, _ = _three_methods(np.random.default_rng(1))
    cons, temp = consensus_confidence(fgp), temporal_confidence(fgp)
    assert cons.shape == temp.shape == fgp.shape[:2]
    assert (cons >= 0).all() and (cons <= 1).all()
    empty = fgp.reshape(3, fgp.shape[1], -1).max(axis=2) == 0
    full = fgp.reshape(3, fgp.shape[1], -1).min(axis=2) == 1
    assert (cons[empty | full] == 0).all() and (temp[empty | full] == 0).all()


def test_mean_rule_is_the_pixelwise_vote_and_rules_are_checked() -> None:
    fgp, _ = _three_methods(np.random.default_rng(2))
    comb, choice = combine(fgp, "mean")
    np.testing.assert_allclose(comb, fgp.mean(axis=0))
    assert (choice == -1).all()
    assert set(RULES) == {"mean", "consensus", "temporal", "product"}
    with pytest.raises(ValueError, match="rule must be one of"):
        combine(fgp, "vote")
    with pytest.raises(ValueError, match=r"M >= 2"):
        combine(fgp[:1], "consensus")


def _write_sequence(root: Path, fgp: np.ndarray, oracle: tuple[bool, ...] | None = None) -> tuple[Path, list[Path]]:
    """An ingested npz (frames at the masks' size) and one mask directory (PNG masks only) per method of fgp
    [M, T, h, w]; returns (npz, mask dirs)."""
    M, T, h, w = fgp.shape
    names = [f"{t:05d}" for t in range(T)]
    frames = np.random.default_rng(0).integers(0, 256, (T, h, w, 3), dtype=np.uint8)
    npz = root / "frames" / "seq.npz"
    save_ingested(npz, Ingested(frames=frames, names=names, orig_hw=(h, w), manifest={"sequence": "seq"}))
    dirs = []
    for m in range(M):
        d = root / f"m{m}" / "seq"
        write_mask_dir(d, names, fgp[m] > 0.5, None, None,
                       {"method": f"m{m}", "oracle": bool(oracle[m]) if oracle else False})
        dirs.append(d)
    return npz, dirs


def test_workflow_entry_writes_a_combined_mask_directory_that_beats_each_component(tmp_path):
    fgp, truth = _three_methods(np.random.default_rng(3))
    npz, dirs = _write_sequence(tmp_path, fgp)
    out = tmp_path / "combine" / "seq"
    run_method("combine", {"frames": str(npz), "components": [str(d) for d in dirs]}, out,
               {"methods": ["a", "b", "c+prop"], "rule": "product"}, seed=0)
    masks = read_mask_dir(out)
    j = np.mean([_iou(m, g) for m, g in zip(masks.fg, truth, strict=True)])
    singles = [np.mean([_iou(f > 0.5, g) for f, g in zip(fm, truth, strict=True)]) for fm in fgp]
    assert j == pytest.approx(1.0) and max(singles) < 0.8
    meta = json.loads((out / "meta.json").read_text())
    assert meta["method"] == "combine" and meta["oracle"] is False and meta["config"]["rule"] == "product"
    assert len(meta["chosen"]) == fgp.shape[1] and set(meta["chosen"]) <= {"a", "b", "c+prop"}
    assert masks.probs is not None and masks.probs.shape == (fgp.shape[1], 2, *fgp.shape[2:])
    # deterministic: a second run writes the same masks
    run_method("combine", {"frames": str(npz), "components": [str(d) for d in dirs]}, tmp_path / "again",
               {"methods": ["a", "b", "c+prop"], "rule": "product"}, seed=0)
    np.testing.assert_array_equal(read_mask_dir(tmp_path / "again").fg, masks.fg)


def test_workflow_entry_refuses_oracle_masks_and_mismatched_frames(tmp_path):
    fgp, _ = _three_methods(np.random.default_rng(4))
    npz, dirs = _write_sequence(tmp_path / "o", fgp, oracle=(False, True, False))
    with pytest.raises(InputError, match=r"m1/seq/meta.json.*oracle"):
        run_combine(npz, dirs, ["a", "b", "c"], "consensus", tmp_path / "o" / "out")
    assert not (tmp_path / "o" / "out").exists()
    npz, dirs = _write_sequence(tmp_path / "s", fgp)
    short, _ = _three_methods(np.random.default_rng(4), T=8)
    _, other = _write_sequence(tmp_path / "t", short)
    with pytest.raises(InputError, match=r"t/m0/seq.*do not match"):
        run_combine(npz, [dirs[0], other[0]], ["a", "b"], "mean", tmp_path / "s" / "out")
    assert not (tmp_path / "s" / "out").exists()
    with pytest.raises(ValueError, match="at least 2"):
        run_combine(npz, dirs[:1], ["a"], "mean", tmp_path / "s" / "out")
