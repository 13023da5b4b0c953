"""Dataset readers: list sequences, locate frames and ground truth, load and validate them.

Supported layouts (``layout`` in the dataset config):

``davis``
    ``<root>/JPEGImages[/480p]/<seq>/<frame>.jpg|png`` and optional ``<root>/Annotations[/480p]/<seq>/<frame>.png``
    (GT is matched to frames by file stem; frames without a PNG are simply not annotated). The ``480p`` level is used
    when it exists. Binary ``L`` masks (DAVIS-2016) and indexed palette masks (DAVIS-2017) are both read.
``segtrackv2``
    ``<root>/JPEGImages/<seq>/*.png|bmp|jpg`` and ``<root>/GroundTruth/<seq>/*.png|bmp`` (one object) or
    ``<root>/GroundTruth/<seq>/<k>/*.png|bmp`` (one folder per object, merged into one foreground). Masks may be RGB
    with soft edges: foreground = max over channels >= 128.
``fbms``
    FBMS-59 as distributed: ``<root>/{Trainingset,Testset}/<seq>/<seq>_<nr>.jpg`` (``<root>/<seq>/...`` when the
    root is one split folder) with sparse annotations in ``<seq>/GroundTruth/``: either ``*_gt.ppm`` colour images
    (white = background, any other colour = an object; ``*PROB*`` files ignored) or ``*.pgm`` / ``*.png`` grey label
    images (black = background, any other value = an object). The frame of a GT file is the last number in its stem
    (after dropping a ``_gt`` suffix), matched to the frame whose name ends in the same number (FBMS numbers both
    from 1). Only annotated frames are listed in ``SequenceInfo.annotated`` (and so scored). All objects are merged
    into one foreground. (MotionGrouping's FBMS conversion instead thresholds the grey level at 0.1, with per-sequence
    exceptions for marple2/marple7, and drops black objects of the ``.ppm`` folders; we keep every labelled object.)
``frames``
    ``<root>/<seq>/*.<image>``: a plain folder of images per sequence, no GT.
``video``
    ``<root>/<seq>.mp4|avi|mov|mkv|...``: one video file per sequence, decoded with OpenCV; frames are named
    ``00000``, ``00001``, ...; no GT.

Mask values (:func:`load_gt`): ``1``-bit masks as is; grey (``L``) masks are thresholded at 128, except label maps
whose maximum is below 128 (e.g. 0/1 masks) where any non-zero value is foreground; RGB masks: max channel >= 128;
palette (``P``) masks: a non-zero index is foreground, and index 255 is *void* and counted as background, as the
official DAVIS-2017 evaluation does (its ``davis.py`` sets 255 to 0 in every mask it reads, which would also erase
the 0/255 foreground of DAVIS-2016's ``L`` masks; we threshold ``L`` masks instead) -- unless the palette maps 255
to pure white, i.e. the file is a binary 0/255 mask that happens to be stored as a palette image; palette images
with a pure grey-ramp palette are read as grey masks. Multi-object masks are merged into one foreground (union).

JPEG and PNG files are also checked structurally (end-of-image marker, IEND chunk), so a truncated file is an error
even where the decoder would silently fill in the missing part.

Entry points: :func:`list_sequences` and :func:`source_files` / :func:`gt_files` (directory listing only, for the
workflow's DAG), :func:`get_sequence` (cross-checks names), :func:`load_frames` and :func:`load_gt` (read and
validate pixels).
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from motionseg.io.errors import InputError

LAYOUTS = ("davis", "segtrackv2", "fbms", "frames", "video")
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp"})
MASK_EXTS = frozenset({".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"})
FBMS_SPLITS = ("Trainingset", "Testset")
_TRAILING_INT = re.compile(r"(\d+)$")
_DIGITS = re.compile(r"(\d+)")


@dataclass
class SequenceInfo:
    """Where one sequence's frames and GT live.

    frame_names: frame names without extension, in temporal order; frame_paths: one image per frame (None for a
    video); video_path: the video file (None for image layouts); gt_paths: frame name -> mask file, or a list of
    mask files (one per object) for multi-object layouts; annotated: frame names that have GT, in temporal order;
    frames_dir: the folder holding the frames (None for a video); gt_encoding: how mask values map to foreground:
    ``auto`` (rules in the module docstring), ``labels`` (any non-zero value; FBMS ``.pgm``) or ``white_background``
    (anything not white; FBMS ``.ppm``).
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


