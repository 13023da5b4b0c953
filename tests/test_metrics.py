"""motionseg.metrics: J/F definitions (hand-computed cases), statistics, protocols, selections, I/O and the CLI."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from motionseg.cli import main as cli_main
from motionseg.io.datasets import MASK_ENCODING, read_mask
from motionseg.io.errors import InputError
from motionseg.io.masks import MaskSet, write_mask_dir
from motionseg.metrics import (
    FRAME_COLUMNS,
    SCORE_COLUMNS,
    aggregate,
    boundary_f,
    disk,
    evaluate_dirs,
    frame_jf,
    get_protocol,
    jaccard,
    run_evaluate,
    score_sequence,
    seg2bmap,
    sequence_stats,
    with_summary_rows,
)
from motionseg.metrics.jf import boundary_radius, decay_bins
from motionseg.metrics.selection import segment_masks, select

KEYS = {"dataset": "d", "sequence": "s", "flow": "fl", "tracks": "none", "method": "m"}
CLI_COLUMNS = ["sequence", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay", "n_frames"]


def square(hw: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """bool mask with rows y0..y1-1 and columns x0..x1-1 set."""
    m = np.zeros(hw, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def save_png(path: Path, arr: np.ndarray) -> None:
    """Write a uint8 [H, W] array as a grey (L) PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8)).save(path)


# ---------------------------------------------------------------- per-frame definitions


def test_disk_by_hand() -> None:
    np.testing.assert_array_equal(disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    np.testing.assert_array_equal(
        disk(2),
        [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]],
    )
    assert disk(8).shape == (17, 17) and disk(8)[0, 8] == 1 and disk(8)[1, 4] == 0  # 8^2 = 64 <= 64; 7^2 + 4^2 = 65


def test_boundary_radius() -> None:
    assert boundary_radius((480, 854)) == 8.0  # ceil(0.008 * 979.6)
    assert boundary_radius((10, 10), 1) == 1.0
    assert boundary_radius((100, 100)) == 2.0  # ceil(1.13)


def test_seg2bmap_by_hand() -> None:
    # A square on rows/cols 2..5 of a 10x10 image: its boundary is the perimeter of rows/cols 1..5 (half-pixel
    # offset towards the origin), 16 pixels.
    b = seg2bmap(square((10, 10), 2, 6, 2, 6))
    expected = square((10, 10), 1, 6, 1, 6) & ~square((10, 10), 2, 5, 2, 5)
    np.testing.assert_array_equal(b, expected)
    assert b.sum() == 16
    # Image-border rules: a full image has no boundary; last row only looks east, last column only south.
    assert not seg2bmap(np.ones((4, 5), bool)).any()
    m = np.zeros((3, 3), bool)
    m[2, 2] = True  # bottom-right pixel: never boundary itself; its W neighbour (last row) and N (last column) are
    np.testing.assert_array_equal(seg2bmap(m), [[0, 0, 0], [0, 1, 1], [0, 1, 0]])


def test_jaccard_by_hand() -> None:
    g = square((10, 10), 2, 6, 2, 6)
    p = square((10, 10), 2, 6, 4, 8)
    assert jaccard(g, p) == pytest.approx(8 / 24)
    z = np.zeros((10, 10), bool)
    assert jaccard(z, z) == 1.0  # official: empty GT and empty prediction
    assert jaccard(g, z) == 0.0 and jaccard(z, g) == 0.0
    void = square((10, 10), 0, 10, 6, 10)  # hides the part of p outside g
    assert jaccard(g, p, void=void) == pytest.approx(8 / 16)


def test_boundary_f_by_hand() -> None:
    # GT boundary: perimeter of [1..5]^2; prediction (shifted 2 px right): perimeter of rows 1..5 x cols 3..7.
    # With a 1-px cross tolerance 10 of 16 prediction boundary pixels are matched (rows 1 and 5: x = 3..6; column 3:
    # rows 2 and 4), and symmetrically for the GT: P = R = 10/16, F = 0.625.
    g = square((10, 10), 2, 6, 2, 6)
    p = square((10, 10), 2, 6, 4, 8)
    assert boundary_f(g, p, bound_th=1) == pytest.approx(0.625)
    # with a 2-px disk every boundary pixel has one of the other within reach (e.g. prediction column 7 <-> GT
    # column 5): P = R = 1
    assert boundary_f(g, p, bound_th=2) == 1.0
    z = np.zeros((10, 10), bool)
    assert boundary_f(z, z) == 1.0  # both boundaries empty
    assert boundary_f(g, z) == 0.0  # P = 1, R = 0
    assert boundary_f(z, g) == 0.0  # P = 0, R = 1
    full = np.ones((10, 10), bool)
    assert boundary_f(full, full) == 1.0 and jaccard(full, full) == 1.0


