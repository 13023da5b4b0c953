"""Semi-supervised J&F of label propagation on the shared DAVIS-2016 sequences, and what each source costs per frame.

The first frame's GT mask is given and propagated through the sequence; every other frame is predicted and the
result is scored with the official DAVIS-2017 semi-supervised protocol (``motionseg.metrics.semisup``: first and
last frame left out, J&F = mean over objects). Label sources, all in one run:

- ``copy``: the first mask copied to every frame (the reference: no propagation at all);
- ``flow-dis``: :func:`motionseg.propagate.propagate_by_flow` on OpenCV DIS flow (``motionseg.flow``, preset
  ``medium``) computed at the working height, the labels warped at the annotation size (480p);
- ``lab``: :func:`motionseg.propagate.propagate_labels` on :func:`lab_features` (weight-free Lab colour + position)
  at 1/8 of the working frames;
- ``dul`` (and ``dul-untrained`` with ``--untrained``): the same propagation on the ``res4`` features of a reduced
  DUL network (:mod:`motionseg.dul`) trained from scratch, self-supervised, on the frames of these very sequences
  (no GT) within a wall-clock budget (``--dul-minutes``); its training time is reported separately.

Propagation uses DUL's settings (top-10, 20 context frames + the first, radius 12 feature pixels, temperature 0.05).
The cost columns are wall-clock milliseconds per frame: features (or flow) and propagation (or warping), and the
scoring is not included. Nothing is written outside ``--workdir`` (a temporary folder by default).

Usage: ``nice -n 10 python bench/propagation.py [--height 240] [--dul-minutes 4] [--sequences a b ...]``
(18 minutes on 2 shared cores at the defaults); it exits with a message when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from motionseg.dul.model import load_snapshot
from motionseg.dul.train import arch_of, run_train_dul, train_dul
from motionseg.flow.backends import DISBackend
from motionseg.flow.geometry import resize_frames, working_size
from motionseg.io.datasets import read_image, read_mask
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.metrics.semisup import score_semisupervised, semisup_aggregate
from motionseg.propagate import dul_features, lab_features, propagate_by_flow, propagate_labels

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"
# the shipped CPU setting of the dul section (config/config.yaml), without the keys that choose jobs
CPU_CONFIG = {k: v for k, v in yaml.safe_load((REPO / "config" / "config.yaml").read_text())["dul"].items()
              if k not in ("snapshot", "train_datasets")}


def dul_bench_config(height: int) -> dict:
    """The reduced DUL configuration of this benchmark (``CPU_CONFIG`` scaled to ``height``-row frames)."""
    side = max(64, (height // 2) // 8 * 8)
    return {**CPU_CONFIG, "width": 16, "blocks": 1, "feature_dim": 32, "video_len": 4, "frame_gap": 2,
            "batch_size": 4, "smallest_range": [side, side + 16], "crop_size": [side, side], "lr": 5e-4,
            "iterations": 1, "checkpoint_every": 50}


def load_sequence(root: Path, name: str, height: int) -> dict:
    """Frames (original and working size), GT ids (0/1, uint8) and frame names of one DAVIS-2016 sequence."""
    jpgs = sorted((root / "JPEGImages" / name).glob("*.jpg"))
    frames = np.stack([read_image(p) for p in jpgs])
    names = [p.stem for p in jpgs]
    gt = {n: read_mask(root / "Annotations" / name / f"{n}.png", "labels").astype(np.uint8) for n in names}
    H, W = frames.shape[1:3]
    work = resize_frames(frames, working_size(H, W, height))
    return {"name": name, "names": names, "work": work, "gt": gt, "hw": (H, W)}


def _train_dul(seqs: list[dict], workdir: Path, minutes: float, height: int, seed: int) -> tuple[Path, dict]:
    """Train DUL on the working frames for about ``minutes``: the iteration count comes from two short probes
    (2 and 8 iterations; their difference excludes the set-up time)."""
    paths = []
    for s in seqs:
        p = workdir / "frames" / f"{s['name']}.npz"
        save_ingested(p, Ingested(frames=s["work"], names=s["names"], orig_hw=s["hw"],
                                  manifest={"sequence": s["name"]}))
        paths.append(p)
    cfg = dul_bench_config(height)
    spent = []
    for n in (2, 8):
        t0 = time.perf_counter()
        train_dul(paths, {**cfg, "iterations": n}, seed, workdir / f"probe{n}", progress=False)
        spent.append(time.perf_counter() - t0)
    per_it = max((spent[1] - spent[0]) / 6, 1e-3)
    iters = max(10, int(minutes * 60 / per_it))
    cfg = {**cfg, "iterations": iters, "checkpoint_every": max(50, iters // 10)}
    t0 = time.perf_counter()
    out = workdir / "dul.pth"
    run_train_dul(paths, out, cfg, seed, workdir / "work", progress=False)
    info = {"iterations": iters, "train_s": time.perf_counter() - t0, "per_it_s": per_it, "config": cfg}
    return out, info


def _propagate_features(seqs: list[dict], features_fn) -> tuple[dict, float, float]:
    """Predictions {sequence: int [T, H, W]} of feature propagation, ms/frame for the features and propagation."""
    preds, t_feat, t_prop, n = {}, 0.0, 0.0, 0
    for s in seqs:
        t0 = time.perf_counter()
        feats = features_fn(s["work"])
        t1 = time.perf_counter()
        preds[s["name"]] = propagate_labels(feats, s["gt"][s["names"][0]])
        t_prop += time.perf_counter() - t1
        t_feat += t1 - t0
        n += len(s["names"])
    return preds, 1000 * t_feat / n, 1000 * t_prop / n


def _propagate_flow(seqs: list[dict]) -> tuple[dict, float, float]:
    dis = DISBackend({"preset": "medium"})
    preds, t_flow, t_warp, n = {}, 0.0, 0.0, 0
    for s in seqs:
        t0 = time.perf_counter()
        flow = dis.compute(s["work"][:-1], s["work"][1:])
        t1 = time.perf_counter()
        preds[s["name"]] = propagate_by_flow(flow, s["gt"][s["names"][0]])
        t_warp += time.perf_counter() - t1
        t_flow += t1 - t0
        n += len(s["names"])
    return preds, 1000 * t_flow / n, 1000 * t_warp / n


def _copy(seqs: list[dict]) -> tuple[dict, float, float]:
    preds, n = {}, 0
    t0 = time.perf_counter()
    for s in seqs:
        first = s["gt"][s["names"][0]]
        preds[s["name"]] = np.repeat(first[None], len(s["names"]), 0)
        n += len(s["names"])
    return preds, 0.0, 1000 * (time.perf_counter() - t0) / n


def score(seqs: list[dict], preds: dict) -> dict:
    results = []
    for s in seqs:
        p = preds[s["name"]]
        results.append(score_semisupervised(s["gt"], {n: p[i] for i, n in enumerate(s["names"])}, s["names"]))
    agg = semisup_aggregate(results)
    agg["per_sequence"] = {s["name"]: r["J&F"] for s, r in zip(seqs, results, strict=True)}
    return agg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--height", type=int, default=240, help="working height of frames, flow and features (px)")
    ap.add_argument("--dul-minutes", type=float, default=4.0, help="wall-clock budget of the DUL training")
    ap.add_argument("--sequences", nargs="*", default=None)
    ap.add_argument("--untrained", action="store_true", help="also propagate with the untrained DUL network")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a shared 2-core machine 2 threads ran the propagation ~8x slower)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if not (args.data / "JPEGImages").is_dir():
        print(f"shared DAVIS-2016 data not found at {args.data}: nothing to benchmark")
        sys.exit(0)
    torch.set_num_threads(args.threads)
    names = args.sequences or sorted(p.name for p in (args.data / "JPEGImages").iterdir() if p.is_dir())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_propagation_"))
    t_start = time.perf_counter()
    seqs = [load_sequence(args.data, n, args.height) for n in names]
    n_frames = sum(len(s["names"]) for s in seqs)
    wh = seqs[0]["work"].shape[1:3]
    print(f"{len(seqs)} sequences, {n_frames} frames, annotations {seqs[0]['hw'][1]}x{seqs[0]['hw'][0]}, working "
          f"frames {wh[1]}x{wh[0]}, torch threads {args.threads}, workdir {workdir}", flush=True)

    rows = {}
    rows["copy"] = _copy(seqs)
    rows["flow-dis"] = _propagate_flow(seqs)
    print(f"flow-dis done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    rows["lab"] = _propagate_features(seqs, lambda f: lab_features(f, 8))
    print(f"lab done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    ckpt, info = _train_dul(seqs, workdir, args.dul_minutes, args.height, args.seed)
    print(f"DUL trained: {info['iterations']} iterations in {info['train_s']:.0f} s "
          f"({info['per_it_s']:.2f} s/it in the probe), config {info['config']}", flush=True)
    model = load_snapshot(ckpt)
    rows["dul"] = _propagate_features(seqs, lambda f: dul_features(model, f))
    if args.untrained:
        from motionseg.dul.model import build_model

        torch.manual_seed(args.seed)
        untrained = build_model(arch_of(info["config"]))
        rows["dul-untrained"] = _propagate_features(seqs, lambda f: dul_features(untrained, f))
    print(f"propagation done ({time.perf_counter() - t_start:.0f} s); scoring", flush=True)

    scores = {m: score(seqs, r[0]) for m, r in rows.items()}
    feat_hw = (int(np.ceil(wh[0] / 8)), int(np.ceil(wh[1] / 8)))
    print()
    print(f"Semi-supervised J&F (davis2017 protocol, {int(scores['copy']['n_objects'])} objects), DAVIS-2016 "
          f"{len(seqs)} sequences; features {feat_hw[1]}x{feat_hw[0]} (1/8 of {wh[1]}x{wh[0]}), DIS at "
          f"{wh[1]}x{wh[0]}, labels at {seqs[0]['hw'][1]}x{seqs[0]['hw'][0]}")
    print("| source | J&F | J mean | J recall | F mean | F recall | features/flow ms/frame | propagation ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for m, (_, t_feat, t_prop) in rows.items():
        s = scores[m]
        print(f"| {m} | {s['J&F']:.3f} | {s['J_mean']:.3f} | {s['J_recall']:.3f} | {s['F_mean']:.3f} | "
              f"{s['F_recall']:.3f} | {t_feat:.1f} | {t_prop:.1f} |")
    print(f"\nDUL training (not in the table): {info['iterations']} iterations, {info['train_s']:.0f} s, on the "
          f"frames of these {len(seqs)} sequences (self-supervised, no GT); arch {arch_of(info['config'])}")
    print("\nper-sequence J&F:")
    print("| sequence | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for s in seqs:
        print(f"| {s['name']} | " + " | ".join(f"{scores[m]['per_sequence'][s['name']]:.3f}" for m in rows) + " |")
    print(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
