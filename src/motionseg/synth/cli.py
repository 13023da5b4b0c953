"""``motionseg synth``: generate the synthetic demo dataset (DAVIS layout with GT masks and GT flow)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from motionseg.synth.generator import generate_sequence, synth_sequence_names


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` command to the ``motionseg`` parser."""
    p = subparsers.add_parser(
        "synth",
        help="generate synthetic sequences with exact masks and flow",
        description=__doc__.splitlines()[0] + " Writes JPEGImages/, Annotations/, Flows_gap1/ and Flows_gap-1/.",
    )
    p.add_argument("--out", required=True, type=Path, help="dataset root to write (DAVIS layout)")
    p.add_argument("--n-sequences", type=int, default=3, help="number of sequences (default 3)")
    p.add_argument("--n-frames", type=int, default=20, help="frames per sequence (default 20)")
    p.add_argument("--height", type=int, default=120, help="frame height in px (default 120)")
    p.add_argument("--width", type=int, default=192, help="frame width in px (default 192)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.n_frames < 2 or args.height < 16 or args.width < 16 or args.n_sequences < 1:
        print("motionseg synth: need --n-sequences >= 1, --n-frames >= 2, --height/--width >= 16", file=sys.stderr)
        return 2
    names = synth_sequence_names(args.n_sequences)
    for index, name in enumerate(tqdm(names, desc="synth", unit="seq", file=sys.stderr)):
        generate_sequence(args.out, name, index, args.n_frames, args.height, args.width, args.seed)
    print(f"wrote {len(names)} sequences to {args.out}")
    return 0
