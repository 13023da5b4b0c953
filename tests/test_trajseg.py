"""trajseg (trajectory-level segmentation from the point tracks, motionseg.methods.trajseg) on synthetic videos whose
frames, flow and point trajectories are exact."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from flow_helpers import ArrayFlowSet, write_frames
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import motionseg.flow
from motionseg import registry
from motionseg.flow.synthetic import texture
from motionseg.io.errors import InputError
from motionseg.io.masks import read_mask_dir
from motionseg.methods import method_config
from motionseg.methods.bgfit import bgfit_sequence
from motionseg.methods.flowsource import FlowSource
from motionseg.methods.trajseg import (
    background_residuals,
    combine_evidence,
    partner_frames,
    track_graph,
    trajectory_scores,
    trajseg_sequence,
    work_positions,
)
from motionseg.settings import TrajsegSettings
from motionseg.tracks.store import TrackSet, save_tracks

REPO = Path(__file__).resolve().parents[1]
CFG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SIZE = 20  # object side in px


@dataclass
class Scene:
    """A rendered synthetic video: frames uint8 [T, h, w, 3], exact gap-1 flows, GT masks bool [K, T, h, w] of the
    objects, and exact point tracks (grid seeds of frame 0; layer 0 = background, k + 1 = object k)."""

    frames: np.ndarray
    flows: ArrayFlowSet
    gt: np.ndarray
    tracks: np.ndarray
    visible: np.ndarray
    track_layer: np.ndarray

    def trackset(self) -> TrackSet:
        return TrackSet(self.tracks, self.visible, np.zeros(self.tracks.shape[1], np.int32))


def offsets(T: int, start: tuple[int, int], velocities: list[tuple[int, tuple[int, int]]]) -> np.ndarray:
    """Integer top-left offsets int [T, 2] (x, y) from ``start`` with piecewise velocities: (first frame, (vx, vy))
    applies from that frame's step on."""
    out = np.zeros((T, 2), np.int64)
    out[0] = start
    for t in range(1, T):
        v = [v for t0, v in velocities if t0 <= t - 1][-1]
        out[t] = out[t - 1] + np.asarray(v)
    return out


def render(
    T: int, h: int, w: int, camera: np.ndarray, objects: list[np.ndarray], seed: int = 0, step: int = 4
) -> Scene:
    """Background texture shifted by ``camera`` [T, 2] (image offset of the world) under SIZE x SIZE textured squares
    at the top-left offsets ``objects`` [K][T, 2] (later objects on top)."""
    margin = int(np.abs(camera).max()) + 2
    bg = texture(h + 2 * margin, w + 2 * margin, seed, sigma=1.5).astype(np.float32)
    bg = (0.25 + 0.5 * bg / 255.0) * np.array([90, 200, 120], np.float32)  # greenish
    patches = [
        (0.3 + 0.7 * texture(SIZE, SIZE, seed + 1 + k, sigma=1.0) / 255.0) * np.array([250, 80, 60])
        for k in range(len(objects))
    ]  # reddish
    ys, xs = np.mgrid[0:h, 0:w]
    frames, layer = [], []
    for t in range(T):
        cx, cy = camera[t]
        img = bg[margin - cy : margin - cy + h, margin - cx : margin - cx + w].copy()
        lab = np.zeros((h, w), np.int64)
        for k, off in enumerate(objects):
            ox, oy = off[t]
            m = (xs >= ox) & (xs < ox + SIZE) & (ys >= oy) & (ys < oy + SIZE)
            img[m] = patches[k][ys[m] - oy, xs[m] - ox]
            lab[m] = k + 1
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        layer.append(lab)
    layer = np.stack(layer)
    offs = np.stack([camera, *objects]).astype(np.float32)  # [L, T, 2]: image offset of every layer
    vel = offs[:, 1:] - offs[:, :-1]  # [L, T-1, 2]
    fwd = np.stack([vel[layer[t], t] for t in range(T - 1)])
    bwd = np.stack([-vel[layer[t + 1], t] for t in range(T - 1)])
    # exact trajectories of grid points seeded at frame 0 on the layer on top there
    gy, gx = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    seeds = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    tl = layer[0][gy.ravel(), gx.ravel()]
    tracks = seeds[None] + offs[tl].transpose(1, 0, 2) - offs[tl, 0][None]  # [T, N, 2]
    xi, yi = np.rint(tracks[..., 0]).astype(int), np.rint(tracks[..., 1]).astype(int)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    on_top = np.zeros_like(inside)
    for t in range(T):
        ok = inside[t]
        on_top[t, ok] = layer[t][yi[t, ok], xi[t, ok]] == tl[ok]
    tracks = np.where(on_top[..., None], tracks, np.nan).astype(np.float32)
    gt = np.stack([layer == k + 1 for k in range(len(objects))])
    return Scene(np.stack(frames), ArrayFlowSet(fwd, bwd), gt, tracks, on_top, tl)


