"""Out-of-fold value of the GT-free propagation stage (motionseg.propagate.gtfree) on the 13 shared DAVIS-2016 videos.

Input: the results folder of a finished workflow run (``<results>/<dataset>/frames/<seq>.npz`` and the mask
directories ``<results>/<dataset>/masks/<flow>/<tracks>/<method>/<seq>/``), e.g. the one ``bench/mtnet_cv.py``
writes. For every method found (supervised ones, ``meta.json`` ``supervision: supervised``, are printed apart), every
sequence and every setting of a small grid, the method's masks are passed through the stage's own functions
(:func:`~motionseg.propagate.gtfree.confidence_from_probability`, ``seed_propagations``, ``fuse_soft``, then
``fg_from_probs`` to the original size, as ``run_gtfree_propagation`` writes them) and scored as the workflow scores
a mask directory (:func:`motionseg.metrics.evaluate.score_sequence`, protocol ``davis2017-unsup``, selection
``gt-free``, GT through :func:`motionseg.io.datasets.get_sequence` / ``load_gt``). The raw masks' J is checked
against the workflow's own score CSVs when they exist.

Grid: ``off`` (the raw masks) and, for each confidence kind (``certainty``, ``agreement``, ``product``) x
``n_seeds`` in ``--seeds`` (default 1 3 5), lab features at 1/``--lab-stride`` (8) of the working frames with DUL's
propagation settings (top-10, 20 context frames, radius 12, temperature 0.05). A seed's propagation depends only on
the seed frame, so it is computed once and shared by every setting that uses it.

The figures, per method (J = mean over sequences of the per-sequence J_mean):

- ``raw``: the method's own masks;
- ``in-fold best``: the best setting chosen and scored on all sequences (IN-SAMPLE: optimistic, not a result);
- ``out-of-fold``: sequences in name order, the j-th in fold j mod K (the workflow's ``cross_validation``); for each
  fold, the setting (``off`` included) with the best mean J on the OTHER folds is applied to the held-out fold, and
  the held-out J of all sequences is averaged. This is the honest estimate of "tune the stage on other videos, run
  it on new ones"; the verdict is ``adopt`` only when it beats ``raw``;
- ``oof by kind``: the same with the grid restricted to ``off`` + one confidence kind (how each kind generalises).

Cost: wall-clock ms per frame of the lab features and of one seed's propagation (forward + backward over the whole
sequence); a setting with n seeds costs about features + n x propagation per frame.

Measured (/tmp/mtnet_cv/results of ``bench/mtnet_cv.py``: DIS flow, 4 folds, 2 shared CPU cores, 36 min): bgfit raw
0.592, in-fold best 0.629 (agreement/n3), out-of-fold 0.623 -> adopt; mtnet (supervised) raw 0.344, in-fold best 0.382
(product/n1), out-of-fold 0.375 -> adopt; by kind out of fold: certainty 0.593 / 0.343, agreement 0.623 / 0.382,
product 0.623 / 0.376 (bgfit / mtnet). Cost: lab features 1.3 ms and one seed's propagation 116 ms per frame at 240
rows.

Usage: ``nice -n 10 python bench/propagation_cv.py --results /tmp/mtnet_cv/results [--dataset davis2016]
[--methods bgfit mtnet] [--folds 4] [--seeds 1 3 5] [--kinds certainty agreement product] [--lab-stride 8]``.
It exits 0 with a message when ../shared/data/DAVIS2016 (or ``--root``) or the results folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from motionseg.io.datasets import get_sequence, load_gt
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import MaskSet, fg_from_probs, read_mask_dir
from motionseg.metrics.evaluate import score_sequence
from motionseg.post.crf import foreground_probability, in_frame_order
from motionseg.propagate.features import lab_features
from motionseg.propagate.fusion import seed_frames
from motionseg.propagate.gtfree import CONFIDENCE_KINDS, confidence_from_probability, fuse_soft, seed_propagations
from motionseg.propagate.labelprop import CONTEXT, RADIUS, TEMPERATURE, TOPK

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"
PROTOCOL = "davis2017-unsup"
OFF = "off"
KW = {"topk": TOPK, "context": CONTEXT, "radius": RADIUS, "temperature": TEMPERATURE}


def find_methods(results: Path, dataset: str) -> dict[str, Path]:
    """``{label: <results>/<dataset>/masks/<flow>/<tracks>/<method>}``; the label is the method name, or
    ``flow/tracks/method`` when several flow/tracks combinations exist."""
    dirs = sorted(p for p in (results / dataset / "masks").glob("*/*/*") if p.is_dir())
    combos = {(p.parent.parent.name, p.parent.name) for p in dirs}
    return {(p.name if len(combos) == 1 else f"{p.parent.parent.name}/{p.parent.name}/{p.name}"): p for p in dirs}


def j_of(fg: np.ndarray, names: list[str], gt: dict, video: list[str], meta: dict) -> float:
    """J_mean of bool masks fg [T, H, W] under PROTOCOL, GT-free selection, as the workflow scores a mask dir."""
    keys = {"dataset": "d", "sequence": "s", "flow": "f", "tracks": "t", "method": "m"}
    scores, _ = score_sequence(MaskSet(fg=fg, names=names, meta=meta), gt, keys, protocols=[PROTOCOL],
                               selections=["gt-free"], layout="davis", video_frames=video, progress=False)
    return float(scores.J_mean.iloc[0])


def workflow_j(method_dir: Path, seq: str) -> float | None:
    """The workflow's own J_mean of the raw masks (scores CSV), None when absent."""
    csv = method_dir.parents[3] / "scores" / method_dir.parent.parent.name / method_dir.parent.name / \
        method_dir.name / f"{seq}.csv"
    if not csv.exists():
        return None
    df = pd.read_csv(csv)
    row = df[(df.protocol == PROTOCOL) & (df.selection == "gt-free")]
    return float(row.J_mean.iloc[0]) if len(row) else None


