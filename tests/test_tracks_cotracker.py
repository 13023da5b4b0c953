"""The CoTracker adapter against stand-ins with the predictors' call signatures and output shapes (co-tracker 3.0,
cotracker/predictor.py), and against a real installed ``cotracker`` package when one is importable.

The stand-ins read the absolute frame index that the test writes into pixel (0, 0) of every frame, so they "see"
which frames the adapter sent, in which order, and move every query point by a known velocity per frame.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

from motionseg.flow.geometry import scale_points
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.tracks import cotracker as ct
from motionseg.tracks import load_tracks, run_tracks
from motionseg.tracks.queries import covered_cells, grid_points

VEL = np.array([1.0, 0.5], np.float32)  # px/frame at working resolution
HIDE_X = 30.0  # the stand-ins report points with x > HIDE_X as occluded


def make_frames(T: int = 24, hw: tuple[int, int] = (32, 48)) -> np.ndarray:
    """uint8 [T, h, w, 3] with the frame index in pixel (0, 0) of the red channel."""
    frames = np.random.default_rng(0).integers(0, 255, size=(T, *hw, 3), dtype=np.uint8)
    frames[:, 0, 0, 0] = np.arange(T)
    return frames


def _motion(video: torch.Tensor, queries: torch.Tensor, both_ways: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Tracks [T, N, 2] and visibility [T, N] of the queries under the known motion, using the encoded frame indices."""
    idx = video[0, :, 0, 0, 0]
    qt = queries[0, :, 0].long()
    xy = queries[0, :, 1:]
    dt = idx[:, None] - idx[qt.clamp(max=len(idx) - 1)][None, :]  # online: a query frame may not be seen yet
    tracks = xy[None] + dt[..., None] * torch.as_tensor(VEL)
    vis = tracks[..., 0] <= HIDE_X
    if not both_ways:  # forward-only trackers know nothing before the query frame
        before = torch.arange(video.shape[1])[:, None] < qt[None, :]
        tracks = torch.where(before[..., None], xy[None].expand_as(tracks), tracks)
        vis = vis & ~before
    return tracks, vis


class _Weights(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))


class StandInOffline(torch.nn.Module):
    """Same signature and outputs as ``CoTrackerPredictor.forward``: tracks [B, T, N, 2] float, visibility [B, T, N]
    bool; video [B, T, 3, H, W] float in 0..255; queries [B, N, 3] rows (t, x, y)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = _Weights()
        self.calls: list[dict] = []

    def forward(self, video, queries=None, segm_mask=None, grid_size=0, grid_query_frame=0, backward_tracking=False):
        assert video.dtype == torch.float32 and video.ndim == 5 and video.shape[2] == 3
        assert float(video.max()) <= 255.0 and float(video.max()) > 1.0, "video must be in 0..255"
        assert queries is not None and queries.ndim == 3 and queries.shape[2] == 3 and grid_size == 0
        assert (queries[0, :, 0] >= 0).all() and (queries[0, :, 0] < video.shape[1]).all()
        self.calls.append(
            {
                "T": video.shape[1],
                "hw": tuple(video.shape[3:]),
                "idx": video[0, :, 0, 0, 0].tolist(),
                "backward_tracking": backward_tracking,
                "n": queries.shape[1],
            }
        )
        tracks, vis = _motion(video, queries, both_ways=backward_tracking)
        return tracks[None], vis[None]


class StandInOnline(torch.nn.Module):
    """Same protocol as ``CoTrackerOnlinePredictor``: ``step`` attribute; a first call with ``is_first_step=True`` and
    queries returns (None, None); later calls get ``video[:, i:i + 2*step]`` for i = 0, step, ... and return tracks
    [B, T_seen, N, 2] / visibility [B, T_seen, N] for every frame seen so far (forward tracking only)."""

    step = 4

    def __init__(self) -> None:
        super().__init__()
        self.model = _Weights()
        self.passes = 0

    def forward(
        self, video_chunk, is_first_step=False, queries=None, grid_size=5, grid_query_frame=0, add_support_grid=False
    ):
        if is_first_step:
            assert queries is not None and queries.shape[0] == 1 and queries.shape[2] == 3
            self.queries, self.ind, self.frames = queries.clone(), 0, []
            self.passes += 1
            return (None, None)
        T = video_chunk.shape[1]
        assert T <= 2 * self.step
        for k in range(T):  # overlapping frames must be the same frames: the adapter slides by exactly `step`
            pos = self.ind + k
            if pos < len(self.frames):
                assert torch.equal(self.frames[pos], video_chunk[0, k])
            else:
                self.frames.append(video_chunk[0, k])
        self.ind += self.step
        video = torch.stack(self.frames)[None]
        tracks, vis = _motion(video, self.queries, both_ways=False)
        return tracks[None], vis[None]


def _gt(tracks: np.ndarray, qf: np.ndarray, scale: float) -> np.ndarray:
    """GT positions [T, N, 2] (output pixels) from each track's query point."""
    T = tracks.shape[0]
    q_xy = scale_points(tracks[qf, np.arange(len(qf))], (1 / scale, 1 / scale))  # working pixels
    dt = (np.arange(T)[:, None] - qf[None, :])[..., None]
    return scale_points(q_xy[None] + dt * VEL, (scale, scale))


