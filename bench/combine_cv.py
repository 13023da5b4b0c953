"""Out-of-fold value of combining GT-free methods per frame (motionseg.post.combine) on the 13 shared DAVIS-2016 videos.

Input: the results folder of a finished DAVIS-2016 workflow run (e.g. ``<out>/work/results`` of
``bench/quality_cv.py``) with the mask directories of the methods to combine. For every sequence the methods' soft
foregrounds are brought to the working size (:func:`motionseg.post.crf.foreground_probability`), combined by every
rule of :data:`motionseg.post.combine.RULES` for every subset of ``--methods`` of at least ``--min-size`` methods,
brought to the original size (:func:`motionseg.io.masks.fg_from_probs`) and scored as the workflow scores a mask
directory (davis2017-unsup, GT-free selection; GT read only here, for scoring).

Candidates: each single method's raw masks, and each (rule, subset). Selection as in ``bench/quality_cv.py``: 4
folds (sequences in name order, the j-th in fold j mod 4), the candidate with the best mean J on the other folds is
scored on the held-out fold; printed: the best single method, the in-sample best, in-fold and out-of-fold J, the
out-of-fold J over random fold partitions (seeds ``--split-seeds``), the choice per fold, and the fraction of frames
each method is chosen under each rule (full set of methods).

Usage: ``nice -n 5 python bench/combine_cv.py --results /tmp/qcv/work/results [--methods bgfit clusternet-online
clusternet-offline gwm-boot lrtl-boot] [--min-size 2] [--folds 4]``. Exits 0 with a message when the data or the
results are absent. Measured figures: docs/results.md ("Cross-validated quality").
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from motionseg.io.datasets import get_sequence, load_gt
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import fg_from_probs, read_mask_dir
from motionseg.post.combine import RULES, combine
from motionseg.post.crf import foreground_probability, in_frame_order

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propagation_cv import j_of  # noqa: E402  (scored as the workflow scores a mask dir)
from quality_cv import cross_validate, folds_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"
PROTOCOL = "davis2017-unsup"
DEFAULT = ["bgfit", "clusternet-online", "clusternet-offline", "gwm-boot", "lrtl-boot"]


def method_dirs(results: Path, dataset: str, methods: list[str]) -> dict[str, Path]:
    """{method: its mask directory root} (one flow/tracks combination each; a tracks variant wins over none)."""
    out = {}
    for m in methods:
        dirs = sorted(p for p in (results / dataset / "masks").glob(f"*/*/{m}") if p.is_dir())
        if not dirs:
            raise SystemExit(f"no mask directory for {m} under {results / dataset / 'masks'}")
        out[m] = dirs[-1]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("/tmp/qcv/work/results"))
    ap.add_argument("--dataset", default="davis2016")
    ap.add_argument("--root", type=Path, default=DATA)
    ap.add_argument("--methods", nargs="+", default=DEFAULT)
    ap.add_argument("--min-size", type=int, default=2)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--split-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", type=Path, default=None, help="write the per-sequence J of every candidate here (CSV)")
    args = ap.parse_args()
    if not args.root.is_dir():
        print(f"skipped: the shared DAVIS-2016 sequences are not at {args.root}")
        return 0
    if not (args.results / args.dataset / "masks").is_dir():
        print(f"skipped: no mask directories under {args.results / args.dataset / 'masks'}")
        return 0
    t_start = time.perf_counter()
    dirs = method_dirs(args.results, args.dataset, args.methods)
    seqs = sorted(set.intersection(*[{p.name for p in d.iterdir() if (p / "meta.json").exists()}
                                     for d in dirs.values()]))
    subsets = [c for n in range(args.min_size, len(args.methods) + 1)
               for c in itertools.combinations(range(len(args.methods)), n)]
    rows, shares = [], {r: np.zeros(len(args.methods)) for r in RULES if r != "mean"}
    for seq in seqs:
        npz = args.results / args.dataset / "frames" / f"{seq}.npz"
        ing = load_ingested(npz)
        info = get_sequence(args.root, "davis", seq)
        gt, video = load_gt(info), list(info.frame_names)
        work_hw = tuple(ing.frames.shape[1:3])
        fgps, row = [], {"sequence": seq}
        for m, d in dirs.items():
            masks = in_frame_order(read_mask_dir(d / seq), list(ing.names), ing.orig_hw, d / seq, npz)
            fgps.append(foreground_probability(masks, work_hw))
            row[m] = j_of(masks.fg, ing.names, gt, video, {})
        fgp = np.stack(fgps)
        for sub in subsets:
            name = "+".join(args.methods[i] for i in sub)
            for rule in RULES:
                comb, choice = combine(fgp[list(sub)], rule)
                fg = fg_from_probs(np.stack([1 - comb, comb], 1), np.array([False, True]), ing.orig_hw)
                row[f"{rule}:{name}"] = j_of(fg, ing.names, gt, video, {})
                if len(sub) == len(args.methods) and rule in shares:
                    shares[rule] += np.bincount(choice, minlength=len(args.methods))
        rows.append(row)
        best = max((v, k) for k, v in row.items() if k != "sequence")
        print(f"  {seq}: {', '.join(f'{m} {row[m]:.3f}' for m in dirs)}; best {best[1]} {best[0]:.3f}",
              file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index("sequence")
    if args.out:
        table.to_csv(args.out)
    singles = table[list(dirs)]
    fold = folds_of(seqs, args.folds, None)
    print(f"{PROTOCOL} J (GT-free selection), {len(seqs)} sequences from {args.results}; {args.folds} folds "
          f"(sequences in name order, the j-th in fold j mod {args.folds}); {table.shape[1]} candidates "
          f"({len(dirs)} single methods, {len(RULES)} rules x {len(subsets)} subsets)")
    print("single methods: " + ", ".join(f"{m} {v:.3f}" for m, v in singles.mean().items()))
    for title, t in (("single methods only", singles), ("every candidate", table)):
        fin, oof, _, chosen = cross_validate(t, fold)
        sp = [cross_validate(t, folds_of(seqs, args.folds, s))[1] for s in args.split_seeds]
        best = str(t.mean().idxmax())
        print(f"{title}: in-sample best {best} {t[best].mean():.3f}; in-fold {fin:.3f}; out-of-fold {oof:.3f}; "
              f"random partitions {np.mean(sp):.3f} +- {np.std(sp):.3f}; chosen per fold: "
              + "; ".join(chosen[f] for f in sorted(chosen)))
    for rule in RULES:
        cols = [c for c in table if c.startswith(rule + ":")]
        print(f"rule {rule}: in-sample best {table[cols].mean().max():.3f}, out-of-fold "
              f"{cross_validate(table[cols], fold)[1]:.3f} (subset chosen in-fold)")
    for rule, s in shares.items():
        print(f"frames chosen under {rule} (all methods): "
              + ", ".join(f"{m} {v / max(s.sum(), 1):.0%}" for m, v in zip(dirs, s, strict=False)))
    print(f"wall time {(time.perf_counter() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
