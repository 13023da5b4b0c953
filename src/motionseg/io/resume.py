"""What resumable jobs (training, flowchain tracking) share: a fingerprint of a run, so that a work dir left by
another run is never resumed, and a SIGTERM flag, so that a preempted job checkpoints and exits cleanly."""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any


def fingerprint(settings: Any, files: Sequence[str | Path] = (), dirs: Sequence[str | Path | None] = ()) -> str:
    """sha256 (64 hex chars) of a run: the bytes of every file in ``files``, the listing (relative path and size in
    bytes of every file) and the ``meta.json`` of every directory in ``dirs`` (None or missing ones skipped), then
    ``settings`` as JSON with sorted keys (values JSON cannot hold are written with ``str``)."""
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    for d in dirs:
        if d is None or not Path(d).is_dir():
            continue
        for f in sorted(Path(d).rglob("*")):
            if f.is_file():
                h.update(f"{f.relative_to(d)}:{f.stat().st_size}".encode())
        meta_json = Path(d) / "meta.json"
        if meta_json.is_file():
            h.update(meta_json.read_bytes())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


class SigtermFlag:
    """A poll that turns True once SIGTERM arrived: ``with SigtermFlag() as stop: ... if stop(): checkpoint``.

    The handler is installed on entering (or by :meth:`install`) in the main thread only (Python allows signal
    handlers nowhere else; elsewhere the poll stays False) and the previous handler is restored on leaving (or by
    :meth:`restore`). ``enabled=False`` installs nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.stopped = False
        self._old: Any = None
        self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True

    def install(self) -> SigtermFlag:
        """Install the handler (once); returns self."""
        if self.enabled and not self._installed and threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._on_sigterm)
            self._installed = True
        return self

    def restore(self) -> None:
        """Put the previous SIGTERM handler back (no-op when none was installed)."""
        if self._installed:
            signal.signal(signal.SIGTERM, self._old)
            self._installed = False

    def __call__(self) -> bool:
        return self.stopped

    def __enter__(self) -> SigtermFlag:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()
