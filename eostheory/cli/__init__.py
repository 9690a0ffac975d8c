"""Command-line interface: ``eostheory COMMAND [options]`` (also ``python -m eostheory``).

Each command lives in a module ``eostheory/cli/_cmd_<name>.py`` exposing ``NAME``,
``HELP``, ``add_arguments(parser)`` and ``execute(args) -> int``; they are discovered
automatically.  Bad input (:class:`~eostheory.EosInputError`) prints one line and exits 2,
and so does a file that cannot be written or read (an :class:`OSError` naming a file).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from eostheory._errors import EosInputError

__all__ = ["build_parser", "main"]


def _commands() -> list:
    import eostheory.cli as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_cmd_"):
            mods.append(importlib.import_module(f"{pkg.__name__}.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered command."""
    from eostheory._version import __version__

    parser = argparse.ArgumentParser(
        prog="eostheory",
        description="eostheory: derive, compile and check models of gradient descent at the edge of stability.",
    )
    parser.add_argument("--version", action="version", version=f"eostheory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_execute=mod.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eostheory`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_execute", None):
        parser.print_help()
        return 2
    try:
        return int(args._execute(args) or 0)
    except EosInputError as exc:
        print(f"eostheory {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `eostheory thresholds gd | head -3`
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file that cannot be written or read (disk full, permissions changed meanwhile)
        if exc.filename is None:
            raise
        print(f"eostheory {args.command}: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
