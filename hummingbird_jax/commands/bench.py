"""``hummingbird bench``: the benchmark suites of ``benchmarks/`` (results as JSON + Markdown).

Each suite is a sub-subcommand; the measuring code lives in the repository's ``benchmarks/`` folder
(next to its results), which is importable from a source checkout.
"""

from __future__ import annotations

import importlib
import os
import sys

from hummingbird_jax.cli import CommandError


def _benchmark_module(name: str):
    """``benchmarks.<name>``, from the checkout this package was installed from when not on the path."""
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as err:
        if err.name not in ("benchmarks", f"benchmarks.{name}"):
            raise
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "benchmarks", f"{name}.py")):
        raise CommandError(f"benchmarks/{name}.py not found: the benchmark suites run from a source checkout")
    sys.path.insert(0, root)
    return importlib.import_module(f"benchmarks.{name}")


def _add_latency_arguments(parser) -> None:
    """The latency suite's options, defined in ``benchmarks/latency.py`` (imports no heavy libraries).
    Without a checkout the suite is listed but says where it lives when run."""
    try:
        _benchmark_module("latency").add_arguments(parser)
    except CommandError:
        pass


def memory(args) -> int:
    module = _benchmark_module("train_memory")
    try:
        module.run(args)
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise CommandError(str(err).strip("'\"")) from None
    return 0


def latency(args) -> int:
    module = _benchmark_module("latency")
    try:
        module.run(args)
    except module.BenchmarkError as err:
        raise CommandError(str(err)) from None
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks: latency, memory (results in benchmarks/results/)")
    suites = p.add_subparsers(dest="suite", metavar="SUITE")
    suites.required = True

    lat = suites.add_parser(
        "latency", help="load/compile/text/U-Net step/VAE/end-to-end latency, FLOPs and memory of generation",
        description="Latency of text-to-video generation stage by stage (benchmarks/latency.py).")
    _add_latency_arguments(lat)
    lat.set_defaults(func=latency)

    mem = suites.add_parser(
        "memory", help="per-device memory of a training step (XLA memory analysis, compile only)",
        description="AOT-compiles an experiment's training step on abstract inputs (benchmarks/train_memory.py).")
    try:
        _benchmark_module("train_memory").add_arguments(mem)
    except CommandError:
        pass
    mem.set_defaults(func=memory)
