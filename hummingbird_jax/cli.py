"""``hummingbird`` command line: one module per subcommand in :mod:`hummingbird_jax.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func=handler`` with the handler taking the parsed ``argparse.Namespace``. Command modules import
the library (and with it JAX) at their top. The packages whose modules pull in Grain and Orbax
(``training``, ``toy_world``, ``data``) resolve their public names on first use, so commands import
those facades at the top too and ``hummingbird --help`` loads neither Grain nor Orbax. The optional
extras (torch, transformers, Ray) are imported only where they are used, so ``--help`` imports none
of them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback

from hummingbird_jax import commands
from hummingbird_jax.errors import Interrupted, UserError

DEBUG_ENV = "HUMMINGBIRD_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hummingbird",
        description="Hummingbird text-to-video in JAX: generate, distil, curate data, benchmark, convert.",
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"show the traceback of an error instead of one line (or set {DEBUG_ENV}=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(subparsers)
    parser.epilog = "every command: " + "; ".join(_command_paths(subparsers)) + " (COMMAND --help for details)"
    return parser


def _command_paths(subparsers) -> list[str]:
    """``bench latency|memory``-style lines, read off the parsers so none is forgotten."""
    lines = []
    for name, sub in subparsers.choices.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        lines.append(f"{name} {'|'.join(nested[0].choices)}" if nested else name)
    return lines


def main(argv: list[str] | None = None) -> int:
    """The one error boundary: user errors become one line and exit code 2, a clean stop after
    SIGINT/SIGTERM exits 128 + signal; ``--debug`` (or ``HUMMINGBIRD_DEBUG=1``) adds the traceback."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        result = args.func(args)
    except (UserError, FileNotFoundError) as err:
        _report(args, "error: " + str(err).strip("'\""), debug)  # KeyError quotes its message
        return 2
    except Interrupted as stop:
        _report(args, str(stop), debug)
        return stop.exit_code
    except KeyboardInterrupt:
        _report(args, "interrupted (Ctrl-C)", debug)
        # Ctrl-C may land while XLA threads still work (compiling, dispatching); tearing the
        # interpreter down under them can crash, so leave without teardown once output is flushed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return int(result or 0)


def _report(args, line: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"hummingbird {args.command}: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
