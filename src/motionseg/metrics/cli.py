"""``motionseg evaluate``: DAVIS J/F of any ``<seq>/<frame>.png`` prediction folder against a GT folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from motionseg.io.errors import InputError
from motionseg.io.external import check_threshold
from motionseg.metrics.evaluate import MISSING_MODES, evaluate_dirs, with_summary_rows, write_csv
from motionseg.metrics.jf import DECAY_MODES
from motionseg.metrics.protocols import PROTOCOLS, SINGLE_OBJECT_PROTOCOLS

EPILOG = """\
protocols:
""" + "\n".join(f"  {p.name:16s} {p.description}" for p in PROTOCOLS.values() if not p.multi_object) + """

Both folders hold <seq>/<frame>.png; any nonzero pixel is foreground (multi-object labels are merged). With
--threshold T (an integer grey value 1..255, not a fraction) a prediction pixel is foreground when its grey value is
>= T (RGB: BT.601 luma; 1-bit and palette label maps: non-zero index, as without it); the GT is read as always.
Without --threshold, a sequence whose prediction PNGs have more than two grey levels (soft maps?) gets a warning on
stderr; with --missing empty, so do the scored frames without a prediction PNG (per sequence and in total).
Every GT frame is scored (the protocol may drop some); sequences only in --pred are ignored. The output CSV has one
row per sequence (sequence,J_mean,J_recall,J_decay,F_mean,F_recall,F_decay,n_frames, and n_missing with --missing
empty: scored frames without a prediction PNG; J/F in [0, 1], full precision), then _MEAN_ (mean over sequences)
and _FRAME_POOLED_ (all frames pooled; decay left empty); their n_frames and n_missing are the totals.
"""
# columns of the output CSV (n_missing only with --missing empty: with --missing error a missing PNG stops the run)
CSV_COLUMNS = ["sequence", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay", "n_frames"]


def parse_threshold(text: str) -> int:
    """argparse type of ``--threshold``: an integer grey value 1..255; a fraction is refused with its grey value."""
    try:
        value: int | float = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r} (a grey value 1..255, e.g. 128)") from None
    try:
        t = check_threshold(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert t is not None
    return t


def _warn(message: str) -> None:
    print(f"motionseg evaluate: warning: {message}", file=sys.stderr)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command to ``subparsers``."""
    p = subparsers.add_parser(
        "evaluate",
        help="score <seq>/<frame>.png masks against GT with the official DAVIS J/F",
        description="DAVIS J/F of any <seq>/<frame>.png prediction folder against a GT folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gt", required=True, type=Path, help="GT folder: <seq>/<frame>.png")
    p.add_argument("--pred", required=True, type=Path, help="prediction folder: <seq>/<frame>.png")
    p.add_argument("--out", required=True, type=Path, help="output CSV (one row per sequence + _MEAN_, _FRAME_POOLED_)")
    p.add_argument("--protocol", default="davis2017-unsup", choices=list(SINGLE_OBJECT_PROTOCOLS),
                   help="scoring protocol (default: davis2017-unsup, the official unsupervised DAVIS)")
    p.add_argument("--per-frame", type=Path, default=None, metavar="FILE",
                   help="also write per-frame J and F (sequence,frame,J,F) to FILE")
    p.add_argument("--missing", choices=MISSING_MODES, default="error",
                   help="a missing prediction PNG is an error (default) or scored as an empty mask (counted in the "
                        "n_missing column and in a warning)")
    p.add_argument("--threshold", type=parse_threshold, default=None, metavar="T",
                   help="prediction pixels with grey value >= T (integer 1..255; RGB: BT.601 luma) are foreground, "
                        "for soft maps (e.g. 128); default: any non-zero pixel, the official DAVIS rule")
    p.add_argument("--decay", choices=DECAY_MODES, default="correct",
                   help="decay bins: correct (default) or official (uint8 bin edges, wrong from 256 frames on)")
    p.add_argument("--layout", default="davis", choices=("davis", "segtrackv2", "fbms"),
                   help="dataset layout, used by layout-dependent protocols (gwm); default davis")
    p.add_argument("--bound-th", type=float, default=0.008,
                   help="F boundary tolerance: fraction of the image diagonal (<1) or pixels (>=1); default 0.008")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default 0 = all available CPUs)")
    p.add_argument("--sequences", nargs="+", default=None, metavar="SEQ", help="score only these GT sequences")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run ``motionseg evaluate``; returns 0, or 1 with a one-line error naming the bad file."""
    try:
        per_seq, per_frame = evaluate_dirs(
            args.gt, args.pred, args.protocol, layout=args.layout, missing=args.missing, decay=args.decay,
            bound_th=args.bound_th, workers=args.workers, sequences=args.sequences, progress=not args.quiet,
            threshold=args.threshold, warn=_warn,
        )
        columns = CSV_COLUMNS + (["n_missing"] if args.missing == "empty" else [])
        table = with_summary_rows(per_seq[columns], per_frame)
        write_csv(table, args.out)
        if args.per_frame is not None:
            write_csv(per_frame, args.per_frame)
    except (InputError, ValueError) as exc:
        print(f"motionseg evaluate: error: {exc}", file=sys.stderr)
        return 1
    mean = table[table["sequence"] == "_MEAN_"].iloc[0]
    print(f"{args.protocol}: J {mean['J_mean']:.4f}  F {mean['F_mean']:.4f}  J&F "
          f"{(mean['J_mean'] + mean['F_mean']) / 2:.4f}  ({len(per_seq)} sequences, {int(mean['n_frames'])} frames"
          f"{_missing_note(per_seq)}) -> {args.out}")
    return 0


def _missing_note(per_seq: pd.DataFrame) -> str:
    """``, N scored empty (no PNG)`` for the summary line when frames were missing, else empty."""
    n = int(per_seq["n_missing"].sum())
    return f", {n} scored empty (no PNG)" if n else ""
