"""Released result masks of any method: reading soft or binary prediction PNGs, and the ``external`` method.

Published methods often release their DAVIS results as ``<sequence>/<frame>.png`` folders, not always binary (MTNet's
DAVIS-2016 masks are soft saliency maps 0..255, and its last frame is missing). Scored with the official rule (any
non-zero pixel is foreground) a soft map gives a much lower J than the paper's (MTNet: J 75.8 instead of 88.7 at
grey >= 128), so this module reads predictions with a stated threshold and says when it looks needed.

Threshold convention (one for ``motionseg evaluate --threshold``, :func:`motionseg.metrics.evaluate_dirs` and the
``external.threshold`` config key): an integer grey value T in 1..255; a pixel is foreground when its grey value is
>= T. Grey value: the value of an ``L`` image (also ``LA``, alpha ignored, and palette images whose palette is a grey
ramp); of an RGB(A) image its ITU-R BT.601 luma (OpenCV's ``COLOR_RGB2GRAY``, the dataset readers' rule; a grey map
stored as RGB has luma = its grey value exactly), alpha ignored; 16-bit grey is compared with T * 257 (the same
fraction T / 255 of full scale). 1-bit images and palette label maps (palette not a grey ramp) are label maps: the
threshold does not apply, a non-zero index is foreground and index 255 is void, as without a threshold. Fractions
(0.5) are rejected with a hint (``0.5`` -> ``128``): one convention, no guessing. Without a threshold the official
rule stays: any non-zero pixel is foreground (:data:`motionseg.io.datasets.MASK_ENCODING`).

Entry points: :func:`check_threshold`, :func:`read_prediction` (foreground and number of grey levels from one
decode), :func:`list_pngs`, the warning texts :func:`soft_map_warning` and :func:`missing_warning`,
:func:`run_external` (one sequence's released PNGs -> a mask directory) and :func:`run_method` (the registry's
signature, for a per-sequence method ``external``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# the one mask decoder and value rules of the dataset readers (one decode gives both foreground and grey levels)
from motionseg.io.datasets import MASK_ENCODING, _decode_mask, _foreground, _luma, _Pixels
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.masks import write_mask_dir
from motionseg.registry import DECLARED_SUPERVISIONS

log = logging.getLogger(__name__)

THRESHOLD_MIN, THRESHOLD_MAX = 1, 255
SUGGESTED_THRESHOLD = 128
# what teaches a released method (the registry's declared supervisions): ``unknown`` when the release does not say
EXTERNAL_SUPERVISIONS: tuple[str, ...] = DECLARED_SUPERVISIONS
EXTERNAL_MODE = "external"
CLI_HINT = f"pass --threshold {SUGGESTED_THRESHOLD}"
WORKFLOW_HINT = f"set external.threshold: {SUGGESTED_THRESHOLD}"
_LIST_NAMES = 5  # frame names quoted in a warning


# ---------------------------------------------------------------- threshold and reading


def check_threshold(value: object) -> int | None:
    """``value`` as a threshold: None, or an integer grey value in 1..255 (foreground: grey >= value).

    ValueError for anything else; a fraction in (0, 1] gets the grey value it would mean (``0.5`` -> ``128``).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"threshold must be an integer grey value {THRESHOLD_MIN}..{THRESHOLD_MAX}, got {value!r}")
    if isinstance(value, float | np.floating):
        v = float(value)
        if 0.0 < v <= 1.0:
            raise ValueError(f"threshold {v:g} looks like a fraction; the threshold is a grey value "
                             f"{THRESHOLD_MIN}..{THRESHOLD_MAX} (foreground: grey >= T): for {v:g} of full scale "
                             f"pass {max(THRESHOLD_MIN, math.ceil(v * 255))}")
        raise ValueError(f"threshold must be an integer grey value {THRESHOLD_MIN}..{THRESHOLD_MAX}, got {v:g}")
    t = int(value)
    if not THRESHOLD_MIN <= t <= THRESHOLD_MAX:
        raise ValueError(f"threshold must be a grey value {THRESHOLD_MIN}..{THRESHOLD_MAX} (foreground: "
                         f"grey >= T), got {t}")
    return t


def _grey_levels(px: _Pixels) -> int:
    """Distinct grey values of a decoded mask (what a threshold compares); 0 for label maps (1-bit, palette)."""
    if px.kind == "grey":
        return int(np.count_nonzero(np.bincount(px.arr.ravel(), minlength=256)))
    if px.kind == "rgb":
        return int(np.count_nonzero(np.bincount(_luma(px.arr).ravel(), minlength=256)))
    if px.kind == "wide":
        return int(np.unique(px.arr).size)
    return 0


