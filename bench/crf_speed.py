"""Speed of the dense CRF post-processing (``motionseg.post.crf.crf_frame``) per frame on synthetic frames.

For each working size and mean-field iteration count, times ``crf_frame`` on ``--frames`` synthetic frames (a noisy
textured background with a flat ellipse and a blurred, shifted soft mask of it, like a coarse motion mask) and
prints the median ms/frame. ``bilateral_sxy`` follows the size (RCF's 60 px at 480 rows, scaled by rows / 480, as
``motionseg.post.crf`` recommends); the other params are the defaults, or what ``--set key=value`` gives
(``--set bilateral_sxy=...`` fixes the width at every size). Two reference timings on the same
probability maps, measured in the same run, make the figures comparable across machines:

- ``thr``: the rest of the per-frame output path without the CRF: resize the probability bilinearly to twice the
  size and threshold it at 0.5 (what ``fg_from_probs`` does);
- ``png``: encode the thresholded mask as an ``L`` PNG and decode it again (PIL, in memory; one mask file written
  and read back).

The ratio column is CRF time / ``png`` time. The last column extrapolates to the 1,376 frames of DAVIS-2016 val.

    nice -n 10 .venv/bin/python bench/crf_speed.py --frames 5 --iterations 5 10 50
    nice -n 10 .venv/bin/python bench/crf_speed.py --set bilateral_srgb=13 bilateral_compat=10 gaussian_compat=3
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from motionseg.flow.geometry import working_size
from motionseg.post.crf import crf_frame, crf_params

DAVIS_VAL_FRAMES = 1376
RCF_SXY, RCF_ROWS = 60.0, 480  # RCF's bilateral width and the rows it ran at (DAVIS 480p)
# (label, rows, cols): the demo's synthetic frames, DAVIS at ingest.height 240 (davis2016.yaml), DAVIS 480p
SIZES = [("demo", 120, 192), ("davis@240", *working_size(480, 854, 240)), ("davis@480", 480, 854)]


def synthetic_frame(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random colour texture with a flat ellipse (a third of the frame) and Gaussian noise: image uint8
    [h, w, 3]; and its coarse soft mask (ellipse shifted by 2 % of the rows, blurred): float32 [h, w] in [0, 1]."""
    rng = np.random.default_rng(seed)
    tex = cv2.resize(rng.uniform(40, 200, (max(2, h // 16), max(2, w // 16), 3)), (w, h), interpolation=cv2.INTER_CUBIC)
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.4, 0.6)
    true = ((xs - cx) / (0.2 * w)) ** 2 + ((ys - cy) / (0.3 * h)) ** 2 < 1.0
    img = np.where(true[..., None], np.array([200.0, 70.0, 60.0]), tex) + rng.normal(0.0, 6.0, (h, w, 3))
    shift = max(1, round(0.02 * h))
    prob = cv2.GaussianBlur(np.roll(true, (shift, shift), axis=(0, 1)).astype(np.float32), (0, 0), 0.015 * h + 0.5)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), prob


def median_ms(fn: Callable[[int], object], n: int, repeats: int = 1) -> float:
    """Median over i < n of the wall-clock ms of ``fn(i)`` (each the best of ``repeats`` calls), after a warm-up."""
    fn(0)
    times = []
    for i in range(n):
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(i)
            best = min(best, time.perf_counter() - t0)
        times.append(1000.0 * best)
    return statistics.median(times)


def threshold_upsampled(prob: np.ndarray) -> np.ndarray:
    """Reference 1: bilinear resize to twice the size and threshold at 0.5 (bool [2h, 2w])."""
    h, w = prob.shape
    return cv2.resize(prob, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR) > 0.5


def png_round_trip(mask: np.ndarray) -> np.ndarray:
    """Reference 2: encode a bool mask as an L PNG in memory and decode it (uint8 [h, w])."""
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(buf, format="PNG")
    buf.seek(0)
    return np.asarray(Image.open(buf))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=5, help="synthetic frames per size; the median is reported")
    ap.add_argument("--iterations", type=int, nargs="+", default=[5, 10, 50], help="mean-field steps (default 5 10 50)")
    ap.add_argument("--sizes", nargs="+", default=[s[0] for s in SIZES], choices=[s[0] for s in SIZES],
                    help="working sizes to time (default all)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="CRF params other than the defaults")
    args = ap.parse_args()
    overrides = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    base = crf_params({**crf_params(None).to_dict(), **overrides})

    print(f"crf_frame, median of {args.frames} synthetic frames; bilateral_sxy = {RCF_SXY:g} * rows / {RCF_ROWS}, "
          f"unless set; params {base}")
    head = (f"{'size':<10} {'h x w':>9} {'sxy':>5} {'iters':>5} {'crf ms':>9} {'thr ms':>7} {'png ms':>7} "
            f"{'crf/png':>8} {'DAVIS val s':>11}")
    print(head)
    print("-" * len(head))
    for label, h, w in SIZES:
        if label not in args.sizes:
            continue
        data = [synthetic_frame(h, w, seed) for seed in range(args.frames)]
        masks = [p > 0.5 for _, p in data]
        thr = median_ms(lambda i: threshold_upsampled(data[i][1]), args.frames, repeats=5)  # noqa: B023
        png = median_ms(lambda i: png_round_trip(masks[i]), args.frames, repeats=5)  # noqa: B023
        sxy = overrides.get("bilateral_sxy", RCF_SXY * h / RCF_ROWS)
        for iters in args.iterations:
            params = crf_params({**base.to_dict(), "iterations": iters, "bilateral_sxy": sxy})
            crf = median_ms(lambda i: crf_frame(data[i][0], data[i][1], params), args.frames)  # noqa: B023
            print(f"{label:<10} {f'{h}x{w}':>9} {sxy:>5.1f} {iters:>5d} {crf:>9.1f} {thr:>7.2f} {png:>7.2f} "
                  f"{crf / png:>8.1f} {DAVIS_VAL_FRAMES * crf / 1000:>11.0f}")


if __name__ == "__main__":
    main()