def test_frame_jf_equals_uncropped_definitions() -> None:
    """The cropped fast path equals the plain full-image computation, including masks touching the image border."""
    rng = np.random.default_rng(0)
    for i in range(300):
        hw = (int(rng.integers(2, 40)), int(rng.integers(2, 40)))
        g = rng.random(hw) < rng.uniform(0, 0.2)
        p = rng.random(hw) < rng.uniform(0, 0.2)
        if i % 3 == 0:  # solid blocks, often at the border
            g = square(hw, *sorted(rng.integers(0, hw[0] + 1, 2)), *sorted(rng.integers(0, hw[1] + 1, 2)))
        th = [0.008, 0.05, 1, 3][i % 4]
        j, f, empty = frame_jf(g, p, bound_th=th)
        assert j == jaccard(g, p)
        assert f == boundary_f(g, p, bound_th=th)
        assert empty == (not (g | p).any())


def test_frame_jf_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError, match="same size"):
        frame_jf(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


# ---------------------------------------------------------------- per-sequence statistics


def test_sequence_stats_by_hand() -> None:
    # n = 4: bin edges round(linspace(1, 4, 5)) - 1 = [0, 1, 2, 2, 3]; first bin v[0:2], last bin v[2:4]
    assert decay_bins(4) == [(0, 2), (1, 3), (2, 3), (2, 4)]
    m, r, d = sequence_stats(np.array([0.9, 0.5, 0.6, 0.2]))
    assert m == pytest.approx(0.55)
    assert r == 0.5  # 0.5 itself is not > 0.5
    assert d == pytest.approx(0.7 - 0.4)
    assert sequence_stats(np.array([0.7])) == (0.7, 1.0, 0.0)
    assert all(np.isnan(sequence_stats(np.array([]))))


def test_decay_correct_vs_official_beyond_255_frames() -> None:
    # 300 frames, 1 then 0: edges [0, 75, 150, 224, 299]; correct decay = mean(v[0:76]) - mean(v[224:300]) = 1.
    v = np.r_[np.ones(150), np.zeros(150)]
    assert sequence_stats(v, "correct")[2] == 1.0
    # official: the last edge 299 wraps to 43 in uint8 -> empty last bin -> NaN
    assert decay_bins(300, "official")[3] == (224, 44)
    assert np.isnan(sequence_stats(v, "official")[2])
    # up to 255 frames both agree exactly
    w = np.random.default_rng(1).random(255)
    assert sequence_stats(w, "correct") == sequence_stats(w, "official")
    with pytest.raises(ValueError, match="decay"):
        sequence_stats(w, "bogus")  # type: ignore[arg-type]


# ---------------------------------------------------------------- protocols


def test_protocol_frames_dense_davis() -> None:
    video = [f"{i:05d}" for i in range(10)]
    assert get_protocol("davis2017-unsup").scored_frames(video, video) == video
    assert get_protocol("mg").scored_frames(video, video) == video
    assert get_protocol("davis2016").scored_frames(video, video) == video[1:-1]
    assert get_protocol("gwm").scored_frames(video, video, "davis") == video[2:-1]
    assert get_protocol("gwm").scored_frames(video, video, "segtrackv2") == video[:-1]
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("davis2019")


def test_protocol_frames_sparse_fbms() -> None:
    video = [f"marple2_{i:03d}" for i in range(1, 41)]  # natural order
    annotated = ["marple2_001", "marple2_020", "marple2_040"]
    assert get_protocol("davis2017-unsup").scored_frames(video, annotated, "fbms") == annotated
    assert get_protocol("davis2016").scored_frames(video, annotated, "fbms") == ["marple2_020"]
    assert get_protocol("gwm").scored_frames(video, annotated, "fbms") == annotated[:2]


def test_protocol_paper_aggregate() -> None:
    assert get_protocol("davis2017-unsup").paper_aggregate(None) == "sequence"
    assert get_protocol("mg").paper_aggregate("davis") == "frame"
    assert get_protocol("gwm").paper_aggregate("davis") == "sequence"
    assert get_protocol("gwm").paper_aggregate("fbms") == "frame"
    assert get_protocol("gwm").paper_aggregate(None) is None


# ---------------------------------------------------------------- selections


def test_oracle_frame_and_sequence_selection() -> None:
    j = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.7]])
    f = np.array([[0.9, 0.1, 0.2], [0.5, 0.6, 0.7]])
    jj, ff, seg = select(j, f, "oracle-frame")
    np.testing.assert_array_equal(seg, [0, 1, 1])
    np.testing.assert_array_equal(jj, [0.9, 0.6, 0.7])
    jj, ff, seg = select(j, f, "oracle-sequence")  # means: 0.4 vs 0.6
    np.testing.assert_array_equal(seg, [1, 1, 1])
    np.testing.assert_array_equal(ff, [0.5, 0.6, 0.7])
    with pytest.raises(ValueError):
        select(j, f, "gt-free")


