"""Training data on arrays: frames, flows and tracks of several sequences at the network resolution, and batches
drawn deterministically from (seed, iteration) so that a resumed run sees exactly the batches it would have seen."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from motionseg.flow.geometry import resize_flow, resize_frames


@dataclass
class TrackData:
    """Point tracks of one sequence prepared for the trajectory losses.

    xy: float32 [T, N, 2] (x, y) in original-frame pixels, non-finite entries filled from the nearest finite frame,
    clamped and temporally smoothed; visible: bool [T, N]; orig_hw: (H, W) of the original frames; usable: bool
    [N] tracks visible in more than the configured fraction of frames.
    """

    xy: np.ndarray
    visible: np.ndarray
    orig_hw: tuple[int, int]
    usable: np.ndarray


@dataclass
class SequenceData:
    """One sequence at the network resolution.

    images: float32 [T, 3, h, w] RGB in [0, 1]; flows: signed gap g -> float32 [T, 2, h, w] where entry t is the flow
    from frame t to frame t+g in network-resolution pixels (NaN-free; only frames with 0 <= t+g < T are valid, the
    others are zeros and never sampled); tracks: :class:`TrackData` or None; pseudo: float32 [T, h, w] foreground
    probability of a GT-free motion method (train.pseudo_labels) or None.
    """

    images: torch.Tensor
    flows: dict[int, torch.Tensor]
    tracks: TrackData | None
    pseudo: torch.Tensor | None = None

    @property
    def n_frames(self) -> int:
        return int(self.images.shape[0])

    def valid_gaps(self, t: int) -> list[int]:
        """Gaps whose flow exists for frame ``t``, in sorted order."""
        return [g for g in sorted(self.flows) if 0 <= t + g < self.n_frames]


def frames_tensor(frames: np.ndarray, hw: tuple[int, int]) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [T, 3, h, w] in [0, 1] at ``hw`` = (h, w), resized by
    :func:`motionseg.flow.geometry.resize_frames` (area when shrinking, bilinear when enlarging)."""
    small = resize_frames(np.asarray(frames, dtype=np.uint8), hw)
    out = small.astype(np.float32) / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))


def prepare_flows(forward: dict[int, np.ndarray], backward: dict[int, np.ndarray], n_frames: int,
                  hw: tuple[int, int], gaps: list[int]) -> dict[int, torch.Tensor]:
    """Arrange flows by signed gap at network resolution.

    forward[g]: float [T-g, H, W, 2], element t = flow t -> t+g; backward[g]: float [T-g, H, W, 2], element i = flow
    i+g -> i. ``gaps``: signed gaps to keep (a gap whose flow is missing raises ValueError). Returns signed gap ->
    float32 [T, 2, h, w] (entry t = flow from frame t to t+gap, zeros where t+gap is outside the sequence).
    """
    out: dict[int, torch.Tensor] = {}
    for g in gaps:
        if g == 0:
            raise ValueError("flow gap 0 is not a motion")
        src = forward if g > 0 else backward
        if abs(g) not in src:
            raise ValueError(
                f"flow for gap {g} is missing (have forward {sorted(forward)}, backward {sorted(backward)})"
            )
        arr = np.asarray(src[abs(g)])
        if arr.shape[0] != n_frames - abs(g):
            raise ValueError(f"flow for gap {g} has {arr.shape[0]} fields, expected {n_frames - abs(g)}")
        full = np.zeros((n_frames, 2, *hw), dtype=np.float32)
        res = np.nan_to_num(resize_flow(arr, hw).transpose(0, 3, 1, 2), nan=0.0, posinf=0.0, neginf=0.0)
        if g > 0:
            full[: n_frames - g] = res
        else:
            full[abs(g):] = res
        out[g] = torch.from_numpy(full)
    return out


