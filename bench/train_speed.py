"""Training speed of gwm and lrtl on the CPU and (where torch sees one) on CUDA, in iterations per second.

    .venv/bin/python bench/train_speed.py                       # davis2016.yaml's network (64x112, width 16, K 4)
    .venv/bin/python bench/train_speed.py --set 'resolution=[128,224]' width=32 --devices cuda
    .venv/bin/python bench/train_speed.py --devices cuda --profile   # + the top CUDA/CPU ops of one lrtl run

Data: synthetic sequences rendered by :func:`motionseg.synth.generator.render_sequence` (exact flow, gap 1 both
ways) with straight-line tracks on a grid (the content does not change the cost). The train section of
config/config.yaml with config/davis2016.yaml's merged over it (as ``snakemake --configfile config/davis2016.yaml``
runs it), then ``--set``.
Each (device, method) trains ``--iters`` iterations after ``--warmup`` untimed ones (start-up, CUDA kernel
selection) and prints iterations/s and the ratio to the CPU run of the same method measured in this run.
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

REPO = Path(__file__).resolve().parents[1]


def load_config() -> dict:
    """config/config.yaml with the train section of config/davis2016.yaml merged over its own."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    davis = yaml.safe_load((REPO / "config" / "davis2016.yaml").read_text())
    config["train"].update(davis["train"])
    return config


def make_data(n_seq: int, n_frames: int, hw: tuple[int, int], n_tracks: int) -> tuple[list, list, list]:
    """Frames uint8 [T, H, W, 3], flows {"forward"/"backward": {1: [T-1, H, W, 2]}}, tracks dicts per sequence."""
    from motionseg.synth.generator import render_sequence

    frames, flows, tracks = [], [], []
    rng = np.random.default_rng(0)
    for i in range(n_seq):
        s = render_sequence(i, n_frames, hw[0], hw[1], seed=0)
        frames.append(s.frames)
        flows.append({"forward": {1: s.flow_fwd.astype(np.float32)}, "backward": {1: s.flow_bwd.astype(np.float32)}})
        p0 = rng.uniform([0, 0], [hw[1], hw[0]], size=(n_tracks, 2))
        vel = rng.normal(0, 1.5, size=(n_tracks, 2))
        xy = np.stack([p0 + t * vel for t in range(n_frames)]).astype(np.float32)
        tracks.append({"tracks": xy, "visible": np.ones(xy.shape[:2], bool), "orig_hw": hw})
    return frames, flows, tracks


def timed_train(data: tuple, cfg: dict, method: str, iters: int, warmup: int) -> float:
    """Seconds per iteration of ``train_model`` over ``iters`` iterations, start-up and ``warmup`` excluded."""
    from motionseg.train import train_model

    def run(n: int) -> float:
        with tempfile.TemporaryDirectory() as work:
            c = dict(cfg, iterations=n, warmup_iters=min(int(cfg["warmup_iters"]), n), checkpoint_every=10**9,
                     select="last")
            t0 = time.perf_counter()
            train_model(*data, c, method, 0, Path(work), progress=False)
            if c["device"].startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - t0

    run(1)  # first-call costs (imports, allocator, CUDA context)
    short, full = run(warmup), run(warmup + iters)
    return (full - short) / iters


def profile_lrtl(data: tuple, cfg: dict, iters: int) -> None:
    """Print the ops that take the most time in ``iters`` lrtl iterations on CUDA."""
    from torch.profiler import ProfilerActivity, profile

    from motionseg.train import train_model

    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA]
    with tempfile.TemporaryDirectory() as work, profile(activities=activities) as prof:
        train_model(*data, dict(cfg, iterations=iters, checkpoint_every=10**9, select="last"), "lrtl", 0, Path(work),
                    progress=False)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=10))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    p.add_argument("--methods", nargs="+", default=["gwm", "lrtl"], choices=["gwm", "lrtl"])
    p.add_argument("--iters", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=YAML")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load_config()
    cfg = dict(config["train"], refine=config["refine"], flow_gaps=[1, -1])
    for item in args.set:
        key, val = item.split("=", 1)
        cfg[key] = yaml.safe_load(val)
    devices = [d for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    if devices != args.devices:
        print("no CUDA device visible to torch: measuring the CPU only")
    hw = (96, 168)
    data = make_data(4, 40, hw, 4000)
    print(f"4 synthetic sequences of 40 frames at {hw[0]}x{hw[1]}; network {cfg['model']} width {cfg['width']} "
          f"K {cfg['K']} at {cfg['resolution']}, batch {cfg['batch_size']}, {cfg['n_tracks']} tracks, amp "
          f"{cfg['amp']}; torch {torch.__version__}, {args.threads} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""), flush=True)
    rows = {}
    for method in args.methods:
        for device in devices:
            sec = timed_train(data, dict(cfg, device=device), method, args.iters, args.warmup)
            rows[method, device] = sec
            ref = rows.get((method, "cpu"))
            ratio = f"  x{ref / sec:.2f} vs cpu" if ref and device != "cpu" else ""
            print(f"{method:5s} {device:6s} {1 / sec:7.2f} it/s  ({1000 * sec:.1f} ms/it){ratio}", flush=True)
    if args.profile and torch.cuda.is_available():
        profile_lrtl(data, dict(cfg, device="cuda"), 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