def test_segment_masks_bilinear_resize() -> None:
    probs = np.zeros((2, 2, 2), np.float32)
    probs[0] = [[1, 0], [1, 0]]  # left column
    probs[1] = 1 - probs[0]
    m = segment_masks(probs, (4, 4))
    # bilinear (half-pixel centres): columns 0,1 -> 1.0, 0.75 ; columns 2,3 -> 0.25, 0.0 ; threshold > 0.5
    np.testing.assert_array_equal(m[0], np.tile([True, True, False, False], (4, 1)))
    np.testing.assert_array_equal(m[1], ~m[0])


# ---------------------------------------------------------------- score_sequence (workflow core)


def _maskset(fg: np.ndarray, probs: np.ndarray | None = None, meta: dict | None = None) -> MaskSet:
    names = [f"{i:05d}" for i in range(len(fg))]
    return MaskSet(fg=fg, names=names, probs=probs, fg_segments=None, meta=meta or {"method": "m", "oracle": False,
                                                                                   "mode": "offline"})


def test_score_sequence_rows_and_oracle_labels() -> None:
    T, hw = 6, (12, 16)
    gt = {f"{i:05d}": square(hw, 2, 8, 2 + i, 8 + i) for i in range(T)}
    obj = np.stack([gt[f"{i:05d}"] for i in range(T)]).astype(np.float32)
    probs = np.stack([obj, 1 - obj], axis=1)  # [T, 2, h, w]: segment 0 = the object ...
    probs[3] = probs[3, ::-1]  # ... except in frame 3, where segment 1 has it
    fg = np.zeros((T, *hw), bool)  # the GT-free rule picked nothing
    scores, frames = score_sequence(
        _maskset(fg, probs), gt, KEYS, protocols=["davis2017-unsup", "gwm"],
        selections=["gt-free", "oracle-frame", "oracle-sequence"], progress=False,
    )
    assert list(scores.columns) == SCORE_COLUMNS and list(frames.columns) == FRAME_COLUMNS
    assert len(scores) == 6
    r = scores.set_index(["protocol", "selection"])
    assert not r.loc[("davis2017-unsup", "gt-free"), "oracle"]
    assert r.loc[("davis2017-unsup", "oracle-frame"), "oracle"] and r.loc[("gwm", "oracle-sequence"), "oracle"]
    assert r.loc[("davis2017-unsup", "gt-free"), "J_mean"] == 0.0
    assert r.loc[("davis2017-unsup", "oracle-frame"), "J_mean"] == 1.0  # frame 3 takes segment 1
    assert r.loc[("davis2017-unsup", "oracle-sequence"), "J_mean"] == pytest.approx(5 / 6)  # segment 0 throughout
    assert r.loc[("gwm", "gt-free"), "n_frames"] == 3  # frames 2, 3, 4
    assert r.loc[("davis2017-unsup", "gt-free"), "mode"] == "offline"
    f = frames[(frames.protocol == "davis2017-unsup") & (frames.selection == "oracle-frame")]
    assert list(f.segment) == [0, 0, 0, 1, 0, 0]
    # meta says the method itself used GT: every row is flagged
    scores2, _ = score_sequence(_maskset(fg, probs, {"method": "m", "oracle": True}), gt, KEYS,
                                protocols=["mg"], selections=["gt-free"], progress=False)
    assert scores2["oracle"].all()