def list_sequences(root: str | Path, layout: str) -> list[str]:
    """Sorted sequence names of a dataset (directory listing only: no image is opened).

    Raises InputError if ``root`` (or the layout's frame folder) does not exist.
    """
    _check_layout(layout)
    root = Path(root)
    _check_root(root)
    if layout == "davis":
        names = _subdirs(_level(_required_dir(root / "JPEGImages", "DAVIS frame folder JPEGImages/")))
    elif layout == "segtrackv2":
        names = _subdirs(_required_dir(root / "JPEGImages", "SegTrackV2 frame folder JPEGImages/"))
    elif layout == "fbms":
        names = list(_fbms_sequence_dirs(root))
    elif layout == "frames":
        names = _subdirs(root)
    else:
        names = list(_video_files(root))
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

    @property
    def frame_files(self) -> list[Path]:
        return _files(self.frames_dir, IMAGE_EXTS) if self.frames_dir is not None else []


def _list_davis(root: Path, name: str) -> _Listing:
    fdir = _required_dir(_level(root / "JPEGImages") / name, "sequence frame folder")
    gdir = _level(root / "Annotations") / name
    return _Listing(fdir, None, [_files(gdir, MASK_EXTS)] if gdir.is_dir() else [])


def _list_segtrackv2(root: Path, name: str) -> _Listing:
    fdir = _required_dir(root / "JPEGImages" / name, "sequence frame folder")
    gdir = root / "GroundTruth" / name
    if not gdir.is_dir():
        return _Listing(fdir, None, [], multi_object=True)
    object_dirs = [gdir / d for d in _subdirs(gdir)]
    if not object_dirs:
        return _Listing(fdir, None, [_files(gdir, MASK_EXTS)], multi_object=True)
    groups = [_files(d, MASK_EXTS) for d in object_dirs]
    return _Listing(fdir, None, groups, multi_object=True, stray_gt=_files(gdir, MASK_EXTS))


def _list_fbms(root: Path, name: str) -> _Listing:
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


def _list_frames(root: Path, name: str) -> _Listing:
    return _Listing(_required_dir(root / name, "sequence frame folder"), None, [])


def _list_video(root: Path, name: str) -> _Listing:
    videos = _video_files(root)
    if name not in videos:
        raise InputError(root / name, f"no video file for sequence {name!r} ({', '.join(sorted(VIDEO_EXTS))})")
    return _Listing(None, videos[name], [])


def _listing(root: str | Path, layout: str, name: str) -> _Listing:
    _check_layout(layout)
    root = Path(root)
    _check_root(root)
    lister = {
        "davis": _list_davis,
        "segtrackv2": _list_segtrackv2,
        "fbms": _list_fbms,
        "frames": _list_frames,
        "video": _list_video,
    }[layout]
    return lister(root, name)


def source_files(root: str | Path, layout: str, name: str) -> list[Path]:
    """The frame images (or the one video file) of a sequence, by directory listing only.

    Never opens or validates a file, so a workflow can call it at DAG-build time for every sequence: a broken
    sequence then fails in its own ingest job. Raises InputError only when the root or the sequence is absent.
    """
    lst = _listing(root, layout, name)
    return [lst.video] if lst.video is not None else lst.frame_files


def gt_files(root: str | Path, layout: str, name: str) -> list[Path]:
    """All ground-truth mask files of a sequence (sorted), by directory listing only (see :func:`source_files`)."""
    lst = _listing(root, layout, name)
    return sorted({p for group in lst.gt_groups for p in group} | set(lst.stray_gt))


