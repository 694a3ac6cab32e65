"""``hummingbird`` command line: one module per subcommand in :mod:`hummingbird_jax.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func=handler`` with the handler taking the parsed ``argparse.Namespace``. Handlers import heavy
libraries lazily, so ``hummingbird --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from hummingbird_jax import commands


class CommandError(Exception):
    """Bad user input found at the edge: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hummingbird",
        description="Hummingbird text-to-video in JAX: generate, distil, curate data, benchmark, convert.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (CommandError, FileNotFoundError) as err:
        print(f"hummingbird {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