def _fill_nonfinite(xy: np.ndarray) -> np.ndarray:
    """Fill non-finite track positions [T, N, 2] from the nearest earlier finite frame, then the nearest later one."""
    xy = xy.copy()
    ok = np.isfinite(xy).all(axis=-1)  # [T, N]
    t_idx = np.arange(len(xy))[:, None]
    last = np.maximum.accumulate(np.where(ok, t_idx, -1), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(ok, t_idx, len(xy)), 0), axis=0), 0)
    src = np.where(last >= 0, last, np.where(nxt < len(xy), nxt, -1))
    cols = np.broadcast_to(np.arange(xy.shape[1]), src.shape)
    has = src >= 0
    filled = np.zeros_like(xy)
    filled[has] = xy[src[has], cols[has]]
    return filled


def prepare_tracks(tracks: np.ndarray, visible: np.ndarray, orig_hw: tuple[int, int], filter_len: int,
                   min_visible: float) -> TrackData:
    """Sanitise tracks [T, N, 2] (original px) and visibility [T, N] as LRTL does.

    Non-finite positions are filled, positions are clamped to +-20 frame sizes, a centred moving average of
    ``filter_len`` frames (shorter at the ends) smooths each track, and tracks visible in more than ``min_visible``
    of the frames are marked usable.
    """
    tracks = np.asarray(tracks, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    if tracks.ndim != 3 or tracks.shape[-1] != 2 or visible.shape != tracks.shape[:2]:
        raise ValueError(f"tracks [T,N,2] and visible [T,N] expected, got {tracks.shape}, {visible.shape}")
    h, w = orig_hw
    xy = _fill_nonfinite(tracks)
    xy[..., 0] = np.clip(xy[..., 0], -20 * w, 20 * w)
    xy[..., 1] = np.clip(xy[..., 1], -20 * h, 20 * h)
    if filter_len > 1:
        t = torch.from_numpy(xy.transpose(1, 2, 0).reshape(-1, 1, len(xy)))
        t = F.avg_pool1d(t, filter_len, stride=1, padding=filter_len // 2, count_include_pad=False)
        xy = t[..., : len(xy)].reshape(xy.shape[1], 2, len(xy)).numpy().transpose(2, 0, 1)
    usable = visible.mean(axis=0) > min_visible
    return TrackData(xy=xy.astype(np.float32), visible=visible, orig_hw=(int(h), int(w)), usable=usable)


@dataclass
class Sample:
    """One training image: sequence index, frame, signed flow gap, horizontal flip, and (LRTL) its paired frame."""

    seq: int
    frame: int
    gap: int
    flip: bool
    pair: int | None = None


def draw_batch(rng: np.random.Generator, data: list[SequenceData], batch_size: int, paired: bool,
               pair_offset: int, flip: bool) -> list[Sample]:
    """Draw ``batch_size`` samples: sequences uniformly, frames uniformly, a gap among those valid for the frame.

    With ``paired`` the batch holds batch_size / 2 pairs (t, t +- pair_offset, clamped into the sequence) sharing a
    flip; element 2i is frame t and element 2i+1 its partner (``pair`` fields point at each other).
    """
    n_draw = batch_size // 2 if paired else batch_size
    out: list[Sample] = []
    for _ in range(n_draw):
        s = int(rng.integers(len(data)))
        seq = data[s]
        t = int(rng.integers(seq.n_frames))
        fl = bool(flip and rng.random() < 0.5)
        frames = [t]
        if paired:
            sign = 1 if rng.random() < 0.5 else -1
            t2 = min(max(t + sign * pair_offset, 0), seq.n_frames - 1)
            frames.append(t2)
        for i, fr in enumerate(frames):
            gaps = seq.valid_gaps(fr)
            if not gaps:
                raise ValueError(f"sequence {s} frame {fr} has no flow for any configured gap")
            g = gaps[int(rng.integers(len(gaps)))]
            pair = None if not paired else len(out) + (1 if i == 0 else -1)
            out.append(Sample(seq=s, frame=fr, gap=g, flip=fl, pair=pair))
    return out


def batch_tensors(data: list[SequenceData], samples: list[Sample]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Images float [B, 3, h, w], flows float [B, 2, h, w] and pseudo-labels float [B, h, w] (None unless every
    sequence has them) of ``samples``; flipped samples are mirrored (u negated)."""
    imgs, flows, pseudo = [], [], []
    with_pseudo = all(data[s.seq].pseudo is not None for s in samples)
    for s in samples:
        img = data[s.seq].images[s.frame]
        fl = data[s.seq].flows[s.gap][s.frame]
        ps = data[s.seq].pseudo[s.frame] if with_pseudo else None
        if s.flip:
            img = img.flip(-1)
            fl = fl.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1)
            ps = ps.flip(-1) if ps is not None else None
        imgs.append(img)
        flows.append(fl)
        pseudo.append(ps)
    return torch.stack(imgs), torch.stack(flows), torch.stack(pseudo) if with_pseudo else None


def resize_prob(prob: np.ndarray, hw: tuple[int, int]) -> torch.Tensor:
    """float [T, H, W] probabilities in [0, 1] -> float32 [T, h, w] (area interpolation; linear when enlarging)."""
    h, w = hw
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 3:
        raise ValueError(f"probabilities [T, H, W] expected, got shape {prob.shape}")
    interp = cv2.INTER_AREA if prob.shape[1] >= h else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(p, (w, h), interpolation=interp) for p in prob])
    return torch.from_numpy(np.clip(out, 0.0, 1.0))


@dataclass
class TrackBatch:
    """Tracks sampled for one frame: traj float [D, N] (x rows then y rows over the context window, original px),
    pos float [N, 2] positions in the frame itself, pos_pair float [N, 2] and vis_pair bool [N] at the paired frame
    (None when unpaired), orig_hw (H, W)."""

    traj: torch.Tensor
    pos: torch.Tensor
    pos_pair: torch.Tensor | None
    vis_pair: torch.Tensor | None
    orig_hw: tuple[int, int]


def sample_tracks(rng: np.random.Generator, td: TrackData, frame: int, pair: int | None, flip: bool,
                  n_tracks: int, context: int) -> TrackBatch | None:
    """Sample ``n_tracks`` usable tracks visible at ``frame`` (with replacement only when too few exist).

    The trajectory window holds 2*context+1 frames centred on ``frame`` (shifted inwards at the ends; the whole
    sequence when it is shorter). Returns None when no track is usable at this frame.
    """
    cand = np.flatnonzero(td.visible[frame] & td.usable)
    if cand.size == 0:
        return None
    replace = cand.size < n_tracks
    idx = np.sort(rng.choice(cand, size=n_tracks, replace=replace))
    n_t = td.xy.shape[0]
    f = min(2 * context + 1, n_t)
    start = min(max(frame - context, 0), n_t - f)
    xy = td.xy[start:start + f, idx].copy()  # [f, N, 2]
    pos = td.xy[frame, idx].copy()
    pos_pair = vis_pair = None
    if pair is not None:
        pos_pair = td.xy[pair, idx].copy()
        vis_pair = torch.from_numpy(td.visible[pair, idx] & td.visible[frame, idx])
    if flip:
        w = td.orig_hw[1]
        xy[..., 0] = w - 1 - xy[..., 0]
        pos[:, 0] = w - 1 - pos[:, 0]
        if pos_pair is not None:
            pos_pair[:, 0] = w - 1 - pos_pair[:, 0]
    traj = torch.from_numpy(np.concatenate([xy[..., 0], xy[..., 1]], axis=0))
    return TrackBatch(
        traj=traj,
        pos=torch.from_numpy(pos),
        pos_pair=None if pos_pair is None else torch.from_numpy(pos_pair),
        vis_pair=vis_pair,
        orig_hw=td.orig_hw,
    )
