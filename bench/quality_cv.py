"""Cross-validated quality of every method of config/davis2016.yaml on the 13 shared DAVIS-2016 sequences.

Every setting that was chosen on the shared sequences is a choice a user would have to make without ground truth on
their own videos. This bench makes those choices by cross-validation over sequences and prints, per method, the mean
J of the choice on the sequences it was chosen on (in-fold) and on the sequences it was not (out-of-fold).

1. Workflow runs (``snakemake --cores N --configfile config/config.yaml config/davis2016.yaml <variant>``), one per
   *variant* of :data:`VARIANTS`, all in ``<out>/work`` one after the other (the flow and the networks are computed
   once; a variant reruns only the jobs whose params it changes). Each run's ``results/reports/per_sequence.csv`` is
   kept as ``<out>/variants/<variant>.csv``; ``--reuse`` skips the variants whose CSV exists. The variants:

   - ``davis2016``: config/davis2016.yaml as shipped, every method of it (the networks are trained only here: one
     training setting each, 8 to 13 CPU-minutes per network);
   - ``config-defaults``: the two DAVIS-specific values of davis2016.yaml put back to config/config.yaml's
     (``evidence.occlusion_rel`` 0.05 -> 0.2, ``cluster.fg_threshold`` 0.5 -> 0.4), for the methods that read them;
   - ``smoothing-0.25``: ``bgfit.temporal_smoothing`` 0.4 -> 0.25 (bgfit only);
   - ``trajseg-poly``, ``trajseg-max``, ``trajseg-poly-max``: trajseg with the polynomial background over the tracks
     (and a track threshold of 4 noise units instead of 6), with its track probability max-combined with the
     two-frame evidence, and both;
   - ``teacher-raw``: ``train.pseudo_labels: bgfit`` (config/config.yaml's), the ``-boot`` networks trained on
     bgfit's raw masks instead of davis2016.yaml's better teacher, its GT-free propagation masks (retrains both).
   - ``combine-mean``, ``combine-temporal``, ``combine-product``: method ``combine`` (its components as shipped) with
     the other rules than davis2016.yaml's ``consensus`` (only the combine jobs rerun).

   Every run also writes the ``+crf`` rows of config/config.yaml's ``crf.methods`` and the ``+prop`` rows (GT-free
   propagation) of ``--prop-methods`` (default :data:`PROP_METHODS`: at about 0.35 s per frame and method, not all
   of them), so a method's candidate settings are (variant, post-processing) pairs.
   ``flow.compute_height`` (480 vs 240 rows) is not a variant: it reruns every job of every method.

2. Selection, per method (J = mean over sequences of the per-sequence J_mean, davis2017-unsup protocol, GT-free
   selection, all frames):

   - ``shipped``: the method's raw masks under the shipped config;
   - ``in-sample best``: the best candidate chosen and scored on all sequences (optimistic: not a result);
   - ``in-fold`` / ``out-of-fold`` (fold scheme ``order``): the workflow's ``cross_validation`` folds (sequences in
     name order, the j-th in fold j mod K). For each fold the candidate with the best mean J on the other folds is
     chosen; ``in-fold`` averages its J on those other folds, ``out-of-fold`` scores it on the held-out fold, and the
     held-out J of all sequences is averaged. A candidate that beats ``shipped`` only in-fold is not a gain;
   - ``oof seeds``: the out-of-fold J over random fold partitions (``numpy.random.default_rng(seed).permutation`` of
     the sequences, seeds ``--split-seeds``), mean +- standard deviation: the spread that comes from which sequences
     land together. The methods themselves run with the config's fixed ``seed`` (one run: retraining the networks
     per seed costs an hour of CPU per seed);
   - ``GT-free, any method``: the same selection over every candidate of every GT-free method (the choice of the
     method is a choice too). ORACLE (clusternet-oracle) and SUPERVISED methods are printed apart.

3. The per-sequence failure table (J of each method's out-of-fold choice, per sequence, ``order`` folds), written to
   ``<out>/per_sequence_oof.csv`` with the chosen candidate per fold in ``<out>/choices.csv``.

Usage: ``nice -n 5 python bench/quality_cv.py --out /tmp/qcv [--variants <names, default: all of VARIANTS>]
[--methods ...] [--folds 4] [--split-seeds 0 1 2 3 4] [--cores 2] [--reuse] [--table-only]``. ``--table-only``
selects from the kept CSVs without running the workflow. It exits 0 with a message when ../shared/data/DAVIS2016
is absent. Measured figures: docs/results.md ("Cross-validated quality").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from motionseg.registry import spec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"
PROTOCOL = "davis2017-unsup"
ANY = "GT-free, any method"
# methods that also get +prop candidates (GT-free propagation costs about 0.35 s per frame and method): the
# strongest of each family, per-frame classical, clustering, network
PROP_METHODS = ["bgfit", "clusternet-online", "lrtl-boot"]


@dataclass(frozen=True)
class Variant:
    """A workflow run: config overrides over config/davis2016.yaml and the methods it runs (None = all of it)."""

    overrides: dict
    methods: tuple[str, ...] | None
    why: str


VARIANTS: dict[str, Variant] = {
    "davis2016": Variant({}, None, "config/davis2016.yaml as shipped"),
    "config-defaults": Variant(
        {"evidence": {"occlusion_rel": 0.2}, "cluster": {"fg_threshold": 0.4}},
        ("bgfit", "clusternet-online", "clusternet-offline"),
        "davis2016.yaml's two DAVIS-specific values back to config/config.yaml's",
    ),
    "smoothing-0.25": Variant({"bgfit": {"temporal_smoothing": 0.25}}, ("bgfit",),
                              "bgfit's temporal smoothing weight 0.25 instead of 0.4"),
    "trajseg-poly": Variant({"trajseg": {"background": "poly", "fg_threshold": 4.0}}, ("trajseg",),
                            "trajseg with the polynomial background over the tracks and a lower track threshold"),
    "trajseg-max": Variant({"trajseg": {"evidence_weight": 1.0, "evidence_combine": "max"}}, ("trajseg",),
                           "trajseg's track probability max-combined with the two-frame evidence"),
    "trajseg-poly-max": Variant({"trajseg": {"background": "poly", "fg_threshold": 4.0, "evidence_weight": 1.0,
                                             "evidence_combine": "max"}}, ("trajseg",), "both of the above"),
    "teacher-raw": Variant({"train": {"pseudo_labels": "bgfit"}}, ("gwm-boot", "lrtl-boot"),
                           "the -boot networks learn from bgfit's raw masks instead of its GT-free propagation masks"),
    "combine-mean": Variant({"combine": {"rule": "mean"}}, ("combine",),
                           "method combine with rule mean (its components as shipped)"),
    "combine-temporal": Variant({"combine": {"rule": "temporal"}}, ("combine",),
                           "method combine with rule temporal (its components as shipped)"),
    "combine-product": Variant({"combine": {"rule": "product"}}, ("combine",),
                           "method combine with rule product (its components as shipped)"),
}


def shipped_methods() -> list[str]:
    """The ``methods`` of config/davis2016.yaml."""
    return list(yaml.safe_load((REPO / "config" / "davis2016.yaml").read_text())["methods"])


def variant_config(variant: Variant, methods: list[str], prop_methods: list[str]) -> tuple[dict, list[str]]:
    """(the config laid over config/config.yaml and config/davis2016.yaml for one variant, the methods whose rows it
    keeps)."""
    kept = [m for m in methods if variant.methods is None or m in variant.methods]
    # method combine reads its components' masks: they run too (cached in <out>/work), only its rows are kept
    run_methods = methods if any(spec(m).combines for m in kept) else kept
    cfg = {
        "datasets": [{"name": "davis2016", "layout": "davis", "root": str(DATA), "protocol": PROTOCOL}],
        "methods": run_methods,
        "gtfree_propagation": {"methods": [m for m in run_methods if m in prop_methods]},
        "semisup": {"sources": []},
        "report": {"overlays_per_dataset": 0},
        **variant.overrides,
    }
    return cfg, kept


def run_variant(name: str, variant: Variant, methods: list[str], prop_methods: list[str], out: Path,
                cores: int) -> pd.DataFrame:
    """Run the workflow for one variant in ``<out>/work`` (GT-free propagation for ``prop_methods``); return (and
    keep) its per-sequence rows."""
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    cfg, kept = variant_config(variant, methods, prop_methods)
    extra = out / "variants" / f"{name}.yaml"
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"), "--cores",
           str(cores), "--rerun-incomplete", "--configfile", str(REPO / "config" / "config.yaml"),
           str(REPO / "config" / "davis2016.yaml"), str(extra)]
    t0 = time.time()
    with open(out / "variants" / f"{name}.log", "w") as log:
        res = subprocess.run(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise SystemExit(f"workflow failed for variant {name} ({res.returncode}); see {out / 'variants' / name}.log")
    print(f"variant {name}: workflow {(time.time() - t0) / 60:.1f} min ({variant.why})", flush=True)
    rows = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    rows = rows[rows["method"].isin(kept)]
    rows.to_csv(out / "variants" / f"{name}.csv", index=False)
    return rows


def candidate_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per-sequence J of every candidate: rows = sequences, columns = (method, candidate), candidate =
    ``<variant>`` for raw masks, ``<variant>+<post>`` for post-processed ones; GT-free selection, PROTOCOL."""
    parts = []
    for name, rows in frames.items():
        r = rows[(rows["protocol"] == PROTOCOL) & (rows["selection"] == "gt-free")].copy()
        r["candidate"] = [name if p == "none" else f"{name}+{p}" for p in r["post"]]
        parts.append(r[["method", "candidate", "sequence", "J_mean", "supervision", "oracle"]])
    long = pd.concat(parts, ignore_index=True)
    return long


