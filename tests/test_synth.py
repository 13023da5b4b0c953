"""Synthetic generator: layout, masks vs drawn objects, exactness of GT flow, global motion, determinism, CLI."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from motionseg.cli import main as cli_main
from motionseg.flow.flo import read_flo
from motionseg.io.errors import ConfigError
from motionseg.synth import generate_sequence, render_sequence, run_synth, sequence_index, synth_sequence_names
from motionseg.synth.generator import _build_scene


def _frames(root: Path, name: str) -> list[np.ndarray]:
    paths = sorted((root / "JPEGImages" / name).glob("*.jpg"))
    return [np.asarray(Image.open(p), dtype=np.float32) for p in paths]


def test_names_and_index() -> None:
    assert synth_sequence_names(3) == ["synth_000", "synth_001", "synth_002"]
    assert synth_sequence_names(1500)[-1] == "synth_1499"
    assert [sequence_index(n) for n in synth_sequence_names(12)] == list(range(12))
    with pytest.raises(ValueError, match="not a synthetic sequence name"):
        sequence_index("blackswan")
    with pytest.raises(ConfigError):
        synth_sequence_names(0)


def test_written_layout(synth_root: Path, synth_cfg: dict) -> None:
    t, h, w = synth_cfg["n_frames"], synth_cfg["height"], synth_cfg["width"]
    for name in synth_sequence_names(synth_cfg["n_sequences"]):
        jpgs = sorted(p.name for p in (synth_root / "JPEGImages" / name).iterdir())
        pngs = sorted(p.name for p in (synth_root / "Annotations" / name).iterdir())
        fwd = sorted(p.name for p in (synth_root / "Flows_gap1" / name).iterdir())
        bwd = sorted(p.name for p in (synth_root / "Flows_gap-1" / name).iterdir())
        assert jpgs == [f"{i:05d}.jpg" for i in range(t)]
        assert pngs == [f"{i:05d}.png" for i in range(t)]
        assert fwd == [f"{i:05d}.flo" for i in range(t - 1)]
        assert bwd == [f"{i:05d}.flo" for i in range(1, t)]
        im = Image.open(synth_root / "Annotations" / name / "00000.png")
        assert im.mode == "L" and im.size == (w, h)
        assert set(np.unique(np.asarray(im))) <= {0, 255}
        assert Image.open(synth_root / "JPEGImages" / name / "00000.jpg").size == (w, h)
        assert read_flo(synth_root / "Flows_gap1" / name / "00000.flo").shape == (h, w, 2)
    # no leftover temporaries from the atomic writes
    assert not [p for p in synth_root.rglob(".*")]


@pytest.mark.parametrize("index", [0, 2])
def test_masks_match_drawn_objects(index: int) -> None:
    """Pixels that change when the moving objects are drawn are exactly the mask pixels."""
    with_obj = render_sequence(index, 10, 64, 96, seed=3)
    without = render_sequence(index, 10, 64, 96, seed=3, draw_objects=False)
    differs = np.any(with_obj.frames != without.frames, axis=-1)
    assert not np.any(differs & ~with_obj.masks), "pixels outside the mask changed"
    assert differs[with_obj.masks].mean() > 0.97
    assert with_obj.masks.any(axis=(1, 2)).sum() >= 8  # the object is visible in (nearly) every frame
    # the foreground never includes the static distractor (layer 1) or the background (layer 0)
    assert not np.any(with_obj.masks & (with_obj.layer_ids <= 1))
    assert np.any(with_obj.layer_ids == 1), "the static distractor is never visible"


def test_written_masks_equal_rendered(synth_root: Path, synth_cfg: dict) -> None:
    c = synth_cfg
    seq = render_sequence(1, c["n_frames"], c["height"], c["width"], c["seed"])
    for t in range(c["n_frames"]):
        png = np.asarray(Image.open(synth_root / "Annotations" / "synth_001" / f"{t:05d}.png")) > 0
        np.testing.assert_array_equal(png, seq.masks[t])
    jpg = np.stack(_frames(synth_root, "synth_001"))
    assert np.abs(jpg - seq.frames.astype(np.float32)).mean() < 3.0  # JPEG q95 of the rendered frames


def _warp_errors(frames: list[np.ndarray], fwd: np.ndarray, bwd_next: np.ndarray, nxt: np.ndarray, cur: np.ndarray):
    h, w = fwd.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mx, my = xx + fwd[..., 0], yy + fwd[..., 1]
    warped = cv2.remap(nxt, mx, my, cv2.INTER_LINEAR)
    back = cv2.remap(bwd_next, mx, my, cv2.INTER_NEAREST)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    visible = np.linalg.norm(fwd + back, axis=-1) < 0.5  # not occluded: the flows agree both ways
    valid = inside & visible
    return np.abs(warped - cur).mean(-1)[valid].mean(), np.abs(nxt - cur).mean(-1)[valid].mean(), valid.mean()


@pytest.mark.parametrize("name", ["synth_000", "synth_002"])
def test_gt_flow_warps_frames(synth_root: Path, name: str) -> None:
    """Backward-warping frame t+1 with the GT forward flow reproduces frame t (and likewise backwards)."""
    frames = _frames(synth_root, name)
    for t in range(len(frames) - 1):
        fwd = read_flo(synth_root / "Flows_gap1" / name / f"{t:05d}.flo")
        bwd = read_flo(synth_root / "Flows_gap-1" / name / f"{t + 1:05d}.flo")
        err, ident, frac = _warp_errors(frames, fwd, bwd, frames[t + 1], frames[t])
        assert frac > 0.8
        assert err < 4.0 and err < 0.5 * ident, (t, err, ident)
        err_b, ident_b, _ = _warp_errors(frames, bwd, fwd, frames[t], frames[t + 1])
        assert err_b < 4.0 and err_b < 0.5 * ident_b, (t, err_b, ident_b)


def test_object_flow_exact_on_render() -> None:
    """On the exact (un-compressed) render, GT-flow warping of moving-object pixels is near-perfect."""
    seq = render_sequence(0, 6, 96, 128, seed=1)
    f = seq.frames.astype(np.float32)
    errs, idents = [], []
    for t in range(5):
        h, w = seq.masks.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        fwd = seq.flow_fwd[t]
        mx, my = xx + fwd[..., 0], yy + fwd[..., 1]
        warped = cv2.remap(f[t + 1], mx, my, cv2.INTER_LINEAR)
        lid_next = cv2.remap(seq.layer_ids[t + 1].astype(np.float32), mx, my, cv2.INTER_NEAREST)
        ok = seq.masks[t] & (lid_next == seq.layer_ids[t]) & (mx >= 1) & (mx <= w - 2) & (my >= 1) & (my <= h - 2)
        errs.append(np.abs(warped - f[t]).mean(-1)[ok])
        idents.append(np.abs(f[t + 1] - f[t]).mean(-1)[ok])
    err, ident = np.concatenate(errs).mean(), np.concatenate(idents).mean()
    assert err < 0.25 * ident, (err, ident)


def test_background_and_distractor_follow_one_affine_motion() -> None:
    seq = render_sequence(1, 6, 64, 96, seed=0)
    h, w = seq.masks.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(h * w)], axis=1)
    for t in range(5):
        lid = seq.layer_ids[t].ravel()
        flow = seq.flow_fwd[t].reshape(-1, 2).astype(np.float64)
        bg = lid == 0
        coef, *_ = np.linalg.lstsq(design[bg], flow[bg], rcond=None)
        resid = np.linalg.norm(design @ coef - flow, axis=1)
        assert resid[bg].max() < 1e-3
        assert resid[lid == 1].max() < 1e-3  # the static distractor moves with the background
        assert resid[seq.masks[t].ravel()].mean() > 0.5  # the objects do not
        assert np.abs(flow[bg]).mean() > 0.05  # the camera does move


def test_objects_enter_leave_and_occlude() -> None:
    n = 20
    layers = _build_scene(0, n, 120, 192, seed=0)
    objects = [la for la in layers if la.moving]
    assert len(objects) == 2
    yy, xx = np.mgrid[0:120, 0:192].astype(np.float64)
    grid = np.stack([xx, yy, np.ones_like(xx)], -1)
    full = np.zeros((2, n), bool)  # shape entirely inside the frame
    area = np.zeros((2, n))
    overlap = np.zeros(n)
    for t in range(n):
        shapes = []
        for k, obj in enumerate(objects):
            q = grid @ np.linalg.inv(obj.maps[t]).T
            inside = obj.inside(q[..., :2])
            shapes.append(inside)
            area[k, t] = inside.sum()
            full[k, t] = inside.any() and not (
                inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any()
            )
        overlap[t] = (shapes[0] & shapes[1]).sum()
    assert overlap.max() > 0, "the two objects never occlude each other"
    # one object enters (cut by the border at t=0, later fully inside), one leaves (gone at the end)
    assert (~full[:, 0] & full.any(axis=1)).any()
    assert (area[:, -1] == 0).any()


def test_determinism(tmp_path: Path) -> None:
    for d in ("a", "b", "c"):
        generate_sequence(tmp_path / d, "synth_001", 1, 4, 32, 48, seed=7 if d != "c" else 8)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 4 + 4 + 3 + 3
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    rel = Path("JPEGImages/synth_001/00000.jpg")
    assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()


def test_run_synth(tmp_path: Path) -> None:
    cfg = {"n_sequences": 5, "n_frames": 3, "height": 32, "width": 40, "seed": 0}
    run_synth(cfg, tmp_path, "synth_004")
    assert len(list((tmp_path / "JPEGImages" / "synth_004").glob("*.jpg"))) == 3
    with pytest.raises(ConfigError, match="n_sequences"):
        run_synth(cfg, tmp_path, "synth_005")
    with pytest.raises(ValueError, match="not a synthetic sequence name"):
        run_synth(cfg, tmp_path, "cows")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    rc = cli_main(
        [
            "synth",
            "--out",
            str(out),
            "--n-sequences",
            "2",
            "--n-frames",
            "3",
            "--height",
            "24",
            "--width",
            "32",
            "--seed",
            "5",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["synth_000", "synth_001"]
    assert Image.open(out / "JPEGImages" / "synth_001" / "00002.jpg").size == (32, 24)
    assert "wrote 2 sequences" in capsys.readouterr().out
    assert cli_main(["synth", "--out", str(out), "--n-frames", "1"]) == 2


def test_demo_size_is_fast(tmp_path: Path) -> None:
    """The default demo (3 sequences x 20 frames x 120x192) generates in a few seconds."""
    start = time.perf_counter()
    for i, name in enumerate(synth_sequence_names(3)):
        generate_sequence(tmp_path, name, i, 20, 120, 192, seed=0)
    assert time.perf_counter() - start < 20.0
