"""``run_tracks``: the entry point of the Snakemake ``tracks`` rule."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path

from motionseg.io.errors import ConfigError, InputError, Preempted
from motionseg.io.ingest_format import Ingested, load_ingested
from motionseg.io.resume import SigtermFlag, fingerprint
from motionseg.tracks.blocks import TrackBlocks
from motionseg.tracks.config import BACKENDS, COTRACKER_BACKENDS, FLOWCHAIN
from motionseg.tracks.flowchain import (
    ChainCheckpoint,
    ChainParams,
    FlowSetPairs,
    flowchain_blocks,
)
from motionseg.tracks.store import save_track_rows

PARTIAL_SUFFIX = ".partial"


def work_dir_for(out_path: str | Path) -> Path:
    """The resumable work dir of a track file: ``<dir>/.<name>.partial/`` (hidden; never read as a result)."""
    out_path = Path(out_path)
    return out_path.parent / f".{out_path.name}{PARTIAL_SUFFIX}"


def _check_length(frames_npz: str | Path, ing: Ingested, window: int) -> None:
    T = len(ing.frames)
    if T < window:
        raise InputError(
            frames_npz, f"sequence has {T} frames, shorter than the tracker window (tracks.window={window})"
        )


def _flow_pairs(flow_dir: str | Path, ing: Ingested, flow_loader: Callable | None) -> tuple[FlowSetPairs, dict]:
    """Open the flow directory as per-pair gap-1 flow and check it against the frames."""
    flow_dir = Path(flow_dir)
    if not flow_dir.is_dir():
        raise InputError(flow_dir, "flow directory does not exist")
    if flow_loader is None:
        from motionseg.flow import load_flow as flow_loader  # the flow stage's reader
    fs = flow_loader(flow_dir)
    if 1 not in set(getattr(fs, "gaps", [1])):
        raise InputError(flow_dir, f"flowchain needs gap-1 flow, directory has gaps {list(fs.gaps)}")
    T, h, w = ing.frames.shape[:3]
    names = getattr(fs, "names", None)
    if names and len(names) != T:
        raise InputError(flow_dir, f"flow is for {len(names)} frames but the frames file has {T}")
    pairs = FlowSetPairs(fs, T)
    if pairs.hw != (h, w):
        pairs.close()
        raise InputError(flow_dir, f"flow is {pairs.hw[0]}x{pairs.hw[1]} but the frames are {h}x{w}")
    return pairs, dict(getattr(fs, "meta", {}) or {})


def run_tracks(
    frames_npz: str | Path,
    flow_dir: str | Path | None,
    out_path: str | Path,
    tracks_cfg: dict,
    backend: str,
    flow_loader: Callable | None = None,
    progress: bool = True,
) -> None:
    """Track one sequence and write its track file atomically (see motionseg.tracks.store for the format).

    frames_npz: ingested frames (working resolution); flow_dir: the flow directory (flowchain) or None (CoTracker);
    tracks_cfg: the validated ``tracks`` config section; backend: ``flowchain`` or a CoTracker backend;
    flow_loader: reads a flow directory (default ``motionseg.flow.load_flow``). Positions are written in
    original-frame pixels. Bad input raises InputError naming the file; nothing is written then.

    Preemption (flowchain): SIGTERM saves the progress in :func:`work_dir_for` ``(out_path)`` and raises
    :class:`motionseg.io.errors.Preempted` (exit status 143); rerunning with the same inputs and settings resumes there
    and writes the same file as an uninterrupted run. The work dir is removed when the track file is written or the
    run fails with an error. (CoTracker backends are not checkpointed: SIGTERM ends them, the rerun starts over.)
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown tracks backend '{backend}' (known: {', '.join(BACKENDS)})")
    ing = load_ingested(frames_npz)
    window = int(tracks_cfg["window"])
    _check_length(frames_npz, ing, window)
    meta: dict = {
        "backend": backend,
        "grid_stride": int(tracks_cfg["grid_stride"]),
        "query_stride": int(tracks_cfg["query_stride"]),
        "window": window,
        "working_hw": list(ing.frames.shape[1:3]),
        "orig_hw": list(ing.orig_hw),
        "sequence": ing.manifest.get("sequence"),
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # the output is assembled in disk-backed blocks next to the result, so RAM stays flat in the clip length; for
    # flowchain the same work dir holds the checkpoint written on SIGTERM
    work = work_dir_for(out_path)
    resumable = backend == FLOWCHAIN
    # sha256 of the frames file, the flow directory (listing and meta.json) and the tracker settings
    run_id = fingerprint({"meta": meta, "cfg": tracks_cfg}, [frames_npz], [flow_dir]) if resumable else ""
    with SigtermFlag(resumable) as stop:
        checkpoint = ChainCheckpoint(work, run_id, stop) if resumable else None
        if checkpoint is None:
            shutil.rmtree(work, ignore_errors=True)
        try:
            work.mkdir(exist_ok=True)
            blocks = _track(ing, flow_dir, tracks_cfg, backend, meta, flow_loader, progress, str(work), checkpoint)
            save_track_rows(out_path, blocks.T, blocks.n, blocks.rows, blocks.query_frame, meta)
        except Preempted:
            raise  # keep the work dir: the rerun resumes from it
        except BaseException as exc:
            shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT) and not exc.filename:
                raise OSError(exc.errno, exc.strerror, str(out_path)) from exc  # name the output (full disk)
            raise
        shutil.rmtree(work, ignore_errors=True)


