"""Errors raised for bad input (always naming the offending file or config key), and the preemption exit."""

from __future__ import annotations

import signal
from pathlib import Path

PREEMPT_EXIT_CODE = 128 + signal.SIGTERM  # 143, what a shell reports for a job ended by SIGTERM


class InputError(ValueError):
    """Bad input data. ``str(err)`` is ``"<path>: <problem>"`` so a log line names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(ValueError):
    """Bad configuration. ``str(err)`` is ``"config key '<key>': <problem>"``."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")


class Preempted(SystemExit):
    """Raised by a ``run_*`` function after it saved its progress in response to SIGTERM (exit status 143).

    A SystemExit, so generic ``except Exception`` handlers let it through and the process exits with
    :data:`PREEMPT_EXIT_CODE`; rerunning the same job resumes from the saved progress.
    """

    def __init__(self, code: int = PREEMPT_EXIT_CODE) -> None:
        super().__init__(code)