def read_prediction(path: str | Path, threshold: int | None = None, count_levels: bool = True) -> tuple[np.ndarray,
                                                                                                          int]:
    """Foreground bool [H, W] of one prediction PNG and its number of distinct grey levels, from one decode.

    threshold: None (official rule: any non-zero pixel) or a grey value T in 1..255 (foreground: grey >= T; RGB:
    BT.601 luma >= T; module docstring). levels: distinct grey values (RGB: of the luma), 0 for label maps (1-bit,
    palette) and when ``count_levels`` is False; more than 2 means a soft map (or a label map stored as grey).
    InputError naming the file if it is missing, unreadable or truncated.
    """
    t = check_threshold(threshold)
    px = _decode_mask(Path(path))
    fg = _foreground(px, MASK_ENCODING, None if t is None else t / 255.0)
    return fg, (_grey_levels(px) if count_levels else 0)


def list_pngs(seq_dir: str | Path, sidecars: frozenset[str] = frozenset()) -> dict[str, Path]:
    """``{frame name: path}`` of the ``<frame>.png`` files of one sequence folder, in name order.

    Hidden files and the ``sidecars`` names are skipped; any other file or a sub-folder is an InputError naming it.
    """
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise InputError(seq_dir, "sequence folder does not exist")
    out: dict[str, Path] = {}
    for p in sorted(seq_dir.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            raise InputError(p, "unexpected folder inside a sequence folder (expected only <frame>.png masks)")
        if p.suffix == ".png":
            out[p.stem] = p
        elif p.name not in sidecars:
            raise InputError(p, "not a PNG mask (every file of a sequence folder must be <frame>.png)")
    return out


# ---------------------------------------------------------------- warnings


def soft_map_warning(example: str | Path, levels: int, n_soft: int, n_read: int, folder: str | Path,
                     hint: str = CLI_HINT) -> str:
    """The soft-map warning of one sequence folder: ``example`` has ``levels`` grey levels, ``n_soft`` of its
    ``n_read`` prediction PNGs have more than two; ``hint`` says how to pass a threshold."""
    return (f"{example}: {levels} grey levels: a soft map? every non-zero pixel is counted as foreground; {hint} "
            f"to count grey >= {SUGGESTED_THRESHOLD} only ({n_soft} of {n_read} prediction PNGs in {folder} have "
            f"more than two grey levels)")


def missing_warning(where: str | Path, missing: Sequence[str], n_frames: int, what: str, consequence: str) -> str:
    """``<where>: <n> of <n_frames> <what> have no prediction PNG (<first names>): <consequence>``."""
    names = ", ".join(missing[:_LIST_NAMES]) + (", ..." if len(missing) > _LIST_NAMES else "")
    return f"{where}: {len(missing)} of {n_frames} {what} have no prediction PNG ({names}): {consequence}"


# ---------------------------------------------------------------- released masks -> mask directory


def run_external(
    pred_dir: Path,
    sequence: str,
    frame_names: list[str],
    orig_hw: tuple[int, int],
    out_mask_dir: Path,
    threshold: int | None,
    meta: Mapping[str, Any],
    warn: Callable[[str], None] | None = None,
) -> None:
    """Write the mask directory of one sequence from a method's released ``<pred_dir>/<sequence>/<frame>.png``.

    frame_names: every frame of the video in temporal order (the ingested ``names``); orig_hw: original (H, W) in
    pixels, the size every PNG must have; threshold: None (any non-zero pixel is foreground) or a grey value 1..255
    (grey >= T; module docstring); meta: provenance to record: ``method`` (default ``external``), ``supervision``
    (one of :data:`EXTERNAL_SUPERVISIONS`, default ``unknown``), any other keys (``name``, ``seed``) are kept.

    PNGs are matched to frames by file stem; any subset of the frames may be present, and only those are written
    (a frame without a PNG is absent from the mask directory: the evaluation scores it as an empty mask with
    ``evaluation.missing: empty``). A PNG that matches no frame, or whose size differs from ``orig_hw``, is an
    InputError naming it; so is a folder without PNGs. Warnings (``warn``, default: this module's logger): soft maps
    without a threshold (once per sequence, with a count), frames without a PNG. ``meta.json`` carries ``method``,
    ``mode: external``, ``oracle: false``, ``supervision``, ``threshold``, ``fg_rule``, ``n_missing``,
    ``missing_frames``, ``n_soft`` (PNGs with more than two grey levels) and ``source`` (the folder read).
    """
    say = log.warning if warn is None else warn
    t = check_threshold(threshold)
    supervision = str(meta.get("supervision", "unknown"))
    if supervision not in EXTERNAL_SUPERVISIONS:
        raise ValueError(f"supervision must be one of {', '.join(EXTERNAL_SUPERVISIONS)}, got {supervision!r}")
    if not frame_names:
        raise ValueError(f"sequence {sequence!r}: no frame names to match the released masks to")
    folder = Path(pred_dir) / sequence
    if not folder.is_dir():
        raise InputError(folder, f"no folder of released masks for sequence {sequence!r} (expected "
                                 f"<root>/{sequence}/<frame>.png)")
    files = list_pngs(folder)
    known = set(frame_names)
    for stem, path in files.items():
        if stem not in known:
            raise InputError(path, f"matches no frame of sequence {sequence!r} (frames {frame_names[0]} .. "
                                   f"{frame_names[-1]}; PNGs are matched to frames by file stem)")
    if not files:
        raise InputError(folder, "no <frame>.png masks in the folder of released masks")
    H, W = orig_hw
    names, masks, soft = [], [], []
    for name in frame_names:
        path = files.get(name)
        if path is None:
            continue
        fg, levels = read_prediction(path, t)
        if fg.shape != (H, W):
            raise InputError(path, f"mask is {fg.shape[1]}x{fg.shape[0]} (WxH) but the frames of sequence "
                                   f"{sequence!r} are {W}x{H}")
        names.append(name)
        masks.append(fg)
        if levels > 2:
            soft.append((path, levels))
    missing = [n for n in frame_names if n not in files]
    if soft and t is None:
        say(soft_map_warning(soft[0][0], soft[0][1], len(soft), len(names), folder, WORKFLOW_HINT))
    if missing:
        say(missing_warning(folder, missing, len(frame_names), "frames", "they are absent from the mask directory "
                            "and scored as empty masks with evaluation.missing: empty"))
    out_meta = {
        **meta,
        "method": str(meta.get("method", EXTERNAL_MODE)),
        "mode": EXTERNAL_MODE,
        "oracle": False,
        "oracle_reason": None,
        "supervision": supervision,
        "threshold": t,
        "fg_rule": "non-zero pixel (official DAVIS rule)" if t is None else f"grey >= {t} (RGB: BT.601 luma)",
        "n_frames": len(names),
        "n_missing": len(missing),
        "missing_frames": missing,
        "n_soft": len(soft),
        "source": str(folder),
    }
    write_mask_dir(out_mask_dir, names, np.stack(masks), None, None, out_meta)


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: Mapping[str, Any],
               seed: int) -> None:
    """The registry's run function for a per-sequence method ``external`` (:func:`motionseg.registry.run_method`).

    inputs: ``frames`` (the ingested npz: frame names and original size); cfg: the ``external`` config section
    ``{"root": folder holding <sequence>/<frame>.png, "threshold": int 1..255 or None, "supervision": one of
    EXTERNAL_SUPERVISIONS, "name": the released method's name}``; seed: recorded in ``meta.json`` only.
    ConfigError naming the key for a bad ``root``, ``threshold`` or ``supervision``.
    """
    from motionseg.io.ingest_format import load_ingested

    root = cfg.get("root")
    if not root:
        raise ConfigError("external.root", "not set: the folder holding <sequence>/<frame>.png of the released masks")
    try:
        threshold = check_threshold(cfg.get("threshold"))
    except ValueError as exc:
        raise ConfigError("external.threshold", str(exc)) from None
    supervision = str(cfg.get("supervision", "unknown"))
    if supervision not in EXTERNAL_SUPERVISIONS:
        raise ConfigError("external.supervision", f"must be one of {', '.join(EXTERNAL_SUPERVISIONS)}, got "
                                                  f"{supervision!r}")
    ing = load_ingested(inputs["frames"])
    sequence = str(ing.manifest.get("sequence") or Path(inputs["frames"]).stem)
    meta = {"method": method, "supervision": supervision, "name": cfg.get("name"), "seed": seed}
    run_external(Path(root), sequence, list(ing.names), ing.orig_hw, Path(out_mask_dir), threshold, meta)
