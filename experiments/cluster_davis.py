"""Benchmark the per-sequence methods (bgfit, kmeans, ClusterNet online/offline/paper-oracle) on the shared DAVIS-2016
sequences with OpenCV DIS flow, on CPU.

    nice -n 10 .venv/bin/python experiments/cluster_davis.py                      # all methods, all 13 sequences
    nice -n 10 .venv/bin/python experiments/cluster_davis.py --methods bgfit clusternet-online --sequences blackswan

Settings: config/config.yaml with the sections of config/davis2016.yaml merged over it (``--dataset-config``), as
``snakemake --configfile config/davis2016.yaml`` runs them, then ``--set`` overrides. Frames are resized to
``--height`` rows (default 240, davis2016.yaml's ``ingest.height``: the GrabCut refinement works at this size); DIS
flow (medium preset, forward and backward, gap 1) is computed at that size (``--flow-res work``) or at the original
480x854 and resized (``--flow-res full``, what the workflow does with ``flow.compute_height: 480``); the motion
evidence is computed at ``work_height`` (120) rows; flows are cached under ``--cache``. Scores use the official DAVIS
J (region IoU, empty-vs-empty = 1) on every frame at the original resolution; the dataset score is the mean of
per-sequence means. Per-frame latency of the online mode (flow excluded: it is an input, as for the official code) is
printed at the frame size and, with ``--latency-full``, at 480x854 on a few frames. Absolute seconds depend on the
machine, so the same run also times ``clusternet-oracle`` (this package's implementation of the cut-down paper
compute of issue 7's reference) on the first sequence and prints the ratio (``--no-reference`` skips it). The
official ClusterNet code is not part of this repository; ``--reference-cmd`` times any command in the same run (the
Recipe under "Against the official ClusterNet code" in docs/results.md says how to run the official code on the first
sequence) and prints its seconds per frame next to the online mode's. GT is read only for scoring and by
``clusternet-oracle``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch
import yaml
from PIL import Image

from motionseg.flow.backends import DISBackend
from motionseg.flow.geometry import resize_flow, resize_frames, working_size
from motionseg.io.ingest_format import Ingested
from motionseg.io.masks import fg_from_probs
from motionseg.methods import method_config
from motionseg.methods.flowsource import FlowSource

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"
ALL_METHODS = ["bgfit", "kmeans", "clusternet-online", "clusternet-offline", "clusternet-oracle"]
_DIS = DISBackend({"preset": "medium"})


def dis_flow(img_a: np.ndarray, img_b: np.ndarray) -> np.ndarray:
    """DIS-medium flow (the workflow's ``dis`` backend) from RGB uint8 [h, w, 3] img_a to img_b: float32 [h, w, 2].

    One OpenCV thread, as every figure of this script was measured.
    """
    cv2.setNumThreads(1)
    return _DIS.compute(img_a[None], img_b[None])[0]


def array_flows(fwd: np.ndarray, bwd: np.ndarray) -> SimpleNamespace:
    """Gap-1 flows held in memory, read as :class:`FlowSource` reads a flow set (``forward(1)``, ``backward(1)``)."""
    return SimpleNamespace(forward=lambda gap: fwd, backward=lambda gap: bwd)


def load_sequence(seq: str, height: int | None) -> tuple[Ingested, np.ndarray]:
    """Frames of ``seq`` resized to ``height`` (width rounded to a multiple of 8) and GT bool [T, H, W]."""
    fpaths = sorted((DATA / "JPEGImages" / seq).glob("*.jpg"))
    frames = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in fpaths])
    H, W = frames.shape[1:3]
    gt_paths = {p.stem: str(DATA / "Annotations" / seq / f"{p.stem}.png") for p in fpaths}
    gt = np.stack([np.asarray(Image.open(gt_paths[p.stem])) > 0 for p in fpaths])
    if gt.ndim == 4:
        gt = gt.any(-1)
    if height is not None and height != H:
        frames = resize_frames(frames, working_size(H, W, height))
    ing = Ingested(
        frames=frames,
        names=[p.stem for p in fpaths],
        orig_hw=(H, W),
        manifest={"dataset": "davis2016", "sequence": seq, "gt_paths": gt_paths},
    )
    return ing, gt


def flows_for(seq: str, ing: Ingested, flow_res: str, cache: Path) -> SimpleNamespace:
    """Cached gap-1 DIS forward/backward flows of ``seq`` at the working size of ``ing``."""
    h, w = ing.frames.shape[1:3]
    path = cache / f"{seq}_{flow_res}_{h}x{w}.npz"
    if path.exists():
        with np.load(path) as z:
            return array_flows(z["fwd"].astype(np.float32), z["bwd"].astype(np.float32))
    if flow_res == "full":
        full, _ = load_sequence(seq, None)
        fr = full.frames
    else:
        fr = ing.frames
    fwd, bwd = [], []
    for t in range(len(fr) - 1):
        fwd.append(resize_flow(dis_flow(fr[t], fr[t + 1]), (h, w)))
        bwd.append(resize_flow(dis_flow(fr[t + 1], fr[t]), (h, w)))
    fwd, bwd = np.stack(fwd), np.stack(bwd)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, fwd=fwd.astype(np.float16), bwd=bwd.astype(np.float16))
    return array_flows(fwd.astype(np.float16).astype(np.float32), bwd.astype(np.float16).astype(np.float32))


def j_official(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame region similarity J (IoU; 1 when both masks are empty) of bool [T, H, W] masks."""
    inter = (pred & gt).sum(axis=(1, 2))
    union = (pred | gt).sum(axis=(1, 2))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def run_one(method: str, src: FlowSource, ing: Ingested, cfg: dict, seed: int) -> tuple[np.ndarray, dict]:
    """Run ``method`` on one sequence; returns (fg bool [T, H, W] at original size, meta)."""
    if method == "bgfit":
        from motionseg.methods.bgfit import bgfit_sequence

        probs, meta = bgfit_sequence(src, method_config(cfg, "bgfit"), seed)
        seg = np.array([False, True])
    elif method == "kmeans":
        from motionseg.methods.kmeans import kmeans_sequence

        probs, seg, meta = kmeans_sequence(src, cfg["kmeans"], seed)
    else:
        from motionseg.cluster.run import run_clusternet

        mode = method.removeprefix("clusternet-")
        probs, seg, meta = run_clusternet(src, ing, mode, method_config(cfg, method), seed)
    return fg_from_probs(probs, seg, ing.orig_hw), meta


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the methods on the sequences and print per-sequence / mean J and latency."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=ALL_METHODS, choices=ALL_METHODS)
    ap.add_argument("--sequences", nargs="+", default=None)
    ap.add_argument("--height", type=int, default=240,
                    help="frame (ingest) height, 0 = original; davis2016.yaml uses 240")
    ap.add_argument("--flow-res", choices=["work", "full"], default="full")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/motionseg_cluster_bench"))
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--dataset-config", type=Path, default=REPO / "config" / "davis2016.yaml",
                    help="sections of this file override --config's (as `snakemake --configfile` does)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--latency-full", type=int, default=0, help="online-mode latency at 480x854 on this many frames")
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip timing clusternet-oracle on the first sequence as the in-run latency reference")
    ap.add_argument("--reference-cmd", default=None,
                    help="shell command timed in this run as the external latency reference (e.g. the official "
                         "ClusterNet code on the first sequence; docs/results.md, 'Against the official ClusterNet "
                         "code')")
    ap.add_argument("--reference-frames", type=int, default=None,
                    help="frames the --reference-cmd processes (default: the first sequence's frame count)")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides section.key=yaml-value")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"no DAVIS-2016 data at {DATA}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    cfg = yaml.safe_load(args.config.read_text())
    for sec, over in yaml.safe_load(args.dataset_config.read_text()).items():
        if isinstance(over, dict) and sec in cfg:
            cfg[sec] = {**cfg[sec], **over}  # the DAVIS example's settings, as the workflow merges them
    for item in args.set:
        key, val = item.split("=", 1)
        *path, k = key.split(".")  # nested keys too: cluster.colour_memory.weight=0.2
        node = cfg
        for part in path:
            node = node[part]
        if k not in node:
            raise SystemExit(f"--set {item}: no key {key!r} in the config")
        node[k] = yaml.safe_load(val)
    seqs = args.sequences or sorted(p.name for p in (DATA / "JPEGImages").iterdir())
    height = args.height or None
    scores: dict[str, dict[str, float]] = {m: {} for m in args.methods}
    times: dict[str, float] = {m: 0.0 for m in args.methods}
    nframes = 0
    for seq in seqs:
        ing, gt = load_sequence(seq, height)
        fs = flows_for(seq, ing, args.flow_res, args.cache)
        nframes += len(ing.names)
        for m in args.methods:
            t0 = time.perf_counter()
            fg, _ = run_one(m, FlowSource(fs, len(ing.names), frames=ing.frames), ing, cfg, args.seed)
            times[m] += time.perf_counter() - t0
            scores[m][seq] = float(j_official(fg, gt).mean())
        print(seq, " ".join(f"{m}={scores[m][seq]:.3f}" for m in args.methods), flush=True)
    print(f"\n{'sequence':20s} " + " ".join(f"{m:>18s}" for m in args.methods))
    for seq in seqs:
        print(f"{seq:20s} " + " ".join(f"{scores[m][seq]:18.3f}" for m in args.methods))
    print(f"{'mean J':20s} " + " ".join(f"{np.mean(list(scores[m].values())):18.3f}" for m in args.methods))
    print(f"{'s/frame':20s} " + " ".join(f"{times[m] / nframes:18.3f}" for m in args.methods))
    print(
        f"(frames {ing.frames.shape[1]}x{ing.frames.shape[2]}, flow {args.flow_res}, {nframes} frames, "
        f"{args.threads} thread(s))"
    )
    if "clusternet-online" in args.methods:
        ing, _ = load_sequence(seqs[0], height)
        fs = flows_for(seqs[0], ing, args.flow_res, args.cache)
        ccfg = method_config(cfg, "clusternet-online")
        med, first, whole = online_latency(FlowSource(fs, len(ing.names), frames=ing.frames), ccfg, args.seed)
        h, w = ing.frames.shape[1:3]
        wh, ww = working_size(h, w, ccfg["work_height"], enlarge=False)
        print(f"online latency with {h}x{w} frames, evidence and clustering at {wh}x{ww} ({seqs[0]}): "
              f"{med:.3f} s/frame "
              f"(median after step 1; step 1: {first:.2f} s; whole sequence, step 1 included: {whole:.3f} s/frame)")
        if args.reference:
            ref = reference_time(FlowSource(fs, len(ing.names), frames=ing.frames), ing, cfg, args)
            print(f"reference in this run: clusternet-oracle (this package's implementation of the cut-down paper "
                  f"compute: {ccfg['pretrain_epochs']} pre-training epochs, {ccfg['iters_per_frame']} iterations per "
                  f"frame at {wh}x{ww}) {ref:.3f} s/frame on {seqs[0]}; the online mode takes {ref / whole:.1f}x less "
                  f"time per frame")
        if args.reference_cmd:
            n = args.reference_frames or len(ing.names)
            ext = external_time(args.reference_cmd) / n
            print(f"external reference in this run: `{args.reference_cmd}` {ext:.3f} s/frame ({n} frames, whole "
                  f"command); the online mode takes {ext / whole:.1f}x less time per frame over the whole sequence "
                  f"({ext / med:.1f}x against its median frame)")
    if args.latency_full:
        latency_full(seqs[0], cfg, args)
    return 0