def acceptance_scene(T: int = 24, h: int = 96, w: int = 128) -> Scene:
    """The issue's example: the camera pans 1 px/frame; object A moves exactly with it for the first 8 frames, then
    on its own; object B moves on its own all along."""
    camera = offsets(T, (0, 0), [(0, (1, 0))])
    a = offsets(T, (20, 30), [(0, (1, 0)), (8, (0, 2))])
    b = offsets(T, (84, 16), [(0, (-1, 1))])
    return render(T, h, w, camera, [a, b])


def render_parallax(T: int, h: int, w: int, speed: np.ndarray, obj: np.ndarray, seed: int = 0, step: int = 4) -> Scene:
    """Parallax: background row y moves right by ``speed[y]`` px per frame (float [h]; depth varies with the row, so
    no single homography maps one frame to another) under one SIZE x SIZE textured square at the integer top-left
    offsets ``obj`` [T, 2]. Frames rendered by bilinear remapping; flows and tracks (grid seeds of frame 0; layer
    0 = background, 1 = the square) exact."""
    margin = int(np.ceil(speed.max() * T)) + 2
    bg = texture(h, w + 2 * margin, seed, sigma=1.5).astype(np.float32)
    bg = (0.25 + 0.5 * bg / 255.0) * np.array([90, 200, 120], np.float32)
    patch = (0.3 + 0.7 * texture(SIZE, SIZE, seed + 1, sigma=1.0) / 255.0) * np.array([250, 80, 60])
    ys, xs = np.mgrid[0:h, 0:w]
    frames, layer = [], []
    for t in range(T):
        img = cv2.remap(
            bg, (xs - t * speed[:, None] + margin).astype(np.float32), ys.astype(np.float32), cv2.INTER_LINEAR
        )
        ox, oy = obj[t]
        m = (xs >= ox) & (xs < ox + SIZE) & (ys >= oy) & (ys < oy + SIZE)
        img[m] = patch[ys[m] - oy, xs[m] - ox]
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
        layer.append(m)
    layer = np.stack(layer)
    vel = (obj[1:] - obj[:-1]).astype(np.float32)
    bg_flow = np.zeros((h, w, 2), np.float32)
    bg_flow[..., 0] = speed[:, None]
    fwd = np.stack([np.where(layer[t][..., None], vel[t], bg_flow) for t in range(T - 1)])
    bwd = np.stack([np.where(layer[t + 1][..., None], -vel[t], -bg_flow) for t in range(T - 1)])
    gy, gx = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    seeds = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    tl = layer[0][gy.ravel(), gx.ravel()].astype(np.int64)
    bg_tracks = seeds[None] + np.arange(T)[:, None, None] * np.stack([speed[gy.ravel()], 0 * gy.ravel()], 1)[None]
    obj_tracks = seeds[None] + (obj - obj[0])[:, None].astype(np.float32)
    tracks = np.where(tl[None, :, None] == 1, obj_tracks, bg_tracks)
    xi, yi = np.rint(tracks[..., 0]).astype(int), np.rint(tracks[..., 1]).astype(int)
    on_top = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    for t in range(T):
        ok = on_top[t]
        on_top[t, ok] = layer[t][yi[t, ok], xi[t, ok]] == (tl[ok] == 1)
    tracks = np.where(on_top[..., None], tracks, np.nan).astype(np.float32)
    return Scene(np.stack(frames), ArrayFlowSet(fwd, bwd), layer[None], tracks, on_top, tl)


