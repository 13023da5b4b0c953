"""The one copy of each geometry helper (motionseg.flow.geometry) and of the resume helpers (motionseg.io.resume):
the pixel-centre convention for coordinates between resolutions, the working-size rule, the resize rules."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionseg.flow.geometry import (
    resize_flow,
    resize_frames,
    resize_masks,
    scale_points,
    working_size,
)
from motionseg.io.resume import SigtermFlag, fingerprint
from motionseg.tracks.blocks import TrackBlocks
from motionseg.tracks.queries import grid_points
from motionseg.tracks.store import load_tracks, save_tracks

# (working -> original) factors: integer, fractional (DAVIS 424 -> 854 columns), shrinking
SCALES = [(2.0, 2.0), (4.0, 4.0), (854 / 424, 480 / 240), (0.5, 0.25), (1.0, 1.0)]


@pytest.mark.parametrize("s", SCALES)
def test_pixel_centres_map_to_pixel_centres(s: tuple[float, float]) -> None:
    """Image borders map to image borders, and for an integer factor the centre of working pixel i is the centre of the
    block of original pixels it covers: i*s .. i*s+s-1, mean (i + 0.5) s - 0.5 (not i * s)."""
    w, h = 12, 7
    border = np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]])
    np.testing.assert_allclose(scale_points(border, s), [[-0.5, -0.5], [w * s[0] - 0.5, h * s[1] - 0.5]], atol=1e-12)
    if float(s[0]).is_integer() and float(s[1]).is_integer():
        i = np.arange(w, dtype=np.float64)
        block_centre = np.array([np.arange(k * s[0], (k + 1) * s[0]).mean() for k in i])
        np.testing.assert_allclose(scale_points(np.stack([i, i], 1), s)[:, 0], block_centre, atol=1e-12)
    # the centre pixel of an odd-sized image stays the centre at every scale
    centre = np.array([[(w - 1) / 2, (h - 1) / 2]])
    np.testing.assert_allclose(scale_points(centre, s), [[(w * s[0] - 1) / 2, (h * s[1] - 1) / 2]], atol=1e-12)


@pytest.mark.parametrize("s", SCALES)
def test_round_trip_and_dtypes(s: tuple[float, float]) -> None:
    pts = np.random.default_rng(0).uniform(-3, 900, (50, 2)).astype(np.float32)
    pts[3] = np.nan
    back = scale_points(scale_points(pts, s), (1 / s[0], 1 / s[1]))
    assert back.dtype == np.float32 and scale_points(pts.astype(np.float64), s).dtype == np.float64
    np.testing.assert_allclose(back, pts, rtol=0, atol=2e-4)
    assert np.isnan(back[3]).all()


def test_convention_matches_image_resizing() -> None:
    """A blob drawn at sub-pixel position p in a 4x larger image, shrunk with the frame resize (area), has its centroid
    at scale_points(p, 1/4): the convention of the resized frames, which trackers see."""
    H, W, s = 96, 160, 4
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    p = np.array([61.3, 37.8])
    img = 255 * np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 6.0**2))
    frames = np.repeat(img.round().astype(np.uint8)[None, ..., None], 3, axis=-1)
    small = resize_frames(frames, (H // s, W // s))[0, ..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : H // s, 0 : W // s]
    centroid = np.array([(xs * small).sum(), (ys * small).sum()]) / small.sum()
    want = scale_points(p, (1 / s, 1 / s))
    np.testing.assert_allclose(centroid, want, atol=0.02)
    assert np.abs(centroid - p / s).max() > 0.3  # plain x / s is off by 0.5 (1 - 1/s) px


def test_track_blocks_store_original_pixels_by_the_convention(tmp_path: Path) -> None:
    """The tracks code converts with scale_points both ways, in float32 (float16 rounded beyond 512 px)."""
    s = (854 / 424, 2.0)
    pts = grid_points((240, 424), 8)  # working-pixel cell centres, as the trackers seed them
    blocks = TrackBlocks(3, s)
    col = blocks.add(0, len(pts))
    blocks.put(0, np.arange(col, col + len(pts)), pts)
    np.testing.assert_allclose(blocks.visible_points(0), pts, rtol=0, atol=1e-4)
    tracks, visible, qf = blocks.result()
    assert tracks.dtype == np.float32 and visible[0].all() and not visible[1:].any()
    np.testing.assert_array_equal(tracks[0], scale_points(pts, s))
    assert tracks[0, :, 0].max() > 840  # DAVIS-wide positions
    save_tracks(tmp_path / "t.npz", tracks, visible, qf, {})
    np.testing.assert_array_equal(load_tracks(tmp_path / "t.npz").tracks, tracks)  # float32 on disk, no rounding


def test_working_size_rule() -> None:
    assert working_size(480, 854, None) == (480, 854)
    assert working_size(480, 854, 240) == (240, 424)
    assert working_size(480, 854, 480) == (480, 856)  # a given height always rounds the width
    assert working_size(120, 216, 240) == (240, 432)  # enlarges by default (flow.compute_height)
    assert working_size(120, 216, 240, enlarge=False) == (120, 216)  # the evidence never enlarges
    assert working_size(240, 424, 120, enlarge=False) == (120, 208)  # 212 -> 208 (round half to even)
    assert working_size(1000, 10, 100) == (100, 8)


def test_resize_rules() -> None:
    # frames: area when shrinking (averages), bilinear when enlarging, untouched when the size matches
    frames = np.zeros((1, 4, 4, 3), np.uint8)
    frames[:, ::2, ::2] = 255
    np.testing.assert_array_equal(resize_frames(frames, (2, 2)), np.full((1, 2, 2, 3), 64, np.uint8))
    assert resize_frames(frames, (4, 4)) is frames
    big = resize_frames(frames, (8, 8))
    np.testing.assert_array_equal(big[0], cv2.resize(frames[0], (8, 8), interpolation=cv2.INTER_LINEAR))
    # masks: nearest, boolean out, no new values
    m = np.zeros((4, 6), bool)
    m[1:3, 2:5] = True
    up = resize_masks(m, (8, 12))
    assert up.dtype == bool and up.sum() == 4 * m.sum()
    np.testing.assert_array_equal(resize_masks(up[None], (4, 6))[0], m)
    # flow: vectors rescaled to the new pixels
    flow = np.zeros((10, 20, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0, -2.0
    small = resize_flow(flow, (5, 5))
    np.testing.assert_allclose(small[..., 0], 1.0)
    np.testing.assert_allclose(small[..., 1], -1.0)


def test_fingerprint_covers_files_dirs_and_settings(tmp_path: Path) -> None:
    f = tmp_path / "frames.npz"
    f.write_bytes(b"abc")
    d = tmp_path / "flow"
    d.mkdir()
    (d / "meta.json").write_text("{}")
    base = fingerprint({"a": 1}, [f], [d, None])
    assert len(base) == 64 and base == fingerprint({"a": 1}, [f], [d])
    assert fingerprint({"a": 2}, [f], [d]) != base
    (d / "x.flo").write_bytes(b"12")
    with_file = fingerprint({"a": 1}, [f], [d])
    assert with_file != base
    f.write_bytes(b"abd")
    assert fingerprint({"a": 1}, [f], [d]) != with_file


def test_sigterm_flag_sets_and_restores() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SigtermFlag() as stop:
        assert not stop()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop()
    assert signal.getsignal(signal.SIGTERM) is before
    with SigtermFlag(enabled=False) as off:
        assert signal.getsignal(signal.SIGTERM) is before and not off()
