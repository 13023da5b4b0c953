"""Errors raised for bad input: always name the offending file or config key."""

from __future__ import annotations

from pathlib import Path


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
