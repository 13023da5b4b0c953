"""Released masks of any method (issue 28): ``motionseg evaluate --threshold``, its warnings and ``n_missing``, and
the ``external`` method (:mod:`motionseg.io.external`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from motionseg.io.errors import ConfigError, InputError
from motionseg.io.external import check_threshold, read_prediction, run_external, run_method
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.metrics import evaluate_dirs, score_sequence

HW = (64, 96)  # (H, W) px
N_FRAMES = 6
SEQS = ("a", "b")
FRAMES = [f"{i:05d}" for i in range(N_FRAMES)]
STATS = ["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]
KEYS = {"dataset": "d", "sequence": "a", "flow": "none", "tracks": "none", "method": "external"}


def ellipse(t: int, seq_index: int, shift: int = 0, grow: int = 0) -> np.ndarray:
    """bool [H, W]: an ellipse moving right by 4 px per frame (sequence ``b`` higher and bigger); ``shift`` moves it
    right and down by that many px, ``grow`` enlarges both axes (a prediction that is close to, not equal to, GT)."""
    m = np.zeros(HW, np.uint8)
    centre = (20 + 4 * t + shift, 28 + shift - 6 * seq_index)
    axes = (12 + 3 * seq_index + grow, 8 + 2 * seq_index + grow)
    cv2.ellipse(m, centre, axes, 15.0 * t, 0, 360, 1, thickness=-1)
    return m.astype(bool)


def soft_map(mask: np.ndarray) -> np.ndarray:
    """uint8 [H, W] soft map of ``mask`` whose values are >= 128 exactly on the mask: a Gaussian blur scaled to
    128..255 inside and 0..127 outside (non-zero in a band around the mask, so "any non-zero pixel" over-segments)."""
    blur = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)
    inside = 128 + np.rint(blur * 127)
    outside = np.rint(np.minimum(blur, 0.999) * 127)
    return np.where(mask, inside, outside).clip(0, 255).astype(np.uint8)


def save(path: Path, arr: np.ndarray) -> None:
    """Write uint8 [H, W] (grey) or [H, W, 3] (RGB), or bool [H, W] as 0/255, as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = arr.astype(np.uint8) * 255 if arr.dtype == bool else arr
    Image.fromarray(np.ascontiguousarray(a)).save(path)


def pred_masks(seq_index: int) -> list[np.ndarray]:
    """The binary prediction of one sequence: GT shifted by 3 px and 2 px bigger."""
    return [ellipse(t, seq_index, shift=3, grow=2) for t in range(N_FRAMES)]


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    """``gt/``, ``pred_bin/`` (binary 0/255) and ``pred_soft/`` (soft maps of the same masks) for sequences a, b."""
    for k, seq in enumerate(SEQS):
        for t, (name, p) in enumerate(zip(FRAMES, pred_masks(k), strict=True)):
            save(tmp_path / "gt" / seq / f"{name}.png", ellipse(t, k))
            save(tmp_path / "pred_bin" / seq / f"{name}.png", p)
            save(tmp_path / "pred_soft" / seq / f"{name}.png", soft_map(p))
    return tmp_path


