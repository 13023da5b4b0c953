"""Dataset readers: the five layouts on tiny hand-built datasets, mask value rules, and the bad-input matrix."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from motionseg.io.datasets import (
    frame_size,
    get_sequence,
    gt_files,
    list_sequences,
    load_frames,
    load_gt,
    read_gt_entry,
    read_mask,
    source_files,
)
from motionseg.io.errors import InputError

H, W = 24, 32


# ------------------------------------------------------------------------------------------------------ builders


def _frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    """A deterministic, smooth (JPEG-friendly) RGB frame whose content depends on ``i``."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(xx / 5.0 + i)
    g = 128 + 100 * np.cos(yy / 4.0 - 0.5 * i)
    b = (3 * (xx + yy) + 20 * i) % 256
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def _mask(i: int, h: int = H, w: int = W) -> np.ndarray:
    """bool [h, w]: a box whose position depends on ``i``."""
    m = np.zeros((h, w), bool)
    m[4:12, 2 + i : 12 + i] = True
    return m


def _save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _save_L(path: Path, m: np.ndarray) -> Path:
    return _save(path, (m.astype(np.uint8) * 255))


def _davis(root: Path, seq: str, n: int = 4, ext: str = "jpg", level: str = "", gt: list[int] | None = None) -> None:
    for i in range(n):
        opts = {"quality": 95} if ext == "jpg" else {}
        _save(root / "JPEGImages" / level / seq / f"{i:05d}.{ext}", _frame(i), **opts)
    for i in range(n) if gt is None else gt:
        _save_L(root / "Annotations" / level / seq / f"{i:05d}.png", _mask(i))


def _write_video(path: Path, n: int, fourcc: str) -> list[np.ndarray]:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (W, H))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc}"
    frames = []
    for i in range(n):
        img = np.zeros((H, W, 3), np.uint8)
        img[..., 0] = 40 * i  # red ramps up
        img[..., 2] = 200 - 30 * i
        frames.append(img)
        writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()
    return frames


# ------------------------------------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("level", ["", "480p"])
@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_davis_layout(tmp_path: Path, level: str, ext: str) -> None:
    _davis(tmp_path, "bravo", 4, ext, level)
    _davis(tmp_path, "alpha", 3, ext, level, gt=[0, 2])  # sparse GT
    (tmp_path / "JPEGImages" / level / ".alpha.tmpdir").mkdir()  # atomic-write leftovers are not sequences
    assert list_sequences(tmp_path, "davis") == ["alpha", "bravo"]
    info = get_sequence(tmp_path, "davis", "bravo")
    assert info.frame_names == ["00000", "00001", "00002", "00003"]
    assert info.annotated == info.frame_names and info.video_path is None
    frames = load_frames(info)
    assert frames.shape == (4, H, W, 3) and frames.dtype == np.uint8
    if ext == "png":
        np.testing.assert_array_equal(frames[2], _frame(2))
    else:
        assert np.abs(frames[2].astype(int) - _frame(2)).mean() < 8
    gt = load_gt(info)
    assert list(gt) == info.frame_names
    np.testing.assert_array_equal(gt["00003"], _mask(3))
    alpha = get_sequence(tmp_path, "davis", "alpha")
    assert alpha.annotated == ["00000", "00002"]
    assert list(load_gt(alpha, ["00002"])) == ["00002"]


def test_davis_without_gt(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "JPEGImages" / "s" / f"{i:05d}.jpg", _frame(i))
    info = get_sequence(tmp_path, "davis", "s")
    assert info.annotated == [] and info.gt_paths == {} and load_gt(info) == {}
    assert load_frames(info).shape == (3, H, W, 3)


