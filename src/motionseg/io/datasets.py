"""Dataset readers: list sequences, locate frames and ground truth, load and validate them.

Supported layouts (``layout`` in the dataset config):

``davis``
    DAVIS-2016 and DAVIS-2017: ``<root>/JPEGImages[/<level>]/<seq>/<frame>.jpg|png`` and optional
    ``<root>/<annotations>[/<level>]/<seq>/<frame>.png`` (GT is matched to frames by file stem; frames without a PNG
    are simply not annotated). ``<annotations>`` is ``Annotations`` (default; DAVIS-2016, DAVIS-2017 semi-supervised)
    or any folder named by the ``annotations`` option (``Annotations_unsupervised`` for the DAVIS-2017 unsupervised
    task); ``<level>`` is ``480p`` or ``Full-Resolution`` (folder names as in davisvideochallenge/davis2017-evaluation
    ``davis2017/davis.py``). Binary ``L`` masks (DAVIS-2016) and indexed palette masks (DAVIS-2017) are both read.
``segtrackv2``
    SegTrackV2 as distributed: ``<root>/JPEGImages/<seq>/*.png|bmp|jpg`` and ``<root>/GroundTruth/<seq>/*.png|bmp``
    (one object) or ``<root>/GroundTruth/<seq>/<k>/*.png|bmp`` (one folder per object, ``1``, ``2``, ..., merged into
    one foreground), e.g. ``GroundTruth/bird_of_paradise/bird_of_paradise_00000.png`` and
    ``GroundTruth/bmx/1/bmx_06668.png`` (names as in Graviti-AI/tensorbay-python-sdk
    ``tensorbay/opendataset/SegTrack2/loader.py``; a mask may have another extension than its frame, so GT is
    matched by stem). Masks may be RGB with soft edges: foreground = max over channels >= 128.
``segtrackv2-mg``
    SegTrackV2 as MotionGrouping prepares it (charigyang/motiongrouping ``src/config.py``, ``src/data.py``,
    ``tools/SegTrack_clean.py``): ``<root>/JPEGImages/<seq>/*.jpg`` and ``<root>/Annotations/<seq>/<frame>.png``,
    matched by stem. ``SegTrack_clean.py`` adds the per-object masks of ``Annotations/<seq>/1/`` and ``2/`` and
    writes the sum (an RGB PNG) under the same name into ``Annotations/<seq>/``; the per-object sub-folders stay
    there and are ignored here. Soft masks are cut at ``gt_threshold`` (default 0.5, i.e. grey >= 128). A sequence
    whose ``Annotations/<seq>/`` holds per-object sub-folders but no mask file is an error (run ``SegTrack_clean.py``
    or read the original with ``segtrackv2``).
``fbms``
    FBMS-59 as distributed: ``<root>/{Trainingset,Testset}/<seq>/<seq>_<nr>.jpg`` (``<root>/<seq>/...`` when the root is
    one split folder; ``tennis`` frames are ``tennis<nr>.jpg``) with sparse annotations in ``<seq>/GroundTruth/``:
    either ``<seq>_<nr>_gt.ppm`` colour images (white = background, any other colour = an object; ``*PROB*`` files
    ignored) or ``<seq>_<nr>.pgm`` grey label images (black = background, any other value = an object; also ``*.png``).
    Names as parsed by charigyang/motiongrouping ``tools/FBMS_clean.py`` and ISCAS007/torchseg
    ``dataset/fbms_dataset.py``. The frame of a GT file is the last number in its stem (after dropping a ``_gt``
    suffix), matched to the frame whose name ends in the same number (FBMS uses the same number in both names). Only
    annotated frames are listed in ``SequenceInfo.annotated`` (and so scored). Without a threshold every labelled object
    is kept (merged into one foreground); MotionGrouping's ``FBMS_clean.py`` (the same rule as
    antonilo/unsupervised_detection ``data/fbms_data_utils.py``) instead converts each GT file to grey
    (``cv2.COLOR_BGR2GRAY``), sets grey / 255 > 0.99 (white) to 0 in the ``.ppm`` folders and keeps grey / 255 > 0.1,
    with 0.05 for ``marple7`` and 0.4 for ``marple2``: ``gt_threshold: 0.1`` and ``gt_thresholds: {marple7: 0.05,
    marple2: 0.401}`` reproduce it (0.401: see *Thresholds* below).
``fbms-mg``
    FBMS-59 as MotionGrouping's ``tools/FBMS_clean.py`` writes it (``FBMS_clean``):
    ``<root>/JPEGImages/<seq>/00001.jpg, 00002.jpg, ...`` (every frame, renumbered from 1 in sorted order) and
    ``<root>/Annotations/<seq>/<nr:05d>.png`` for the annotated frames only (``<nr>`` = the FBMS frame number of the
    GT file): single-channel 0/255 masks, already thresholded. GT is matched by stem; only annotated frames are
    listed in ``annotated``; a mask that matches no frame is an InputError (``FBMS_clean.py`` would write
    ``00000.png`` for a GT numbered 0, while the renamed frames start at ``00001``). ``FBMS_val``
    (``tools/FBMS_clean_2.py``) keeps only the annotated frames in ``JPEGImages`` and is not a video: reading it
    fails on the first gap in the frame numbers.
``frames``
    ``<root>/<seq>/*.<image>``: a plain folder of images per sequence, no GT.
``video``
    ``<root>/<seq>.mp4|avi|mov|mkv|...``: one video file per sequence, decoded with OpenCV; frames are named
    ``00000``, ``00001``, ...; no GT.

Reader options (:func:`reader_options` picks them from a dataset config entry; every key is optional):

``annotations`` (davis only)
    GT folder name under root: ``Annotations`` (default) or e.g. ``Annotations_unsupervised``, or any folder of
    the user's (e.g. curated annotations swapped in). Named explicitly but missing: InputError.
``resolution`` (davis only)
    ``auto`` (default: the ``480p`` level when it exists, else the flat folders, decided separately for frames and
    GT), ``480p`` or ``Full-Resolution`` (the level must exist under ``JPEGImages/`` and, when the GT folder exists,
    under it too; else InputError naming the missing folder).
``split`` (davis only)
    ``<split>`` names ``<root>/ImageSets/<split>.txt``; only its sequences are listed. DAVIS-2017 format (e.g.
    ``2017/val``): one sequence name per line, blank lines ignored. DAVIS-2016 format (e.g. ``480p/val``): lines
    ``/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png``; the sequence is the frame's folder name,
    deduplicated in order. A missing split file or a listed sequence without a frame folder is an InputError.
``gt_threshold``, ``gt_thresholds``
    A threshold t in (0, 1] for grey/RGB GT (see *Thresholds*), for every sequence, and a mapping sequence -> t
    that overrides it per sequence. Unset: the value rules below (for ``segtrackv2-mg``: 0.5).

Mask values (:func:`load_gt`): ``1``-bit masks as is; grey (``L``) masks are thresholded at 128, except label maps
whose maximum is below 128 (e.g. 0/1 masks) where any non-zero value is foreground; RGB masks: max channel >= 128;
palette (``P``) masks: a non-zero index is foreground, and index 255 is *void* and counted as background, as the
official DAVIS-2017 evaluation does (its ``davis.py`` sets 255 to 0 in every mask it reads, which would also erase
the 0/255 foreground of DAVIS-2016's ``L`` masks; we threshold ``L`` masks instead) -- unless the palette maps 255
to pure white, i.e. the file is a binary 0/255 mask that happens to be stored as a palette image; palette images
with a pure grey-ramp palette are read as grey masks. Multi-object masks are merged into one foreground (union).

Thresholds: with a threshold t, a grey mask's value v is foreground when v >= t * 255 (t * 65535 for 16-bit grey),
and an RGB mask's value is its grey level (ITU-R BT.601 luma as OpenCV's ``COLOR_RGB2GRAY`` computes it, the
conversion ``FBMS_clean.py`` applies); the white background of FBMS ``.ppm`` masks (all channels >= 250) stays
background (``FBMS_clean.py``: grey > 0.99; the two differ only on near-white colours). 1-bit and (non-grey) palette
masks are label maps and ignore t. ``FBMS_clean.py`` keeps grey / 255 > t (strict): the two agree unless t * 255 is
a whole number that occurs in a mask (0.4 * 255 = 102: ``> 0.4`` drops grey 102, ``>= 0.4`` keeps it; t = 0.401
reproduces the strict rule for ``marple2``).

Instances (:func:`load_gt_instances`, uint8 id maps, 0 background, 1..N objects, 255 void as in DAVIS-2017):
``davis`` palette masks: the palette index is the id; other ``davis`` masks (DAVIS-2016 ``L``, binary palettes):
one object. ``fbms`` ``.ppm``: every distinct non-white colour is one object; ``.pgm`` / ``.png``: every distinct
non-zero value; ids 1..N in ascending colour value (``R * 65536 + G * 256 + B``) or label value over all the GT files
of the sequence, so an object keeps its id in every frame (with a threshold, only colours / values that pass it).
``segtrackv2`` per-object folders: the k-th folder in natural order is id k (a later folder wins where two
overlap); ``segtrackv2`` with one folder, ``segtrackv2-mg``, ``fbms-mg``: one object. At most 254 objects.

JPEG and PNG files are also checked structurally (end-of-image marker, IEND chunk), so a truncated file is an error
even where the decoder would silently fill in the missing part.

Entry points: :func:`reader_options`, :func:`list_sequences` and :func:`source_files` / :func:`gt_files` (directory
listing only, for the workflow's DAG), :func:`get_sequence` (cross-checks names), :func:`load_frames`,
:func:`load_gt` and :func:`load_gt_instances` (read and validate pixels).
"""

