"""EPE and Fl of the weight-free flow backends on GT flow: FlyingChairs pairs and synthetic sequences.

Datasets: the six FlyingChairs pairs in ``../shared/data/flow/FlyingChairs_flownet2`` (skipped when absent), the
synthetic generator's sequences (``motionseg.synth.generate_sequence``, GT in Flows_gap1 / Flows_gap-1) at two sizes,
and a translating texture with exactly known constant flow. Learned backends can be added with ``--backends`` and
``--checkpoint``-style config (they need real weights to mean anything). Example::

    nice -n 10 python bench/flow_accuracy.py
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

from motionseg.flow import get_backend, write_flo
from motionseg.flow.evaluate import discover_pairs, evaluate_pairs, summarise
from motionseg.flow.synthetic import translating_frames

REPO = Path(__file__).resolve().parents[1]
CHAIRS = REPO.parent / "shared" / "data" / "flow" / "FlyingChairs_flownet2"
DEFAULT_BACKENDS = ["dis:ultrafast", "dis:fast", "dis:medium", "farneback"]


def make_synthetic(root: Path, n_sequences: int, n_frames: int, height: int, width: int, seed: int) -> Path:
    """Generate synthetic sequences with GT flow into ``root`` (DAVIS layout)."""
    from motionseg.synth import generate_sequence, synth_sequence_names

    for index, name in enumerate(synth_sequence_names(n_sequences)):
        generate_sequence(root, name, index, n_frames, height, width, seed)
    return root


def make_translation(root: Path, n_frames: int, height: int, width: int, shift: tuple[int, int]) -> Path:
    """A translating-texture sequence with constant GT flow (PNG frames: no JPEG loss), DAVIS layout."""
    frames = translating_frames(n_frames, height, width, shift, seed=11)
    seq = "translate"
    (root / "JPEGImages" / seq).mkdir(parents=True, exist_ok=True)
    gt = np.broadcast_to(np.asarray(shift, np.float32), (height, width, 2))
    for t, f in enumerate(frames):
        cv2.imwrite(str(root / "JPEGImages" / seq / f"{t:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        if t + 1 < n_frames:
            write_flo(root / "Flows_gap1" / seq / f"{t:05d}.flo", gt)
        if t > 0:
            write_flo(root / "Flows_gap-1" / seq / f"{t:05d}.flo", -gt)
    return root


def backend_for(spec: str, flow_cfg: dict):
    """Build a backend from ``dis:<preset>`` or a plain backend name."""
    name, _, preset = spec.partition(":")
    cfg = copy.deepcopy(flow_cfg)
    if name == "dis" and preset:
        cfg["dis"]["preset"] = preset
    elif preset:
        name = spec
    return get_backend(name, cfg)


def main(argv: list[str] | None = None) -> int:
    """Print EPE / Fl per backend and dataset."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS, help="backend names; dis:<preset> for DIS")
    p.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml", help="config with a flow section")
    p.add_argument("--threads", type=int, default=2, help="OpenCV threads")
    args = p.parse_args(argv)
    cv2.setNumThreads(args.threads)
    flow_cfg = yaml.safe_load(args.config.read_text())["flow"]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        datasets = {}
        if CHAIRS.is_dir():
            datasets["FlyingChairs 384x512"] = discover_pairs(CHAIRS)
        else:
            print(f"(FlyingChairs skipped: {CHAIRS} not found)")
        datasets["synth 120x192"] = discover_pairs(make_synthetic(tmp / "s120", 3, 20, 120, 192, 0))
        datasets["synth 240x432"] = discover_pairs(make_synthetic(tmp / "s240", 3, 10, 240, 432, 0))
        datasets["translate(3,-2) 240x432"] = discover_pairs(make_translation(tmp / "tr", 4, 240, 432, (3, -2)))

        print(
            f"{'backend':<14} {'dataset':<24} {'pairs':>5} {'EPE px':>7} {'EPE all-px':>10} {'Fl %':>6}"
            f" {'zero-flow EPE':>13}"
        )
        for spec in args.backends:
            backend = backend_for(spec, flow_cfg)
            for label, pairs in datasets.items():
                s = summarise(evaluate_pairs(backend, pairs))
                print(
                    f"{spec:<14} {label:<24} {s['pairs']:>5} {s['epe']:7.3f} {s['epe_px']:10.3f} "
                    f"{100 * s['fl']:6.2f} {s['epe_zero']:13.3f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