def test_empty_empty_rule_per_protocol() -> None:
    hw = (8, 8)
    obj = square(hw, 2, 5, 2, 5)
    gt = {"00000": obj, "00001": np.zeros(hw, bool)}  # frame 1: object absent, prediction empty too
    fg = np.stack([obj, np.zeros(hw, bool)])
    scores, frames = score_sequence(_maskset(fg), gt, KEYS, protocols=["davis2017-unsup", "mg"],
                                    selections=["gt-free"], progress=False)
    r = scores.set_index("protocol")
    assert r.loc["davis2017-unsup", "J_mean"] == 1.0 and r.loc["davis2017-unsup", "F_mean"] == 1.0
    assert r.loc["mg", "J_mean"] == 0.5 and r.loc["mg", "F_mean"] == 0.5


def test_score_sequence_without_segments_uses_fg_and_background() -> None:
    hw = (8, 8)
    obj = square(hw, 2, 5, 2, 5)
    gt = {"00000": obj, "00001": obj}
    fg = np.stack([obj, ~obj])  # frame 1: the GT-free rule picked the background
    scores, _ = score_sequence(_maskset(fg), gt, KEYS, protocols=["davis2017-unsup"],
                               selections=["gt-free", "oracle-frame"], progress=False)
    r = scores.set_index("selection")
    assert r.loc["gt-free", "J_mean"] == 0.5
    assert r.loc["oracle-frame", "J_mean"] == 1.0


def test_score_sequence_missing_and_size_errors() -> None:
    hw = (8, 8)
    gt = {"00000": square(hw, 1, 4, 1, 4), "00001": square(hw, 1, 4, 1, 4), "00002": square(hw, 1, 4, 1, 4)}
    ms = _maskset(np.stack([gt["00000"], gt["00001"]]))  # no mask for 00002
    with pytest.raises(InputError, match="00002.png: missing mask"):
        score_sequence(ms, gt, KEYS, protocols=["davis2017-unsup"], selections=["gt-free"], mask_dir="md",
                       progress=False)
    scores, _ = score_sequence(ms, gt, KEYS, protocols=["davis2017-unsup"], selections=["gt-free"], missing="empty",
                               progress=False)
    assert scores.loc[0, "J_mean"] == pytest.approx(2 / 3) and scores.loc[0, "n_frames"] == 3
    bad = _maskset(np.zeros((3, 8, 9), bool))
    with pytest.raises(InputError, match=r"00000.png: mask is 9x8 .* GT of frame 00000 is 8x8"):
        score_sequence(bad, gt, KEYS, protocols=["davis2017-unsup"], selections=["gt-free"], mask_dir="md",
                       progress=False)


def test_score_sequence_parallel_equals_serial() -> None:
    rng = np.random.default_rng(3)
    T, hw = 20, (24, 32)
    gt = {f"{i:05d}": rng.random(hw) < 0.3 for i in range(T)}
    probs = rng.random((T, 3, 12, 16)).astype(np.float32)
    probs /= probs.sum(axis=1, keepdims=True)
    fg = rng.random((T, *hw)) < 0.3
    kw = dict(protocols=["davis2017-unsup", "gwm"], selections=["gt-free", "oracle-frame", "oracle-sequence"],
              progress=False)
    a, fa = score_sequence(_maskset(fg, probs), gt, KEYS, workers=1, **kw)
    b, fb = score_sequence(_maskset(fg, probs), gt, KEYS, workers=2, **kw)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(fa, fb)


# ---------------------------------------------------------------- run_evaluate with a stand-in dataset reader