def oof(table: pd.DataFrame, folds: int, settings: list[str]) -> tuple[float, list[str]]:
    """Out-of-fold mean J over sequences and the setting chosen per fold. table: J [sequence x setting]."""
    seqs = sorted(table.index)
    fold = {s: i % folds for i, s in enumerate(seqs)}
    held, chosen = {}, []
    for k in range(folds):
        train = [s for s in seqs if fold[s] != k]
        test = [s for s in seqs if fold[s] == k]
        means = table.loc[train, settings].mean()
        best = settings[int(np.argmax(means.to_numpy()))]  # first of equal means: "off" wins a tie
        chosen.append(best)
        for s in test:
            held[s] = table.loc[s, best]
    return float(np.mean([held[s] for s in seqs])), chosen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("/tmp/mtnet_cv/results"))
    ap.add_argument("--dataset", default="davis2016")
    ap.add_argument("--root", type=Path, default=DATA, help="DAVIS-2016 root (GT)")
    ap.add_argument("--methods", nargs="+", default=None, help="default: every method found")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--kinds", nargs="+", default=list(CONFIDENCE_KINDS), choices=CONFIDENCE_KINDS)
    ap.add_argument("--lab-stride", type=int, default=8)
    ap.add_argument("--sequences", nargs="+", default=None, help="subset (for a quick check)")
    args = ap.parse_args()
    if not args.root.is_dir():
        print(f"skipped: the shared DAVIS-2016 sequences are not at {args.root}")
        return 0
    if not (args.results / args.dataset / "masks").is_dir():
        print(f"skipped: no mask directories under {args.results / args.dataset / 'masks'}")
        return 0
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    t_start = time.perf_counter()
    methods = find_methods(args.results, args.dataset)
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods or v.name in args.methods}
    settings = [OFF] + [f"{kind}/n{n}" for kind in args.kinds for n in args.seeds]
    n_max = max(args.seeds)
    feats_cache: dict[str, np.ndarray] = {}
    gt_cache: dict[str, tuple[dict, list[str]]] = {}
    t_feat = t_prop = 0.0
    n_feat_frames = n_prop_frames = 0
    rows, supervised, checks = [], {}, []
    for label, mdir in methods.items():
        seqs = sorted(p.name for p in mdir.iterdir() if (p / "meta.json").exists())
        if args.sequences:
            seqs = [s for s in seqs if s in args.sequences]
        print(f"{label}: {len(seqs)} sequences", file=sys.stderr, flush=True)
        for seq in seqs:
            npz = args.results / args.dataset / "frames" / f"{seq}.npz"
            ing = load_ingested(npz)
            masks = in_frame_order(read_mask_dir(mdir / seq), list(ing.names), ing.orig_hw, mdir / seq, npz)
            supervised[label] = masks.meta.get("supervision") == "supervised"
            if seq not in gt_cache:
                info = get_sequence(args.root, "davis", seq)
                gt_cache[seq] = (load_gt(info), list(info.frame_names))
            gt, video = gt_cache[seq]
            if seq not in feats_cache:
                t0 = time.perf_counter()
                feats_cache[seq] = lab_features(ing.frames, args.lab_stride)
                t_feat += time.perf_counter() - t0
                n_feat_frames += len(ing.frames)
            feats = feats_cache[seq]
            work_hw = tuple(ing.frames.shape[1:3])
            fgp = foreground_probability(masks, work_hw)
            m = fgp > 0.5
            raw = j_of(masks.fg, ing.names, gt, video, masks.meta)
            ref = workflow_j(mdir, seq)
            if ref is not None:
                checks.append(abs(raw - ref))
            row = {"method": label, "sequence": seq, OFF: raw}
            confs = {k: confidence_from_probability(fgp, masks.fg, k) for k in args.kinds}
            seeds_of = {k: seed_frames(c, n_max) for k, c in confs.items()}
            needed = sorted({s for v in seeds_of.values() for s in v})
            t0 = time.perf_counter()
            props = seed_propagations(feats, m, needed, **KW)
            t_prop += time.perf_counter() - t0
            n_prop_frames += len(needed) * len(ing.frames)
            for kind in args.kinds:
                for n in args.seeds:
                    fused = fuse_soft(fgp, confs[kind], props, seeds_of[kind][:n])
                    fg = fg_from_probs(np.stack([1 - fused, fused], 1), np.array([False, True]), ing.orig_hw)
                    row[f"{kind}/n{n}"] = j_of(fg, ing.names, gt, video, masks.meta)
            rows.append(row)
            print(f"  {seq}: raw {raw:.3f}, best {max(row[s] for s in settings):.3f} ({len(needed)} seeds)",
                  file=sys.stderr, flush=True)
    if not rows:
        print("no mask directories found")
        return 0
    df = pd.DataFrame(rows)
    wall = time.perf_counter() - t_start

    print(f"GT-free propagation, {PROTOCOL} J (GT-free selection), {args.dataset} from {args.results}; "
          f"{args.folds} folds (sequences in name order, the j-th in fold j mod {args.folds}); lab features 1/"
          f"{args.lab_stride}, top-{TOPK}, context {CONTEXT}, radius {RADIUS:g}, temperature {TEMPERATURE:g}")
    if checks:
        print(f"raw J vs the workflow's score CSVs: max |difference| {max(checks):.2e} over {len(checks)} sequences")
    print("\nper-sequence J of every setting:")
    print(df.set_index(["method", "sequence"]).round(3).to_string())
    summary = []
    for label, part in df.groupby("method", sort=False):
        table = part.set_index("sequence")[settings]
        means = table.mean()
        best = settings[int(np.argmax(means.to_numpy()))]
        j_oof, chosen = oof(table, args.folds, settings)
        by_kind = {k: oof(table, args.folds, [OFF] + [s for s in settings if s.startswith(k + "/")])[0]
                   for k in args.kinds}
        summary.append({"method": label, "supervised": supervised[label], "n_seq": len(table), "raw": means[OFF],
                        "in-fold best (in-sample)": means[best], "best setting": best, "out-of-fold": j_oof,
                        "chosen per fold": " ".join(chosen), **{f"oof {k}": v for k, v in by_kind.items()},
                        "verdict": "adopt" if j_oof > means[OFF] else "keep raw"})
    summ = pd.DataFrame(summary)
    pd.set_option("display.width", 250)
    for title, part in (("unsupervised", summ[~summ.supervised]), ("SUPERVISED", summ[summ.supervised])):
        if len(part):
            print(f"\n{title} methods: mean J over sequences")
            print(part.drop(columns="supervised").round(3).to_string(index=False))
    ms_feat = 1000 * t_feat / max(n_feat_frames, 1)
    ms_prop = 1000 * t_prop / max(n_prop_frames, 1)
    print(f"\ncost per frame: lab features {ms_feat:.1f} ms, one seed's propagation {ms_prop:.1f} ms (a setting "
          f"with n seeds: about {ms_feat:.0f} + n x {ms_prop:.0f} ms); wall time {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