def test_davis_palette_masks_and_void(tmp_path: Path) -> None:
    """Palette masks: every non-zero index is foreground, index 255 is void (background) unless it is white."""
    idx = np.zeros((H, W), np.uint8)
    idx[2:6, 2:6] = 1
    idx[10:14, 10:14] = 2
    idx[20:22, :] = 255  # void band
    pal = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (3 * 252) + [224, 224, 192]
    im = Image.fromarray(idx, mode="P")
    im.putpalette(pal)
    p = tmp_path / "pal.png"
    im.save(p)
    fg = read_mask(p)
    np.testing.assert_array_equal(fg, (idx == 1) | (idx == 2))
    # a binary 0/255 mask stored as a palette image whose index 255 is white: 255 is foreground
    white = Image.fromarray(np.where(idx == 255, 255, 0).astype(np.uint8), mode="P")
    white.putpalette([0, 0, 0] + [0] * (3 * 254) + [255, 255, 255])
    white.save(tmp_path / "white.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "white.png"), idx == 255)
    # a palette image with a grey-ramp palette is read like a grey mask (threshold 128)
    soft = np.zeros((H, W), np.uint8)
    soft[:, :10] = 200
    soft[:, 10:20] = 100
    ramp = Image.fromarray(soft, mode="P")
    ramp.putpalette([v for i in range(256) for v in (i, i, i)])
    ramp.save(tmp_path / "ramp.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "ramp.png"), soft >= 128)


def test_grey_mask_rules(tmp_path: Path) -> None:
    soft = np.zeros((H, W), np.uint8)
    soft[:, :8] = 255
    soft[:, 8:12] = 128  # soft edge, counts as foreground
    soft[:, 12:16] = 127  # soft edge, background
    _save(tmp_path / "soft.png", soft)
    np.testing.assert_array_equal(read_mask(tmp_path / "soft.png"), soft >= 128)
    labels = (_mask(0) * 1).astype(np.uint8)  # a 0/1 label map
    _save(tmp_path / "labels.png", labels)
    np.testing.assert_array_equal(read_mask(tmp_path / "labels.png"), _mask(0))
    binary = Image.fromarray(_mask(1)).convert("1")
    binary.save(tmp_path / "one_bit.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "one_bit.png"), _mask(1))


def _segtrack(root: Path, seq: str, n: int, multi: bool) -> None:
    for i in range(n):
        _save(root / "JPEGImages" / seq / f"{seq}_{i:05d}.bmp", _frame(i))
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[_mask(i)] = (250, 250, 250)
        rgb[3, 2 + i : 12 + i] = (140, 140, 140)  # soft edge above the box: >= 128 -> foreground
        rgb[12, 2 + i : 12 + i] = (100, 100, 100)  # soft edge below: background
        if multi:
            _save(root / "GroundTruth" / seq / "1" / f"{seq}_{i:05d}.png", rgb)
            second = np.zeros((H, W, 3), np.uint8)
            second[18:22, 20:30] = (0, 255, 0)  # a coloured second object
            _save(root / "GroundTruth" / seq / "2" / f"{seq}_{i:05d}.png", second)
        else:
            _save(root / "GroundTruth" / seq / f"{seq}_{i:05d}.png", rgb)


def test_segtrackv2_layout(tmp_path: Path) -> None:
    _segtrack(tmp_path, "girl", 3, multi=False)
    _segtrack(tmp_path, "drift", 3, multi=True)
    assert list_sequences(tmp_path, "segtrackv2") == ["drift", "girl"]
    girl = get_sequence(tmp_path, "segtrackv2", "girl")
    assert girl.frame_names == ["girl_00000", "girl_00001", "girl_00002"]
    frames = load_frames(girl)
    np.testing.assert_array_equal(frames[1], _frame(1))  # BMP is lossless
    expected = _mask(1).copy()
    expected[3, 3:13] = True
    np.testing.assert_array_equal(load_gt(girl)["girl_00001"], expected)
    drift = get_sequence(tmp_path, "segtrackv2", "drift")
    assert all(len(v) == 2 for v in drift.gt_paths.values())
    merged = load_gt(drift)["drift_00002"]
    exp2 = _mask(2).copy()
    exp2[3, 4:14] = True
    exp2[18:22, 20:30] = True
    np.testing.assert_array_equal(merged, exp2)


def _fbms(root: Path, split: str, seq: str, n: int, annotated: list[int], kind: str) -> None:
    d = root / split / seq
    for i in range(1, n + 1):
        _save(d / f"{seq}_{i:02d}.jpg", _frame(i), quality=95)
    (d / f"{seq}.bmf").parent.mkdir(parents=True, exist_ok=True)
    (d / f"{seq}.bmf").write_text(f"{n} 1\n" + "".join(f"{seq}_{i:02d}.ppm\n" for i in range(1, n + 1)))
    for i in annotated:
        m = _mask(i)
        if kind == "pgm":
            lab = np.zeros((H, W), np.uint8)
            lab[m] = 80  # object label value; black is background
            lab[20:22, 0:5] = 200  # a second object
            _save(d / "GroundTruth" / f"{seq}_{i:02d}_gt.pgm", lab)
        else:
            rgb = np.full((H, W, 3), 255, np.uint8)  # white background
            rgb[m] = (0, 0, 0)  # a black object
            rgb[20:22, 0:5] = (255, 0, 0)
            _save(d / "GroundTruth" / f"{i:03d}_gt.ppm", rgb)
            _save(d / "GroundTruth" / f"{i:03d}_gt_PROB.ppm", np.zeros((H, W, 3), np.uint8))


def test_fbms_layout(tmp_path: Path) -> None:
    _fbms(tmp_path, "Trainingset", "cars1", 12, [1, 11], "pgm")
    _fbms(tmp_path, "Testset", "marple2", 9, [1, 5, 9], "ppm")
    assert list_sequences(tmp_path, "fbms") == ["cars1", "marple2"]
    cars = get_sequence(tmp_path, "fbms", "cars1")
    assert cars.frame_names[:2] == ["cars1_01", "cars1_02"] and len(cars.frame_names) == 12
    assert cars.frame_names[-1] == "cars1_12"  # numeric, not lexicographic, order
    assert cars.annotated == ["cars1_01", "cars1_11"]
    assert load_frames(cars).shape == (12, H, W, 3)
    exp = _mask(11).copy()
    exp[20:22, 0:5] = True
    np.testing.assert_array_equal(load_gt(cars)["cars1_11"], exp)
    marple = get_sequence(tmp_path, "fbms", "marple2")
    assert marple.annotated == ["marple2_01", "marple2_05", "marple2_09"]
    assert marple.gt_encoding == "white_background" and cars.gt_encoding == "labels"
    exp = _mask(5).copy()
    exp[20:22, 0:5] = True
    np.testing.assert_array_equal(load_gt(marple)["marple2_05"], exp)
    # a root that is one split folder
    assert list_sequences(tmp_path / "Testset", "fbms") == ["marple2"]


def test_fbms_duplicate_sequence(tmp_path: Path) -> None:
    _fbms(tmp_path, "Trainingset", "cats01", 3, [1], "pgm")
    _fbms(tmp_path, "Testset", "cats01", 3, [1], "pgm")
    with pytest.raises(InputError, match="cats01.*also exists"):
        list_sequences(tmp_path, "fbms")


def test_fbms_gt_without_frame(tmp_path: Path) -> None:
    _fbms(tmp_path, "Testset", "dogs01", 3, [1], "pgm")
    bad = _save(tmp_path / "Testset" / "dogs01" / "GroundTruth" / "dogs01_40_gt.pgm", np.zeros((H, W), np.uint8))
    with pytest.raises(InputError, match="matches no frame") as exc:
        get_sequence(tmp_path, "fbms", "dogs01")
    assert str(bad) in str(exc.value)


def test_frames_layout(tmp_path: Path) -> None:
    for i in (1, 2, 10):  # natural order f1 < f2 < f10 ... but 3..9 missing
        _save(tmp_path / "clip" / f"f{i}.png", _frame(i))
    for name in ("b", "a", "c"):
        _save(tmp_path / "words" / f"{name}.png", _frame(ord(name)))
    assert list_sequences(tmp_path, "frames") == ["clip", "words"]
    words = get_sequence(tmp_path, "frames", "words")
    assert words.frame_names == ["a", "b", "c"] and words.annotated == []
    np.testing.assert_array_equal(load_frames(words)[1], _frame(ord("b")))
    with pytest.raises(InputError, match="missing frame") as exc:
        get_sequence(tmp_path, "frames", "clip")
    assert str(tmp_path / "clip" / "f3.png") in str(exc.value)
    for i in range(3, 10):
        _save(tmp_path / "clip" / f"f{i}.png", _frame(i))
    assert get_sequence(tmp_path, "frames", "clip").frame_names == [f"f{i}" for i in range(1, 11)]


@pytest.mark.parametrize(("ext", "fourcc"), [("mp4", "mp4v"), ("avi", "MJPG")])
def test_video_layout(tmp_path: Path, ext: str, fourcc: str) -> None:
    written = _write_video(tmp_path / f"walk.{ext}", 5, fourcc)
    (tmp_path / "notes.txt").write_text("not a video")
    assert list_sequences(tmp_path, "video") == ["walk"]
    info = get_sequence(tmp_path, "video", "walk")
    assert info.frame_names == ["00000", "00001", "00002", "00003", "00004"]
    assert info.frame_paths is None and info.video_path == tmp_path / f"walk.{ext}"
    frames = load_frames(info)
    assert frames.shape == (5, H, W, 3)
    for got, exp in zip(frames, written, strict=True):
        assert np.abs(got.astype(int) - exp).mean() < 12  # lossy codecs, but channel order must be RGB
    assert frame_size(info) == (H, W)
    assert load_gt(info) == {}


def test_source_and_gt_files_are_listing_only(tmp_path: Path) -> None:
    """The DAG-time listing never validates, so one broken sequence cannot stop the workflow from planning."""
    _davis(tmp_path, "s", 4)
    (tmp_path / "JPEGImages" / "s" / "00001.jpg").unlink()  # gap in the run
    (tmp_path / "JPEGImages" / "s" / "00003.jpg").write_bytes(b"broken")
    _save_L(tmp_path / "Annotations" / "s" / "00042.png", _mask(0))  # GT without frame
    assert [p.name for p in source_files(tmp_path, "davis", "s")] == ["00000.jpg", "00002.jpg", "00003.jpg"]
    assert [p.name for p in gt_files(tmp_path, "davis", "s")] == [f"{i:05d}.png" for i in (0, 1, 2, 3, 42)]
    with pytest.raises(InputError):
        get_sequence(tmp_path, "davis", "s")
    _write_video(tmp_path / "vids" / "v.avi", 2, "MJPG")
    assert source_files(tmp_path / "vids", "video", "v") == [tmp_path / "vids" / "v.avi"]
    assert gt_files(tmp_path / "vids", "video", "v") == []
    _segtrack(tmp_path / "st", "drift", 2, multi=True)
    assert len(gt_files(tmp_path / "st", "segtrackv2", "drift")) == 4


def test_read_gt_entry(tmp_path: Path) -> None:
    a = _save_L(tmp_path / "1" / "a.png", _mask(0))
    b = _save_L(tmp_path / "2" / "a.png", _mask(5))
    np.testing.assert_array_equal(read_gt_entry(str(a)), _mask(0))
    np.testing.assert_array_equal(read_gt_entry([str(a), str(b)]), _mask(0) | _mask(5))
    c = _save_L(tmp_path / "3" / "a.png", _mask(0, H + 1, W))
    with pytest.raises(InputError) as exc:
        read_gt_entry([a, c])
    assert str(exc.value).startswith(str(c)) and "differs from the size of a.png" in str(exc.value)
    with pytest.raises(InputError, match="differs from frame size"):
        read_gt_entry(a, expected_hw=(H, W + 1))


def test_segtrackv2_stray_mask(tmp_path: Path) -> None:
    _segtrack(tmp_path, "drift", 2, multi=True)
    stray = _save_L(tmp_path / "GroundTruth" / "drift" / "drift_00000.png", _mask(0))
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "segtrackv2", "drift")
    assert str(exc.value).startswith(str(stray)) and "per-object" in str(exc.value)


# ----------------------------------------------------------------------------------------------------- bad input


def _assert_names(exc: pytest.ExceptionInfo, path: Path, what: str) -> None:
    msg = str(exc.value)
    assert msg.startswith(str(path)), msg
    assert what in msg, msg


@pytest.mark.parametrize("layout", ["davis", "segtrackv2", "fbms", "frames", "video"])
def test_missing_root(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(InputError) as exc:
        list_sequences(root, layout)
    _assert_names(exc, root, "does not exist")
    with pytest.raises(InputError) as exc:
        get_sequence(root, layout, "x")
    _assert_names(exc, root, "does not exist")


def test_unknown_layout_and_missing_sequence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown dataset layout"):
        list_sequences(tmp_path, "youtube")
    with pytest.raises(InputError) as exc:
        list_sequences(tmp_path, "davis")
    _assert_names(exc, tmp_path / "JPEGImages", "does not exist")
    _davis(tmp_path, "a", 2)
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "davis", "b")
    _assert_names(exc, tmp_path / "JPEGImages" / "b", "does not exist")


def test_missing_frame_in_numbered_run(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 5)
    (tmp_path / "JPEGImages" / "s" / "00002.jpg").unlink()  # its GT mask stays
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "davis", "s")
    _assert_names(exc, tmp_path / "JPEGImages" / "s" / "00002.jpg", "missing frame in numbered run")


@pytest.mark.parametrize("ext", ["jpg", "png"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_image(tmp_path: Path, ext: str, keep: float) -> None:
    _davis(tmp_path, "s", 3, ext=ext)
    p = tmp_path / "JPEGImages" / "s" / f"00001.{ext}"
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "davis", "s"))
    _assert_names(exc, p, "unreadable or truncated image")


@pytest.mark.parametrize("payload", [b"", b"\x89PNG\r\n\x1a\n garbage that is not a png"])
def test_unreadable_png(tmp_path: Path, payload: bytes) -> None:
    _davis(tmp_path, "s", 3, ext="png")
    p = tmp_path / "JPEGImages" / "s" / "00002.png"
    p.write_bytes(payload)
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "davis", "s"))
    _assert_names(exc, p, "unreadable or truncated image")


