"""The flow directory of one sequence (docs/architecture.md, "Flow directory").

Layout of ``results/{dataset}/flow/{flow}/{sequence}/``:

- ``meta.json``: backend, checkpoint (+ sha256), random_weights, working_hw, compute_hw, gaps, storage, names, ...
- storage ``npz``: ``flow.npz`` with one float16 [h, w, 2] array per field, ``forward_g{g}_{t:06d}`` (flow t -> t+g)
  and ``backward_g{g}_{i:06d}`` (flow i+g -> i), zip-deflated.
- storage ``flo``: MotionGrouping layout: ``Flows_gap{g}/{names[t]}.flo`` is the flow t -> t+g and
  ``Flows_gap-{g}/{names[t+g]}.flo`` the flow t+g -> t (Middlebury ``.flo``, float32).
- ``flow_vis.png``: frames (top row) and their colour-coded forward flow (bottom row) for a few frames.

``backward(g)[i]`` is the flow from frame i+g back to frame i, so ``forward(g)[i]`` and ``backward(g)[i]`` relate the
same two frames.
"""

from __future__ import annotations

import json
import queue
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionseg.flow.flo import read_flo, write_flo
from motionseg.io.errors import InputError

STORAGES = ("npz", "flo")
NPZ_NAME = "flow.npz"
META_NAME = "meta.json"
VIS_NAME = "flow_vis.png"
# zlib level of flow.npz: level 1 is ~3x faster than numpy's default for a few % larger files
NPZ_COMPRESS_LEVEL = 1


def npz_key(direction: str, gap: int, index: int) -> str:
    """Array name in flow.npz of element ``index`` of ``forward(gap)`` / ``backward(gap)``."""
    return f"{direction}_g{gap}_{index:06d}"


def flo_path(root: Path, direction: str, gap: int, names: list[str], index: int) -> Path:
    """MG-layout ``.flo`` path of element ``index`` of ``forward(gap)`` / ``backward(gap)``."""
    if direction == "forward":
        return root / f"Flows_gap{gap}" / f"{names[index]}.flo"
    return root / f"Flows_gap-{gap}" / f"{names[index + gap]}.flo"


class FlowWriter:
    """Writes flow fields into a (temporary) flow directory in the chosen storage, on a background thread.

    :meth:`put` hands a field to the writer thread (a bounded queue keeps memory flat), which converts, compresses
    (zlib releases the GIL) and writes it while the caller computes the next batch; :meth:`finish` waits for it,
    re-raises its error if any, and writes meta.json. Use as a context manager so the thread always stops.
    """

    def __init__(
        self, root: Path, storage: str, names: list[str], gaps: list[int], hw: tuple[int, int], queue_size: int = 16
    ) -> None:
        if storage not in STORAGES:
            raise ValueError(f"unknown flow storage '{storage}' (use {', '.join(STORAGES)})")
        self.root, self.storage, self.names, self.gaps, self.hw = Path(root), storage, list(names), list(gaps), hw
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._zip = None
        if storage == "npz":
            self._zip = zipfile.ZipFile(
                self.root / NPZ_NAME, "w", zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESS_LEVEL, allowZip64=True
            )
        self._thread = threading.Thread(target=self._work, name="flow-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> FlowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain after a failure
            try:
                self._write(*item)
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc

    def _write(self, direction: str, gap: int, index: int, flow: np.ndarray) -> None:
        if self.storage == "npz":
            with self._zip.open(f"{npz_key(direction, gap, index)}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(flow, dtype=np.float16), allow_pickle=False)
        else:
            write_flo(flo_path(self.root, direction, gap, self.names, index), flow)

    def put(self, direction: str, gap: int, index: int, flow: np.ndarray) -> None:
        """Queue element ``index`` of ``forward(gap)`` or ``backward(gap)``: float [h, w, 2] in px."""
        if self._error is not None:
            raise self._error
        if flow.shape != (*self.hw, 2):
            raise ValueError(f"flow field has shape {flow.shape}, expected {(*self.hw, 2)}")
        self._queue.put((direction, gap, index, flow))

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def finish(self, meta: dict) -> None:
        """Wait for all queued fields to be written, then write meta.json."""
        self._stop()
        if self._error is not None:
            raise self._error
        (self.root / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True))


@dataclass
class FlowSet:
    """Flow of one sequence at working resolution, read lazily from a flow directory.

    ``forward(g)``: float32 [T-g, h, w, 2], element t = flow t -> t+g. ``backward(g)``: float32 [T-g, h, w, 2],
    element i = flow i+g -> i. Vectors in working-resolution pixels.
    """

    path: Path
    meta: dict
    names: list[str] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)

    @property
    def hw(self) -> tuple[int, int]:
        """Working (h, w) of the flow fields."""
        h, w = self.meta["working_hw"]
        return int(h), int(w)

    def forward(self, gap: int) -> np.ndarray:
        """Forward flow of ``gap``: float32 [T-gap, h, w, 2]."""
        return self._read("forward", gap)

    def backward(self, gap: int) -> np.ndarray:
        """Backward flow of ``gap``: float32 [T-gap, h, w, 2], element i maps frame i+gap to frame i."""
        return self._read("backward", gap)

    def _read(self, direction: str, gap: int) -> np.ndarray:
        if gap not in self.gaps:
            raise InputError(self.path, f"no flow for gap {gap} (gaps here: {self.gaps})")
        n = len(self.names) - gap
        if self.meta["storage"] == "npz":
            npz = self.path / NPZ_NAME
            try:
                with np.load(npz, allow_pickle=False) as z:
                    arr = np.stack([z[npz_key(direction, gap, i)] for i in range(n)])
            except FileNotFoundError:
                raise InputError(npz, "flow archive missing") from None
            except Exception as exc:
                raise InputError(npz, f"unreadable flow archive ({exc})") from exc
        else:
            arr = np.stack([read_flo(flo_path(self.path, direction, gap, self.names, i)) for i in range(n)])
        if arr.shape != (n, *self.hw, 2):
            raise InputError(
                self.path, f"{direction} gap {gap} flow has shape {arr.shape}, expected {(n, *self.hw, 2)}"
            )
        return arr.astype(np.float32)


def load_flow(flow_dir: str | Path) -> FlowSet:
    """Open a flow directory written by :func:`motionseg.flow.run_flow` (either storage)."""
    flow_dir = Path(flow_dir)
    meta_path = flow_dir / META_NAME
    if not flow_dir.is_dir():
        raise InputError(flow_dir, "flow directory does not exist")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise InputError(meta_path, "flow directory has no meta.json") from None
    except json.JSONDecodeError as exc:
        raise InputError(meta_path, f"invalid JSON ({exc})") from None
    for key in ("storage", "names", "gaps", "working_hw"):
        if key not in meta:
            raise InputError(meta_path, f"missing key '{key}'")
    if meta["storage"] not in STORAGES:
        raise InputError(meta_path, f"unknown storage '{meta['storage']}'")
    return FlowSet(path=flow_dir, meta=meta, names=list(meta["names"]), gaps=[int(g) for g in meta["gaps"]])