def parallax_scene(T: int = 12, h: int = 96, w: int = 128) -> Scene:
    """A camera translating over a ground plane whose displacement grows with y (0.3 + y/h px/frame) plus a steep
    bulge near the camera (4 (y/h)^4); the square moves up and right by (1, -2) px/frame."""
    yn = np.arange(h) / h
    return render_parallax(T, h, w, 0.3 + yn + 4 * yn**4, offsets(T, (60, 30), [(0, (1, -2))]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def object_iou(fg: np.ndarray, gt: np.ndarray, pad: int = 8) -> float:
    """IoU of one object's GT mask gt [h, w] with the mask fg [h, w] inside the object's box grown by ``pad`` px
    (the objects of the scenes are farther apart than that, so the other object's mask does not count)."""
    ys, xs = np.nonzero(gt)
    box = np.zeros_like(gt)
    box[max(ys.min() - pad, 0) : ys.max() + 1 + pad, max(xs.min() - pad, 0) : xs.max() + 1 + pad] = True
    return iou(fg & box, gt)


def test_trajectories_find_an_object_while_it_moves_with_the_camera_where_two_frame_methods_cannot() -> None:
    sc = acceptance_scene()
    T = len(sc.frames)
    src = FlowSource(sc.flows, T, frames=sc.frames)
    probs, info = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], method_config(CFG, "trajseg"), seed=0)
    assert probs.shape == (T, 2, *sc.frames.shape[1:3])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    fg = probs[:, 1] > 0.5
    early = range(0, 7)  # A moves exactly with the camera up to frame 8
    traj_a = np.mean([object_iou(fg[t], sc.gt[0, t]) for t in early])
    traj_b = np.mean([object_iou(fg[t], sc.gt[1, t]) for t in range(T)])
    assert traj_a > 0.5 and traj_b > 0.5, (traj_a, traj_b)
    background = ~(sc.gt[0] | sc.gt[1])
    assert (fg & background).sum() < 0.1 * (sc.gt[0] | sc.gt[1]).sum()  # few false positives
    assert info["n_fit_failures"] == 0 and info["n_frames_without_tracks"] == 0
    # the two-frame methods: bgfit (evidence of the flows t <-> t+-1, smoothed and refined) sees B but not A
    bg_probs, _ = bgfit_sequence(src, method_config(CFG, "bgfit"), seed=0)
    bg_fg = bg_probs[:, 1] > 0.5
    bgfit_a = np.mean([object_iou(bg_fg[t], sc.gt[0, t]) for t in early])
    bgfit_b = np.mean([object_iou(bg_fg[t], sc.gt[1, t]) for t in early])
    assert bgfit_a < 0.2 and bgfit_b > 0.5, (bgfit_a, bgfit_b)


def test_affinity_separates_objects_that_move_alike_for_a_while_and_joins_each_object() -> None:
    """C and D touch and move together for 6 frames, then apart: the affinity of their tracks is low, that of the
    tracks within each object high, and the graph thresholded at 0.5 keeps them in different components."""
    T, h, w = 16, 64, 96
    camera = offsets(T, (0, 0), [(0, (0, 0))])
    c = offsets(T, (30, 20), [(0, (2, 0)), (6, (2, -1))])
    d = offsets(T, (30 + SIZE, 20), [(0, (2, 0)), (6, (0, 2))])
    sc = render(T, h, w, camera, [c, d], step=3)
    noisy = sc.tracks + np.random.default_rng(0).normal(0, 0.05, sc.tracks.shape).astype(np.float32)
    own = TrajsegSettings.from_dict(CFG["trajseg"])
    pos = work_positions(noisy, sc.visible, (1.0, 1.0))
    disp, _, sigma, _ = background_residuals(pos, partner_frames(T, own.gap), own, seed=0)
    i, j, dist = track_graph(pos, disp, sigma, own.n_neighbours)
    aff = np.exp(-dist / own.affinity_scale)
    li, lj = sc.track_layer[i], sc.track_layer[j]
    within_c, within_d = (li == 1) & (lj == 1), (li == 2) & (lj == 2)
    across = ((li == 1) & (lj == 2)) | ((li == 2) & (lj == 1))
    assert within_c.sum() > 20 and within_d.sum() > 20 and across.sum() > 5
    assert aff[within_c].mean() > 0.8 and aff[within_d].mean() > 0.8
    assert aff[across].max() < 0.05
    n = sc.tracks.shape[1]
    strong = aff > 0.5
    _, comp = connected_components(coo_matrix((aff[strong], (i[strong], j[strong])), shape=(n, n)), directed=False)
    assert not set(comp[sc.track_layer == 1]) & set(comp[sc.track_layer == 2])
    # while they move alike, the displacements of C and D agree (a two-frame affinity could not tell them apart)
    both = np.isfinite(disp[0]).all(-1)
    dc = disp[0, both & (sc.track_layer == 1)].mean(0)
    dd = disp[0, both & (sc.track_layer == 2)].mean(0)
    assert np.linalg.norm(dc - dd) < 0.1