def external_time(cmd: str) -> float:
    """Wall-clock seconds of the shell command ``cmd``; a failing command stops the benchmark with its exit status."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"--reference-cmd failed with exit status {proc.returncode}: {cmd}")
    return secs


def online_latency(src: FlowSource, cfg: dict, seed: int) -> tuple[float, float, float]:
    """Online-mode latency on one sequence, in seconds: (median per frame after step 1, step 1, whole sequence per
    frame with step 1 included).

    Step 1 holds the causal warm-up (``warmup_iters`` on frames 0 and 1) and emits two frames.
    """
    from motionseg.cluster.run import online_steps

    torch.set_num_threads(int(cfg["threads"]))
    stamps, t0 = [], time.perf_counter()
    for i, _ in online_steps(src, cfg, seed):
        stamps.append((i, time.perf_counter()))
    first = stamps[1][1] - t0
    per = [b[1] - a[1] for a, b in pairwise(stamps[1:])]
    return float(np.median(per)), first, (stamps[-1][1] - t0) / len(stamps)


def reference_time(src: FlowSource, ing: Ingested, cfg: dict, args: argparse.Namespace) -> float:
    """Seconds per frame of ``clusternet-oracle`` on one sequence (pre-training included, flow excluded): the
    machine's own reference for the online latency, measured in the same run."""
    t0 = time.perf_counter()
    run_one("clusternet-oracle", src, ing, cfg, args.seed)
    return (time.perf_counter() - t0) / len(ing.names)


def latency_full(seq: str, cfg: dict, args: argparse.Namespace) -> None:
    """Online-mode per-frame latency at the original 480x854 on the first ``args.latency_full`` + 1 frames."""
    ing, _ = load_sequence(seq, None)
    n = args.latency_full + 1
    frames = ing.frames[:n]
    fwd = np.stack([dis_flow(frames[t], frames[t + 1]) for t in range(n - 1)])
    bwd = np.stack([dis_flow(frames[t + 1], frames[t]) for t in range(n - 1)])
    c = dict(method_config(cfg, "clusternet-online"), work_height=None)
    med, first, _ = online_latency(FlowSource(array_flows(fwd, bwd), n, frames=frames), c, args.seed)
    print(
        f"online latency at {frames.shape[1]}x{frames.shape[2]} ({seq}, {n} frames): {med:.3f} s/frame "
        f"(median after step 1; step 1 with the warm-up: {first:.2f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
