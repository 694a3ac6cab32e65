"""U-Net forward: compile time, step time, GFLOP/s, optionally against the official PyTorch module; the
benchmark is :mod:`hummingbird_jax.benchmarking.unet_forward`::

    python -m benchmarks.unet_forward --model hb-0.7b
    python -m benchmarks.unet_forward --torch-reference /path/to/AMD-Hummingbird-T2V/acceleration/t2v-turbo
"""

from hummingbird_jax.benchmarking import unet_forward

if __name__ == "__main__":
    unet_forward.main()
