"""Flow backend speed: frames/s at 480x854 and 240x432, peak memory, and run_flow overhead over a bare backend call.

Each (backend, size) runs in its own subprocess so that peak memory is per configuration. For every configuration a
sequence of ``--frames`` synthetic frames is flowed with gap 1 (forward + backward = 2*(frames-1) pairs) twice: once
by calling ``FlowBackend.compute`` directly on the same batches ("bare"), once through ``run_flow`` (load frames,
compute, store, visualise: "rule"). frames/s counts flow fields per second (bare). Learned backends run with RANDOM
weights (speed only). Example::

    nice -n 10 python bench/flow_speed.py --threads 2
    python bench/flow_speed.py --backends raft_large ptlflow:sea_raft_s --sizes 240x432 --frames 5
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BACKENDS = ["dis:ultrafast", "dis:fast", "dis:medium", "farneback", "raft_small", "raft_large"]
# frames per sequence when --frames is not given: learned backends are slow on a CPU
CPU_FRAMES = {"classical": 21, "learned": 3}


def parse_size(text: str) -> tuple[int, int]:
    """'480x854' -> (480, 854)."""
    h, w = text.lower().split("x")
    return int(h), int(w)


def bench_one(spec: str, size: tuple[int, int], n_frames: int | None, threads: int, storage: str) -> dict:
    """Time one backend spec (``dis:<preset>`` or a backend name) at one size; returns a result row."""
    import cv2
    import torch

    from motionseg.flow import get_backend, run_flow
    from motionseg.flow.config import is_learned
    from motionseg.flow.run import flow_pairs
    from motionseg.flow.synthetic import translating_frames
    from motionseg.io.ingest_format import Ingested, save_ingested

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    backend, _, preset = spec.partition(":")
    if backend == "ptlflow":  # "ptlflow:<model>" is a backend name, not a preset
        backend, preset = spec, ""
    cfg = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["flow"])
    cfg.update(storage=storage, allow_random_weights=True)
    if preset:
        cfg["dis"]["preset"] = preset
    learned = is_learned(backend)
    if n_frames is None:
        n_frames = CPU_FRAMES["learned" if learned else "classical"]
    h, w = size
    frames = translating_frames(n_frames, h, w, (2, 1))
    fb = get_backend(backend, cfg, seed=0)
    cuda = fb.device.type == "cuda"
    bs = int(cfg["batch_size"])
    pairs = flow_pairs(n_frames, [1])
    fb.compute(frames[:1], frames[1:2])  # warm-up (lazy init, cuDNN autotune, allocator)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    t0 = time.perf_counter()
    for start in range(0, len(pairs), bs):
        chunk = pairs[start : start + bs]
        fb.compute(frames[[p[3] for p in chunk]], frames[[p[4] for p in chunk]])
    if cuda:
        torch.cuda.synchronize()
    bare = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "seq.npz"
        names = [f"{i:05d}" for i in range(n_frames)]
        save_ingested(npz, Ingested(frames=frames, names=names, orig_hw=(h, w), manifest={"sequence": "bench"}))
        t0 = time.perf_counter()
        run_flow(npz, Path(tmp) / "out", cfg, backend, [1], flow_backend=fb)
        if cuda:
            torch.cuda.synchronize()
        rule = time.perf_counter() - t0
        disk_mb = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*") if p.is_file()) / 2**20

    return {
        "backend": spec,
        "size": f"{h}x{w}",
        "device": str(fb.device),
        "pairs": len(pairs),
        "fps_bare": len(pairs) / bare,
        "fps_rule": len(pairs) / rule,
        "overhead": rule / bare,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "peak_cuda_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "disk_mb": disk_mb,
    }


def main(argv: list[str] | None = None) -> int:
    """Run every (backend, size) in a subprocess and print a table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS, help="backend names; dis:<preset> for DIS")
    p.add_argument("--sizes", nargs="+", default=["480x854", "240x432"], help="HxW sizes")
    p.add_argument("--frames", type=int, default=None, help="frames per sequence (default 21 classical, 3 learned)")
    p.add_argument("--threads", type=int, default=2, help="torch / OpenCV threads")
    p.add_argument("--storage", default="npz", choices=["npz", "flo"], help="flow.storage of the rule run")
    p.add_argument("--one", nargs=2, metavar=("BACKEND", "SIZE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.one:
        row = bench_one(args.one[0], parse_size(args.one[1]), args.frames, args.threads, args.storage)
        print(json.dumps(row))
        return 0

    header = (
        f"{'backend':<16} {'size':>8} {'device':>6} {'pairs':>5} {'fps bare':>9} {'fps rule':>9} {'rule/bare':>9}"
        f" {'RSS GB':>7} {'CUDA GB':>7} {'disk MB':>8}"
    )
    print(header)
    for spec in args.backends:
        for size in args.sizes:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                spec,
                size,
                "--threads",
                str(args.threads),
                "--storage",
                args.storage,
            ]
            if args.frames is not None:
                cmd += ["--frames", str(args.frames)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{spec:<16} {size:>8} FAILED: {proc.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            cuda = f"{r['peak_cuda_gb']:.2f}" if r["peak_cuda_gb"] is not None else "-"
            print(
                f"{r['backend']:<16} {r['size']:>8} {r['device']:>6} {r['pairs']:>5} {r['fps_bare']:9.2f} "
                f"{r['fps_rule']:9.2f} {r['overhead']:9.2f} {r['peak_rss_gb']:7.2f} {cuda:>7} {r['disk_mb']:8.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