def test_run_evaluate_writes_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hw = (10, 12)
    names = [f"{i:05d}" for i in range(5)]
    gt = {n: square(hw, 2, 6, 2 + i, 6 + i) for i, n in enumerate(names)}
    fake = types.ModuleType("motionseg.io.datasets")
    info = types.SimpleNamespace(frame_names=names, name="s")
    fake.get_sequence = lambda root, layout, name, options=None: info  # type: ignore[attr-defined]
    fake.load_gt = lambda info: gt  # type: ignore[attr-defined]
    fake.reader_options = lambda cfg: {}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "motionseg.io.datasets", fake)
    fg = np.stack([gt[n] for n in names])
    probs = np.stack([fg, ~fg], axis=1).astype(np.float32)
    write_mask_dir(tmp_path / "masks", names, fg, probs, np.array([True, False]),
                   {"method": "m", "oracle": False, "mode": "offline"})
    cfg = {"protocols": ["davis2017-unsup"], "selections": ["gt-free", "oracle-frame"], "decay": "correct",
           "missing": "error", "bound_th": 0.008, "workers": 1}
    out, out_frames = tmp_path / "scores" / "s.csv", tmp_path / "scores" / "s.frames.csv"
    run_evaluate(tmp_path / "masks", {"name": "d", "root": "x", "layout": "davis", "protocol": "gwm"}, "s", out,
                 cfg, {"dataset": "d", "flow": "fl", "tracks": "none", "method": "m"}, out_frames)
    df = pd.read_csv(out)
    assert list(df.columns) == SCORE_COLUMNS
    assert set(zip(df.protocol, df.selection, strict=True)) == {(p, s) for p in ("davis2017-unsup", "gwm")
                                                  for s in ("gt-free", "oracle-frame")}
    assert (df.J_mean == 1.0).all() and (df.F_mean == 1.0).all()
    assert list(df.oracle) == [False, True, False, True]
    assert df[df.protocol == "gwm"].n_frames.tolist() == [2, 2]
    fr = pd.read_csv(out_frames)
    assert list(fr.columns) == FRAME_COLUMNS and len(fr) == 2 * 5 + 2 * 2
    assert not list((tmp_path / "scores").glob(".*"))  # no temporaries left behind


# ---------------------------------------------------------------- PNG folders and the CLI


def test_evaluator_mask_rule_variants(tmp_path: Path) -> None:
    """The evaluator reads masks with the one reader and the official DAVIS rule: any non-zero value is foreground."""
    lab = np.array([[0, 1], [2, 0]], np.uint8)
    save_png(tmp_path / "l.png", lab * 100)
    np.testing.assert_array_equal(read_mask(tmp_path / "l.png", MASK_ENCODING), lab > 0)
    # palette PNG whose index 0 is drawn white: indices count, not colours
    im = Image.frombytes("P", (2, 2), lab.tobytes())
    im.putpalette([255, 255, 255, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png", MASK_ENCODING), lab > 0)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 1, 2] = 7
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "c.png", MASK_ENCODING), [[False, True], [False, False]])
    Image.fromarray(rgb).save(tmp_path / "fake.png", format="JPEG")
    with pytest.raises(InputError, match="fake.png: not a PNG"):
        read_mask(tmp_path / "fake.png")
    with pytest.raises(InputError, match="nothere.png: mask file does not exist"):
        read_mask(tmp_path / "nothere.png")


def _write_seq(root: Path, seq: str, masks: dict[str, np.ndarray]) -> None:
    for name, m in masks.items():
        save_png(root / seq / f"{name}.png", m.astype(np.uint8) * 255 if m.dtype == bool else m)


def test_evaluate_dirs_multiobject_merge_and_sparse_frames(tmp_path: Path) -> None:
    hw = (12, 16)
    labels = np.zeros(hw, np.uint8)
    labels[1:4, 1:4] = 1
    labels[6:10, 8:14] = 2
    union = labels > 0
    # GT of "multi": two objects labelled 1 and 2, every frame; GT of "sparse": 2 annotated frames out of 6
    _write_seq(tmp_path / "gt", "multi", {f"{i:05d}": labels for i in range(4)})
    _write_seq(tmp_path / "gt", "sparse", {"00000": union, "00004": union})
    _write_seq(tmp_path / "pred", "multi", {f"{i:05d}": union for i in range(4)})
    pred_sparse = {f"{i:05d}": (union if i != 4 else np.zeros(hw, bool)) for i in range(6)}
    _write_seq(tmp_path / "pred", "sparse", pred_sparse)
    per_seq, per_frame = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", progress=False)
    r = per_seq.set_index("sequence")
    assert r.loc["multi", "J_mean"] == 1.0 and r.loc["multi", "F_mean"] == 1.0  # objects merged into one foreground
    assert r.loc["sparse", "n_frames"] == 2 and r.loc["sparse", "J_mean"] == 0.5
    assert per_frame[per_frame.sequence == "sparse"].frame.tolist() == ["00000", "00004"]
    # gwm on a non-DAVIS layout: last video frame (00005) dropped, frames 0 and 1 kept
    per_seq, _ = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", "gwm", layout="fbms", progress=False)
    assert per_seq.set_index("sequence").loc["sparse", "n_frames"] == 2
    per_seq, _ = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", "gwm", layout="davis", progress=False)
    assert per_seq.set_index("sequence").loc["sparse", "n_frames"] == 1  # only 00004