def test_frames_of_different_sizes(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 3, ext="png")
    p = _save(tmp_path / "JPEGImages" / "s" / "00001.png", _frame(1, H + 2, W))
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "davis", "s"))
    _assert_names(exc, p, f"frame size {W}x{H + 2} differs from {W}x{H}")


def test_empty_sequence(tmp_path: Path) -> None:
    _davis(tmp_path, "full", 2)
    empty = tmp_path / "JPEGImages" / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no frames here")
    assert list_sequences(tmp_path, "davis") == ["empty", "full"]  # listing never opens files
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "davis", "empty"))
    _assert_names(exc, empty, "empty sequence")


def test_one_frame_sequence(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 1)
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "davis", "s"))
    _assert_names(exc, tmp_path / "JPEGImages" / "s" / "00000.jpg", "only one frame; need at least 2")


def test_undecodable_video(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 10)
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "video", "broken"))
    _assert_names(exc, bad, "video cannot be decoded")


def test_truncated_video(tmp_path: Path) -> None:
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for i in range(20):
        writer.write(np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "video", "cut")
    _assert_names(exc, path, "video is truncated or corrupt")


def test_one_frame_video(tmp_path: Path) -> None:
    _write_video(tmp_path / "single.avi", 1, "MJPG")
    with pytest.raises(InputError) as exc:
        load_frames(get_sequence(tmp_path, "video", "single"))
    _assert_names(exc, tmp_path / "single.avi", "only one frame")