def folds_of(seqs: list[str], k: int, seed: int | None) -> dict[str, int]:
    """Fold of each sequence: name order, the j-th in fold j mod k (seed None, the workflow's scheme), or a
    random permutation of the sequences by ``numpy.random.default_rng(seed)`` dealt the same way."""
    order = sorted(seqs)
    if seed is not None:
        order = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    return {s: j % k for j, s in enumerate(order)}


def cross_validate(table: pd.DataFrame, fold: dict[str, int]) -> tuple[float, float, pd.Series, dict[int, str]]:
    """Choose in-fold, score out-of-fold.

    table: J [n_seq, n_candidates] (index = sequences). For each fold f the candidate with the best mean J over the
    sequences outside f is chosen (ties: the first column). Returns (in-fold J = mean over folds of the chosen
    candidate's J outside f, out-of-fold J = mean over all sequences of the held-out J, held-out J per sequence,
    {fold: chosen candidate}).
    """
    folds = np.array([fold[s] for s in table.index])
    held = pd.Series(np.nan, index=table.index)
    inner, chosen = [], {}
    for f in sorted(set(folds)):
        train = table[folds != f].mean(axis=0)
        best = str(train.idxmax())
        chosen[f] = best
        inner.append(float(train[best]))
        held[folds == f] = table.loc[folds == f, best]
    return float(np.mean(inner)), float(held.mean()), held, chosen