@pytest.mark.parametrize("online", [False, True])
def test_adapter_windowing_queries_and_conversion(online):
    frames = make_frames()
    T, h, w = frames.shape[:3]
    pred = StandInOnline() if online else StandInOffline()
    tracks, vis, qf, passes = ct.track_cotracker(
        pred, frames, online=online, grid_stride=8, query_stride=6, window=10, scale_xy=(2.0, 2.0), progress=False
    )
    tracks = tracks.astype(np.float32)
    assert tracks.shape == (T, len(qf), 2) and vis.shape == (T, len(qf))
    assert set(np.unique(qf)) <= {0, 6, 12, 18}
    assert passes == len(np.unique(qf))
    if online:
        assert pred.passes == 2 * passes  # forwards and over the reversed clip
    else:
        assert [c["T"] for c in pred.calls] == [10] * passes and all(c["backward_tracking"] for c in pred.calls)
        # clips are centred on the query frame and shifted inwards: q=0 -> 0..9, q=6 -> 1..10, q=18 -> 13..22 ...
        starts = [int(c["idx"][0]) for c in pred.calls]
        for q, s in zip(np.unique(qf), starts, strict=True):
            assert s == min(max(q - 5, 0), T - 10)
            assert pred.calls[0]["hw"] == (h, w)
    # each track has positions exactly in its clip, matching the known motion, in original pixels
    known = np.isfinite(tracks).all(axis=2)
    for j in range(len(qf)):
        a, b = ct.clip_bounds(T, int(qf[j]), 10)
        assert known[a:b, j].all() and not known[:a, j].any() and not known[b:, j].any()
        assert not vis[:a, j].any() and not vis[b:, j].any()
    gt = _gt(tracks, qf, 2.0)
    np.testing.assert_allclose(tracks[known], gt[known], atol=1e-3)
    want = scale_points(gt, (0.5, 0.5))[..., 0] <= HIDE_X
    want[qf, np.arange(len(qf))] = True  # a query point is visible at its query frame (CoTracker echoes it too)
    np.testing.assert_array_equal(vis[known], want[known])
    assert (~want[known]).sum() > 10, "the test must include occluded points"
    # every point once: seeds of a query frame go only to cells that no earlier track visible there covers
    for q in np.unique(qf)[1:]:
        old = (qf < q) & vis[q]
        cov_old = covered_cells(scale_points(tracks[q, old], (0.5, 0.5)), (h, w), 8)
        cov_new = covered_cells(scale_points(tracks[q, qf == q], (0.5, 0.5)), (h, w), 8)
        assert not (cov_old & cov_new).any() and (cov_old | cov_new).all()


