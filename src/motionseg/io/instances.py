"""Instance (multi-object) PNGs in the layout of the DAVIS-2017 unsupervised benchmark.

The official unsupervised evaluator (davisvideochallenge/davis2017-evaluation) reads, for every sequence, one PNG per
annotated frame, ``<results>/<sequence>/<frame>.png``, whose pixel values are proposal ids: 0 background, 1..N
proposals. It takes the number of proposals of a sequence to be the largest id found in any of its frames (ids that
never occur in between are empty proposals), refuses more than 20, and matches proposals to the GT objects itself
(Hungarian assignment, :mod:`motionseg.metrics.multiobject`). A proposal id therefore has to mean the same object in
every frame of the sequence.

Our segments are consistent over time (segment k of a mask directory is the same proposal in every frame), so one
instance id per kept segment is such a proposal set. Two GT-free rules pick the segments that become instances:

- ``foreground``: the segments the method's GT-free rule called foreground (``fg`` of ``segments.npz``);
- ``non-background``: every segment but one background segment, the one with the largest total probability mass
  over the whole sequence (all frames, all pixels, at working resolution).

Each pixel takes the most likely segment (argmax over the K probabilities, resized nearest to the original size as
:func:`motionseg.io.export.segment_labels` does); pixels whose segment is not an instance are 0.

Written files (:func:`write_instance_dir`): ``<frame>.png`` palette (``P``) PNGs with the DAVIS / PASCAL-VOC colour
map, and ``instances.json`` with what was written. The official evaluator reads only the frame PNGs it needs, so the
JSON file may stay beside them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from motionseg.io.atomic import atomic_dir
from motionseg.io.errors import InputError
from motionseg.io.export import segment_labels
from motionseg.io.masks import read_mask_dir

MAX_PROPOSALS = 20  # the official unsupervised evaluator exits when a sequence has a larger id
PROPOSAL_RULES: tuple[str, ...] = ("foreground", "non-background")
INSTANCES_JSON = "instances.json"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY_MODES = frozenset({"1", "L", "I", "I;16", "I;16B", "I;16L"})


# ---------------------------------------------------------------- palette


def davis_palette() -> list[int]:
    """Flat 768-entry RGB palette of the DAVIS annotations (the PASCAL-VOC colour map).

    Colour of index i: bit 3j of i sets bit 7-j of red, bit 3j+1 sets bit 7-j of green and bit 3j+2 sets bit 7-j of
    blue (j = 0, 1, 2, ...). So 0 is black, 1 (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0), 4 (0, 0, 128), ...,
    255 (224, 224, 192).
    """
    flat: list[int] = []
    for index in range(256):
        rgb = [0, 0, 0]
        for j in range(8):
            for channel in range(3):
                if (index >> (3 * j + channel)) & 1:
                    rgb[channel] |= 1 << (7 - j)
        flat.extend(rgb)
    return flat


def write_palette_png(path: str | Path, ids: np.ndarray) -> None:
    """Write one id map, integer [H, W] with values 0..255, as a ``P`` PNG with :func:`davis_palette` (not atomic:
    meant for files inside an :func:`~motionseg.io.atomic.atomic_dir`)."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"ids must be [H, W], got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(f"ids must lie in 0..255, got {ids.min()}..{ids.max()}")
    img = Image.fromarray(ids.astype(np.uint8), mode="P")
    img.putpalette(davis_palette())
    img.save(path)


# ---------------------------------------------------------------- segments -> instances


def _segment_mass(probs: np.ndarray) -> np.ndarray:
    """Total probability mass of each segment over the sequence: probs [T, K, h, w] -> float64 [K]."""
    return np.asarray(probs, dtype=np.float64).sum(axis=(0, 2, 3))


