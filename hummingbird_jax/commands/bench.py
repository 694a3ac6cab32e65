"""``hummingbird bench``: the benchmark suites of :mod:`hummingbird_jax.benchmarking` (results as JSON +
Markdown, by default in ``benchmarks/results/`` under the current directory).

Each suite is a sub-subcommand; its options and measuring code live in the suite's module.
"""

from __future__ import annotations

from hummingbird_jax.benchmarking import latency as latency_suite
from hummingbird_jax.benchmarking import train_memory as memory_suite
from hummingbird_jax.errors import CommandError


def memory(args) -> int:
    try:
        memory_suite.run(args)
    except memory_suite.INPUT_ERRORS as err:
        raise CommandError(memory_suite.input_error_message(err)) from None
    return 0


def latency(args) -> int:
    try:
        latency_suite.run(args)
    except latency_suite.BenchmarkError as err:
        raise CommandError(str(err)) from None
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks: latency, memory (results in benchmarks/results/)")
    suites = p.add_subparsers(dest="suite", metavar="SUITE")
    suites.required = True

    lat = suites.add_parser(
        "latency", help="load/compile/text/U-Net step/VAE/end-to-end latency, FLOPs and memory of generation",
        description="Latency of text-to-video generation stage by stage (hummingbird_jax/benchmarking/latency.py).")
    latency_suite.add_arguments(lat)
    lat.set_defaults(func=latency)

    mem = suites.add_parser(
        "memory", help="per-device memory of a training step (XLA memory analysis, compile only)",
        description="AOT-compiles an experiment's training step on abstract inputs "
                    "(hummingbird_jax/benchmarking/train_memory.py).")
    memory_suite.add_arguments(mem)
    mem.set_defaults(func=memory)