def run_cli(root: Path, pred: str, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m motionseg.cli evaluate`` on ``root/gt`` and ``root/<pred>``, output ``root/<out>``."""
    cmd = [sys.executable, "-m", "motionseg.cli", "evaluate", "--gt", str(root / "gt"), "--pred", str(root / pred),
           "--out", str(root / out), "--quiet", "--workers", "1", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


# ---------------------------------------------------------------- the threshold convention


def test_soft_map_is_mask_exactly_at_128() -> None:
    m = ellipse(2, 0)
    s = soft_map(m)
    assert np.array_equal(s >= 128, m) and len(np.unique(s)) > 50 and np.count_nonzero(s) > m.sum() * 1.3


def test_check_threshold_convention() -> None:
    assert check_threshold(None) is None and check_threshold(128) == 128 and check_threshold(np.int64(1)) == 1
    with pytest.raises(ValueError, match=r"0.5 looks like a fraction.*grey value 1..255.*pass 128"):
        check_threshold(0.5)
    for bad in (0, 256, 128.0, True, "128"):
        with pytest.raises(ValueError, match="grey value"):
            check_threshold(bad)


def test_read_prediction_rgb_uses_luma(tmp_path: Path) -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (200, 0, 0)  # luma 60: background at 128, foreground without a threshold (a channel is non-zero)
    rgb[0, 1] = (0, 255, 0)  # luma 150
    rgb[1, 0] = (128, 128, 128)  # grey stored as RGB: luma 128 exactly
    save(tmp_path / "x.png", rgb)
    fg, levels = read_prediction(tmp_path / "x.png", 128)
    assert fg.tolist() == [[False, True], [True, False]] and levels == 4
    fg, _ = read_prediction(tmp_path / "x.png", None)
    assert fg.tolist() == [[True, True], [True, False]]


# ---------------------------------------------------------------- motionseg evaluate (the acceptance)


def test_cli_threshold_128_scores_soft_maps_as_their_binary_masks(folders: Path) -> None:
    r_bin = run_cli(folders, "pred_bin", "bin.csv")
    r_thr = run_cli(folders, "pred_soft", "thr.csv", "--threshold", "128")
    assert r_bin.returncode == 0 and r_thr.returncode == 0, r_bin.stderr + r_thr.stderr
    assert "warning" not in r_bin.stderr and "warning" not in r_thr.stderr
    b, t = pd.read_csv(folders / "bin.csv"), pd.read_csv(folders / "thr.csv")
    assert b.sequence.tolist() == [*SEQS, "_MEAN_", "_FRAME_POOLED_"] and "n_missing" not in b.columns
    assert b["J_mean"].iloc[0] < 0.95  # a real prediction, not the GT
    np.testing.assert_allclose(t[STATS].to_numpy(), b[STATS].to_numpy(), rtol=0, atol=1e-9)
    assert t["n_frames"].tolist() == b["n_frames"].tolist()


def test_cli_soft_maps_without_threshold_warn_and_score_lower(folders: Path) -> None:
    r = run_cli(folders, "pred_soft", "soft.csv")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "grey levels: a soft map?" in line]
    assert len(warnings) == len(SEQS)  # once per sequence folder
    for seq, line in zip(SEQS, warnings, strict=True):
        assert line.startswith(f"motionseg evaluate: warning: {folders / 'pred_soft' / seq / '00000.png'}: ")
        assert "every non-zero pixel is counted as foreground; pass --threshold 128" in line
        assert f"({N_FRAMES} of {N_FRAMES} prediction PNGs in {folders / 'pred_soft' / seq} have more" in line
    run_cli(folders, "pred_bin", "bin.csv")
    soft = pd.read_csv(folders / "soft.csv").set_index("sequence")
    binary = pd.read_csv(folders / "bin.csv").set_index("sequence")
    assert soft.loc["_MEAN_", "J_mean"] < binary.loc["_MEAN_", "J_mean"] - 0.05


def test_cli_missing_last_frame_counted_or_named(folders: Path) -> None:
    (folders / "pred_soft" / "a" / f"{FRAMES[-1]}.png").unlink()  # as MTNet's release lacks the last frame
    r = run_cli(folders, "pred_soft", "m.csv", "--threshold", "128", "--missing", "empty")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(folders / "m.csv").set_index("sequence")
    assert df["n_missing"].to_dict() == {"a": 1, "b": 0, "_MEAN_": 1, "_FRAME_POOLED_": 1}
    assert df.loc["a", "n_frames"] == N_FRAMES  # the missing frame is scored (as an empty mask)
    assert f"{folders / 'pred_soft' / 'a'}: 1 of {N_FRAMES} scored frames have no prediction PNG ({FRAMES[-1]})" \
        in r.stderr
    assert f"in total 1 of {2 * N_FRAMES} scored frames (1 of 2 sequences) have no prediction PNG" in r.stderr
    assert "1 scored empty (no PNG)" in r.stdout

    r = run_cli(folders, "pred_soft", "e.csv", "--threshold", "128")
    assert r.returncode == 1
    assert f"{folders / 'pred_soft' / 'a' / FRAMES[-1]}.png: missing prediction" in r.stderr

    # DAVIS-2016's protocol never scores the last frame: nothing is missing, no error
    r = run_cli(folders, "pred_soft", "d.csv", "--threshold", "128", "--protocol", "davis2016", "--missing", "empty")
    assert r.returncode == 0 and "no prediction PNG" not in r.stderr
    assert pd.read_csv(folders / "d.csv")["n_missing"].eq(0).all()


def test_cli_threshold_fraction_or_out_of_range_refused(folders: Path) -> None:
    r = run_cli(folders, "pred_soft", "x.csv", "--threshold", "0.5")
    assert r.returncode == 2 and "looks like a fraction" in r.stderr and "pass 128" in r.stderr
    r = run_cli(folders, "pred_soft", "x.csv", "--threshold", "256")
    assert r.returncode == 2 and "grey value 1..255" in r.stderr
    assert not (folders / "x.csv").exists()


def test_evaluate_dirs_returns_counts_and_warns(folders: Path) -> None:
    (folders / "pred_soft" / "b" / f"{FRAMES[0]}.png").unlink()
    said: list[str] = []
    per_seq, _ = evaluate_dirs(folders / "gt", folders / "pred_soft", missing="empty", progress=False,
                               warn=said.append)
    r = per_seq.set_index("sequence")
    assert r["n_soft"].to_dict() == {"a": N_FRAMES, "b": N_FRAMES - 1}
    assert r["n_missing"].to_dict() == {"a": 0, "b": 1}
    assert len(said) == 4  # b missing, total missing, a soft, b soft
    said.clear()
    per_seq, _ = evaluate_dirs(folders / "gt", folders / "pred_soft", missing="empty", progress=False, threshold=128,
                               warn=said.append)
    assert per_seq["n_soft"].eq(0).all() and len(said) == 2  # only the missing frame
    with pytest.raises(ValueError, match="fraction"):
        evaluate_dirs(folders / "gt", folders / "pred_soft", progress=False, threshold=0.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the external method


def write_release(root: Path, seq_index: int = 0, rgb: bool = False, drop_last: bool = True) -> list[np.ndarray]:
    """Soft maps of ``pred_masks(seq_index)`` as ``root/a/<frame>.png`` (grey, or grey stored as RGB), the last
    frame left out; returns the binary masks."""
    masks = pred_masks(seq_index)
    for name, m in zip(FRAMES[:-1] if drop_last else FRAMES, masks, strict=False):
        s = soft_map(m)
        save(root / "a" / f"{name}.png", np.repeat(s[..., None], 3, axis=2) if rgb else s)
    return masks


@pytest.mark.parametrize("rgb", [False, True])
def test_run_external_soft_maps_with_missing_frame(tmp_path: Path, rgb: bool) -> None:
    masks = write_release(tmp_path / "release", rgb=rgb)
    said: list[str] = []
    out = tmp_path / "masks"
    run_external(tmp_path / "release", "a", FRAMES, HW, out, 128, {"supervision": "supervised", "name": "MTNet"},
                 warn=said.append)
    ms = read_mask_dir(out)
    assert ms.names == FRAMES[:-1] and ms.probs is None
    assert np.array_equal(ms.fg, np.stack(masks[:-1]))
    meta = json.loads((out / "meta.json").read_text())
    assert {k: meta[k] for k in ("method", "mode", "oracle", "supervision", "threshold", "n_missing", "name")} == {
        "method": "external", "mode": "external", "oracle": False, "supervision": "supervised", "threshold": 128,
        "n_missing": 1, "name": "MTNet"}
    assert meta["missing_frames"] == [FRAMES[-1]] and meta["source"] == str(tmp_path / "release" / "a")
    assert len(said) == 1 and f"1 of {N_FRAMES} frames have no prediction PNG ({FRAMES[-1]})" in said[0]

    # no threshold: every non-zero pixel, and a soft-map warning naming the config key
    said.clear()
    run_external(tmp_path / "release", "a", FRAMES, HW, out, None, {"supervision": "unknown"}, warn=said.append)
    ms = read_mask_dir(out)
    assert np.array_equal(ms.fg, np.stack([soft_map(m) > 0 for m in masks[:-1]]))
    soft = [s for s in said if "a soft map?" in s]
    assert len(soft) == 1 and "set external.threshold: 128" in soft[0]
    assert f"{N_FRAMES - 1} of {N_FRAMES - 1} prediction PNGs" in soft[0]


def test_external_mask_dir_scored_with_missing_empty(tmp_path: Path) -> None:
    """The lead's evaluator: a mask directory without the last frame is scored with missing=empty (that frame as
    an empty mask) and refused with missing=error."""
    masks = write_release(tmp_path / "release")
    run_external(tmp_path / "release", "a", FRAMES, HW, tmp_path / "masks", 128, {"supervision": "supervised"},
                 warn=lambda _m: None)
    ms = read_mask_dir(tmp_path / "masks")
    gt = {n: ellipse(t, 0) for t, n in enumerate(FRAMES)}
    kw = {"protocols": ["davis2017-unsup"], "selections": ["gt-free"], "video_frames": FRAMES, "progress": False}
    scores, per_frame = score_sequence(ms, gt, KEYS, missing="empty", **kw)
    assert int(scores["n_frames"].iloc[0]) == N_FRAMES
    assert per_frame.set_index("frame").loc[FRAMES[-1], "J"] == 0.0
    assert per_frame.set_index("frame").loc[FRAMES[0], "J"] > 0.5
    assert masks[0].any()
    with pytest.raises(InputError, match=rf"{FRAMES[-1]}\.png: missing mask"):
        score_sequence(ms, gt, KEYS, missing="error", **kw)


def test_run_external_bad_pngs_name_the_file(tmp_path: Path) -> None:
    rel = tmp_path / "release"
    write_release(rel)
    save(rel / "a" / "00099.png", np.zeros(HW, np.uint8))
    with pytest.raises(InputError, match=r"a/00099\.png: matches no frame of sequence 'a'"):
        run_external(rel, "a", FRAMES, HW, tmp_path / "m", 128, {}, warn=lambda _m: None)
    (rel / "a" / "00099.png").unlink()
    save(rel / "a" / "00002.png", np.zeros((HW[0], HW[1] + 1), np.uint8))
    with pytest.raises(InputError, match=r"a/00002\.png: mask is 97x64 \(WxH\) but the frames of sequence 'a' are "
                                         r"96x64"):
        run_external(rel, "a", FRAMES, HW, tmp_path / "m", 128, {}, warn=lambda _m: None)
    with pytest.raises(InputError, match=r"release/zz: no folder of released masks"):
        run_external(rel, "zz", FRAMES, HW, tmp_path / "m", 128, {}, warn=lambda _m: None)
    assert not (tmp_path / "m").exists()


def test_run_method_reads_ingested_frames_and_config(tmp_path: Path) -> None:
    masks = write_release(tmp_path / "release")
    npz = tmp_path / "a.npz"
    save_ingested(npz, Ingested(frames=np.zeros((N_FRAMES, 16, 24, 3), np.uint8), names=FRAMES, orig_hw=HW,
                                manifest={"sequence": "a"}))
    cfg = {"root": str(tmp_path / "release"), "threshold": 128, "supervision": "supervised", "name": "MTNet"}
    run_method("external", {"frames": npz}, tmp_path / "masks", cfg, 7)
    ms = read_mask_dir(tmp_path / "masks")
    assert ms.names == FRAMES[:-1] and np.array_equal(ms.fg, np.stack(masks[:-1]))
    assert ms.meta["seed"] == 7 and ms.meta["name"] == "MTNet" and ms.meta["method"] == "external"
    for key, value in (("threshold", 0.5), ("supervision", "oracle"), ("root", None)):
        with pytest.raises(ConfigError, match=f"external.{key}"):
            run_method("external", {"frames": npz}, tmp_path / "m2", {**cfg, key: value}, 7)
