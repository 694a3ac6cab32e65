"""GFLOP/s of the U-Net's dominant CPU kernels under several XLA CPU option sets, in float32 and bfloat16,
beside PyTorch; the benchmark is :mod:`hummingbird_jax.benchmarking.cpu_kernels`::

    python -m benchmarks.cpu_kernels --quick
    python -m benchmarks.cpu_kernels --kernels dense,conv3x3 --flags= --flags=--xla_cpu_use_onednn=true
"""

from hummingbird_jax.benchmarking import cpu_kernels

if __name__ == "__main__":
    cpu_kernels.main()