def test_same_seed_same_masks_and_the_seed_draws_the_track_subsample() -> None:
    sc = acceptance_scene(T=12, h=64, w=96)
    cfg = method_config(CFG, "trajseg")
    cfg["max_tracks"] = 150  # fewer than the tracks: the subsample depends on the seed
    assert sc.tracks.shape[1] > 150
    src = FlowSource(sc.flows, len(sc.frames), frames=sc.frames)
    a, info = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=5)
    b, _ = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=5)
    c, _ = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=6)
    assert info["n_tracks_used"] == 150 and (a[:, 1] > 0.5).any()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_evidence_weight_blends_in_the_two_frame_evidence() -> None:
    """evidence_weight 1 is the two-frame evidence alone: it loses A while A moves with the camera; 0 finds it."""
    sc = acceptance_scene(T=12, h=64, w=96)
    src = FlowSource(sc.flows, len(sc.frames), frames=sc.frames)
    found = {}
    for weight in (0.0, 1.0):
        cfg = {**method_config(CFG, "trajseg"), "evidence_weight": weight}
        probs, _ = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=0)
        found[weight] = np.mean([object_iou(probs[t, 1] > 0.5, sc.gt[0, t]) for t in range(5)])
    assert found[0.0] > 0.5 and found[1.0] < 0.2, found


def _write_inputs(tmp_path: Path, sc: Scene, tracks: np.ndarray, visible: np.ndarray) -> dict[str, Path]:
    frames = write_frames(tmp_path / "seq.npz", sc.frames)
    track_file = tmp_path / "seq_tracks.npz"
    save_tracks(track_file, tracks, visible, np.zeros(tracks.shape[1], np.int32), {"backend": "synthetic"})
    return {"frames": frames, "flow": tmp_path / "flow", "tracks": track_file}


def test_registry_run_writes_a_mask_dir_and_counts_frames_without_tracks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = acceptance_scene(T=12, h=64, w=96)
    monkeypatch.setattr(motionseg.flow, "load_flow", lambda d: sc.flows)
    visible = sc.visible.copy()
    visible[-1] = False  # no track visible in the last frame
    inputs = _write_inputs(tmp_path, sc, sc.tracks, visible)
    registry.run_method("trajseg", inputs, tmp_path / "masks", method_config(CFG, "trajseg"), seed=0)
    ms = read_mask_dir(tmp_path / "masks")
    T, h, w = sc.frames.shape[:3]
    assert ms.fg.shape == (T, h, w) and ms.probs.shape == (T, 2, h, w)
    assert list(ms.fg_segments) == [False, True]
    meta = json.loads((tmp_path / "masks" / "meta.json").read_text())
    assert meta["method"] == "trajseg" and meta["mode"] == "offline" and meta["oracle"] is False
    assert meta["fg_rule"] and meta["n_tracks"] == sc.tracks.shape[1] and meta["n_frames_without_tracks"] == 1
    assert 0 < meta["n_fg_tracks"] < meta["n_tracks_used"] <= meta["n_tracks"]
    assert registry.spec("trajseg").uses_tracks and not registry.spec("trajseg").gpu
    assert not ms.fg[-1].any()  # no tracks: p = 0
    assert np.mean([object_iou(ms.fg[t], sc.gt[1, t]) for t in range(T - 1)]) > 0.5


