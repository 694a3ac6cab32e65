"""Per-device memory of one training step (XLA memory analysis, compile only): the same as
``hummingbird bench memory`` (the suite is :mod:`hummingbird_jax.benchmarking.train_memory`)::

    python -m benchmarks.train_memory stage2_turbo --remat none full
"""

from hummingbird_jax.benchmarking import train_memory

if __name__ == "__main__":
    train_memory.main()
