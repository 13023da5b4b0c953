"""``motionseg flow-eval``: EPE and outlier rate of a flow backend on ``.flo`` ground truth."""

from __future__ import annotations

import argparse
import copy
import csv
import sys
from pathlib import Path

import yaml

from motionseg.flow.config import backend_kind, ptlflow_model_name, validate_flow_config
from motionseg.io.atomic import atomic_path
from motionseg.io.errors import ConfigError, InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``flow-eval`` command."""
    p = subparsers.add_parser(
        "flow-eval",
        help="EPE / Fl of a flow backend on .flo ground truth",
        description="Run a flow backend on image pairs with .flo ground truth and print the end-point error (EPE, px) "
        "and the outlier rate Fl (error > 3 px and > 5%% of the GT magnitude). PAIRS is a FlyingChairs-style folder "
        "(*-img0.ppm, *-img1.ppm, *-gt.flo) or a DAVIS-layout dataset with Flows_gap*/<seq>/*.flo and JPEGImages/.",
    )
    p.add_argument("--backend", required=True, help="dis, farneback, raft_large, raft_small or ptlflow:<model>")
    p.add_argument("--pairs", required=True, type=Path, help="folder of image pairs with .flo ground truth")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="config file with a flow section")
    p.add_argument("--checkpoint", help="checkpoint of a learned backend (overrides the config)")
    p.add_argument("--allow-random-weights", action="store_true", help="run a learned backend without weights (tests)")
    p.add_argument("--device", help="torch device for learned backends (overrides flow.device)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    p.add_argument("--csv", type=Path, help="also write per-pair rows to this CSV file")
    p.set_defaults(func=main)


def load_flow_section(path: Path) -> dict:
    """The ``flow`` section of a YAML config file."""
    try:
        cfg = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "config file does not exist (pass --config)") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML ({exc})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("flow"), dict):
        raise ConfigError("flow", f"{path} has no flow section")
    return cfg["flow"]


def apply_overrides(flow_cfg: dict, backend: str, checkpoint: str | None, allow_random: bool) -> dict:
    """A copy of ``flow_cfg`` with the command-line checkpoint / random-weights overrides applied."""
    cfg = copy.deepcopy(flow_cfg)
    if allow_random:
        cfg["allow_random_weights"] = True
    if checkpoint is not None:
        kind = backend_kind(backend)
        if kind == "torchvision":
            cfg[backend]["checkpoint"] = checkpoint
        elif kind == "ptlflow":
            cfg["ptlflow"]["checkpoints"] = {
                **(cfg["ptlflow"]["checkpoints"] or {}),
                ptlflow_model_name(backend): checkpoint,
            }
        else:
            raise ConfigError("--checkpoint", f"backend '{backend}' takes no checkpoint")
    return cfg


def main(args: argparse.Namespace) -> int:
    """Run the evaluation; prints one line per pair and a summary; returns 0."""
    from motionseg.flow.backends import get_backend
    from motionseg.flow.evaluate import discover_pairs, evaluate_pairs, summarise

    flow_cfg = apply_overrides(load_flow_section(args.config), args.backend, args.checkpoint, args.allow_random_weights)
    validate_flow_config(flow_cfg, [args.backend])
    pairs = discover_pairs(args.pairs)[: args.limit]
    backend = get_backend(args.backend, flow_cfg, device=args.device)
    rows = evaluate_pairs(backend, pairs)
    out = sys.stdout
    print(f"{'pair':<32} {'EPE':>8} {'Fl%':>7} {'EPE(0)':>8}", file=out)
    for r in rows:
        print(f"{r['pair']:<32} {r['epe']:8.3f} {100 * r['fl']:7.2f} {r['epe_zero']:8.3f}", file=out)
    s = summarise(rows)
    weights = "RANDOM weights" if backend.random_weights else (backend.checkpoint or "no weights")
    print(
        f"{args.backend} ({weights}) on {args.pairs}: {s['pairs']} pairs, EPE {s['epe']:.3f} px "
        f"(all pixels {s['epe_px']:.3f}), Fl {100 * s['fl']:.2f} %, zero-flow EPE {s['epe_zero']:.3f} px",
        file=out,
    )
    if args.csv:
        fields = ["pair", "epe", "fl", "epe_zero", "n_valid"]
        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return 0
