"""Latency of text-to-video generation stage by stage: the same as ``hummingbird bench latency`` (the
suite is :mod:`hummingbird_jax.benchmarking.latency`)::

    python -m benchmarks.latency --model tiny-0.7b --random-init --frames 2 --height 64 --width 64
"""

import sys

from hummingbird_jax import cli

if __name__ == "__main__":
    sys.exit(cli.main(["bench", "latency", *sys.argv[1:]]))