def _track(
    ing: Ingested,
    flow_dir: str | Path | None,
    tracks_cfg: dict,
    backend: str,
    meta: dict,
    flow_loader: Callable | None,
    progress: bool,
    workdir: str,
    checkpoint: ChainCheckpoint | None = None,
) -> TrackBlocks:
    """Run the tracker ``backend``; fills ``meta`` in place and returns the output blocks."""
    if backend == FLOWCHAIN:
        if flow_dir is None:
            raise ValueError("flowchain needs a flow directory")
        pairs, flow_meta = _flow_pairs(flow_dir, ing, flow_loader)
        params = ChainParams(
            grid_stride=meta["grid_stride"],
            query_stride=meta["query_stride"],
            fb_alpha=float(tracks_cfg["fb_alpha"]),
            fb_beta=float(tracks_cfg["fb_beta"]),
            mb_alpha=None if tracks_cfg["mb_alpha"] is None else float(tracks_cfg["mb_alpha"]),
            mb_beta=None if tracks_cfg["mb_beta"] is None else float(tracks_cfg["mb_beta"]),
        )
        with pairs:
            blocks = flowchain_blocks(pairs, params, ing.scale_xy, workdir, progress=progress, checkpoint=checkpoint)
        meta.update(
            flow_backend=flow_meta.get("backend"),
            flow_dir=str(flow_dir),
            fb_alpha=params.fb_alpha,
            fb_beta=params.fb_beta,
            mb_alpha=params.mb_alpha,
            mb_beta=params.mb_beta,
            checkpoint=None,
            checkpoint_sha256=None,
            passes=2,
        )
    else:
        blocks, meta_ct = _run_cotracker(ing, tracks_cfg, backend, progress, workdir)
        meta.update(meta_ct)
    return blocks


def _run_cotracker(ing: Ingested, cfg: dict, backend: str, progress: bool, workdir: str) -> tuple[TrackBlocks, dict]:
    """Run a CoTracker backend on the ingested frames; returns the output blocks and meta entries."""
    from motionseg.device import select_device
    from motionseg.tracks.cotracker import (  # imports torch
        cotracker_blocks,
        load_predictor,
        sha256_file,
    )

    ckpt = cfg.get("checkpoint")
    if not ckpt:
        raise ConfigError("tracks.checkpoint", f"backend {backend} needs a local checkpoint file")
    expected = cfg.get("checkpoint_sha256")
    device = select_device(str(cfg.get("device") or "auto"))
    predictor = load_predictor(backend, ckpt, cfg.get("cotracker_repo"), device)
    digest = sha256_file(ckpt)
    if expected and digest != expected.lower():
        raise InputError(ckpt, f"sha256 {digest} differs from tracks.checkpoint_sha256 {expected}")
    blocks, passes = cotracker_blocks(
        predictor,
        ing.frames,
        online=COTRACKER_BACKENDS[backend].online,
        grid_stride=int(cfg["grid_stride"]),
        query_stride=int(cfg["query_stride"]),
        window=int(cfg["window"]),
        scale_xy=ing.scale_xy,
        device=device,
        progress=progress,
        workdir=workdir,
    )
    meta = {
        "checkpoint": str(Path(ckpt).resolve()),
        "checkpoint_sha256": digest,
        "cotracker_repo": cfg.get("cotracker_repo"),
        "device": str(device),
        "flow_backend": None,
        "passes": passes,
    }
    return blocks, meta