def get_sequence(root: str | Path, layout: str, name: str) -> SequenceInfo:
    """Locate and cross-check the frames and GT files of sequence ``name``; see the module docstring for layouts.

    Opens no image (a video is opened once to count its frames). InputError, naming the file, for two frames with
    the same name, a gap in a numbered run of frames, a GT mask that matches no frame (or a second mask for a frame),
    and SegTrackV2 mask files lying beside per-object folders.
    """
    lst = _listing(root, layout, name)
    if lst.video is not None:
        n = _count_video_frames(lst.video)
        return SequenceInfo(name, layout, [f"{i:05d}" for i in range(n)], None, lst.video, {}, [], None)
    assert lst.frames_dir is not None
    names, paths = _frames_in(lst.frames_dir)
    if lst.stray_gt:
        raise InputError(lst.stray_gt[0], "mask file beside per-object GT folders; expected one or the other")
    gt: dict = {}
    for group in lst.gt_groups if names else []:  # no frames: load_frames reports the empty sequence
        for frame, path in _match_gt(names, group, lst.strip_suffix).items():
            if lst.multi_object:
                gt.setdefault(frame, []).append(path)
            else:
                gt[frame] = path
    return SequenceInfo(
        name, layout, names, paths, None, gt, _ordered(names, gt), lst.frames_dir, gt_encoding=lst.gt_encoding
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


def _is_grey_ramp(palette: list[int] | None, used: np.ndarray) -> bool:
    if palette is None:
        return False
    pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
    used = used[used < len(pal)]
    return bool(np.all(pal[used] == used[:, None]))


def read_mask(path: str | Path, encoding: str = "auto") -> np.ndarray:
    """Foreground bool [H, W] of one mask file: the one mask reader (GT of every layout, the workflow's mask
    directories, the ``motionseg evaluate`` folders). InputError naming the file if it is missing, unreadable,
    truncated, or named ``.png`` but not a PNG.

    encoding: ``auto`` (value rules in the module docstring: the dataset default), ``labels`` (:data:`MASK_ENCODING`,
    the official DAVIS rule: any non-zero grey value, label or non-black colour is foreground, a palette index 255
    is void unless the palette draws it white) or ``white_background`` (anything but white, i.e. all channels >= 250,
    is foreground). On DAVIS-2016's annotations (``L``, values 0/255) and on the masks this package writes (``L``,
    0/255) every encoding gives the same foreground.
    """
    if encoding not in ("auto", "labels", "white_background"):
        raise ValueError(f"unknown mask encoding {encoding!r}")
    path = Path(path)
    buf = _read_checked(path, "mask")
    if path.suffix.lower() == ".png" and not buf.getvalue().startswith(_PNG_SIGNATURE):
        raise InputError(path, "not a PNG file (unreadable or truncated mask: masks named .png must be PNG images)")
    try:
        with Image.open(buf) as im:
            im.load()
            mode = im.mode
            palette = im.getpalette() if mode in ("P", "PA") else None
            if mode in ("P", "PA"):
                arr = np.asarray(im.convert("P") if mode == "PA" else im)
            elif mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
                arr = np.asarray(im if mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "F") else im.convert("L"))
            elif mode in ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr"):
                arr = np.asarray(im.convert("RGB"))
            else:
                raise InputError(path, f"unsupported mask image mode {mode!r}")
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated mask ({exc})") from None

    if mode in ("P", "PA"):
        used = np.unique(arr)
        if _is_grey_ramp(palette, used):
            return _grey_to_fg(arr, encoding)
        pal = np.asarray(palette, dtype=np.int64).reshape(-1, 3) if palette is not None else None
        void_is_white = pal is not None and len(pal) > 255 and bool(np.all(pal[255] == 255))
        fg = arr != 0
        if not void_is_white:
            fg &= arr != 255  # DAVIS-2017 void label: background, as the official evaluation does
        return fg
    if mode == "1":
        return arr.astype(bool)
    if arr.ndim == 3:  # RGB
        if encoding == "white_background":
            return ~np.all(arr >= 250, axis=2)
        if encoding == "labels":
            return arr.max(axis=2) > 0
        return arr.max(axis=2) >= 128
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return arr != 0  # label image: any non-zero label is an object
    return _grey_to_fg(arr, encoding)


def _grey_to_fg(arr: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "white_background":
        return arr < 250
    if encoding == "labels" or arr.max() < 128:
        return arr != 0  # label map (e.g. 0/1 or small object ids)
    return arr >= 128


def load_gt(info: SequenceInfo, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Foreground bool [H, W] per annotated frame (default: all of ``info.annotated``), objects merged.

    InputError naming the mask file if it is unreadable or its size differs from its frame's.
    """
    names = list(info.annotated) if names is None else list(names)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in info.gt_paths:
            raise InputError(info.frames_dir or info.name, f"frame {name!r} has no ground-truth mask")
        out[name] = read_gt_entry(info.gt_paths[name], info.gt_encoding, frame_size(info, name))
    return out


def read_gt_entry(
    entry: str | Path | list, encoding: str = "auto", expected_hw: tuple[int, int] | None = None
) -> np.ndarray:
    """Foreground bool [H, W] of one GT entry: a mask file, or a list of per-object mask files (merged by union).

    ``entry`` and ``encoding`` are as in ``SequenceInfo.gt_paths`` / ``gt_encoding`` or the ingest manifest's
    ``gt_paths`` / ``gt_encoding``. InputError naming the mask file if it is unreadable or its size differs from
    ``expected_hw`` (H, W) (or, without it, from the entry's first mask).
    """
    paths = [Path(p) for p in entry] if isinstance(entry, list | tuple) else [Path(entry)]
    if not paths:
        raise ValueError("empty GT entry")
    fg: np.ndarray | None = None
    for path in paths:
        m = read_mask(path, encoding)
        hw = expected_hw if expected_hw is not None else (fg.shape if fg is not None else m.shape)
        if m.shape != tuple(hw):
            what = "frame size" if expected_hw is not None else f"the size of {paths[0].name}"
            raise InputError(path, f"mask size {m.shape[1]}x{m.shape[0]} differs from {what} {hw[1]}x{hw[0]}")
        fg = m if fg is None else (fg | m)
    assert fg is not None
    return fg