def instances_from_segments(
    probs: np.ndarray,
    fg: np.ndarray | None,
    hw: tuple[int, int],
    proposals: str = "foreground",
    max_instances: int = MAX_PROPOSALS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Instance id maps from the segment probabilities of one sequence's mask directory.

    probs: [T, K, h, w] segment probabilities at working resolution, uint8 (x255, as stored in ``segments.npz``) or
    float in [0, 1]; fg: bool/uint8 [K], 1 where the GT-free rule called segment k foreground (needed by the
    ``foreground`` rule only); hw: (H, W) original size; proposals: ``foreground`` or ``non-background`` (module
    docstring); max_instances: the most instances kept (1..255; the official evaluator accepts up to 20): when more
    segments qualify, the ``max_instances`` with the largest total probability mass are kept.

    Returns ``(ids, info)``: ids uint8 [T, H, W] with 0 = background and 1..n the kept segments numbered in segment
    order (id i is the same segment in every frame; an id may be empty in some or all frames); info: ``proposals``,
    ``n_segments`` (K), ``n_instances`` (n), ``segments`` (segment index of each id 1..n), ``background_segment``
    (the segment the ``non-background`` rule dropped, else None), ``dropped`` (qualifying segments removed by the
    ``max_instances`` cap, empty when none), ``mass`` (total probability mass of each of the K segments, in
    probability x pixel at working resolution; x255 for uint8 input).
    """
    probs = np.asarray(probs)
    if probs.ndim != 4:
        raise ValueError(f"probs must be [T, K, h, w], got shape {probs.shape}")
    if proposals not in PROPOSAL_RULES:
        raise ValueError(f"proposals must be one of {', '.join(PROPOSAL_RULES)}, got {proposals!r}")
    if not 1 <= max_instances <= 255:
        raise ValueError(f"max_instances must be in 1..255, got {max_instances}")
    K = probs.shape[1]
    mass = _segment_mass(probs)
    background: int | None = None
    if proposals == "foreground":
        if fg is None:
            raise ValueError("the 'foreground' rule needs the foreground flags fg [K]")
        flags = np.asarray(fg).astype(bool).ravel()
        if flags.size != K:
            raise ValueError(f"fg has {flags.size} flags for {K} segments")
        candidates = [k for k in range(K) if flags[k]]
    else:
        background = int(np.argmax(mass)) if K else None
        candidates = [k for k in range(K) if k != background]
    dropped: list[int] = []
    if len(candidates) > max_instances:
        by_mass = sorted(candidates, key=lambda k: (-mass[k], k))
        kept = set(by_mass[:max_instances])
        dropped = sorted(set(candidates) - kept)
        candidates = sorted(kept)
    lut = np.zeros(max(K, 1), dtype=np.uint8)
    for i, k in enumerate(candidates, start=1):
        lut[k] = i
    labels = segment_labels(probs, hw) if K else np.zeros((probs.shape[0], *hw), dtype=np.uint8)
    info: dict[str, Any] = {
        "proposals": proposals,
        "n_segments": int(K),
        "n_instances": len(candidates),
        "segments": [int(k) for k in candidates],
        "background_segment": background,
        "dropped": [int(k) for k in dropped],
        "mass": [float(m) for m in mass],
    }
    return lut[labels], info


# ---------------------------------------------------------------- writing and reading


def write_instance_dir(out_dir: str | Path, names: Sequence[str], ids: np.ndarray, meta: Mapping[str, Any]) -> None:
    """Write one sequence's instance PNGs atomically (the folder appears complete or not at all).

    names: frame names [T]; ids: integer [T, H, W] with values 0..255 (0 background, 1..n instances); meta: anything
    JSON-serialisable to record in ``instances.json`` (e.g. ``proposals``, ``method``, ``n_instances``); the keys
    ``frames`` (T), ``height``, ``width`` and ``max_id`` (the number of proposals the official evaluator will see)
    are added when absent. Writes ``<out_dir>/<name>.png`` (mode ``P``, :func:`davis_palette`) and
    ``<out_dir>/instances.json``.
    """
    ids = np.asarray(ids)
    if ids.ndim != 3 or ids.shape[0] != len(names):
        raise ValueError(f"ids must be [T, H, W] with T = {len(names)} frame names, got shape {ids.shape}")
    if len(set(names)) != len(names):
        raise ValueError("frame names must be unique")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(f"ids must lie in 0..255, got {ids.min()}..{ids.max()}")
    info = dict(meta)
    info.setdefault("frames", len(names))
    info.setdefault("height", int(ids.shape[1]))
    info.setdefault("width", int(ids.shape[2]))
    info.setdefault("max_id", int(ids.max()) if ids.size else 0)
    with atomic_dir(out_dir) as tmp:
        for name, frame in zip(names, ids, strict=True):
            write_palette_png(tmp / f"{name}.png", frame)
        (tmp / INSTANCES_JSON).write_text(json.dumps(info, indent=2, sort_keys=True, default=str))


def read_instance_png(path: str | Path, max_proposals: int = MAX_PROPOSALS) -> np.ndarray:
    """One instance PNG as uint8 [H, W] ids: the palette index of a ``P`` PNG, the grey value of a greyscale one.

    InputError naming the file when it is missing, not a PNG, truncated, a colour (RGB/RGBA) or alpha image, or
    holds an id above ``max_proposals`` (the official evaluator takes the largest id as the number of proposals and
    refuses more than 20; a 0/255 binary mask is therefore refused too).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "instance PNG does not exist") from None
    except OSError as exc:
        raise InputError(path, f"cannot read instance PNG ({exc.strerror})") from None
    if not data.startswith(_PNG_SIGNATURE):
        raise InputError(path, "not a PNG file (instance masks must be palette or greyscale PNGs)")
    if data.rfind(b"IEND") < 0:
        raise InputError(path, "truncated PNG (no IEND chunk)")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated PNG ({exc})") from None
    if mode != "P" and mode not in _GREY_MODES:
        raise InputError(path, f"{mode} image: instance PNGs must be 2-D id maps (palette or greyscale), the official "
                               "evaluator cannot read colour or alpha PNGs")
    if arr.size and int(arr.min()) < 0:
        raise InputError(path, "negative ids in instance PNG")
    top = int(arr.max()) if arr.size else 0
    if top > max_proposals:
        raise InputError(path, f"holds id {top}: more than {max_proposals} proposals (the official evaluator refuses "
                               f"more than {MAX_PROPOSALS} proposals; a 0/255 binary mask counts as id 255)")
    return arr.astype(np.uint8)


