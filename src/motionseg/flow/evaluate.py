"""Flow accuracy against ground truth: end-point error (EPE) and outlier rate Fl on ``.flo`` GT.

Pair directories understood by :func:`discover_pairs`:

- FlyingChairs (flownet2 examples): ``<id>-img0.ppm``, ``<id>-img1.ppm``, ``<id>-gt.flo``;
- mmflow test crops: ``<id>-img_0.png``/``-img_1.png`` with ``-flow_01.flo`` (and ``-flow_10.flo`` backward),
  ``<id>_img1.ppm``/``_img2.ppm`` with ``_flow.flo``;
- a DAVIS-layout dataset (the synthetic generator's output): ``Flows_gap{g}/<seq>/<frame>.flo`` is the flow from
  ``JPEGImages/<seq>/<frame>.jpg`` to the frame g positions later (g < 0: earlier).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from motionseg.flow.flo import read_flo
from motionseg.io.errors import InputError

# (first image suffix, second image suffix, GT flow suffix) of the flat pair layouts
FLAT_PATTERNS = (
    ("-img0.ppm", "-img1.ppm", "-gt.flo"),
    ("-img_0.png", "-img_1.png", "-flow_01.flo"),
    ("-img_1.png", "-img_0.png", "-flow_10.flo"),
    ("_img1.ppm", "_img2.ppm", "_flow.flo"),
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm")
# Fl outlier: end-point error above both thresholds (KITTI 2015 definition)
OUTLIER_PX = 3.0
OUTLIER_REL = 0.05
# GT vectors this large mark unknown flow in the Middlebury convention
UNKNOWN_FLOW = 1e9


@dataclass(frozen=True)
class FlowPair:
    """Two images and the GT flow from the first to the second."""

    name: str
    img0: Path
    img1: Path
    gt: Path


def read_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3]; InputError when unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _flat_pairs(root: Path) -> list[FlowPair]:
    pairs = []
    for s0, s1, sg in FLAT_PATTERNS:
        for gt in sorted(root.glob(f"*{sg}")):
            stem = gt.name[: -len(sg)]
            a, b = root / f"{stem}{s0}", root / f"{stem}{s1}"
            if a.is_file() and b.is_file():
                pairs.append(FlowPair(f"{stem}{sg[:-4]}", a, b, gt))
    return pairs


def _dataset_pairs(root: Path) -> list[FlowPair]:
    pairs = []
    for gap_dir in sorted(root.glob("Flows_gap*")):
        match = re.fullmatch(r"Flows_gap(-?\d+)", gap_dir.name)
        if not match or not gap_dir.is_dir():
            continue
        gap = int(match.group(1))
        for seq_dir in sorted(p for p in gap_dir.iterdir() if p.is_dir()):
            img_dir = root / "JPEGImages" / seq_dir.name
            frames = sorted(p for p in img_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            index = {p.stem: i for i, p in enumerate(frames)}
            for gt in sorted(seq_dir.glob("*.flo")):
                if gt.stem not in index:
                    raise InputError(gt, f"no frame '{gt.stem}' in {img_dir}")
                j = index[gt.stem] + gap
                if not 0 <= j < len(frames):
                    raise InputError(gt, f"gap {gap} from frame '{gt.stem}' leaves the sequence ({len(frames)} frames)")
                pairs.append(FlowPair(f"{seq_dir.name}/{gt.stem}@{gap:+d}", frames[index[gt.stem]], frames[j], gt))
    return pairs


def discover_pairs(root: str | Path) -> list[FlowPair]:
    """All (image, image, GT flow) pairs under ``root`` in one of the layouts of the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "flow pair directory does not exist")
    pairs = _dataset_pairs(root) if any(root.glob("Flows_gap*")) else _flat_pairs(root)
    if not pairs:
        raise InputError(
            root, "no flow pairs found (expected *-img0.ppm/*-img1.ppm/*-gt.flo or Flows_gap*/<seq>/*.flo)"
        )
    return pairs


def flow_errors(pred: np.ndarray, gt: np.ndarray) -> dict:
    """EPE statistics of pred vs gt flow, both float [H, W, 2] (px).

    Returns ``epe`` (mean end-point error over valid GT pixels, px), ``fl`` (fraction of valid pixels with error
    > 3 px and > 5% of the GT magnitude), ``epe_zero`` (EPE of an all-zero prediction), ``n_valid`` and the per-pixel
    sums ``epe_sum`` / ``fl_count`` for pooling.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    mag = np.sqrt((gt.astype(np.float64) ** 2).sum(-1))
    valid = np.isfinite(gt).all(-1) & (np.abs(gt) < UNKNOWN_FLOW).all(-1)
    err = np.sqrt(((pred.astype(np.float64) - gt) ** 2).sum(-1))
    err, mag = err[valid], mag[valid]
    n = int(valid.sum())
    outliers = (err > OUTLIER_PX) & (err > OUTLIER_REL * mag)
    return {
        "epe": float(err.mean()) if n else float("nan"),
        "fl": float(outliers.mean()) if n else float("nan"),
        "epe_zero": float(mag.mean()) if n else float("nan"),
        "n_valid": n,
        "epe_sum": float(err.sum()),
        "fl_count": int(outliers.sum()),
    }


def evaluate_pairs(backend, pairs: list[FlowPair]) -> list[dict]:
    """Run ``backend`` (a FlowBackend) on every pair and return one row of :func:`flow_errors` (+ ``pair``) per pair."""
    rows = []
    for pair in tqdm(pairs, desc=f"flow-eval {backend.name}", unit="pair"):
        a, b = read_rgb(pair.img0), read_rgb(pair.img1)
        gt = read_flo(pair.gt)
        if a.shape != b.shape or a.shape[:2] != gt.shape[:2]:
            raise InputError(pair.gt, f"size {gt.shape[:2]} does not match images {a.shape[:2]} / {b.shape[:2]}")
        pred = backend.compute(a[None], b[None])[0]
        rows.append({"pair": pair.name, **flow_errors(pred, gt)})
    return rows


def summarise(rows: list[dict]) -> dict:
    """Pool per-pair rows: ``epe`` = mean of per-pair EPEs, ``epe_px`` = EPE over all pixels, ``fl`` over all pixels."""
    n = sum(r["n_valid"] for r in rows)
    return {
        "pairs": len(rows),
        "epe": float(np.mean([r["epe"] for r in rows])),
        "epe_px": sum(r["epe_sum"] for r in rows) / max(n, 1),
        "fl": sum(r["fl_count"] for r in rows) / max(n, 1),
        "epe_zero": float(np.mean([r["epe_zero"] for r in rows])),
    }
