"""Dense CRF post-processing: refine the foreground of any method's mask directory on the ingested frames.

A fully connected two-label CRF (Krähenbühl and Koltun, NIPS 2011, through ``pydensecrf`` ``DenseCRF2D``) per frame:

- unary: ``-log`` of the foreground probability and of its complement, both clipped to ``[prob_clip,
  1 - prob_clip]`` first (many of our masks are hard 0/1; with a clip of 1e-6 such a mask costs 13.8 nats per pixel
  to flip, more than any pairwise term below can pay, and the CRF would change nothing);
- an optional Gaussian (smoothness) kernel on position only (``gaussian_sxy``, weight ``gaussian_compat``; a weight
  of 0 leaves it out);
- a bilateral (appearance) kernel on position and RGB (``bilateral_sxy``, ``bilateral_srgb``, weight
  ``bilateral_compat``; 0 leaves it out);
- ``iterations`` mean-field steps; the result is the foreground marginal, float32 in [0, 1].

Resolution. The CRF runs at the WORKING resolution of the ingested frames (the ingest keeps no full-size frames), so
``gaussian_sxy`` and ``bilateral_sxy`` are in working-resolution pixels: the same value covers twice the scene at
240 rows as at 480 rows. RCF ran its CRF on DAVIS at 480p (854 x 480); to match its kernel at ``ingest.height`` h,
scale its ``bilateral_sxy`` = 60 by h / 480 (30 at 240 rows, 15 at 120 rows). Colour distances (``bilateral_srgb``)
are in 0..255 RGB units at any size. The refined probability is upsampled bilinearly to the original size and
thresholded at 0.5 for the PNGs (:func:`motionseg.io.masks.fg_from_probs`, the rule every mask directory's
probabilities follow).

Defaults (:class:`CrfParams`) and their source:

- ``iterations`` = 50, ``bilateral_sxy`` = 60, ``bilateral_srgb`` = 5, ``bilateral_compat`` = 5: RCF's DAVIS
  post-processing (``tools/pydenseCRF/crf.py`` of TonyLianLong/RCF-UnsupVideoSeg: bilateral kernel only, sxy 60 "for
  480p", srgb 5, compat 5, 50 inference steps, argmax of the two labels);
- ``gaussian_compat`` = 0: RCF adds no Gaussian kernel; ``gaussian_sxy`` = 3 (used once ``gaussian_compat`` > 0) is
  the pydensecrf README / DeepLab example value (``addPairwiseGaussian(sxy=3, compat=3)``);
- ``prob_clip`` = 0.05: ours. RCF clips at 1e-6 but feeds soft network outputs; on hard 0/1 masks that freezes every
  pixel (see above). 0.05 (log-odds 2.9 < ``bilateral_compat`` 5) lets a pixel flip when about 80 % of the
  appearance-weighted neighbourhood votes for the other label, and keeps a hard mask that already follows the
  colour edges (``tests/test_crf.py``).

The stage (:func:`run_crf`) reads a mask directory and the ingested frames and writes a complete mask directory
(``docs/architecture.md``, "Mask directory"): PNGs at original resolution, two-segment probabilities [bg, fg] at
working resolution with foreground flags [0, 1], and the input meta plus ``post: crf``, the CRF params and
``source_mask_dir``. Same input, same output: the mean-field inference has no random state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from motionseg.flow.geometry import resize_frames
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import MaskSet, fg_from_probs, read_mask_dir, write_mask_dir

CONFIG_KEY = "crf"  # dotted config key of the section, used in ConfigError messages
MISSING_PACKAGE = "dense CRF needs the pydensecrf2 package: pip install pydensecrf2"

_INT_KEYS = frozenset({"iterations"})
_POSITIVE_KEYS = frozenset({"gaussian_sxy", "bilateral_sxy", "bilateral_srgb"})
_NONNEGATIVE_KEYS = frozenset({"gaussian_compat", "bilateral_compat"})


def _checked(name: str, value: Any, key: str) -> int | float:
    """``value`` of parameter ``name`` as int (``iterations``) or float, or ConfigError naming ``key.name``."""
    where = f"{key}.{name}" if key else name
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(where, f"expected a number, got {type(value).__name__} {value!r}")
    if name in _INT_KEYS:
        if isinstance(value, float | np.floating) and not float(value).is_integer():
            raise ConfigError(where, f"expected an integer, got {value!r}")
        if int(value) < 1:
            raise ConfigError(where, f"must be >= 1, got {value!r}")
        return int(value)
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(where, f"must be finite, got {value!r}")
    if name in _POSITIVE_KEYS and v <= 0:
        raise ConfigError(where, f"must be > 0 (pixels or RGB units), got {value!r}")
    if name in _NONNEGATIVE_KEYS and v < 0:
        raise ConfigError(where, f"must be >= 0 (0 leaves the kernel out), got {value!r}")
    if name == "prob_clip" and not 0.0 < v < 0.5:
        raise ConfigError(where, f"must be in (0, 0.5), got {value!r}")
    return v


@dataclass(frozen=True)
class CrfParams:
    """Dense CRF settings (module docstring: meaning, units and the source of each default).

    iterations: mean-field steps; gaussian_sxy / bilateral_sxy: kernel widths in working-resolution px;
    bilateral_srgb: colour width in 0..255 RGB units; gaussian_compat / bilateral_compat: Potts weights (0 = kernel
    left out); prob_clip: probabilities are clipped to [prob_clip, 1 - prob_clip] before the log.
    """

    iterations: int = 50
    gaussian_sxy: float = 3.0
    gaussian_compat: float = 0.0
    bilateral_sxy: float = 60.0
    bilateral_srgb: float = 5.0
    bilateral_compat: float = 5.0
    prob_clip: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _checked(f.name, getattr(self, f.name), CONFIG_KEY))

    @classmethod
    def keys(cls) -> list[str]:
        """The config keys, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any], key: str = CONFIG_KEY) -> CrfParams:
        """Build from a config mapping holding every key (the config's values, never the class defaults, which are
        RCF's for benches and tests). ConfigError naming ``key.<name>`` for an unknown or missing key or a bad value."""
        names = cls.keys()
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (known: {', '.join(names)})")
        missing = [n for n in names if n not in d]
        if missing:
            raise ConfigError(f"{key}.{missing[0]}" if key else missing[0], "missing key")
        return cls(**{k: _checked(k, v, key) for k, v in d.items()})

    def to_dict(self) -> dict[str, int | float]:
        """The parameters as a plain dict (``meta.json`` ``crf``)."""
        return {name: getattr(self, name) for name in self.keys()}


