"""Per-device memory of one training step (XLA memory analysis, compile only): the same as
``hummingbird bench memory`` (the suite is :mod:`hummingbird_jax.benchmarking.train_memory`)::

    python -m benchmarks.train_memory stage2_turbo --remat none full
"""

import sys

from hummingbird_jax import cli

if __name__ == "__main__":
    sys.exit(cli.main(["bench", "memory", *sys.argv[1:]]))
