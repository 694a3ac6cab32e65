"""The benchmark suites ``hummingbird bench`` runs (``latency``, ``memory``), the U-Net forward they
compare against the official code, the official PyTorch modules imported from a checkout (``official``)
and the whole generation run through them (``torch_reference``), the GFLOP/s of the U-Net's dominant CPU
kernels under XLA CPU option sets (``cpu_kernels``), and the results writer every benchmark shares
(``report``).

The scripts in the repository's ``benchmarks/`` folder are entry points onto these modules; their
results go to ``benchmarks/results/``.
"""