def test_mask_of_wrong_size(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 3)
    bad = _save_L(tmp_path / "Annotations" / "s" / "00001.png", _mask(1, H, W + 4))
    info = get_sequence(tmp_path, "davis", "s")
    load_gt(info, ["00000"])  # the other masks are fine
    with pytest.raises(InputError) as exc:
        load_gt(info)
    _assert_names(exc, bad, f"mask size {W + 4}x{H} differs from frame size {W}x{H}")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_mask(tmp_path: Path, damage: str) -> None:
    _davis(tmp_path, "s", 3)
    bad = tmp_path / "Annotations" / "s" / "00002.png"
    data = bad.read_bytes()
    bad.write_bytes(b"not a png" if damage == "garbage" else data[: len(data) - 20])
    with pytest.raises(InputError) as exc:
        load_gt(get_sequence(tmp_path, "davis", "s"))
    _assert_names(exc, bad, "unreadable or truncated mask")


def test_mask_without_frame(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 3)
    bad = _save_L(tmp_path / "Annotations" / "s" / "00009.png", _mask(0))
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "davis", "s")
    _assert_names(exc, bad, "matches no frame")


def test_duplicate_frame_stems(tmp_path: Path) -> None:
    _davis(tmp_path, "s", 3)
    dup = _save(tmp_path / "JPEGImages" / "s" / "00001.png", _frame(1))
    with pytest.raises(InputError, match="two frames named '00001'") as exc:
        get_sequence(tmp_path, "davis", "s")
    assert str(dup.parent) in str(exc.value)


