"""Inputs of ``motionseg segment`` -> dataset entries -> the complete workflow config it writes and runs.

An input is a video file (``video`` layout: one sequence named after the file's stem), a folder of images (``frames``
layout: one sequence named after the folder) or a folder holding video files and/or folders of images (one sequence
each). Inputs are grouped by the folder that holds them: each such folder and layout becomes one dataset
(``root`` = that folder, ``sequences`` = the inputs found in it), so the workflow's own readers
(:mod:`motionseg.io.datasets`) read them, exactly as for a hand-written config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from motionseg.io.datasets import IMAGE_EXTS, VIDEO_EXTS, list_sequences
from motionseg.io.errors import ConfigError, InputError

SEGMENT_DEFAULTS = "config/segment.yaml"  # the command's defaults, relative to the workflow directory


@dataclass(frozen=True)
class Input:
    """One sequence to segment: ``path`` the video file or frame folder (absolute), ``layout`` ``video`` or
    ``frames``, ``root`` the folder holding it (the dataset root), ``sequence`` its name in that dataset."""

    path: Path
    layout: str
    root: Path
    sequence: str


def workflow_dir() -> Path:
    """The directory holding the workflow's ``Snakefile`` (the repository this package is installed from).

    Raises ConfigError when the package is not installed from a checkout (then pass ``--workflow DIR``).
    """
    repo = Path(__file__).resolve().parents[3]
    if not (repo / "Snakefile").is_file():
        raise ConfigError("--workflow", f"no Snakefile beside the package ({repo}); pass the workflow directory")
    return repo


def _holds_images(folder: Path) -> bool:
    """Whether ``folder`` directly holds at least one visible image file."""
    return any(p.suffix.lower() in IMAGE_EXTS and p.is_file() and not p.name.startswith(".") for p in folder.iterdir())


def _inputs_in_folder(folder: Path) -> list[Input]:
    """The videos and image sub-folders directly in ``folder`` (empty if none)."""
    found = [Input(folder / p.name, "video", folder, p.stem) for p in sorted(folder.iterdir())
             if p.is_file() and p.suffix.lower() in VIDEO_EXTS and not p.name.startswith(".")]
    found += [Input(folder / name, "frames", folder, name) for name in list_sequences(folder, "frames")
              if _holds_images(folder / name)]
    return found


def collect_inputs(paths: list[str | Path]) -> list[Input]:
    """Sequences named by the command-line inputs (module docstring), in argument order, without repeats.

    Raises InputError naming the path for a path that does not exist, a file that is not a video (by extension:
    :data:`motionseg.io.datasets.VIDEO_EXTS`), or a folder with no video, image or image folder in it. Decoding
    happens later, in the workflow: a broken video fails its own jobs only.
    """
    out: dict[tuple[str, Path, str], Input] = {}
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if not path.exists():
            raise InputError(path, "input does not exist")
        if path.is_file():
            if path.suffix.lower() not in VIDEO_EXTS:
                raise InputError(path, f"not a video file (extensions: {', '.join(sorted(VIDEO_EXTS))}) nor a folder")
            found = [Input(path, "video", path.parent, path.stem)]
        elif _holds_images(path):
            found = [Input(path, "frames", path.parent, path.name)]
        else:
            found = _inputs_in_folder(path)
            if not found:
                raise InputError(path, "folder holds no video file, no image and no folder of images")
        for inp in found:
            out.setdefault((inp.layout, inp.root, inp.sequence), inp)
    return list(out.values())


def _dataset_name(root: Path, layout: str, taken: set[str]) -> str:
    """Unique, path-safe dataset name from the folder name (``-frames`` when the folder also gives videos)."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.name).strip("._") or "input"
    name = base if base not in taken else f"{base}-{layout}"
    n = 2
    while name in taken:
        name, n = f"{base}-{layout}-{n}", n + 1
    return name


def dataset_entries(inputs: list[Input]) -> list[dict]:
    """One config dataset entry per (root folder, layout): ``{name, layout, root, sequences}``, roots absolute."""
    groups: dict[tuple[Path, str], list[str]] = {}
    for inp in inputs:
        groups.setdefault((inp.root, inp.layout), []).append(inp.sequence)
    taken: set[str] = set()
    entries = []
    for (root, layout), sequences in groups.items():
        name = _dataset_name(root, layout, taken)
        taken.add(name)
        entries.append({"name": name, "layout": layout, "root": str(root), "sequences": sorted(sequences)})
    return entries


def build_config(inputs: list[Input], workflow: Path, out: Path, methods: list[str] | None = None,
                 flows: list[str] | None = None, probs: bool | None = None) -> dict:
    """The complete config of one ``motionseg segment`` run: ``config/config.yaml`` updated with
    ``config/segment.yaml`` (both of ``workflow``), then ``results`` = ``out/results`` (absolute, so the config runs
    from any working directory), the inputs' datasets, and the command-line choices that are not None."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((workflow / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((workflow / SEGMENT_DEFAULTS).read_text()))
    cfg["results"] = str(Path(out).absolute() / "results")
    cfg["datasets"] = dataset_entries(inputs)
    if methods:
        cfg["methods"] = list(methods)
    if flows:
        cfg["flow"]["backends"] = list(flows)
    if probs is not None:
        cfg["export"]["probs"] = bool(probs)
    return cfg