def test_adapter_rejects_wrong_output_shapes():
    class Wrong(StandInOffline):
        def forward(self, video, queries=None, **kw):
            t, v = super().forward(video, queries, **kw)
            return t[:, :-1], v

    with pytest.raises(RuntimeError, match="tracks of shape"):
        ct.track_cotracker(
            Wrong(), make_frames(12), online=False, grid_stride=8, query_stride=6, window=8, progress=False
        )


def test_run_tracks_cotracker_path(tmp_path, monkeypatch):
    frames = make_frames(16)
    path = tmp_path / "frames.npz"
    save_ingested(path, Ingested(frames, [f"{i:05d}" for i in range(16)], (64, 96), {"sequence": "s"}))
    ckpt = tmp_path / "scaled_offline.pth"
    torch.save(StandInOffline().model.state_dict(), ckpt)
    monkeypatch.setattr(ct, "build_predictor", lambda backend, repo: StandInOffline())
    cfg = {
        "grid_stride": 8,
        "query_stride": 6,
        "window": 8,
        "checkpoint": str(ckpt),
        "checkpoint_sha256": None,
        "cotracker_repo": None,
        "device": "cpu",
    }
    out = tmp_path / "t" / "s.npz"
    run_tracks(path, None, out, cfg, "cotracker3_offline", progress=False)
    ts = load_tracks(out)
    assert ts.meta["backend"] == "cotracker3_offline" and ts.meta["checkpoint_sha256"] == ct.sha256_file(ckpt)
    assert ts.meta["passes"] >= 1 and ts.meta["flow_backend"] is None
    known = np.isfinite(ts.tracks).all(axis=2)
    gt = _gt(ts.tracks, ts.query_frame, 2.0)
    np.testing.assert_allclose(ts.tracks[known], gt[known], atol=0.07)
    # a wrong digest or a checkpoint that does not fit the model are input errors naming the file
    out2 = tmp_path / "t" / "s2.npz"
    with pytest.raises(InputError, match="sha256"):
        run_tracks(path, None, out2, dict(cfg, checkpoint_sha256="0" * 64), "cotracker3_offline", progress=False)
    torch.save({"other": torch.zeros(2)}, ckpt)
    with pytest.raises(InputError, match="does not fit") as ei:
        run_tracks(path, None, out2, cfg, "cotracker3_offline", progress=False)
    assert ei.value.path == str(ckpt) and not out2.exists()


HAVE_COTRACKER = importlib.util.find_spec("cotracker") is not None
HUB_REPO = os.environ.get("MOTIONSEG_COTRACKER_REPO")  # a local co-tracker clone: also test the torch.hub route


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_COTRACKER, reason="the 'cotracker' package is not importable (not on PyPI; see README)")
@pytest.mark.parametrize("backend", ["cotracker3_offline", "cotracker3_online"])
def test_adapter_with_real_cotracker(tmp_path, backend):
    """The same adapter with the real predictor (random weights: checks plumbing, shapes and the query echo).

    Takes 2-5 minutes per backend on 2 busy CPU cores, seconds on a GPU. With MOTIONSEG_COTRACKER_REPO set to a
    local clone, the predictor is built through torch.hub.load(<clone>, ..., source="local") instead.
    """
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ckpt = tmp_path / "random.pth"
    torch.save(ct.build_predictor(backend, HUB_REPO).model.state_dict(), ckpt)
    pred = ct.load_predictor(backend, ckpt, HUB_REPO, device)
    frames = make_frames(T=8, hw=(48, 64))
    tracks, vis, qf, passes = ct.track_cotracker(
        pred,
        frames,
        online=ct.COTRACKER_BACKENDS[backend].online,
        grid_stride=16,
        query_stride=8,
        window=8,
        device=device,
        progress=False,
    )
    assert passes == 1 and tracks.shape == (8, 12, 2) and vis.shape == (8, 12)
    assert np.isfinite(tracks.astype(np.float32)).all()  # the window covers the whole 8-frame clip
    assert (qf == 0).all() and vis[0].all()
    np.testing.assert_allclose(tracks[0].astype(np.float32), grid_points((48, 64), 16), atol=0.01)  # query echo