def crf_params(value: CrfParams | Mapping[str, Any] | Any | None) -> CrfParams:
    """``value`` as :class:`CrfParams`: itself, a config mapping (:meth:`CrfParams.from_mapping`), None (defaults),
    or any object carrying the keys as attributes (a typed settings section; other attributes are ignored)."""
    if value is None:
        return CrfParams()
    if isinstance(value, CrfParams):
        return value
    if isinstance(value, Mapping):
        return CrfParams.from_mapping(value)
    missing = [k for k in CrfParams.keys() if not hasattr(value, k)]
    if missing:
        raise ConfigError(f"{CONFIG_KEY}.{missing[0]}", f"missing from {type(value).__name__}")
    return CrfParams.from_mapping({k: getattr(value, k) for k in CrfParams.keys()})


def _densecrf() -> ModuleType:
    """The ``pydensecrf.densecrf`` module; RuntimeError saying what to install when it is missing."""
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as exc:
        raise RuntimeError(MISSING_PACKAGE) from exc
    return dcrf


def crf_frame(
    image: np.ndarray, fg_prob: np.ndarray, params: CrfParams | Mapping[str, Any] | None = None
) -> np.ndarray:
    """Refine one frame's foreground probability with a fully connected two-label CRF.

    image: uint8 [H, W, 3] RGB; fg_prob: float [H, W] foreground probability in [0, 1], same H, W; params: see
    :class:`CrfParams` (sxy in pixels of this image). Returns the foreground marginal after ``iterations`` mean-field
    steps, float32 [H, W] in [0, 1]. RuntimeError when pydensecrf2 is not installed.
    """
    p = crf_params(params)
    dcrf = _densecrf()
    image = np.asarray(image)
    prob = np.asarray(fg_prob, dtype=np.float64)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    if prob.shape != image.shape[:2]:
        raise ValueError(f"fg_prob must be [H, W] = {image.shape[:2]}, got {prob.shape}")
    if not np.isfinite(prob).all():
        raise ValueError("fg_prob has NaN or infinite values")
    h, w = prob.shape
    q = np.clip(prob, p.prob_clip, 1.0 - p.prob_clip).reshape(1, -1)
    unary = np.ascontiguousarray(-np.log(np.concatenate([1.0 - q, q])), dtype=np.float32)  # [2, H*W]: bg, fg
    crf = dcrf.DenseCRF2D(w, h, 2)
    crf.setUnaryEnergy(unary)
    if p.gaussian_compat > 0:
        crf.addPairwiseGaussian(sxy=p.gaussian_sxy, compat=p.gaussian_compat)
    if p.bilateral_compat > 0:
        crf.addPairwiseBilateral(
            sxy=p.bilateral_sxy, srgb=p.bilateral_srgb, rgbim=np.ascontiguousarray(image), compat=p.bilateral_compat
        )
    marginals = np.asarray(crf.inference(p.iterations), dtype=np.float32)  # [2, H*W]
    return np.clip(marginals[1].reshape(h, w), 0.0, 1.0)


