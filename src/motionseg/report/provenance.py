"""Provenance of a report: code version, config hash, library versions, backends, checkpoints and their hashes."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from motionseg.io.errors import InputError
from motionseg.io.hashing import sha256_file

# reported library -> distribution names that may provide it (first installed one wins)
_LIBRARIES = {
    "motionseg": ("motionseg",),
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
               "opencv-contrib-python"),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "snakemake": ("snakemake",),
}
_RANDOM_KEYS = ("weights_random", "random_weights", "random_init", "random")
_CKPT_KEYS = ("checkpoint", "checkpoint_path", "weights")
_HASH_KEYS = ("checkpoint_sha256", "sha256", "weights_sha256")


def config_sha256(config: Mapping) -> str:
    """Hex sha256 of the config as canonical JSON (sorted keys), so key order does not change it."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def git_commit(workdir: str | Path = ".") -> tuple[str, bool | None]:
    """(commit hash, dirty flag) of the git work tree at ``workdir``; ("unknown", None) outside a repository or
    before the first commit. Read-only: never takes git's optional locks."""
    def run(*args: str) -> str:
        return subprocess.run(["git", "--no-optional-locks", *args], cwd=workdir, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        commit = run("rev-parse", "--verify", "HEAD")
    except (subprocess.SubprocessError, FileNotFoundError, NotADirectoryError):
        return "unknown", None
    try:
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (subprocess.SubprocessError, FileNotFoundError):
        dirty = None
    return commit, dirty


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that change results (read from package metadata, nothing imported)."""
    out = {"python": platform.python_version()}
    for name, dists in _LIBRARIES.items():
        out[name] = "not installed"
        for d in dists:
            try:
                out[name] = metadata.version(d)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def read_meta(path: str | Path) -> dict:
    """A backend's meta dict from a ``meta.json``, a directory holding one, or an ``.npz`` with a JSON ``meta``
    entry (track files)."""
    path = Path(path)
    if path.is_dir():
        path = path / "meta.json"
    if not path.exists():
        raise InputError(path, "backend meta file does not exist")
    try:
        if path.suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as z:
                return json.loads(str(z["meta"]))
        return json.loads(path.read_text())
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(path, f"cannot read backend meta ({exc})") from exc


def _first(meta: Mapping, keys: Iterable[str]) -> Any:
    return next((meta[k] for k in keys if k in meta and meta[k] is not None), None)


def backend_record(meta: Mapping, hash_files: bool = True) -> dict:
    """backend, checkpoint, checkpoint sha256 (from the meta, else by hashing the file when it exists) and whether
    the weights were random (None when the meta does not say, e.g. a weight-free backend)."""
    ckpt = _first(meta, _CKPT_KEYS)
    digest = _first(meta, _HASH_KEYS)
    if digest is None and ckpt and hash_files and Path(str(ckpt)).is_file():
        digest = sha256_file(str(ckpt))
    rnd = _first(meta, _RANDOM_KEYS)
    return {"backend": meta.get("backend", "unknown"), "checkpoint": None if ckpt is None else str(ckpt),
            "checkpoint_sha256": digest, "weights_random": None if rnd is None else bool(rnd)}


def _backend_id(path: Path, kind: str) -> str:
    """Flow/track id from a results path: ``.../flow/{flow}/{seq}[/meta.json]``, ``.../tracks/{tracks}/{seq}.npz``."""
    parts = path.parts
    if kind == "models" and kind in parts:
        i = len(parts) - 1 - parts[::-1].index(kind)
        return "/".join(parts[i + 1 : i + 4])
    if kind in parts:
        i = len(parts) - 1 - parts[::-1].index(kind)
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return path.stem


def collect_provenance(config: Mapping, workdir: str | Path = ".", flow_meta: Iterable[str | Path] = (),
                       tracks_meta: Iterable[str | Path] = (), model_meta: Iterable[str | Path] = ()) -> dict:
    """Provenance dict of a run.

    Keys: ``git_commit`` (or "unknown"), ``git_dirty`` (bool or None), ``config_sha256``, ``versions`` (python,
    motionseg, torch, torchvision, opencv, numpy, pandas, snakemake), ``flow`` / ``tracks`` / ``models``
    (id -> backend record, see :func:`backend_record`; ids from the results paths, one meta per id is enough) and
    ``weights_random`` (True if any backend says its weights were random, False if some said False and none True,
    None if no backend recorded it). ``flow_meta``: flow directories or their meta.json; ``tracks_meta``: track
    .npz files; ``model_meta``: JSON metadata of trained models.
    """
    commit, dirty = git_commit(workdir)
    prov: dict[str, Any] = {"git_commit": commit, "git_dirty": dirty, "config_sha256": config_sha256(config),
                            "versions": library_versions(), "flow": {}, "tracks": {}, "models": {}}
    for kind, paths, key in (("flow", flow_meta, "flow"), ("tracks", tracks_meta, "tracks"),
                             ("models", model_meta, "models")):
        for p in paths:
            bid = _backend_id(Path(p), kind)
            if bid not in prov[key]:
                prov[key][bid] = backend_record(read_meta(p))
    flags = [r["weights_random"] for k in ("flow", "tracks", "models") for r in prov[k].values()
             if r["weights_random"] is not None]
    prov["weights_random"] = (True if any(flags) else False) if flags else None
    return prov


def provenance_columns(prov: Mapping, flow: str, tracks: str) -> dict:
    """Flat provenance columns for one summary row (flow id ``flow``, track id ``tracks``)."""
    f = prov.get("flow", {}).get(flow, {})
    t = prov.get("tracks", {}).get(tracks, {})
    return {"git_commit": prov.get("git_commit", "unknown"), "config_sha256": prov.get("config_sha256", "unknown"),
            "flow_checkpoint": f.get("checkpoint"), "flow_checkpoint_sha256": f.get("checkpoint_sha256"),
            "flow_weights_random": f.get("weights_random"), "tracks_checkpoint": t.get("checkpoint"),
            "tracks_checkpoint_sha256": t.get("checkpoint_sha256"), "tracks_weights_random": t.get("weights_random"),
            "torch": prov.get("versions", {}).get("torch"), "opencv": prov.get("versions", {}).get("opencv")}
