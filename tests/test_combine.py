"""Per-frame combination of GT-free methods (motionseg.post.combine) on synthetic masks."""

from __future__ import annotations

import numpy as np
import pytest

from motionseg.post.combine import RULES, combine, consensus_confidence, temporal_confidence


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
