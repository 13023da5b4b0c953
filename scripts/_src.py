"""Imported first by every rule script: puts the repository's ``src/`` on ``sys.path``.

Snakemake adds this folder to ``sys.path`` of local scripts, so ``import _src`` works; it makes ``motionseg``
importable in environments where the package is not installed (e.g. the per-rule conda envs of ``--use-conda``).
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)