def test_evaluate_dirs_bad_input(tmp_path: Path) -> None:
    hw = (8, 8)
    m = square(hw, 2, 5, 2, 5)
    _write_seq(tmp_path / "gt", "a", {"00000": m, "00001": m})
    _write_seq(tmp_path / "gt", "b", {"00000": m})
    _write_seq(tmp_path / "pred", "a", {"00000": m, "00001": m})
    with pytest.raises(InputError, match=r"pred/b: sequence 'b' is in the GT folder but has no prediction folder"):
        evaluate_dirs(tmp_path / "gt", tmp_path / "pred", progress=False)
    _write_seq(tmp_path / "pred", "b", {})
    (tmp_path / "pred" / "b").mkdir(exist_ok=True)
    with pytest.raises(InputError, match=r"b/00000.png: missing prediction"):
        evaluate_dirs(tmp_path / "gt", tmp_path / "pred", progress=False)
    per_seq, _ = evaluate_dirs(tmp_path / "gt", tmp_path / "pred", missing="empty", progress=False)
    assert per_seq.set_index("sequence").loc["b", "J_mean"] == 0.0
    Image.fromarray(m.astype(np.uint8)).save(tmp_path / "pred" / "b" / "00000.jpg")
    with pytest.raises(InputError, match=r"b/00000.jpg: not a PNG mask"):
        evaluate_dirs(tmp_path / "gt", tmp_path / "pred", progress=False)
    (tmp_path / "pred" / "b" / "00000.jpg").unlink()
    save_png(tmp_path / "pred" / "b" / "00000.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(InputError, match=r"b/00000.png: mask is 9x8 \(WxH\) but its GT .* is 8x8"):
        evaluate_dirs(tmp_path / "gt", tmp_path / "pred", progress=False, workers=2)


def test_cli_writes_table_with_summary_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hw = (12, 12)
    g = square(hw, 2, 8, 2, 8)
    _write_seq(tmp_path / "gt", "a", {"00000": g, "00001": g, "00002": g})  # J = 1, 1, 1
    _write_seq(tmp_path / "gt", "b", {"00000": g})
    _write_seq(tmp_path / "pred", "a", {"00000": g, "00001": g, "00002": g})
    _write_seq(tmp_path / "pred", "b", {"00000": square(hw, 2, 8, 2, 4)})  # J = 12 / 36 = 1/3
    _write_seq(tmp_path / "pred", "extra", {"00000": g})  # only in predictions: ignored
    out, pf = tmp_path / "scores.csv", tmp_path / "frames.csv"
    rc = cli_main(["evaluate", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--protocol",
                   "davis2017-unsup", "--out", str(out), "--per-frame", str(pf), "--quiet", "--workers", "1"])
    assert rc == 0
    df = pd.read_csv(out)
    assert list(df.columns) == CLI_COLUMNS
    assert df.sequence.tolist() == ["a", "b", "_MEAN_", "_FRAME_POOLED_"]
    r = df.set_index("sequence")
    assert r.loc["b", "J_mean"] == 1 / 3  # written at full precision (round trip is exact)
    assert r.loc["_MEAN_", "J_mean"] == pytest.approx((1 + 1 / 3) / 2)
    assert r.loc["_FRAME_POOLED_", "J_mean"] == pytest.approx((3 + 1 / 3) / 4)
    assert r.loc["_FRAME_POOLED_", "n_frames"] == 4 and np.isnan(r.loc["_FRAME_POOLED_", "J_decay"])
    assert pd.read_csv(pf).columns.tolist() == ["sequence", "frame", "J", "F"]
    assert "davis2017-unsup: J" in capsys.readouterr().out
    # bad input: exit status 1 and a message naming the file
    (tmp_path / "pred" / "a" / "00001.png").unlink()
    rc = cli_main(["evaluate", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--out", str(out),
                   "--quiet"])
    assert rc == 1
    assert "a/00001.png: missing prediction" in capsys.readouterr().err


def test_with_summary_rows_skips_unscored_sequences() -> None:
    per_seq = pd.DataFrame([
        {"sequence": "a", "J_mean": 0.5, "J_recall": 1.0, "J_decay": 0.1, "F_mean": 0.4, "F_recall": 0.0,
         "F_decay": 0.2, "n_frames": 2},
        {"sequence": "b", "J_mean": np.nan, "J_recall": np.nan, "J_decay": np.nan, "F_mean": np.nan,
         "F_recall": np.nan, "F_decay": np.nan, "n_frames": 0},
    ])
    per_frame = pd.DataFrame({"sequence": ["a", "a"], "frame": ["0", "1"], "J": [0.4, 0.6], "F": [0.4, 0.4]})
    t = with_summary_rows(per_seq, per_frame).set_index("sequence")
    assert t.loc["_MEAN_", "J_mean"] == 0.5 and t.loc["_MEAN_", "F_decay"] == 0.2
    assert t.loc["_FRAME_POOLED_", "J_recall"] == 0.5


# ---------------------------------------------------------------- dataset aggregates


def test_aggregate_sequence_mean_vs_frame_pooled() -> None:
    def row(seq: str, j: float, n: int, selection: str = "gt-free", oracle: bool = False) -> dict:
        return {**KEYS, "sequence": seq, "mode": "offline", "protocol": "gwm", "selection": selection,
                "oracle": oracle, "J_mean": j, "J_recall": float(j > 0.5), "J_decay": 0.0, "F_mean": j,
                "F_recall": float(j > 0.5), "F_decay": 0.0, "n_frames": n}

    per_seq = pd.DataFrame([row("a", 1.0, 10), row("b", 0.0, 30), row("a", 1.0, 10, "oracle-frame", True)])
    agg = aggregate(per_seq, layouts={"d": "davis"})
    g = agg[agg.selection == "gt-free"].iloc[0]
    assert g.J_mean == 0.5 and g.J_mean_pooled == 0.25  # mean of sequence means vs 10 of 40 frames
    assert g.n_sequences == 2 and g.n_frames == 40 and g.JF_mean == 0.5
    assert g.paper_aggregate == "sequence"
    o = agg[agg.selection == "oracle-frame"].iloc[0]
    assert bool(o.oracle) and o.J_mean == 1.0 and o.n_sequences == 1  # oracle rows never mixed into GT-free ones
    assert aggregate(per_seq).iloc[0].paper_aggregate is None  # gwm needs the layout


def test_schema_section_matches_code() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "config" / "schema.yaml").read_text())["properties"]["evaluation"]
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())["evaluation"]
    from motionseg.metrics import SELECTIONS
    from motionseg.metrics.protocols import SINGLE_OBJECT_PROTOCOLS

    # the multi-object protocol is chosen per dataset (objects: multi), not in evaluation.protocols
    assert set(schema["properties"]["protocols"]["items"]["enum"]) == set(SINGLE_OBJECT_PROTOCOLS)
    assert set(schema["properties"]["selections"]["items"]["enum"]) == set(SELECTIONS)
    assert set(cfg) == set(schema["required"]) == set(schema["properties"])
    assert json.dumps(cfg)  # plain data