def test_non_ascii_and_space_paths(tmp_path: Path) -> None:
    root = tmp_path / "données vidéo" / "DAVIS 2016"
    _davis(root, "cygne noir", 3)
    assert list_sequences(root, "davis") == ["cygne noir"]
    info = get_sequence(root, "davis", "cygne noir")
    assert load_frames(info).shape == (3, H, W, 3)
    np.testing.assert_array_equal(load_gt(info)["00002"], _mask(2))
    _write_video(root / "vidéo 1.avi", 3, "MJPG")
    assert load_frames(get_sequence(root, "video", "vidéo 1")).shape == (3, H, W, 3)


# -------------------------------------------------------------------------------------------------- real DAVIS


@pytest.mark.shared_data
def test_real_davis2016(shared_data: Path) -> None:
    root = shared_data / "DAVIS2016"
    if not root.is_dir():
        pytest.skip(f"DAVIS-2016 sequences not found at {root}")
    names = list_sequences(root, "davis")
    assert len(names) == 13 and "blackswan" in names
    info = get_sequence(root, "davis", "blackswan")
    frames = load_frames(info)
    assert frames.shape == (50, 480, 854, 3)
    gt = load_gt(info)
    assert len(gt) == 50 and gt["00000"].shape == (480, 854)
    frac = np.mean([m.mean() for m in gt.values()])
    assert 0.02 < frac < 0.5  # the swan covers part of the frame
