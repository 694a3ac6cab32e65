"""Latency of text-to-video generation stage by stage: the same as ``hummingbird bench latency`` (the
suite is :mod:`hummingbird_jax.benchmarking.latency`)::

    python -m benchmarks.latency --model tiny-0.7b --random-init --frames 2 --height 64 --width 64
"""

from hummingbird_jax.benchmarking import latency

if __name__ == "__main__":
    latency.main()
