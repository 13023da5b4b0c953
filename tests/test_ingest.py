"""Frame ingest: working size, resizing, manifest, and that bad input leaves no output behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionseg.flow.geometry import resize_frames, working_size
from motionseg.io.datasets import get_sequence, load_frames, load_gt
from motionseg.io.errors import InputError
from motionseg.io.ingest import run_ingest
from motionseg.io.ingest_format import load_ingested
from motionseg.synth.corrupt import CORRUPTIONS, corrupt_sequence


def test_working_size() -> None:
    assert working_size(480, 854, None) == (480, 854)
    assert working_size(480, 854, 240) == (240, 424)  # 427 -> nearest multiple of 8
    assert working_size(120, 192, 64) == (64, 104)  # 102.4 -> 104
    assert working_size(64, 96, 32) == (32, 48)
    assert working_size(1000, 10, 100) == (100, 8)  # never below 8 px
    for h, w, target in [(480, 854, 128), (360, 640, 200), (1080, 1920, 320)]:
        assert working_size(h, w, target)[1] % 8 == 0


def test_resize_frames_uses_area_when_shrinking() -> None:
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[:, ::2, ::2] = 255  # a 1-px checkerboard-ish pattern: INTER_AREA averages it, nearest would alias
    small = resize_frames(frames, (4, 4))
    assert small.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(small, np.full((2, 4, 4, 3), 64, np.uint8))
    assert resize_frames(frames, (8, 8)) is frames
    assert resize_frames(frames, (16, 16)).shape == (2, 16, 16, 3)


def test_run_ingest_original_size(synth_dataset_cfg: dict, synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames" / "synth_000.npz"
    run_ingest(synth_dataset_cfg, "synth_000", out, {"height": None})
    ing = load_ingested(out)
    info = get_sequence(synth_root, "davis", "synth_000")
    np.testing.assert_array_equal(ing.frames, load_frames(info))
    assert ing.names == [f"{i:05d}" for i in range(8)]
    assert ing.orig_hw == (64, 96)
    m = ing.manifest
    assert m["dataset"] == "synth" and m["sequence"] == "synth_000" and m["layout"] == "davis"
    assert m["frames"] == [str(p) for p in info.frame_paths]
    assert m["annotated"] == ing.names
    assert m["gt_paths"]["00003"] == str(synth_root / "Annotations" / "synth_000" / "00003.png")
    assert m["working_hw"] == [64, 96] and m["video"] is None


def test_run_ingest_resized(synth_dataset_cfg: dict, synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.npz"
    run_ingest(synth_dataset_cfg, "synth_001", out, {"height": 32})
    ing = load_ingested(out)
    assert ing.frames.shape == (8, 32, 48, 3) and ing.frames.dtype == np.uint8
    assert ing.orig_hw == (64, 96) and ing.scale_xy == (2.0, 2.0)
    full = load_frames(get_sequence(synth_root, "davis", "synth_001"))
    expected = cv2.resize(full[3], (48, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(ing.frames[3], expected)


def test_run_ingest_video(tmp_path: Path) -> None:
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 24))
    for i in range(4):
        writer.write(np.full((24, 40, 3), 50 * i, np.uint8))
    writer.release()
    out = tmp_path / "out" / "clip.npz"
    run_ingest({"name": "v", "layout": "video", "root": str(tmp_path)}, "clip", out, {"height": 16})
    ing = load_ingested(out)
    assert ing.frames.shape == (4, 16, 24, 3) and ing.names == ["00000", "00001", "00002", "00003"]
    assert ing.manifest["video"] == str(tmp_path / "clip.avi") and ing.manifest["frames"] is None
    assert ing.manifest["annotated"] == [] and ing.manifest["gt_paths"] == {}


def _break_truncate(seq_dir: Path) -> Path:
    p = seq_dir / "00004.jpg"
    p.write_bytes(p.read_bytes()[:300])
    return p


def _break_missing(seq_dir: Path) -> Path:
    (seq_dir / "00002.jpg").unlink()
    return seq_dir / "00002.jpg"


def _break_empty(seq_dir: Path) -> Path:
    for p in seq_dir.iterdir():
        p.unlink()
    return seq_dir


@pytest.mark.parametrize(
    ("breaker", "what"),
    [(_break_truncate, "unreadable or truncated image"), (_break_missing, "missing frame"), (_break_empty, "empty")],
)
def test_bad_input_leaves_no_output(synth_root: Path, tmp_path: Path, breaker, what: str) -> None:
    root = tmp_path / "data"
    shutil.copytree(synth_root / "JPEGImages" / "synth_002", root / "JPEGImages" / "synth_002")
    bad = breaker(root / "JPEGImages" / "synth_002")
    out_dir = tmp_path / "frames"
    out_dir.mkdir()
    with pytest.raises(InputError) as exc:
        run_ingest({"name": "d", "layout": "davis", "root": str(root)}, "synth_002", out_dir / "s.npz", {"height": 32})
    assert str(exc.value).startswith(str(bad)) and what in str(exc.value)
    assert list(out_dir.iterdir()) == []  # neither the output nor a temporary is left


def test_missing_root_is_named(tmp_path: Path) -> None:
    root = tmp_path / "no such dataset"
    with pytest.raises(InputError, match="does not exist") as exc:
        run_ingest({"name": "d", "layout": "davis", "root": str(root)}, "s", tmp_path / "o.npz", {"height": None})
    assert str(root) in str(exc.value)
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupted_synthetic_sequences(synth_root: Path, tmp_path: Path, kind: str) -> None:
    """Every corruption kind of the stress benchmark is rejected with a message naming the damaged file."""
    root = tmp_path / "data"
    for sub in ("JPEGImages", "Annotations"):
        shutil.copytree(synth_root / sub / "synth_000", root / sub / "synth_000")
    bad = corrupt_sequence(root, "synth_000", kind)
    out = tmp_path / "frames" / "synth_000.npz"
    cfg = {"name": "d", "layout": "davis", "root": str(root)}
    with pytest.raises(InputError) as exc:
        if kind == "mask_size":
            run_ingest(cfg, "synth_000", out, {"height": None})  # frames are fine
            load_gt(get_sequence(root, "davis", "synth_000"))
        else:
            run_ingest(cfg, "synth_000", out, {"height": None})
    assert str(exc.value).startswith(str(bad)), str(exc.value)
    assert CORRUPTIONS[kind] in str(exc.value)
    if kind != "mask_size":
        assert not out.parent.exists() or list(out.parent.iterdir()) == []
