"""Speed of the J/F evaluator on the shared DAVIS-2016 sequences (PNG decoding included).

Writes a prediction set (the GT shifted by 5 px, so that every frame has a real boundary to match) as PNGs to a
temporary folder, then times

- ``motionseg.metrics.evaluate_dirs`` (the ``motionseg evaluate`` code path) with ``--workers`` processes, and
- a plain single-process loop: per frame, read both PNGs with PIL and compute J and F on the full-size masks with
  numpy and ``cv2.dilate`` (``motionseg.metrics.jaccard`` / ``boundary_f``, no cropping, no pool),

checks that both give the same per-frame values, and prints frames/s, the ratio, and the time extrapolated to the
1,376 frames of the DAVIS-2016 val set.

    nice -n 10 .venv/bin/python bench/eval_speed.py --workers 2
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from motionseg.metrics import boundary_f, evaluate_dirs, jaccard

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DAVIS_VAL_FRAMES = 1376


def write_shifted(ann: Path, out: Path, sequences: list[str], shift: int = 5) -> int:
    """Write every GT mask of ``sequences`` shifted right and down by ``shift`` px to ``out/<seq>/``; returns the
    number of frames."""
    n = 0
    for seq in sequences:
        (out / seq).mkdir(parents=True)
        for f in sorted((ann / seq).glob("*.png")):
            m = np.asarray(Image.open(f)) > 0
            s = np.zeros_like(m)
            s[shift:, shift:] = m[:-shift, :-shift]
            Image.fromarray(s.astype(np.uint8) * 255).save(out / seq / f.name)
            n += 1
    return n


def plain_loop(ann: Path, pred: Path, sequences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reference: per-frame J and F float [n] from a single-process loop over full-size numpy masks."""
    js, fs = [], []
    for seq in sequences:
        for f in sorted((ann / seq).glob("*.png")):
            g = np.asarray(Image.open(f)) > 0
            p = np.asarray(Image.open(pred / seq / f.name)) > 0
            js.append(jaccard(g, p))
            fs.append(boundary_f(g, p))
    return np.array(js), np.array(fs)


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (the pool workers), in seconds."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="processes for evaluate_dirs (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best is reported (default 3)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain loop")
    args = ap.parse_args()

    ann = DATA / "DAVIS2016" / "Annotations"
    if not ann.is_dir():
        raise SystemExit(f"shared DAVIS-2016 data not found at {ann}")
    sequences = sorted(p.name for p in ann.iterdir() if p.is_dir())
    tmp = Path(tempfile.mkdtemp(prefix="eval_speed."))
    try:
        n = write_shifted(ann, tmp, sequences)
        print(f"{len(sequences)} sequences, {n} frames at 854x480 (GT shifted by 5 px); workers={args.workers}")

        fast, cpu, per_frame = [], [], None
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), cpu_seconds()
            _, per_frame = evaluate_dirs(ann, tmp, workers=args.workers, progress=False)
            fast.append(time.perf_counter() - t0)
            cpu.append(cpu_seconds() - c0)
        t_fast = min(fast)
        print(f"motionseg.metrics ({args.workers} workers): {t_fast:.2f} s  {n / t_fast:.0f} frames/s  "
              f"-> {DAVIS_VAL_FRAMES} frames in {DAVIS_VAL_FRAMES * t_fast / n:.2f} s (runs: "
              f"{', '.join(f'{t:.2f}' for t in fast)})")
        c = min(cpu)
        print(f"  CPU time {c:.2f} s ({1000 * c / n:.2f} ms/frame, PNG decoding included) -> {DAVIS_VAL_FRAMES} "
              f"frames on {args.workers} otherwise idle cores: ~{DAVIS_VAL_FRAMES * c / n / args.workers:.2f} s")
        if args.no_baseline:
            return
        slow, slow_cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), cpu_seconds()
            j_ref, f_ref = plain_loop(ann, tmp, sequences)
            slow.append(time.perf_counter() - t0)
            slow_cpu.append(cpu_seconds() - c0)
        t_slow = min(slow)
        assert per_frame is not None
        dj = np.abs(per_frame["J"].to_numpy() - j_ref).max()
        df = np.abs(per_frame["F"].to_numpy() - f_ref).max()
        print(f"plain single-process loop:       {t_slow:.2f} s  {n / t_slow:.0f} frames/s  (runs: "
              f"{', '.join(f'{t:.2f}' for t in slow)})")
        print(f"  CPU time {min(slow_cpu):.2f} s ({1000 * min(slow_cpu) / n:.2f} ms/frame)")
        print(f"speed-up {t_slow / t_fast:.2f}x wall-clock, {min(slow_cpu) / c:.2f}x in CPU time; "
              f"max |difference| J {dj:.1e}, F {df:.1e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
