"""Benchmark the trained methods (gwm, lrtl, gwm-boot, lrtl-boot) on the shared DAVIS-2016 sequences on CPU.

    nice -n 10 .venv/bin/python experiments/train_davis.py                       # prepare, train gwm and lrtl, score
    nice -n 10 .venv/bin/python experiments/train_davis.py --methods gwm-boot lrtl-boot
    nice -n 10 .venv/bin/python experiments/train_davis.py --methods gwm --set iterations=1500 K=4 --tag _k4
    # self-training, round 2: lrtl-boot trained on the first lrtl-boot's refined masks instead of bgfit's
    nice -n 10 .venv/bin/python experiments/train_davis.py --methods lrtl-boot --tag _round2 \
        --pseudo-from /tmp/motionseg_bench_train_davis/h96/models_disfast480/lrtl-boot/masks_h240_refined

Pipeline (the workflow's own entry points, cached under ``--work``): ``run_ingest`` (``--height`` rows, default 96),
``run_flow`` with OpenCV DIS (``--flow-preset``, gaps 1 and 2, computed at ``--flow-height`` rows and resized to the
working size), ``run_tracks`` with ``flowchain`` tracks from that flow, then ONE network per method trained on all
sequences together (transductive, as GWM/LRTL do on DAVIS) with ``run_train`` and applied with ``run_segment`` to
frames ingested at ``--infer-height`` rows (default 240: the network resizes them to its resolution). The ``-boot``
methods also train on the GT-free masks of ``train.pseudo_labels`` (bgfit), made with ``run_method`` as
``snakemake --configfile config/davis2016.yaml`` makes them (:func:`prepare_pseudo`).
The ``train`` section of config/config.yaml is used with the CPU overrides in :data:`BENCH_TRAIN` (printed).
Scores: official DAVIS J (davis2017-unsup: all frames, empty/empty = 1, mean of sequence means) of the GT-free
foreground (border rule; segment 0 for the -boot methods), raw and refined by GrabCut at the inference size
(``train.refine_masks``), and separately the ORACLE oracle-frame number (best single segment per frame against GT).
GT is read only for scoring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "DAVIS2016"

#: CPU setting on top of config/config.yaml's train section (the paper setting is config/davis_gpu.yaml).
BENCH_TRAIN = {
    "model": "unet",
    "width": 16,
    "depth": 4,
    "K": 4,
    "resolution": [64, 112],
    # GWM's 20 px clip and 0.03 weight at 480 rows, expressed at the 64-row loss resolution (same balance with the
    # trajectory loss as in LRTL): clip 20 x 64 / 480, weight 0.03 x (480 / 64)^2
    "flow_clip": 2.67,
    "loss_weights": {"flow": 1.69, "traj": 0.0132, "temporal": 0.1, "pseudo": 1.0},
    "lr": 1.0e-3,
    "warmup_iters": 100,
    "iterations": 6000,  # 3,000 gives lrtl-boot 0.598 / 0.598 / 0.602 refined (seeds 0-2), 6,000 0.602 / 0.601 / 0.600
    "batch_size": 8,
    "n_tracks": 1000,
    "device": "cpu",
    "select": "lowest-loss",
    "checkpoint_every": 250,
    "select_frames": 64,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["gwm", "lrtl"], choices=["gwm", "lrtl", "gwm-boot", "lrtl-boot"])
    p.add_argument("--sequences", nargs="*", default=None, help="subset (default: all in the data folder)")
    p.add_argument("--work", type=Path, default=Path("/tmp/motionseg_bench_train_davis"), help="cache/work folder")
    p.add_argument("--height", type=int, default=96, help="working (ingest) height in px")
    p.add_argument("--flow-height", type=int, default=480, help="height at which DIS flow is computed")
    p.add_argument("--infer-height", type=int, default=240,
                   help="height of the frames inference reads (the network resizes them; GrabCut refines at this size)")
    p.add_argument("--reuse-model", action="store_true",
                   help="skip training when the model folder already holds model.pt (to re-score inference settings)")
    p.add_argument("--flow-preset", default="fast", choices=["ultrafast", "fast", "medium"], help="DIS preset")
    p.add_argument("--threads", type=int, default=1,
                   help="torch/OpenCV threads (1 is fastest on a shared 2-core machine: no spin-waiting)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML",
                   help="extra train overrides, e.g. K=4 iterations=2000 'resolution=[96,168]'")
    p.add_argument("--pseudo-height", type=int, default=240,
                   help="-boot methods: height of the frames the pseudo-label method (train.pseudo_labels) runs on")
    p.add_argument("--pseudo-from", type=Path, default=None, metavar="DIR",
                   help="-boot methods: take the pseudo-labels from DIR/<sequence> (GT-free mask folders, e.g. the "
                        "masks_h240_refined folder of an earlier -boot run: a second round of self-training) instead "
                        "of making them with train.pseudo_labels")
    p.add_argument("--tag", default="", help="suffix of the model folder (keeps runs with other overrides apart)")
    return p.parse_args(argv)


def load_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def prepare(seqs: list[str], work: Path, height: int, flow_height: int, preset: str, cfg: dict,
            threads: int) -> list[dict]:
    """Ingest, DIS flow and flowchain tracks of every sequence (cached). Returns run_train inputs."""
    from motionseg.flow.run import run_flow
    from motionseg.io.ingest import run_ingest
    from motionseg.tracks.run import run_tracks

    dataset = {"name": "davis2016", "layout": "davis", "root": str(DATA)}
    flow_cfg = dict(cfg["flow"], compute_height=flow_height)
    flow_cfg["dis"] = dict(flow_cfg["dis"], preset=preset)
    gaps = sorted({abs(int(g)) for g in cfg["train"]["flow_gaps"]})
    inputs = []
    for seq in seqs:
        fr = work / f"h{height}" / "frames" / f"{seq}.npz"
        fd = work / f"h{height}" / f"flow_dis{preset}{flow_height}" / seq
        tr = work / f"h{height}" / f"tracks_flowchain_dis{preset}{flow_height}" / f"{seq}.npz"
        if not fr.exists():
            run_ingest(dataset, seq, fr, {"height": height})
        if not fd.exists():
            run_flow(fr, fd, flow_cfg, "dis", gaps, threads=threads)
        if not tr.exists():
            run_tracks(fr, fd, tr, cfg["tracks"], "flowchain", progress=False)
        inputs.append({"frames": fr, "flow": fd, "tracks": tr})
    return inputs


def prepare_pseudo(seqs: list[str], work: Path, height: int, method: str, threads: int) -> list[Path]:
    """GT-free masks of ``method`` (e.g. bgfit) for every sequence, as ``snakemake --configfile
    config/davis2016.yaml`` makes them: frames at ``height`` rows, DIS flow (gap 1) computed at 480 rows and resized,
    the method's davis2016.yaml settings. Cached under ``work``. Returns the mask directories."""
    from motionseg.flow.run import run_flow
    from motionseg.io.ingest import run_ingest
    from motionseg.methods import method_config, run_method

    cfg = load_config()
    for sec, over in yaml.safe_load((REPO / "config" / "davis2016.yaml").read_text()).items():
        if isinstance(over, dict) and sec in cfg:
            cfg[sec] = {**cfg[sec], **over}
    dataset = {"name": "davis2016", "layout": "davis", "root": str(DATA)}
    out = []
    for seq in seqs:
        fr = work / f"h{height}" / "frames" / f"{seq}.npz"
        fd = work / f"h{height}" / "flow_dis_davis2016" / seq
        md = work / f"h{height}" / f"masks_{method}" / seq
        if not fr.exists():
            run_ingest(dataset, seq, fr, {"height": height})
        if not fd.exists():
            run_flow(fr, fd, cfg["flow"], "dis", [1], threads=threads)
        if not md.exists():
            run_method(method, fr, fd, md, method_config(cfg, method), 0)
        out.append(md)
    return out


