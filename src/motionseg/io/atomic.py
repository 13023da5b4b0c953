"""Atomic file and directory outputs.

Every output is written under a temporary name in the same directory and renamed into place only once it is
complete, so a killed job never leaves a file that Snakemake or a reader could take for finished. A full disk (or
quota) raises ``OSError(ENOSPC/EDQUOT)`` naming the output path, after the temporary is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _reraise_naming(exc: BaseException, path: Path) -> None:
    """Re-raise a no-space OSError that names no file as one that names ``path``; other exceptions are left alone."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE and not exc.filename:
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc


def _remove_stale(folder: Path, pattern: str) -> None:
    """Remove temporaries of the same output left by a killed earlier attempt (SIGKILL allows no clean-up).

    A job is the only writer of its outputs, so a temporary of the same name when it starts is stale.
    """
    for stale in folder.glob(pattern):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (read by setting it and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the suffix of ``path`` (so ``np.savez`` and image writers pick the right format). On an
    exception the temporary file is removed and nothing appears at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, f".{path.stem}.*.tmp{path.suffix}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        _reraise_naming(exc, path)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` when the block succeeds.

    An existing directory at ``path`` is replaced only after the new one is complete. On an exception the temporary
    directory is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path.parent, f".{path.name}.*.tmpdir")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmpdir", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)  # put the previous complete output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _reraise_naming(exc, path)
        raise