from __future__ import annotations

import io
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from motionseg.io.errors import ConfigError, InputError

LAYOUTS = ("davis", "segtrackv2", "fbms", "fbms-mg", "segtrackv2-mg", "frames", "video")
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
MASK_EXTS = frozenset({".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})
FBMS_SPLITS = ("Trainingset", "Testset")
READER_OPTION_KEYS = ("annotations", "resolution", "split", "gt_threshold", "gt_thresholds")
DAVIS_ANNOTATIONS = "Annotations"
RESOLUTIONS = ("auto", "480p", "Full-Resolution")
SEGTRACKV2_MG_THRESHOLD = 0.5  # grey >= 128 on 8 bits
MAX_OBJECTS = 254  # ids 1..254 of a uint8 instance map (255 = void)
VOID_ID = 255
_DAVIS_ONLY = {"annotations": DAVIS_ANNOTATIONS, "resolution": "auto", "split": None}  # key -> its no-op value
_TRAILING_INT = re.compile(r"(\d+)$")
_DIGITS = re.compile(r"(\d+)")
_FBMS_VAL_HINT = (
    " (MotionGrouping's FBMS_val, made by tools/FBMS_clean_2.py, keeps only the annotated frames; point root at "
    "FBMS_clean, made by tools/FBMS_clean.py, which keeps every frame)"
)


@dataclass
class SequenceInfo:
    """Where one sequence's frames and GT live.

    frame_names: frame names without extension, in temporal order; frame_paths: one image per frame (None for a
    video); video_path: the video file (None for image layouts); gt_paths: frame name -> mask file, or a list of
    mask files (one per object) for multi-object layouts; annotated: frame names that have GT, in temporal order;
    frames_dir: the folder holding the frames (None for a video); gt_encoding: how mask values map to foreground:
    ``auto`` (rules in the module docstring), ``labels`` (any non-zero value; FBMS ``.pgm``) or ``white_background``
    (anything not white; FBMS ``.ppm``); gt_threshold: the grey/RGB threshold t in (0, 1] of this sequence (value >=
    t * full scale is foreground), None for the value rules; gt_object_dirs: the per-object GT folders in id order
    (SegTrackV2 multi-object sequences), empty otherwise.
    """

    name: str
    layout: str
    frame_names: list[str]
    frame_paths: list[Path] | None
    video_path: Path | None
    gt_paths: dict[str, Path | list[Path]] = field(default_factory=dict)
    annotated: list[str] = field(default_factory=list)
    frames_dir: Path | None = None
    gt_encoding: str = "auto"
    gt_threshold: float | None = None
    gt_object_dirs: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    """Validated reader options (see the module docstring)."""

    annotations: str = DAVIS_ANNOTATIONS
    resolution: str = "auto"
    split: str | None = None
    gt_threshold: float | None = None
    gt_thresholds: Mapping[str, float] = field(default_factory=dict)


def reader_options(dataset_cfg: Mapping) -> dict:
    """The reader options (:data:`READER_OPTION_KEYS`) of a dataset config entry; absent or null keys are left out.

    Pass the result as ``options=`` to :func:`list_sequences`, :func:`source_files`, :func:`gt_files` and
    :func:`get_sequence`.
    """
    return {key: dataset_cfg[key] for key in READER_OPTION_KEYS if dataset_cfg.get(key) is not None}


def _check_threshold(key: str, value: object) -> float:
    """``value`` as a float in (0, 1]; ConfigError naming ``key`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not 0 < value <= 1:
        raise ConfigError(key, f"must be a number in (0, 1] (a fraction of the mask's full scale), got {value!r}")
    return float(value)


def _check_folder_name(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or value in (".", "..") or "/" in value or "\\" in value:
        raise ConfigError(key, f"must be the name of a folder under the dataset root, got {value!r}")
    return value


def _parse_options(options: Mapping | None, layout: str) -> _Options:
    """Validate ``options`` for ``layout``: ConfigError for an unknown key, a bad value, or a davis-only key with a
    non-default value on another layout."""
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(opts) - set(READER_OPTION_KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown dataset reader option (known: {', '.join(READER_OPTION_KEYS)})")
    for key, noop in _DAVIS_ONLY.items():
        if layout != "davis" and key in opts and opts[key] != noop:
            raise ConfigError(key, f"applies to layout davis only, not {layout}")
    resolution = opts.get("resolution", "auto")
    if resolution not in RESOLUTIONS:
        raise ConfigError("resolution", f"must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    split = opts.get("split")
    if split is not None and (not isinstance(split, str) or not split.strip(" /")):
        raise ConfigError("split", f"must name a file under ImageSets/ (e.g. 2017/val), got {split!r}")
    thresholds = opts.get("gt_thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise ConfigError("gt_thresholds", f"must map sequence names to thresholds, got {thresholds!r}")
    return _Options(
        annotations=_check_folder_name("annotations", opts.get("annotations", DAVIS_ANNOTATIONS)),
        resolution=resolution,
        split=split,
        gt_threshold=_check_threshold("gt_threshold", opts["gt_threshold"]) if "gt_threshold" in opts else None,
        gt_thresholds={str(k): _check_threshold(f"gt_thresholds.{k}", v) for k, v in thresholds.items()},
    )


def _threshold_for(opts: _Options, layout: str, name: str) -> float | None:
    """The GT threshold of sequence ``name``: its ``gt_thresholds`` entry, else ``gt_threshold``, else the layout's."""
    t = opts.gt_thresholds.get(name, opts.gt_threshold)
    if t is None and layout == "segtrackv2-mg":
        return SEGTRACKV2_MG_THRESHOLD
    return t


# ------------------------------------------------------------------------------------------------------- helpers


def _natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically (``f2`` < ``f10``)."""
    return [int(tok) if tok.isdigit() else tok for tok in _DIGITS.split(name)]


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise InputError(layout, f"unknown dataset layout (expected one of {', '.join(LAYOUTS)})")


def _check_root(root: Path) -> None:
    if not root.exists():
        raise InputError(root, "dataset root does not exist")
    if not root.is_dir():
        raise InputError(root, "dataset root is not a directory")


def _subdirs(folder: Path) -> list[str]:
    """Names of the visible sub-folders of ``folder`` (hidden ones, e.g. atomic-write temporaries, are skipped)."""
    return sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_natural_key)


def _files(folder: Path, exts: frozenset[str]) -> list[Path]:
    """Visible files of ``folder`` with one of ``exts`` (case-insensitive), naturally sorted by name."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: _natural_key(p.name))


def _required_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(path, f"{what} does not exist")
    return path


def _level(folder: Path) -> Path:
    """``folder/480p`` when it exists (DAVIS resolution level), else ``folder``."""
    return folder / "480p" if (folder / "480p").is_dir() else folder


def _frames_in(folder: Path) -> tuple[list[str], list[Path]]:
    """(names, paths) of the image frames in ``folder``.

    InputError for two files with the same stem, or a gap in a numbered run (names ending in a number).
    """
    paths = _files(folder, IMAGE_EXTS)
    names = [p.stem for p in paths]
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            raise InputError(p, f"two frames named {p.stem!r} ({seen[p.stem].name} and {p.name})")
        seen[p.stem] = p
    _check_numbered_run(folder, names, paths)
    return names, paths


def _trailing_number(stem: str) -> int | None:
    m = _TRAILING_INT.search(stem)
    return int(m.group(1)) if m else None


def _match_gt(frame_names: list[str], gt_files: list[Path], strip_suffix: str = "") -> dict[str, Path]:
    """Map GT files to frames: by stem, else by the trailing frame number. Unmatched GT files are an error."""
    by_stem = set(frame_names)
    by_number: dict[int, str] = {}
    for n in frame_names:
        num = _trailing_number(n)
        if num is not None:
            by_number.setdefault(num, n)
    out: dict[str, Path] = {}
    for g in gt_files:
        stem = g.stem
        if strip_suffix and stem.endswith(strip_suffix):
            stem = stem[: -len(strip_suffix)]
        if stem in by_stem:
            frame = stem
        else:
            num = _trailing_number(stem)
            if num is None or num not in by_number:
                raise InputError(g, "ground-truth mask matches no frame of the sequence (by name or frame number)")
            frame = by_number[num]
        if frame in out:
            raise InputError(g, f"second ground-truth mask for frame {frame!r} (first: {out[frame]})")
        out[frame] = g
    return out


def _ordered(frame_names: list[str], gt: dict) -> list[str]:
    return [n for n in frame_names if n in gt]


# ----------------------------------------------------------------------------------------------------- DAVIS dirs


def _davis_level(folder: Path, resolution: str, what: str) -> Path:
    """A DAVIS folder's resolution level: :func:`_level` for ``auto``, else ``folder/<resolution>`` (must exist)."""
    if resolution == "auto":
        return _level(folder)
    level = folder / resolution
    if not level.is_dir():
        raise InputError(level, f"{what}: resolution level {resolution!r} (option resolution) does not exist")
    return level


def _davis_frames_root(root: Path, opts: _Options) -> Path:
    """``JPEGImages[/<level>]`` of a DAVIS root."""
    folder = _required_dir(root / "JPEGImages", "DAVIS frame folder JPEGImages/")
    return _davis_level(folder, opts.resolution, "DAVIS frame folder")


def _davis_gt_root(root: Path, opts: _Options) -> Path | None:
    """``<annotations>[/<level>]`` of a DAVIS root; None when the default ``Annotations/`` is absent (no GT)."""
    folder = root / opts.annotations
    if not folder.is_dir():
        if opts.annotations != DAVIS_ANNOTATIONS:
            raise InputError(folder, "annotation folder named by option annotations does not exist")
        return None
    return _davis_level(folder, opts.resolution, "DAVIS annotation folder")


def _split_file(root: Path, split: str) -> Path:
    rel = split.strip().strip("/")
    return root / "ImageSets" / (rel if rel.endswith(".txt") else f"{rel}.txt")


def _split_line_sequence(path: Path, lineno: int, tokens: list[str]) -> str:
    """The sequence named by one split-file line (DAVIS-2017: ``<seq>``; DAVIS-2016: ``/JPEGImages/480p/<seq>/...``)."""
    if "/" in tokens[0]:
        parts = [p for p in tokens[0].split("/") if p]
        if len(parts) >= 2:
            return parts[-2]
    elif len(tokens) == 1:
        return tokens[0]
    raise InputError(path, f"line {lineno}: cannot read a sequence name from {' '.join(tokens)!r}")


def _read_split(path: str | Path) -> list[str]:
    """Sequence names of a DAVIS split file (either format in the module docstring), deduplicated in file order.

    InputError naming the file if it is missing, unreadable, has a line it cannot parse, or lists no sequence.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "split file (option split) does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read split file ({exc})") from None
    names: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens:
            name = _split_line_sequence(path, lineno, tokens)
            if name not in names:
                names.append(name)
    if not names:
        raise InputError(path, "split file lists no sequence")
    return names


def _davis_split(root: Path, opts: _Options, frames_root: Path) -> list[str]:
    """Sequences of the split file; InputError naming the file for a listed sequence without a frame folder."""
    assert opts.split is not None
    path = _split_file(root, opts.split)
    names = _read_split(path)
    for name in names:
        if not (frames_root / name).is_dir():
            raise InputError(path, f"lists sequence {name!r}, which has no frame folder ({frames_root / name})")
    return names


# ------------------------------------------------------------------------------------------------- list_sequences


def _fbms_sequence_dirs(root: Path) -> dict[str, Path]:
    """FBMS sequence name -> folder, over the split folders (or the root itself when it holds no split folder)."""
    splits = [root / s for s in FBMS_SPLITS if (root / s).is_dir()] or [root]
    out: dict[str, Path] = {}
    for split in splits:
        for name in _subdirs(split):
            if name in out:
                raise InputError(split / name, f"sequence {name!r} also exists in {out[name].parent}")
            out[name] = split / name
    return out


def _video_files(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in _files(root, VIDEO_EXTS):
        if p.stem in out:
            raise InputError(p, f"two videos named {p.stem!r} ({out[p.stem].name} and {p.name})")
        out[p.stem] = p
    return out


def _all_sequences(root: Path, layout: str, opts: _Options) -> list[str]:
    """Every sequence folder (or video) of the dataset, ignoring ``split``."""
    if layout == "davis":
        return _subdirs(_davis_frames_root(root, opts))
    if layout in ("segtrackv2", "segtrackv2-mg", "fbms-mg"):
        return _subdirs(_required_dir(root / "JPEGImages", f"{layout} frame folder JPEGImages/"))
    if layout == "fbms":
        return list(_fbms_sequence_dirs(root))
    if layout == "frames":
        return _subdirs(root)
    return list(_video_files(root))


def list_sequences(root: str | Path, layout: str, *, options: Mapping | None = None) -> list[str]:
    """Sorted sequence names of a dataset (directory listing only: no image is opened).

    options: reader options (:func:`reader_options`); with ``split`` only the split file's sequences are listed.
    InputError if ``root`` (or the layout's frame folder, or a requested resolution level or split file) does not
    exist, or a split file lists a sequence without a frame folder; ConfigError for a bad option or a
    ``gt_thresholds`` key that is no sequence of the dataset.
    """
    _check_layout(layout)
    opts = _parse_options(options, layout)
    root = Path(root)
    _check_root(root)
    names = _all_sequences(root, layout, opts)
    unknown = sorted(set(opts.gt_thresholds) - set(names))
    if unknown:
        raise ConfigError("gt_thresholds", f"sequences not found in {root}: {unknown}")
    if layout == "davis" and opts.split is not None:
        names = _davis_split(root, opts, _davis_frames_root(root, opts))
    return sorted(names)


# --------------------------------------------------------------------------------------------------- get_sequence


@dataclass
class _Listing:
    """Files of one sequence found by directory listing only (nothing opened, nothing validated)."""

    frames_dir: Path | None
    video: Path | None
    gt_groups: list[list[Path]]  # one list of mask files per object folder (a single list for one-object layouts)
    gt_encoding: str = "auto"
    strip_suffix: str = ""
    multi_object: bool = False
    stray_gt: list[Path] = field(default_factory=list)  # mask files beside per-object folders (an error)
    object_dirs: list[Path] = field(default_factory=list)  # per-object GT folders, in id order
    problem: InputError | None = None  # raised by get_sequence (listing functions never validate)

    @property
    def frame_files(self) -> list[Path]:
        return _files(self.frames_dir, IMAGE_EXTS) if self.frames_dir is not None else []


def _list_davis(root: Path, name: str, opts: _Options) -> _Listing:
    fdir = _required_dir(_davis_frames_root(root, opts) / name, "sequence frame folder")
    groot = _davis_gt_root(root, opts)
    gdir = groot / name if groot is not None else None
    return _Listing(fdir, None, [_files(gdir, MASK_EXTS)] if gdir is not None and gdir.is_dir() else [])


def _list_segtrackv2(root: Path, name: str, opts: _Options) -> _Listing:
    fdir = _required_dir(root / "JPEGImages" / name, "sequence frame folder")
    gdir = root / "GroundTruth" / name
    if not gdir.is_dir():
        return _Listing(fdir, None, [], multi_object=True)
    object_dirs = [gdir / d for d in _subdirs(gdir)]
    if not object_dirs:
        return _Listing(fdir, None, [_files(gdir, MASK_EXTS)], multi_object=True)
    groups = [_files(d, MASK_EXTS) for d in object_dirs]
    return _Listing(
        fdir, None, groups, multi_object=True, stray_gt=_files(gdir, MASK_EXTS), object_dirs=object_dirs
    )


def _list_mg(root: Path, name: str, opts: _Options) -> _Listing:
    """MotionGrouping's ``JPEGImages/<seq>/`` + ``Annotations/<seq>/`` (fbms-mg, segtrackv2-mg); sub-folders of
    ``Annotations/<seq>/`` (SegTrack_clean.py's per-object inputs) are ignored."""
    fdir = _required_dir(root / "JPEGImages" / name, "sequence frame folder")
    gdir = root / "Annotations" / name
    if not gdir.is_dir():
        return _Listing(fdir, None, [])
    masks = _files(gdir, MASK_EXTS)
    problem = None
    if not masks and _subdirs(gdir):
        problem = InputError(gdir, "per-object sub-folders but no merged mask file: run MotionGrouping's "
                                   "tools/SegTrack_clean.py, or read the original SegTrackV2 with layout segtrackv2")
    return _Listing(fdir, None, [masks] if masks else [], problem=problem)


def _list_fbms(root: Path, name: str, opts: _Options) -> _Listing:
    dirs = _fbms_sequence_dirs(root)
    if name not in dirs:
        raise InputError(root / name, "FBMS sequence folder does not exist (looked in Trainingset/, Testset/, root)")
    fdir = dirs[name]
    gdir = fdir / "GroundTruth"
    if not gdir.is_dir():
        return _Listing(fdir, None, [], gt_encoding="labels")
    ppm = [p for p in _files(gdir, frozenset({".ppm"})) if "PROB" not in p.name]
    if ppm:
        return _Listing(fdir, None, [ppm], gt_encoding="white_background", strip_suffix="_gt")
    return _Listing(fdir, None, [_files(gdir, frozenset({".pgm", ".png"}))], gt_encoding="labels", strip_suffix="_gt")


def _list_frames(root: Path, name: str, opts: _Options) -> _Listing:
    return _Listing(_required_dir(root / name, "sequence frame folder"), None, [])


def _list_video(root: Path, name: str, opts: _Options) -> _Listing:
    videos = _video_files(root)
    if name not in videos:
        raise InputError(root / name, f"no video file for sequence {name!r} ({', '.join(sorted(VIDEO_EXTS))})")
    return _Listing(None, videos[name], [])


_LISTERS = {
    "davis": _list_davis,
    "segtrackv2": _list_segtrackv2,
    "segtrackv2-mg": _list_mg,
    "fbms": _list_fbms,
    "fbms-mg": _list_mg,
    "frames": _list_frames,
    "video": _list_video,
}


def _listing(root: str | Path, layout: str, name: str, opts: _Options) -> _Listing:
    _check_layout(layout)
    root = Path(root)
    _check_root(root)
    return _LISTERS[layout](root, name, opts)


def source_files(root: str | Path, layout: str, name: str, *, options: Mapping | None = None) -> list[Path]:
    """The frame images (or the one video file) of a sequence, by directory listing only.

    Never opens or validates a file, so a workflow can call it at DAG-build time for every sequence: a broken
    sequence then fails in its own ingest job. Raises InputError only when the root, the sequence or a requested
    folder (resolution level, annotation folder) is absent; ConfigError for a bad option (:func:`reader_options`).
    """
    lst = _listing(root, layout, name, _parse_options(options, layout))
    return [lst.video] if lst.video is not None else lst.frame_files


def gt_files(root: str | Path, layout: str, name: str, *, options: Mapping | None = None) -> list[Path]:
    """All ground-truth mask files of a sequence (sorted), by directory listing only (see :func:`source_files`)."""
    lst = _listing(root, layout, name, _parse_options(options, layout))
    return sorted({p for group in lst.gt_groups for p in group} | set(lst.stray_gt))


def _sequence_frames(lst: _Listing, layout: str) -> tuple[list[str], list[Path]]:
    assert lst.frames_dir is not None
    try:
        return _frames_in(lst.frames_dir)
    except InputError as exc:
        if layout == "fbms-mg" and exc.problem.startswith("missing frame"):
            raise InputError(exc.path, exc.problem + _FBMS_VAL_HINT) from None
        raise


def _gt_map(lst: _Listing, names: list[str]) -> dict[str, Path | list[Path]]:
    """Frame name -> mask file (or per-object list) for the frames ``names`` (InputError for an unmatched mask)."""
    if lst.stray_gt:
        raise InputError(lst.stray_gt[0], "mask file beside per-object GT folders; expected one or the other")
    gt: dict[str, Path | list[Path]] = {}
    for group in lst.gt_groups if names else []:  # no frames: load_frames reports the empty sequence
        for frame, path in _match_gt(names, group, lst.strip_suffix).items():
            if lst.multi_object:
                gt.setdefault(frame, []).append(path)  # type: ignore[union-attr]
            else:
                gt[frame] = path
    return gt


def get_sequence(root: str | Path, layout: str, name: str, *, options: Mapping | None = None) -> SequenceInfo:
    """Locate and cross-check the frames and GT files of sequence ``name``; see the module docstring for layouts.

    options: reader options (:func:`reader_options`; ``split`` is not needed here). Opens no image (a video is
    opened once to count its frames). InputError, naming the file, for two frames with the same name, a gap in a
    numbered run of frames, a GT mask that matches no frame (or a second mask for a frame), SegTrackV2 mask files
    lying beside per-object folders, and a ``segtrackv2-mg`` sequence with per-object folders but no merged mask.
    """
    opts = _parse_options(options, layout)
    lst = _listing(root, layout, name, opts)
    if lst.problem is not None:
        raise lst.problem
    if lst.video is not None:
        n = _count_video_frames(lst.video)
        return SequenceInfo(name, layout, [f"{i:05d}" for i in range(n)], None, lst.video, {}, [], None)
    names, paths = _sequence_frames(lst, layout)
    gt = _gt_map(lst, names)
    return SequenceInfo(
        name, layout, names, paths, None, gt, _ordered(names, gt), lst.frames_dir, gt_encoding=lst.gt_encoding,
        gt_threshold=_threshold_for(opts, layout, name), gt_object_dirs=list(lst.object_dirs),
    )


# ---------------------------------------------------------------------------------------------------------- frames


def _open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(path, "video cannot be decoded (OpenCV could not open it)")
    return cap


def _count_video_frames(path: Path) -> int:
    """Number of frames OpenCV decodes from ``path`` (counted by grabbing, not from the container header)."""
    cap = _open_video(path)
    n = 0
    try:
        claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        while cap.grab():
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise InputError(path, "video cannot be decoded (no frame could be read)")
    # The container's count is an estimate for some formats: allow a small shortfall, catch truncated files.
    if claimed > 0 and n < claimed - max(2, int(0.02 * claimed)):
        raise InputError(path, f"video is truncated or corrupt: only {n} of its {claimed} frames could be decoded")
    return n


def _read_video(path: Path, progress: bool) -> np.ndarray:
    cap = _open_video(path)
    frames = []
    try:
        with tqdm(desc=f"decode {path.name}", unit="frame", file=sys.stderr, disable=not progress) as bar:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
                    raise InputError(path, f"video frame {len(frames)} decoded with unexpected shape")
                if frames and bgr.shape != frames[0].shape:
                    raise InputError(
                        path,
                        f"video frame {len(frames)} has size {bgr.shape[1]}x{bgr.shape[0]}, "
                        f"frame 0 has {frames[0].shape[1]}x{frames[0].shape[0]}",
                    )
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                bar.update()
    finally:
        cap.release()
    if not frames:
        raise InputError(path, "video cannot be decoded (no frame could be read)")
    return np.stack(frames)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_checked(path: Path, what: str) -> io.BytesIO:
    """The bytes of an image file, after a structural completeness check of JPEG and PNG files.

    PIL decodes some truncated files without complaint (a PNG cut inside its final checksum, or any file when
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set by another library), so a JPEG must hold an end-of-image marker after
    its last start-of-scan marker and a PNG must hold its IEND chunk.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, f"{what} file does not exist") from None
    except OSError as exc:
        raise InputError(path, f"cannot read {what} file ({exc.strerror})") from None
    if not data:
        raise InputError(path, f"unreadable or truncated {what} (empty file)")
    if data.startswith(b"\xff\xd8"):
        sos = data.rfind(b"\xff\xda")
        if sos < 0 or data.find(b"\xff\xd9", sos) < 0:
            raise InputError(path, f"unreadable or truncated {what} (JPEG data ends before its end-of-image marker)")
    elif data.startswith(_PNG_SIGNATURE) and data.rfind(b"IEND") < 0:
        raise InputError(path, f"unreadable or truncated {what} (PNG has no IEND chunk)")
    return io.BytesIO(data)


def read_image(path: Path) -> np.ndarray:
    """uint8 [H, W, 3] RGB image; InputError for a missing, unreadable or truncated file."""
    buf = _read_checked(path, "image")
    try:
        with Image.open(buf) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                return np.repeat((arr / max(arr.max(), 1.0) * 255).astype(np.uint8)[..., None], 3, axis=2)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated image ({exc})") from None


def _check_numbered_run(folder: Path, names: list[str], paths: list[Path]) -> None:
    """InputError naming the first missing file when frames are numbered (``...<digits>``) with a gap."""
    nums = [_trailing_number(n) for n in names]
    if any(n is None for n in nums):
        return  # not a numbered run: natural order of names
    order = sorted(range(len(nums)), key=lambda i: nums[i])
    for a, b in pairwise(order):
        na, nb = nums[a], nums[b]
        if nb == na:
            raise InputError(paths[b], f"frame number {nb} also used by {paths[a].name}")
        if nb != na + 1:
            prev = paths[a]
            digits = _TRAILING_INT.search(prev.stem).group(1)  # type: ignore[union-attr]
            missing = prev.stem[: -len(digits)] + str(na + 1).zfill(len(digits)) + prev.suffix
            raise InputError(
                folder / missing, f"missing frame in numbered run ({prev.name} is followed by {paths[b].name})"
            )


def load_frames(info: SequenceInfo, progress: bool = False) -> np.ndarray:
    """Load and validate all frames of a sequence: uint8 [T, H, W, 3] RGB, T >= 2.

    InputError (naming the file or folder) for: an empty sequence, a one-frame sequence, a gap in a numbered run of
    frames, an unreadable or truncated image, frames of different sizes, or a video that cannot be decoded.
    """
    if info.video_path is not None:
        frames = _read_video(info.video_path, progress)
        if len(frames) < 2:
            raise InputError(info.video_path, "video has only one frame; need at least 2")
        if len(frames) != len(info.frame_names):
            raise InputError(
                info.video_path,
                f"decoded {len(frames)} frames, but {len(info.frame_names)} were "
                "counted when the sequence was listed (file changed or decoder unstable)",
            )
        return frames
    assert info.frame_paths is not None
    where = info.frames_dir if info.frames_dir is not None else Path(info.name)
    if not info.frame_paths:
        raise InputError(where, f"empty sequence: no frame images ({', '.join(sorted(IMAGE_EXTS))})")
    if len(info.frame_paths) == 1:
        raise InputError(info.frame_paths[0], "sequence has only one frame; need at least 2")
    if info.frames_dir is not None:
        _check_numbered_run(info.frames_dir, info.frame_names, info.frame_paths)
    frames: list[np.ndarray] = []
    for path in tqdm(info.frame_paths, desc=f"read {info.name}", unit="frame", file=sys.stderr, disable=not progress):
        img = read_image(path)
        if frames and img.shape != frames[0].shape:
            raise InputError(
                path,
                f"frame size {img.shape[1]}x{img.shape[0]} differs from "
                f"{frames[0].shape[1]}x{frames[0].shape[0]} of {info.frame_paths[0].name}",
            )
        frames.append(img)
    return np.stack(frames)


def frame_size(info: SequenceInfo, name: str | None = None) -> tuple[int, int]:
    """(H, W) of frame ``name`` (default: the first frame), read from the file header only."""
    if info.video_path is not None:
        cap = _open_video(info.video_path)
        try:
            ok, bgr = cap.read()
        finally:
            cap.release()
        if not ok:
            raise InputError(info.video_path, "video cannot be decoded (no frame could be read)")
        return int(bgr.shape[0]), int(bgr.shape[1])
    assert info.frame_paths is not None
    if not info.frame_paths:
        raise InputError(info.frames_dir or info.name, "empty sequence: no frame images")
    path = info.frame_paths[info.frame_names.index(name)] if name is not None else info.frame_paths[0]
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise InputError(path, "image file does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated image ({exc})") from None
    return h, w


# -------------------------------------------------------------------------------------------------------------- GT


# How the evaluator and the mask directories read masks: the official DAVIS rule (DAVIS-2016's code: non-zero grey is
# foreground; DAVIS-2017's: a non-zero palette index is an object, 255 is void). See :func:`read_mask`.
MASK_ENCODING = "labels"
ENCODINGS = ("auto", "labels", "white_background")
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "F"})


@dataclass
class _Pixels:
    """The decoded values of one mask file.

    kind: ``palette`` (index [H, W] + palette [n, 3]), ``bit`` (bool [H, W]), ``grey`` (uint8 [H, W]; also palette
    images with a grey-ramp palette), ``rgb`` (uint8 [H, W, 3]) or ``wide`` (16/32-bit or float grey [H, W]);
    full_scale: the largest value the file format can hold (what a threshold is a fraction of).
    """

    kind: str
    arr: np.ndarray
    palette: np.ndarray | None = None
    full_scale: float = 255.0

    @property
    def void_is_white(self) -> bool:
        """Palette index 255 drawn pure white: a binary 0/255 mask stored as a palette image (255 = foreground)."""
        pal = self.palette
        return pal is not None and len(pal) > 255 and bool(np.all(pal[255] == 255))


def _is_grey_ramp(palette: list[int] | None, used: np.ndarray) -> bool:
    if palette is None:
        return False
    pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    used = used[used < len(pal)]
    return bool(np.all(pal[used] == used[:, None]))


def _pixels_of(im: Image.Image, path: Path) -> _Pixels:
    """The values of an opened (loaded) mask image; InputError for an unsupported mode."""
    mode = im.mode
    if mode in ("P", "PA"):
        arr = np.asarray(im.convert("P") if mode == "PA" else im)
        palette = im.getpalette()
        if _is_grey_ramp(palette, np.unique(arr)):
            return _Pixels("grey", arr)
        pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3) if palette is not None else None
        return _Pixels("palette", arr, pal)
    if mode == "1":
        return _Pixels("bit", np.asarray(im).astype(bool))
    if mode in ("L", "LA"):
        return _Pixels("grey", np.asarray(im if mode == "L" else im.convert("L")))
    if mode in _WIDE_MODES:
        return _Pixels("wide", np.asarray(im), full_scale=1.0 if mode == "F" else 65535.0)
    if mode in _RGB_MODES:
        return _Pixels("rgb", np.asarray(im.convert("RGB")))
    raise InputError(path, f"unsupported mask image mode {mode!r}")


def _decode_mask(path: Path) -> _Pixels:
    """Read one mask file; InputError naming it if it is missing, unreadable, truncated, or a ``.png`` but no PNG."""
    buf = _read_checked(path, "mask")
    if path.suffix.lower() == ".png" and not buf.getvalue().startswith(_PNG_SIGNATURE):
        raise InputError(path, "not a PNG file (unreadable or truncated mask: masks named .png must be PNG images)")
    try:
        with Image.open(buf) as im:
            im.load()
            return _pixels_of(im, path)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated mask ({exc})") from None


def _grey_to_fg(arr: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "white_background":
        return arr < 250
    if encoding == "labels" or arr.max() < 128:
        return arr != 0  # label map (e.g. 0/1 or small object ids)
    return arr >= 128


def _rgb_to_fg(arr: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "white_background":
        return ~np.all(arr >= 250, axis=2)
    if encoding == "labels":
        return arr.max(axis=2) > 0
    return arr.max(axis=2) >= 128


def _luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W] ITU-R BT.601 grey level of uint8 [H, W, 3] RGB (OpenCV's rounding, as cv2.imread + cvtColor)."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _thresholded(px: _Pixels, encoding: str, threshold: float) -> np.ndarray:
    """Foreground of a grey / RGB / wide mask under threshold t: value >= t * full scale (module docstring)."""
    cut = threshold * px.full_scale
    if px.kind == "rgb":
        fg = _luma(px.arr) >= cut
        return fg & ~np.all(px.arr >= 250, axis=2) if encoding == "white_background" else fg
    fg = px.arr >= cut
    return fg & (px.arr < 250) if encoding == "white_background" and px.kind == "grey" else fg


def _foreground(px: _Pixels, encoding: str, threshold: float | None) -> np.ndarray:
    """bool [H, W] foreground of decoded mask values (rules in the module docstring)."""
    if px.kind == "palette":
        fg = px.arr != 0
        return fg if px.void_is_white else fg & (px.arr != VOID_ID)  # DAVIS-2017 void: background, as official
    if px.kind == "bit":
        return px.arr
    if threshold is not None:
        return _thresholded(px, encoding, threshold)
    if px.kind == "rgb":
        return _rgb_to_fg(px.arr, encoding)
    if px.kind == "wide":
        return px.arr != 0  # label image: any non-zero label is an object
    return _grey_to_fg(px.arr, encoding)


def _check_read_args(encoding: str, threshold: float | None) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown mask encoding {encoding!r}")
    ok = isinstance(threshold, int | float) and not isinstance(threshold, bool) and 0 < threshold <= 1
    if threshold is not None and not ok:
        raise ValueError(f"mask threshold must be in (0, 1], got {threshold!r}")


def read_mask(path: str | Path, encoding: str = "auto", threshold: float | None = None) -> np.ndarray:
    """Foreground bool [H, W] of one mask file: the one mask reader (GT of every layout, the workflow's mask
    directories, the ``motionseg evaluate`` folders). InputError naming the file if it is missing, unreadable,
    truncated, or named ``.png`` but not a PNG.

    encoding: ``auto`` (value rules in the module docstring: the dataset default), ``labels`` (:data:`MASK_ENCODING`,
    the official DAVIS rule: any non-zero grey value, label or non-black colour is foreground, a palette index 255
    is void unless the palette draws it white) or ``white_background`` (anything but white, i.e. all channels >= 250,
    is foreground). On DAVIS-2016's annotations (``L``, values 0/255) and on the masks this package writes (``L``,
    0/255) every encoding gives the same foreground. threshold: t in (0, 1] or None; grey value (RGB: BT.601 luma)
    >= t * full scale (255 on 8 bits) is foreground instead of the value rules (module docstring, *Thresholds*).
    """
    _check_read_args(encoding, threshold)
    return _foreground(_decode_mask(Path(path)), encoding, threshold)


def _entry_paths(entry: str | Path | list | tuple) -> list[Path]:
    paths = [Path(p) for p in entry] if isinstance(entry, list | tuple) else [Path(entry)]
    if not paths:
        raise ValueError("empty GT entry")
    return paths


def _check_mask_size(path: Path, shape: tuple[int, ...], hw: tuple[int, int], what: str) -> None:
    if tuple(shape[:2]) != tuple(hw):
        raise InputError(path, f"mask size {shape[1]}x{shape[0]} differs from {what} {hw[1]}x{hw[0]}")


def read_gt_entry(
    entry: str | Path | list,
    encoding: str = "auto",
    expected_hw: tuple[int, int] | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Foreground bool [H, W] of one GT entry: a mask file, or a list of per-object mask files (merged by union).

    ``entry``, ``encoding`` and ``threshold`` are as in ``SequenceInfo.gt_paths`` / ``gt_encoding`` /
    ``gt_threshold`` or the ingest manifest's ``gt_paths`` / ``gt_encoding`` / ``gt_threshold`` (None, or absent in
    an older manifest: the value rules). InputError naming the mask file if it is unreadable or its size differs
    from ``expected_hw`` (H, W) (or, without it, from the entry's first mask).
    """
    _check_read_args(encoding, threshold)
    paths = _entry_paths(entry)
    fg: np.ndarray | None = None
    for path in paths:
        m = _foreground(_decode_mask(path), encoding, threshold)
        hw = expected_hw if expected_hw is not None else (fg.shape if fg is not None else m.shape)
        _check_mask_size(path, m.shape, hw, "frame size" if expected_hw is not None else f"the size of {paths[0].name}")
        fg = m if fg is None else (fg | m)
    assert fg is not None
    return fg


def _gt_names(info: SequenceInfo, names: list[str] | None) -> list[str]:
    names = list(info.annotated) if names is None else list(names)
    for name in names:
        if name not in info.gt_paths:
            raise InputError(info.frames_dir or info.name, f"frame {name!r} has no ground-truth mask")
    return names


def load_gt(info: SequenceInfo, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Foreground bool [H, W] per annotated frame (default: all of ``info.annotated``), objects merged.

    InputError naming the mask file if it is unreadable or its size differs from its frame's.
    """
    return {
        name: read_gt_entry(info.gt_paths[name], info.gt_encoding, frame_size(info, name), info.gt_threshold)
        for name in _gt_names(info, names)
    }


# ------------------------------------------------------------------------------------------------------- instances


def _decode_gt(path: Path, hw: tuple[int, int]) -> _Pixels:
    px = _decode_mask(path)
    _check_mask_size(path, px.arr.shape, hw, "frame size")
    return px


def _object_id(info: SequenceInfo, path: Path) -> int:
    """Instance id of a per-object SegTrackV2 mask: the rank of its folder in ``info.gt_object_dirs``, from 1."""
    return info.gt_object_dirs.index(path.parent) + 1


def _entry_instances(info: SequenceInfo, entry: Path | list[Path], hw: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W] ids of one GT entry for the layouts without a sequence-wide colour table."""
    ids = np.zeros(hw, np.uint8)
    for path in _entry_paths(entry):
        px = _decode_gt(path, hw)
        fg = _foreground(px, info.gt_encoding, info.gt_threshold)
        if info.gt_object_dirs:
            ids[fg] = _object_id(info, path)
        elif info.layout == "davis" and px.kind == "palette" and not px.void_is_white:
            ids = px.arr.astype(np.uint8, copy=True)  # DAVIS-2017: the palette index is the object id, 255 void
        else:
            ids[fg] = 1
    return ids


def _pixel_keys(px: _Pixels) -> np.ndarray:
    """One comparable value per pixel: ``R * 65536 + G * 256 + B`` for RGB, the value / index otherwise."""
    if px.kind == "rgb":
        a = px.arr.astype(np.int64)
        return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
    return px.arr.astype(np.uint8) if px.kind == "bit" else px.arr


def _table_instances(info: SequenceInfo, names: list[str]) -> dict[str, np.ndarray]:
    """FBMS ids: one id per distinct foreground colour / label value, ascending over all the sequence's GT files."""
    wanted = set(names)
    kept: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    values: set = set()
    order = {n: i for i, n in enumerate(info.frame_names)}
    for frame in sorted(info.gt_paths, key=lambda f: order.get(f, len(order))):  # temporal order
        path = _entry_paths(info.gt_paths[frame])[0]
        px = _decode_gt(path, frame_size(info, frame))
        fg = _foreground(px, info.gt_encoding, info.gt_threshold)
        keys = _pixel_keys(px)
        values.update(np.unique(keys[fg]).tolist())
        if len(values) > MAX_OBJECTS:
            raise InputError(path, f"the sequence's ground truth has more than {MAX_OBJECTS} distinct object "
                                   f"colours/labels up to this file (an instance id map holds ids 1..{MAX_OBJECTS})")
        if frame in wanted:
            kept[frame] = (keys, fg)
    table = np.asarray(sorted(values))
    out: dict[str, np.ndarray] = {}
    for frame in names:
        keys, fg = kept[frame]
        ids = np.zeros(fg.shape, np.uint8)
        ids[fg] = np.searchsorted(table, keys[fg]) + 1
        out[frame] = ids
    return out


def load_gt_instances(info: SequenceInfo, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Instance id map uint8 [H, W] per annotated frame (default: all of ``info.annotated``): 0 background, 1..N
    objects, 255 void (DAVIS-2017 convention); ids mean the same object in every frame of the sequence.

    Rules per layout in the module docstring (*Instances*); ids other than 0 and 255 merge to exactly
    :func:`load_gt`'s foreground. InputError naming the file for an unreadable mask, a mask of another size than its
    frame, or more than 254 objects (FBMS colours / labels, SegTrackV2 object folders).
    """
    names = _gt_names(info, names)
    if len(info.gt_object_dirs) > MAX_OBJECTS:
        raise InputError(info.gt_object_dirs[0].parent, f"{len(info.gt_object_dirs)} per-object folders; an "
                                                        f"instance id map holds ids 1..{MAX_OBJECTS}")
    if info.gt_encoding in ("labels", "white_background"):
        return _table_instances(info, names)
    return {name: _entry_instances(info, info.gt_paths[name], frame_size(info, name)) for name in names}