def score(mask_dir: Path, seq: str) -> dict:
    """Official DAVIS J (GT-free) and oracle-frame J of one sequence's mask directory."""
    from motionseg.io.datasets import get_sequence, load_gt
    from motionseg.io.masks import read_mask_dir
    from motionseg.metrics.evaluate import score_sequence

    masks = read_mask_dir(mask_dir)
    gt = load_gt(get_sequence(DATA, "davis", seq))
    keys = {"dataset": "davis2016", "sequence": seq, "flow": "dis", "tracks": "flowchain", "method": "x"}
    scores, _ = score_sequence(masks, gt, keys, protocols=["davis2017-unsup"],
                               selections=["gt-free", "oracle-frame"], progress=False)
    by_sel = scores.set_index("selection")["J_mean"]
    return {"J": float(by_sel["gt-free"]), "J_oracle_frame": float(by_sel["oracle-frame"])}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA.is_dir():
        print(f"{DATA}: shared DAVIS-2016 data not found", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    from motionseg.io.ingest import run_ingest
    from motionseg.train import run_segment, run_train
    from motionseg.train.config import train_config

    cfg = load_config()
    train_cfg = dict(cfg["train"], refine=cfg["refine"], **BENCH_TRAIN)
    for item in args.set:
        key, val = item.split("=", 1)
        train_cfg[key] = yaml.safe_load(val)
    seqs = args.sequences or sorted(p.name for p in (DATA / "JPEGImages").iterdir() if p.is_dir())
    print("train config:", json.dumps({k: train_cfg[k] for k in sorted(train_cfg)}), flush=True)

    t0 = time.time()
    inputs = prepare(seqs, args.work, args.height, args.flow_height, args.flow_preset, cfg, args.threads)
    if any(m.endswith("-boot") for m in args.methods):
        t0 = time.time()
        if args.pseudo_from is not None:
            pseudo = [args.pseudo_from / seq for seq in seqs]
            missing = [str(d) for d in pseudo if not d.is_dir()]
            if missing:
                print(f"--pseudo-from: no mask folder {missing[0]}", file=sys.stderr)
                return 2
            train_cfg["pseudo_labels"] = f"masks in {args.pseudo_from}"
            print(f"pseudo-labels from {args.pseudo_from}", flush=True)
        else:
            pseudo = prepare_pseudo(seqs, args.work, args.pseudo_height, train_cfg["pseudo_labels"], args.threads)
            print(f"pseudo-labels ({train_cfg['pseudo_labels']}, davis2016.yaml settings) in {time.time() - t0:.0f} s",
                  flush=True)
    print(f"prepared {len(seqs)} sequences in {time.time() - t0:.0f} s", flush=True)

    table = {}
    for method in args.methods:
        model_dir = (args.work / f"h{args.height}" / f"models_dis{args.flow_preset}{args.flow_height}"
                     / f"{method}{args.tag}")
        ckpt = model_dir / "model.pt"
        t1 = time.time()
        if not (args.reuse_model and ckpt.exists()):
            items = [dict(item, pseudo=p) for item, p in zip(inputs, pseudo, strict=True)] if method.endswith(
                "-boot") else inputs
            train_only = {k: v for k, v in train_cfg.items() if k != "refine"}
            run_train(items, ckpt, train_config({**cfg, "train": train_only}, method), method, args.seed,
                      model_dir / "work")
        t_train = time.time() - t1
        prov = torch.load(ckpt, weights_only=False)["provenance"]
        rows = {}
        for seq in seqs:
            frames = args.work / f"h{args.infer_height}" / "frames" / f"{seq}.npz"
            if not frames.exists():
                run_ingest({"name": "davis2016", "layout": "davis", "root": str(DATA)}, seq, frames,
                           {"height": args.infer_height})
            row = {}
            for refined in (False, True):
                out = model_dir / f"masks_h{args.infer_height}{'_refined' if refined else ''}" / seq
                if out.exists():
                    import shutil

                    shutil.rmtree(out)
                run_segment(ckpt, frames, out, dict(train_cfg, refine_masks=refined), args.seed, progress=False)
                sc = score(out, seq)
                row["J_refined" if refined else "J"] = sc["J"]
                if not refined:
                    row["J_oracle_frame"] = sc["J_oracle_frame"]  # the K soft masks are the same either way
            rows[seq] = row
        df = pd.DataFrame(rows).T[["J", "J_refined", "J_oracle_frame"]]
        table[method] = df
        print(f"\n== {method}: trained {train_cfg['iterations']} it in {t_train:.0f} s "
              f"(selected iteration {prov['selected_iteration']}, {prov['selection']}) ==")
        print(df.round(3).to_string())
        print(f"mean J (GT-free, official): raw {df['J'].mean():.3f}, GrabCut-refined {df['J_refined'].mean():.3f}   "
              f"mean J (ORACLE-frame, GT selects the segment per frame): {df['J_oracle_frame'].mean():.3f}",
              flush=True)
    if len(table) > 1:
        summary = pd.DataFrame({m: d.mean() for m, d in table.items()}).T
        print("\n== summary (mean of sequence means; J_oracle_frame is an ORACLE) ==")
        print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