def method_tables(long: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{method: J table [sequences, candidates]} plus the GT-free any-method table (columns ``method:candidate``);
    only candidates scored on every sequence."""
    out = {}
    for m, r in long.groupby("method"):
        out[str(m)] = r.pivot_table(index="sequence", columns="candidate", values="J_mean").dropna(axis=1)
    free = long[(long["supervision"] != "supervised") & (~long["oracle"].astype(bool))]
    free = free.assign(key=free["method"] + ":" + free["candidate"])
    out[ANY] = free.pivot_table(index="sequence", columns="key", values="J_mean").dropna(axis=1)
    return out


def summarise(long: pd.DataFrame, k: int, split_seeds: list[int], out: Path) -> pd.DataFrame:
    """Print and write the per-method cross-validation table and the per-sequence failure table."""
    tables = method_tables(long)
    kind = long.groupby("method").agg(supervision=("supervision", "first"), oracle=("oracle", "first"))
    rows, held_all, choices = [], {}, []
    for m, t in tables.items():
        seqs = list(t.index)
        fin, oof, held, chosen = cross_validate(t, folds_of(seqs, k, None))
        seeds = [cross_validate(t, folds_of(seqs, k, s))[1] for s in split_seeds]
        shipped = float(t["davis2016"].mean()) if "davis2016" in t else np.nan
        best = str(t.mean().idxmax())
        label = ("ORACLE" if m != ANY and bool(kind.loc[m, "oracle"]) else
                 "SUPERVISED" if m != ANY and kind.loc[m, "supervision"] == "supervised" else "GT-free")
        rows.append({"method": m, "label": label, "n_candidates": t.shape[1], "shipped": shipped,
                     "in_sample_best": float(t[best].mean()), "best_candidate": best, "in_fold": fin,
                     "out_of_fold": oof, "oof_seeds_mean": float(np.mean(seeds)),
                     "oof_seeds_sd": float(np.std(seeds)),
                     "verdict": "-" if np.isnan(shipped) else "gain" if oof > shipped + 1e-9 else "no gain"})
        held_all[m] = held
        choices += [{"method": m, "fold": f, "chosen": c} for f, c in chosen.items()]
    res = pd.DataFrame(rows)
    res.to_csv(out / "cv.csv", index=False)
    pd.DataFrame(choices).to_csv(out / "choices.csv", index=False)
    per_seq = pd.DataFrame(held_all)
    per_seq.insert(0, "fold", [folds_of(list(per_seq.index), k, None)[s] for s in per_seq.index])
    per_seq.to_csv(out / "per_sequence_oof.csv")
    pd.set_option("display.width", 200)
    print(f"\n{PROTOCOL}, GT-free selection, {len(per_seq)} sequences; folds: {k} (sequences in name order, the j-th "
          f"in fold j mod {k}); spread: out-of-fold J over random partitions, seeds {split_seeds}")
    show = res.copy()
    for c in ("shipped", "in_sample_best", "in_fold", "out_of_fold", "oof_seeds_mean", "oof_seeds_sd"):
        show[c] = show[c].round(3)
    print(show.to_string(index=False))
    print("\nout-of-fold J per sequence (each method's candidate chosen on the other folds):")
    print(per_seq.round(3).to_string())
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/qcv"))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--methods", nargs="+", default=None, help="default: config/davis2016.yaml's methods")
    ap.add_argument("--prop-methods", nargs="+", default=PROP_METHODS, help="methods with +prop candidates")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--split-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep the CSV of a variant already run")
    ap.add_argument("--table-only", action="store_true", help="only select from <out>/variants/*.csv")
    args = ap.parse_args()
    if not DATA.is_dir() and not args.table_only:
        print(f"skipped: the shared DAVIS-2016 sequences are not at {DATA}")
        return 0
    methods = args.methods or shipped_methods()
    frames: dict[str, pd.DataFrame] = {}
    for name in args.variants:
        csv = args.out / "variants" / f"{name}.csv"
        if csv.exists() and (args.reuse or args.table_only):
            frames[name] = pd.read_csv(csv)
        elif args.table_only:
            print(f"variant {name}: no {csv}, left out")
        else:
            frames[name] = run_variant(name, VARIANTS[name], methods, args.prop_methods, args.out, args.cores)
    if not frames:
        print("nothing to select from")
        return 1
    long = candidate_table(frames)
    summarise(long[long["method"].isin(methods)], args.folds, args.split_seeds, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
