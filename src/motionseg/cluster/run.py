"""ClusterNet modes on one sequence: ``online``, ``offline`` and ``oracle`` (methods ``clusternet-<mode>``).

- ``online``: truly causal. At step t (t >= 1) only frames t-1 and t are read (through
  :func:`motionseg.methods.flowsource.causal_frame_flow`); the auto-encoder and its optimiser are created at step 1
  and carried forward: ``warmup_iters`` steps at step 1 (on frames 0 and 1: the whole "pre-training"), then
  ``online_iters`` steps per new frame on a batch of the latest ``batch_frames`` frames. Frame 0's result is
  emitted at step 1 (motion needs two frames). See :func:`online_steps`.
- ``offline``: GT-free; pre-train ``pretrain_epochs`` over all frames of the sequence, then per frame reload the
  pre-trained weights and run ``iters_per_frame`` steps on that frame (the reference protocol, future frames seen).
- ``oracle``: the published protocol, as offline, but clusters are assigned to foreground with the ground truth
  (IoU(GT, c) >= IoU(not GT, c)) and each frame keeps the iteration whose mask has the highest IoU with the GT.
  Labelled ``oracle: true``.

GT-free cluster -> foreground rule (online and offline), per frame:
pixel score ``score_px = (1 - w) * saliency + w * evidence`` (w = residual_weight), where saliency is the
border-prototype saliency of the embeddings and evidence is the motion evidence of :mod:`motionseg.methods.evidence`
(residual against the homography / robust polynomial background flow, occluded pixels removed; online: flows between
t and t-1 only); cluster score ``score_k`` = mean of score_px over cluster k; per pixel ``q = (1 - pixel_weight)
score_k(x) + pixel_weight score_px(x)`` (clusters snap the evidence to motion-coherent regions, the pixel term keeps
it when the clusters are still poor); probability ``clip(0.5 + (q - fg_threshold) / (2 fg_softness), 0, 1)``; the map
is blended with the previous frame's state warped by the backward flow t -> t-1: ``p = (1 - a) p_now + a warp(s_prev)``
(a = temporal_weight; the state is the previous refined mask with ``refine.feedback``, else its p). The output is then
refined on the RGB frame t (GrabCut, :mod:`motionseg.methods.refine`), at the frame size. Foreground = p >= 0.5.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motionseg.cluster.colorwheel import flow_to_wheel
from motionseg.cluster.colour import ColourMemory, colour_bins
from motionseg.cluster.net import (
    FlowAE,
    border_saliency,
    cluster_embeddings,
    total_loss,
)
from motionseg.device import select_device
from motionseg.flow.geometry import resize_flow, resize_frames, resize_masks, working_size
from motionseg.io.datasets import read_gt_entry
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import Ingested
from motionseg.methods.evidence import frame_evidence
from motionseg.methods.flowsource import FlowSource, frame_flow
from motionseg.methods.refine import temporal_refine, to_size

MODES = ("online", "offline", "oracle")
FG_RULE = (
    "score_px=(1-w)*border-saliency + w*motion evidence (homography/polynomial background residual, occlusions "
    "removed); q=(1-l)*mean score_px over the pixel's cluster + l*score_px; fg iff q >= fg_threshold (soft ramp "
    "fg_softness), blended with the warped previous-frame state (temporal_weight), refined by GrabCut on the frame"
)


# ----------------------------------------------------------------------------------------------- helpers


def make_model(cfg: dict, seed: int) -> tuple[FlowAE, torch.optim.Optimizer]:
    """A fresh auto-encoder (weights from ``seed``, on ``cfg['device']``) and its Adam optimiser."""
    torch.manual_seed(int(seed))
    model = FlowAE(list(cfg["channels"]), int(cfg["n_z"])).to(select_device(str(cfg["device"])))
    return model, torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))


def train_steps(model: FlowAE, opt: torch.optim.Optimizer, x: torch.Tensor, n: int, cfg: dict) -> None:
    """``n`` optimisation steps of the ClusterNet loss on flow images x [B, 3, h, w]."""
    model.train()
    x = x.to(next(model.parameters()).device)
    for _ in range(n):
        opt.zero_grad(set_to_none=True)
        total_loss(model, x, cfg).backward()
        opt.step()


@torch.no_grad()
def embed_and_cluster(model: FlowAE, x: torch.Tensor, cfg: dict, gen: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels int [h, w] and saliency float32 [h, w] of one flow image x [1, 3, h, w] at full internal size.

    Prototypes are fitted on the 1/4-resolution embeddings; every pixel of the bilinearly upsampled embeddings is then
    assigned to its most similar prototype.
    """
    model.eval()
    z, _ = model(x.to(next(model.parameters()).device))
    sal = border_saliency(z, int(cfg["border_px"]))
    _, protos = cluster_embeddings(
        z[0].flatten(1).T,
        int(cfg["n_clusters"]),
        int(cfg["cluster_rounds"]),
        float(cfg["sinkhorn_eps"]),
        int(cfg["sinkhorn_iters"]),
        gen,
    )
    size = x.shape[-2:]
    zu = F.normalize(F.interpolate(z, size=size, mode="bilinear", align_corners=False), dim=1)[0]
    labels = torch.einsum("chw,kc->khw", zu, protos.to(zu)).argmax(dim=0)
    salu = F.interpolate(sal[:, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return labels.cpu().numpy(), salu.cpu().numpy().astype(np.float32)


def gt_free_fg(labels: np.ndarray, sal: np.ndarray, evid: np.ndarray, cfg: dict) -> np.ndarray:
    """Foreground probability float32 [h, w] from cluster labels [h, w], saliency and residual evidence [h, w].

    Pixel score ``q = (1 - pixel_weight) score_k(x) + pixel_weight score_px(x)`` (cluster and pixel scores: module
    doc), probability ``clip(0.5 + (q - fg_threshold) / (2 fg_softness), 0, 1)`` (>= 0.5 iff q >= fg_threshold).
    """
    k = int(cfg["n_clusters"])
    cnt = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    w = float(cfg["residual_weight"])
    score_px = (1.0 - w) * sal + w * evid
    score = np.bincount(labels.ravel(), weights=score_px.ravel(), minlength=k) / np.maximum(cnt, 1)
    lam = float(cfg["pixel_weight"])
    q = (1.0 - lam) * score[labels] + lam * score_px
    p = np.clip(0.5 + (q - float(cfg["fg_threshold"])) / (2.0 * float(cfg["fg_softness"])), 0.0, 1.0)
    return p.astype(np.float32)


def oracle_fg(labels: np.ndarray, gt: np.ndarray, n_clusters: int) -> np.ndarray:
    """ClusterNet's GT assignment: cluster c is fg iff IoU(gt, c) >= IoU(not gt, c). Returns float32 [h, w]."""
    fg = np.zeros(n_clusters, dtype=bool)
    for c in np.unique(labels):
        m = labels == c
        iou_fg = (m & gt).sum() / max((m | gt).sum(), 1)
        iou_bg = (m & ~gt).sum() / max((m | ~gt).sum(), 1)
        fg[c] = iou_fg >= iou_bg
    return fg[labels].astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two bool masks (1 when both are empty)."""
    u = (a | b).sum()
    return 1.0 if u == 0 else float((a & b).sum() / u)


def to_tensor(imgs: list[np.ndarray]) -> torch.Tensor:
    """Stack colour-wheel images [3, h, w] into a float tensor [B, 3, h, w]."""
    return torch.from_numpy(np.stack(imgs))


def frame_generator(seed: int, t: int, it: int = 0) -> torch.Generator:
    """Deterministic generator for the prototype initialisation of frame t (iteration it)."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + t * 1009 + it)


# ----------------------------------------------------------------------------------------------- modes


def online_steps(src: FlowSource, cfg: dict, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """Causal ClusterNet: yields (frame index, fg probability float32 [h, w]) in frame order.

    At step t >= 1 only ``src.pair(t, t-1)`` (and, at step 1, ``src.pair(0, 1)``) is read, so a source whose frames
    after t are unreadable still yields every frame <= t. Frame 0 is yielded at step 1.
    """
    T = src.n_frames
    model, opt = make_model(cfg, seed)
    buf: deque[np.ndarray] = deque(maxlen=int(cfg["batch_frames"]))
    prev: np.ndarray | None = None
    cm = cfg["colour_memory"]
    memory = ColourMemory(float(cm["weight"]), int(cm["bits"]), float(cm["decay"]), int(cm["min_pixels"]))
    use_memory = memory.weight > 0 and src.has_frames
    size = None
    for t in tqdm(range(1, T), desc="clusternet-online", unit="frame", leave=False):
        bwd = src.pair(t, t - 1)
        if size is None:
            size = working_size(*bwd.shape[:2], cfg["work_height"], enlarge=False)
        todo: list[tuple[int, np.ndarray]] = []
        if t == 1:
            f0 = resize_flow(src.pair(0, 1), size)
            buf.append(flow_to_wheel(f0))
            todo.append((0, f0))
        ft = resize_flow(-bwd, size)
        buf.append(flow_to_wheel(ft))
        todo.append((t, ft))
        train_steps(
            model, opt, to_tensor(list(buf)), int(cfg["warmup_iters"] if t == 1 else cfg["online_iters"]), cfg
        )
        for i, fl in todo:
            labels, sal = embed_and_cluster(model, to_tensor([flow_to_wheel(fl)]), cfg, frame_generator(seed, i))
            evid, _ = frame_evidence(src, i, cfg["evidence"], seed + i, causal=True, size=size)
            bins = colour_bins(resize_frames(src.frame(i)[None], size)[0], memory.bits) if use_memory else None
            gain = memory.gain(bins) if (bins is not None and prev is not None) else None
            out, prev = temporal_refine(
                gt_free_fg(labels, sal, evid, cfg), prev, src, i, float(cfg["temporal_weight"]), cfg["refine"],
                seed + i, gain=gain,
            )
            if bins is not None:
                memory.update(bins, to_size(out, size) >= 0.5)
            yield i, out


def offline_probs(
    src: FlowSource, cfg: dict, seed: int, gt: list[np.ndarray | None] | None
) -> tuple[list[np.ndarray], dict]:
    """Offline (gt None) or oracle (gt = bool [h, w] per frame, None where unannotated) ClusterNet.

    Returns (fg probability float32 [h, w] per frame, info).
    """
    T = src.n_frames
    flows = [frame_flow(src, t) for t in range(T)]
    size = working_size(*flows[0].shape[:2], cfg["work_height"], enlarge=False)
    flows = [resize_flow(f, size) for f in flows]
    imgs = [flow_to_wheel(f) for f in flows]
    model, opt = make_model(cfg, seed)
    g = torch.Generator().manual_seed(int(seed))
    bs = int(cfg["pretrain_batch"])
    for _ in tqdm(range(int(cfg["pretrain_epochs"])), desc="clusternet pre-train", unit="epoch", leave=False):
        order = torch.randperm(T, generator=g).tolist()
        for s in range(0, T, bs):
            train_steps(model, opt, to_tensor([imgs[i] for i in order[s : s + bs]]), 1, cfg)
    pre_model, pre_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    out: list[np.ndarray] = []
    prev = None
    for t in tqdm(range(T), desc="clusternet frames", unit="frame", leave=False):
        model.load_state_dict(pre_model)
        opt.load_state_dict(pre_opt)
        x = to_tensor([imgs[t]])
        if gt is None:
            train_steps(model, opt, x, int(cfg["iters_per_frame"]), cfg)
            labels, sal = embed_and_cluster(model, x, cfg, frame_generator(seed, t))
            evid, _ = frame_evidence(src, t, cfg["evidence"], seed + t, causal=False, size=size)
            p, prev = temporal_refine(
                gt_free_fg(labels, sal, evid, cfg), prev, src, t, float(cfg["temporal_weight"]), cfg["refine"], seed + t
            )
        else:
            best, best_iou = None, -1.0
            for it in range(int(cfg["iters_per_frame"])):
                train_steps(model, opt, x, 1, cfg)
                labels, _ = embed_and_cluster(model, x, cfg, frame_generator(seed, t, it))
                if gt[t] is None:  # unannotated frame: nothing to choose with, keep the last iteration's clusters
                    best = np.zeros(size, np.float32)
                    continue
                cand = oracle_fg(labels, gt[t], int(cfg["n_clusters"]))
                score = iou(cand > 0.5, gt[t])
                if score > best_iou:
                    best, best_iou = cand, score
            p = best
        out.append(p)
    return out, {}


def load_gt(ing: Ingested, size: tuple[int, int], gt_source: str | Path) -> list[np.ndarray | None]:
    """GT masks (bool [h, w] at the internal size, nearest) from ``manifest['gt_paths']``; None where absent."""
    paths = ing.manifest.get("gt_paths")
    if not paths:
        raise InputError(gt_source, "clusternet-oracle needs manifest['gt_paths'] (ground truth) but it has none")
    out: list[np.ndarray | None] = []
    for name in ing.names:
        p = paths.get(name)
        if p is None:
            out.append(None)
            continue
        entry = read_gt_entry(p, ing.manifest.get("gt_encoding", "auto"), threshold=ing.manifest.get("gt_threshold"))
        out.append(resize_masks(entry, size))
    return out


def run_clusternet(
    src: FlowSource, ing: Ingested, mode: str, cfg: dict, seed: int, gt_source: str | Path = "<ingested>"
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run ClusterNet in ``mode`` (online | offline | oracle) on one sequence.

    Returns (probs float32 [T, 2, h, w] with segment 0 = background and 1 = foreground at the internal size,
    fg_segments bool [2], meta with mode, oracle flag, oracle_reason and fg_rule).
    """
    if mode not in MODES:
        raise ValueError(f"unknown ClusterNet mode {mode!r}; choose one of {MODES}")
    torch.set_num_threads(max(1, int(cfg["threads"])))
    if mode == "online":
        ps = dict(online_steps(src, cfg, seed))
        fg_list = [ps[t] for t in range(src.n_frames)]
    else:
        gt = None
        if mode == "oracle":
            h, w = frame_flow(src, 0).shape[:2]
            gt = load_gt(ing, working_size(h, w, cfg["work_height"], enlarge=False), gt_source)
        fg_list, _ = offline_probs(src, cfg, seed, gt)
    p = np.clip(np.stack(fg_list), 0.0, 1.0).astype(np.float32)
    probs = np.stack([1.0 - p, p], axis=1)
    oracle = mode == "oracle"
    meta = {
        "mode": mode,
        "oracle": oracle,
        "oracle_reason": (
            "GT cluster->fg assignment (IoU(GT,c) >= IoU(~GT,c)) and best-of-iterations vs GT per frame"
            if oracle
            else None
        ),
        "fg_rule": "ground truth" if oracle else FG_RULE,
        "probs_hw": list(probs.shape[-2:]),
        "config": cfg,
    }
    return probs, np.array([False, True]), meta


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of the ``clusternet-<mode>`` methods (:func:`motionseg.registry.run_method`): frames
    and flow of ``inputs`` -> mask directory; the mode is the registry's ``mode`` of ``method``."""
    from motionseg.methods import open_inputs, write_result
    from motionseg.registry import spec

    ing, src = open_inputs(inputs["frames"], inputs["flow"])
    probs, fg_segments, meta = run_clusternet(src, ing, spec(method).mode, cfg, seed, gt_source=inputs["frames"])
    write_result(out_mask_dir, ing, probs, fg_segments, {"method": method, "seed": seed, **meta})
