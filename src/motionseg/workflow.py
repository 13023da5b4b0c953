"""Glue between Snakemake rule scripts and the package: logging, clear one-line errors, exit codes.

A rule script is three lines: ``from motionseg.workflow import run_step``, then
``run_step(snakemake, some_run_function, arg1, ..., key=value)``.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from motionseg.io.errors import PREEMPT_EXIT_CODE, ConfigError, InputError, Preempted

__all__ = ["PREEMPT_EXIT_CODE", "Preempted", "run_step"]


def run_step(smk: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``func(*args, **kwargs)`` for a Snakemake job, with stderr (tqdm bars, logging) sent to ``smk.log[0]``.

    On success the log ends with a one-line summary (rule, wildcards, seconds). On failure the traceback goes to the
    log, a one-line ``motionseg: ERROR ...`` naming the file or config key goes to the job's original stderr, and the
    process exits with status 1 (outputs were written atomically, so nothing partial is left). A function preempted
    by SIGTERM (it raises :class:`Preempted` or another SystemExit with status 143 after checkpointing) gets a
    one-line ``motionseg: PREEMPTED ...`` and the process exits with status 143.
    """
    real_stderr = sys.stderr
    log_path = smk.log[0] if len(smk.log) else None
    log_fh = open(log_path, "w", buffering=1) if log_path else real_stderr  # noqa: SIM115 - closed below
    sys.stderr = log_fh
    logging.basicConfig(stream=log_fh, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    wc = ", ".join(f"{k}={v}" for k, v in dict(smk.wildcards).items())
    t0 = time.perf_counter()
    try:
        func(*args, **kwargs)
    except SystemExit as exc:
        if exc.code == PREEMPT_EXIT_CODE:
            msg = f"motionseg: PREEMPTED rule {smk.rule} ({wc}) by SIGTERM: progress saved, rerun to resume"
            print(msg, file=log_fh)
            print(msg, file=real_stderr)
        raise
    except (InputError, ConfigError) as exc:
        traceback.print_exc(file=log_fh)
        msg = f"motionseg: ERROR in rule {smk.rule} ({wc}): {exc}"
        print(msg, file=log_fh)
        print(msg, file=real_stderr)
        sys.exit(1)
    except Exception as exc:
        traceback.print_exc(file=log_fh)
        msg = f"motionseg: ERROR in rule {smk.rule} ({wc}): {type(exc).__name__}: {exc} (traceback in {log_path})"
        print(msg, file=log_fh)
        print(msg, file=real_stderr)
        sys.exit(1)
    finally:
        sys.stderr = real_stderr
    print(f"motionseg: done rule {smk.rule} ({wc}) in {time.perf_counter() - t0:.1f} s", file=log_fh)
    if log_fh is not real_stderr:
        log_fh.close()