def foreground_probability(masks: MaskSet, work_hw: tuple[int, int]) -> np.ndarray:
    """Foreground probability of every frame at working size ``work_hw`` (h, w), float32 [T, h, w] in [0, 1].

    From the segment probabilities when the mask directory has some with at least one segment flagged foreground
    (sum over the flagged segments, resized with :func:`motionseg.flow.geometry.resize_frames`), else from the PNG
    masks (0/1 at original resolution, area-averaged down to the working size, so edge pixels become fractions).
    """
    if masks.probs is not None and masks.fg_segments is not None and masks.fg_segments.any():
        fgp = masks.probs[:, masks.fg_segments].sum(axis=1, dtype=np.float32)
    else:
        fgp = masks.fg.astype(np.float32)
    return np.clip(resize_frames(np.ascontiguousarray(fgp), work_hw), 0.0, 1.0).astype(np.float32, copy=False)


def in_frame_order(
    masks: MaskSet, names: list[str], orig_hw: tuple[int, int], mask_dir: Path, frames_npz: Path
) -> MaskSet:
    """``masks`` with its PNG masks in the ingested frame order ``names`` (``read_mask_dir`` sorts by file name,
    the ingest in natural order: ``frame2`` before ``frame10``); ``segments.npz`` is kept as written (in the order
    its writer was given, the ingested one). InputError naming ``mask_dir`` when its frames are not those of the
    ingested sequence (names, count or size)."""
    if sorted(masks.names) != sorted(names) or len(masks.names) != len(names):
        extra = sorted(set(masks.names) - set(names))
        absent = sorted(set(names) - set(masks.names))
        detail = (f"; not ingested: {', '.join(extra[:3])}" if extra else "") + (
            f"; no mask: {', '.join(absent[:3])}" if absent else "")
        raise InputError(mask_dir, f"its {len(masks.names)} masks do not match the {len(names)} frames of "
                                   f"{frames_npz}{detail}")
    if tuple(masks.fg.shape[1:3]) != tuple(orig_hw):
        raise InputError(mask_dir, f"masks are {masks.fg.shape[2]}x{masks.fg.shape[1]}, the frames of {frames_npz} "
                                   f"are {orig_hw[1]}x{orig_hw[0]}")
    if masks.probs is not None and len(masks.probs) != len(names):
        raise InputError(mask_dir / "segments.npz", f"{len(masks.probs)} frames of probabilities for "
                                                    f"{len(names)} masks")
    index = {n: i for i, n in enumerate(masks.names)}
    order = [index[n] for n in names]
    return MaskSet(fg=masks.fg[order], names=list(names), probs=masks.probs, fg_segments=masks.fg_segments,
                   meta=masks.meta)


def run_crf(
    frames_npz: str | Path,
    mask_dir: str | Path,
    out_dir: str | Path,
    params: CrfParams | Mapping[str, Any] | None = None,
    progress: bool = True,
) -> None:
    """Rule entry point: dense-CRF refinement of the mask directory ``mask_dir`` on the ingested ``frames_npz``.

    Writes ``out_dir`` atomically as a complete mask directory: ``{frame}.png`` (original resolution, the refined
    probability upsampled bilinearly and thresholded at 0.5), ``segments.npz`` with probabilities [bg, fg] at working
    resolution and flags [0, 1], and ``meta.json`` = the input meta plus ``post: "crf"``, ``crf`` (the params),
    ``source_mask_dir`` and ``probs_hw`` (the working size). InputError naming ``mask_dir`` when its frames differ
    from the ingested ones (names, count or size); RuntimeError when pydensecrf2 is missing (checked first). A
    folder of PNGs without ``meta.json`` gets ``method`` = the name of its parent folder and ``oracle`` = false.
    """
    from tqdm import tqdm

    p = crf_params(params)
    _densecrf()
    frames_npz, mask_dir = Path(frames_npz), Path(mask_dir)
    ing = load_ingested(frames_npz)
    masks = in_frame_order(read_mask_dir(mask_dir), list(ing.names), ing.orig_hw, mask_dir, frames_npz)
    work_hw = (int(ing.frames.shape[1]), int(ing.frames.shape[2]))
    fgp = foreground_probability(masks, work_hw)
    refined = np.empty_like(fgp)
    for t in tqdm(range(len(fgp)), desc=f"crf {mask_dir.name}", unit="frame", disable=not progress):
        refined[t] = crf_frame(ing.frames[t], fgp[t], p)
    probs = np.stack([1.0 - refined, refined], axis=1)  # [T, 2, h, w]: bg, fg
    flags = np.array([False, True])
    fg = fg_from_probs(probs, flags, ing.orig_hw)
    meta = dict(masks.meta)
    meta.setdefault("method", mask_dir.parent.name)
    meta.setdefault("oracle", False)
    meta.update(post="crf", crf=p.to_dict(), source_mask_dir=str(mask_dir), probs_hw=list(work_hw))
    write_mask_dir(out_dir, list(ing.names), fg, probs, flags, meta)
