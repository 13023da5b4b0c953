"""The ``motionseg`` command line: ``motionseg <command> --help``.

Each subpackage that offers a command has a ``cli.py`` with ``register(subparsers)``; this module only collects them,
importing lazily so that ``motionseg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module with ``register(subparsers)`` adding exactly that command
COMMANDS: dict[str, str] = {
    "synth": "motionseg.synth.cli",
    "evaluate": "motionseg.metrics.cli",
    "flow-eval": "motionseg.flow.cli",
    "segment": "motionseg.segment.cli",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser (all commands, or only ``only`` to avoid importing the others)."""
    parser = argparse.ArgumentParser(prog="motionseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"see 'motionseg {name} --help'")
            continue
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the chosen command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    from motionseg.io.errors import ConfigError, InputError

    try:
        return int(args.func(args) or 0)
    except (InputError, ConfigError) as exc:
        print(f"motionseg {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