def test_a_track_file_of_another_length_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = acceptance_scene(T=12, h=64, w=96)
    monkeypatch.setattr(motionseg.flow, "load_flow", lambda d: sc.flows)
    longer = np.concatenate([sc.tracks, sc.tracks[-1:]])
    inputs = _write_inputs(tmp_path, sc, longer, np.concatenate([sc.visible, sc.visible[-1:]]))
    with pytest.raises(InputError, match="13 frames") as err:
        registry.run_method("trajseg", inputs, tmp_path / "masks", method_config(CFG, "trajseg"), seed=0)
    assert str(inputs["tracks"]) in str(err.value)
    assert not (tmp_path / "masks").exists()


def test_poly_background_follows_parallax_that_a_homography_cannot() -> None:
    """With one homography the near rows of the ground are called moving (scores above the fg threshold, a band of
    false foreground); the robust polynomial follows them, so only the square scores high."""
    sc = parallax_scene()
    T = len(sc.frames)
    src = FlowSource(sc.flows, T, frames=sc.frames)
    bg, obj = sc.track_layer == 0, sc.track_layer == 1
    scores, masks = {}, {}
    for background in ("homography", "poly"):
        cfg = {**method_config(CFG, "trajseg"), "background": background}
        # border_drop would hide the false band: it spans the frame from border to border (rows move alike)
        cfg["refine"] = {**cfg["refine"], "border_drop": 0.0}
        own = TrajsegSettings.from_dict({k: v for k, v in cfg.items() if k not in ("evidence", "refine")})
        pos = work_positions(sc.tracks, sc.visible, (1.0, 1.0))
        _, z, _, failures = background_residuals(pos, partner_frames(T, own.gap), own, seed=0)
        scores[background] = trajectory_scores(z, own.score_quantile)
        assert failures == 0
        probs, _ = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=0)
        masks[background] = probs[:, 1] > 0.5
    hom, poly = scores["homography"], scores["poly"]
    assert (hom[bg] > own.fg_threshold).mean() > 0.1  # the homography leaves the parallax as residual ...
    assert np.quantile(poly[bg], 0.99) < 1.0 and poly[obj].min() > 2 * own.fg_threshold  # ... the polynomial not
    j = {k: np.mean([iou(m[t], sc.gt[0, t]) for t in range(T)]) for k, m in masks.items()}
    assert j["homography"] < 0.3 and j["poly"] > 0.8, j


def test_combine_evidence_mean_and_max() -> None:
    p_traj = np.array([[0.0, 0.9, 0.2]], np.float32)
    p_ev = np.array([[0.8, 0.0, 0.4]], np.float32)
    np.testing.assert_allclose(combine_evidence(p_traj, p_ev, 0.25, "mean"), [[0.2, 0.675, 0.25]], atol=1e-6)
    np.testing.assert_allclose(combine_evidence(p_traj, p_ev, 0.5, "max"), [[0.4, 0.9, 0.2]], atol=1e-6)
    assert CFG["trajseg"]["evidence_combine"] == "mean" and CFG["trajseg"]["background"] == "homography"


def test_evidence_combine_max_keeps_what_only_the_tracks_see() -> None:
    """evidence_weight 1: ``mean`` is the two-frame evidence alone and loses A while A moves with the camera
    (test_evidence_weight_blends_in_the_two_frame_evidence); ``max`` adds the tracks' foreground back."""
    sc = acceptance_scene(T=12, h=64, w=96)
    src = FlowSource(sc.flows, len(sc.frames), frames=sc.frames)
    found = {}
    for how in ("mean", "max"):
        cfg = {**method_config(CFG, "trajseg"), "evidence_weight": 1.0, "evidence_combine": how}
        probs, _ = trajseg_sequence(src, sc.trackset(), sc.frames.shape[1:3], cfg, seed=0)
        found[how] = np.mean([object_iou(probs[t, 1] > 0.5, sc.gt[0, t]) for t in range(5)])
    assert found["max"] > 0.5 and found["mean"] < 0.2, found