def test_run_evaluate_on_real_davis_sequence(tmp_path: Path, shared_data: Path) -> None:
    """End to end with the real dataset reader: GT masks of car-shadow as a mask directory score J = F = 1 under
    every protocol and selection, davis2016 drops 2 of the 40 frames, oracle rows are flagged."""
    from motionseg.io.datasets import get_sequence, load_gt

    root = shared_data / "DAVIS2016"
    info = get_sequence(root, "davis", "car-shadow")
    gt = load_gt(info)
    names = list(info.frame_names)
    fg = np.stack([gt[n] for n in names])
    write_mask_dir(tmp_path / "masks", names, fg, None, None, {"method": "m", "oracle": False, "mode": "offline"})
    cfg = {"protocols": ["davis2017-unsup", "davis2016"], "selections": ["gt-free", "oracle-sequence"],
           "decay": "correct", "missing": "error", "bound_th": 0.008, "workers": 1}
    out = tmp_path / "s.csv"
    run_evaluate(tmp_path / "masks", {"name": "davis", "root": str(root), "layout": "davis"}, "car-shadow", out, cfg,
                 {"dataset": "davis", "flow": "gt", "tracks": "none", "method": "m"})
    df = pd.read_csv(out).set_index(["protocol", "selection"])
    assert df.loc[("davis2017-unsup", "gt-free"), "n_frames"] == 40
    assert df.loc[("davis2016", "gt-free"), "n_frames"] == 38
    assert (df.J_mean == 1.0).all() and (df.F_mean == 1.0).all()
    assert list(df.oracle) == [False, True, False, True]