def read_instance_pngs(folder: str | Path, max_proposals: int = MAX_PROPOSALS) -> dict[str, np.ndarray]:
    """``{frame name: uint8 [H, W] ids}`` of every ``<frame>.png`` of one sequence folder (sorted by name).

    Hidden files and ``instances.json`` are skipped. InputError naming the file for anything
    :func:`read_instance_png` refuses, for frames of different sizes, and for a missing or PNG-less folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "instance folder does not exist")
    out: dict[str, np.ndarray] = {}
    shape: tuple[int, ...] | None = None
    for p in sorted(folder.glob("*.png")):
        if p.name.startswith("."):
            continue
        arr = read_instance_png(p, max_proposals)
        if shape is not None and arr.shape != shape:
            raise InputError(p, f"instance PNG is {arr.shape[1]}x{arr.shape[0]} (WxH), the first one is "
                                f"{shape[1]}x{shape[0]}")
        shape = arr.shape
        out[p.stem] = arr
    if not out:
        raise InputError(folder, "no .png instance masks in folder")
    return out


# ---------------------------------------------------------------- rule entry point


def run_instances(mask_dir: str | Path, out_dir: str | Path, proposals: str = "foreground",
                  max_instances: int = MAX_PROPOSALS) -> dict[str, Any]:
    """Instance PNGs of one mask directory (rule entry point); returns the ``instances.json`` content.

    The size is the mask PNGs' (original resolution). A mask directory without ``segments.npz`` gives one instance:
    its binary foreground (id 1). ``meta.json``'s ``method`` is copied into ``instances.json``. InputError naming
    ``segments.npz`` when it covers another number of frames than the mask PNGs.
    """
    mask_dir = Path(mask_dir)
    masks = read_mask_dir(mask_dir)
    T, H, W = masks.fg.shape
    if masks.probs is None:
        ids = masks.fg.astype(np.uint8)
        info: dict[str, Any] = {"proposals": "binary-foreground", "n_segments": None,
                                "n_instances": 1, "segments": [], "background_segment": None, "dropped": []}
    else:
        if len(masks.probs) != T:
            raise InputError(mask_dir / "segments.npz", f"{len(masks.probs)} frames of probabilities, {T} mask PNGs")
        ids, info = instances_from_segments(masks.probs, masks.fg_segments, (H, W), proposals, max_instances)
        info.pop("mass")
    meta = {**info, "mask_dir": str(mask_dir), "method": masks.meta.get("method"),
            "requested_proposals": proposals, "max_instances": max_instances}
    write_instance_dir(out_dir, masks.names, ids, meta)
    return json.loads((Path(out_dir) / INSTANCES_JSON).read_text())
