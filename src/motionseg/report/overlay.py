"""Per-sequence visualisations: mask-overlay GIF (frame, GT contour, predicted mask) and a flow strip PNG."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from motionseg.flow.geometry import resize_masks
from motionseg.io.atomic import atomic_path
from motionseg.io.errors import InputError
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import read_mask_dir

PRED_RGB = (255, 40, 40)  # prediction: red fill (alpha blended) and red contour
GT_RGB = (40, 255, 40)  # ground truth: green contour
PRED_ALPHA = 0.40


def _contour(mask: np.ndarray, thickness: int) -> np.ndarray:
    """Boundary pixels bool [H, W] of a bool mask, ``thickness`` px wide (inside the mask)."""
    m = mask.astype(np.uint8)
    k = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    return (m > 0) & (cv2.erode(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0)


def overlay_frame(frame: np.ndarray, pred: np.ndarray, gt: np.ndarray | None, thickness: int = 1) -> np.ndarray:
    """Compose one overlay: frame uint8 [h, w, 3], pred bool [h, w] as a red fill with red contour, gt bool
    [h, w] (or None) as a green contour on top. Returns uint8 [h, w, 3]."""
    out = frame.astype(np.float32).copy()
    out[pred] = (1 - PRED_ALPHA) * out[pred] + PRED_ALPHA * np.asarray(PRED_RGB, np.float32)
    out[_contour(pred, thickness)] = PRED_RGB
    if gt is not None:
        out[_contour(gt, thickness)] = GT_RGB
    return np.clip(out, 0, 255).astype(np.uint8)


def _gt_from_manifest(manifest: Mapping) -> tuple[dict, str]:
    """(frame name -> GT entry, GT encoding) from an ingest manifest (empty when it lists no GT)."""
    gt = manifest.get("gt_paths") or {}
    return (dict(gt) if isinstance(gt, Mapping) else {}), str(manifest.get("gt_encoding") or "auto")


def _caption_bar(width: int, text: str) -> np.ndarray:
    bar = Image.new("RGB", (width, 14), (0, 0, 0))
    ImageDraw.Draw(bar).text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(bar)


def gif_page(gif: str | Path, out_html: str | Path, title: str) -> None:
    """Write a standalone HTML page showing ``gif`` inline (embedded as a data URI) under ``title``: the Snakemake
    HTML report displays ``.html`` items but offers a ``.gif`` only as a download."""
    import base64
    import html

    data = base64.b64encode(Path(gif).read_bytes()).decode()
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif'><p>{html.escape(title)}</p>"
            f"<img alt='{html.escape(title)}' src='data:image/gif;base64,{data}'></body></html>\n")
    with atomic_path(out_html) as tmp:
        tmp.write_text(page)


def write_overlay_video(frames: Iterable[np.ndarray], out_mp4: str | Path, fps: float) -> int:
    """Write RGB frames (uint8 [h, w, 3] each, all the same size) to an MP4 file (OpenCV ``mp4v`` codec), atomically.

    An odd height or width is padded by one black row / column (the codec needs even sizes). Returns the number of
    frames written; raises InputError naming ``out_mp4`` when OpenCV cannot write it or there is no frame.
    """
    out_mp4 = Path(out_mp4)
    n = 0
    with atomic_path(out_mp4) as tmp:
        writer = None
        try:
            for frame in frames:
                fh, fw = frame.shape[:2]
                if writer is None:
                    size = (fw + fw % 2, fh + fh % 2)
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
                    if not writer.isOpened():
                        raise InputError(out_mp4, "OpenCV cannot write an mp4v video here")
                padded = cv2.copyMakeBorder(frame, 0, size[1] - fh, 0, size[0] - fw, cv2.BORDER_CONSTANT, value=0)
                writer.write(cv2.cvtColor(padded, cv2.COLOR_RGB2BGR))
                n += 1
        finally:
            if writer is not None:
                writer.release()
        if n == 0:
            raise InputError(out_mp4, "no frame to write")
    return n


def render_overlay(frames_npz: str | Path, mask_dir: str | Path, gt_paths: Mapping | str | None,
                   out_gif: str | Path, fps: float = 6.0, max_frames: int = 100, max_width: int = 480,
                   out_html: str | Path | None = None, out_mp4: str | Path | None = None,
                   video_fps: float = 24.0) -> None:
    """Write an animated GIF of one sequence: frame, predicted mask (red fill and contour), GT contour (green).

    frames_npz: ingested frames (uint8 [T, h, w, 3] at working resolution); mask_dir: mask directory (bool masks
    [T, H, W] at original resolution, resized here to the frame size, nearest). gt_paths: frame name -> GT mask path
    or list of per-object mask paths (merged; frames without an entry get no GT contour), ``None`` = the GT listed
    in the ingested manifest (``gt_paths`` with its ``gt_encoding``), ``{}`` = draw no GT. GT files are read with
    :func:`motionseg.io.datasets.read_gt_entry`. fps: frames per second of the GIF; max_frames: at most this many
    frames, evenly subsampled; max_width: frames wider than this (px) are downscaled. A caption bar names each frame.
    out_html: also write an HTML page showing the GIF inline (see :func:`gif_page`), for the Snakemake report.
    out_mp4: also write an MP4 video (see :func:`write_overlay_video`) of EVERY frame at the ingested size, at
    ``video_fps`` frames per second, with no caption bar.
    """
    ing = load_ingested(frames_npz)
    masks = read_mask_dir(mask_dir, with_probs=False)
    index = {n: i for i, n in enumerate(masks.names)}
    lacking = [n for n in ing.names if n not in index]
    if lacking and masks.meta.get("mode") != "external":  # an external result folder may lack frames (no red there)
        raise InputError(mask_dir, f"no mask for frames {lacking[:5]}{' ...' if len(lacking) > 5 else ''}")

    def pred_of(name: str, hw: tuple[int, int]) -> np.ndarray:
        return resize_masks(masks.fg[index[name]], hw) if name in index else np.zeros(hw, dtype=bool)

    from motionseg.io.datasets import read_gt_entry  # the readers' own GT rules (merged objects, encodings)

    gt, encoding = _gt_from_manifest(ing.manifest) if gt_paths is None else (dict(gt_paths), "auto")
    threshold = ing.manifest.get("gt_threshold") if gt_paths is None else None  # absent in older manifests
    T, h, w = ing.frames.shape[:3]
    scale = min(1.0, max_width / w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    pick = np.unique(np.linspace(0, T - 1, min(T, max_frames)).round().astype(int))
    images = []
    for t in tqdm(pick, desc=f"overlay {Path(out_gif).stem}", unit="frame", leave=False):
        name = ing.names[t]
        frame = ing.frames[t]
        if size != (h, w):
            frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        pred = pred_of(name, size)
        g = resize_masks(read_gt_entry(gt[name], encoding, threshold=threshold), size) if name in gt else None
        img = overlay_frame(frame, pred, g)
        label = (f"{Path(out_gif).stem} {name}  " + ("pred=red  " if name in index else "pred: none  ")
                 + ("GT=green" if g is not None else "GT: none"))
        images.append(Image.fromarray(np.concatenate([img, _caption_bar(size[1], label)], axis=0)))
    if not images:
        raise InputError(frames_npz, "sequence has no frames")
    with atomic_path(out_gif) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps),
                       loop=0, optimize=False)
    if out_mp4 is not None:
        def all_frames():
            for t, name in enumerate(ing.names):
                pred = pred_of(name, (h, w))
                g = read_gt_entry(gt[name], encoding, threshold=threshold) if name in gt else None
                yield overlay_frame(ing.frames[t], pred, resize_masks(g, (h, w)) if g is not None else None)

        write_overlay_video(all_frames(), out_mp4, video_fps)
    if out_html is not None:
        method = masks.meta.get("method", Path(mask_dir).parent.name)
        gif_page(out_gif, out_html, f"{ing.manifest.get('sequence', Path(out_gif).stem)} · method {method}: "
                                    "prediction red, ground truth green")


def render_flow_strip(flow_dir: str | Path, out_png: str | Path, n_frames: int = 6, frames_npz: str | Path | None
                      = None, dpi: int = 110) -> None:
    """Write a PNG strip of ``n_frames`` evenly spaced forward flows (smallest gap) as colour-wheel images, with the
    frames above them when ``frames_npz`` is given, and a colour-wheel key. All fields of the strip share one
    saturation scale (the largest magnitude among them), stated in the title in px."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motionseg.flow import flow_to_rgb, load_flow  # lazy: the flow package may import heavy backends

    fs = load_flow(flow_dir)
    gap = min(fs.gaps)
    fwd = fs.forward(gap)
    idx = np.unique(np.linspace(0, len(fwd) - 1, min(n_frames, len(fwd))).round().astype(int))
    mags = np.linalg.norm(fwd[idx], axis=-1)
    max_mag = float(np.nanmax(mags)) if mags.size else 0.0
    frames = load_ingested(frames_npz).frames if frames_npz is not None else None
    nrow = 2 if frames is not None else 1
    h, w = fwd.shape[1:3]
    fig, axes = plt.subplots(nrow, len(idx) + 1, figsize=(2.4 * (len(idx) + 1), 2.4 * nrow * h / w + 0.8),
                             squeeze=False)
    names = fs.names or [str(i) for i in range(len(fwd) + gap)]
    for j, t in enumerate(idx):
        ax = axes[-1, j]
        ax.imshow(flow_to_rgb(fwd[t], max_mag=max_mag))
        ax.set_title(f"flow {names[t]}→{names[t + gap]}", fontsize=8)
        if frames is not None:
            axes[0, j].imshow(frames[t])
            axes[0, j].set_title(f"frame {names[t]}", fontsize=8)
    yy, xx = np.mgrid[-1:1:101j, -1:1:101j]
    wheel = flow_to_rgb(np.stack([xx, yy], axis=-1).astype(np.float32), max_mag=1.0)
    wheel[(xx ** 2 + yy ** 2) > 1] = 255
    axes[-1, -1].imshow(wheel, extent=(-max_mag, max_mag, max_mag, -max_mag))
    axes[-1, -1].set_title("direction key (white = still)", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if frames is not None:
        axes[0, -1].set_visible(False)
    backend = fs.meta.get("backend", "?")
    fig.suptitle(f"{Path(flow_dir).name}: {backend} forward flow, gap {gap}; full colour = {max_mag:.1f} px",
                 fontsize=10)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
