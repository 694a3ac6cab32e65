"""What the machine offers that decides the fastest defaults: the JAX backend, the CPU's matrix-multiply
instruction sets, and from them the compute dtype that ``--dtype auto`` stands for."""

from __future__ import annotations

import functools

import jax

# Instruction-set flags (``/proc/cpuinfo``) that matter for matrix products, x86 and Arm.
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
                "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "bf16")
# Flags of CPUs that multiply bfloat16 natively (AVX-512 BF16 dot products, AMX tiles, Arm BF16). On such
# a CPU the bf16 U-Net is the faster one: hb-0.7b at 16×320×512 on a 2-core AMD EPYC with avx512_bf16,
# bf16 37.7 s per U-Net step against PyTorch's 57.0 s (bf16 autocast) and 85.7 s (float32), README.
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16")
DTYPES = ("float32", "bfloat16")  # the compute dtypes of the models
DTYPE_CHOICES = ("auto", *DTYPES)
AUTO_DTYPE_HELP = ("auto: bfloat16 on GPUs and TPUs and on CPUs with native bf16 matrix instructions "
                   "(avx512_bf16, AMX, Arm BF16), float32 on other CPUs")


@functools.lru_cache(maxsize=None)
def backend_kind() -> str:
    """``'cpu'``, ``'cuda'``, ``'rocm'`` or ``'tpu'`` for the default JAX backend."""
    device = jax.devices()[0]
    if device.platform == "gpu":
        version = getattr(device.client, "platform_version", "").lower()
        return "rocm" if "rocm" in version or "hip" in version else "cuda"
    return device.platform


@functools.lru_cache(maxsize=None)
def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The :data:`CPU_FEATURES` this CPU has, read from ``cpuinfo`` (Linux's; empty where there is none)."""
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    present = set(line.split(":", 1)[1].split())
                    return tuple(f for f in CPU_FEATURES if f in present)
    except OSError:
        pass
    return ()


def fastest_dtype() -> str:
    """The compute dtype ``auto`` stands for on the default JAX backend (see :data:`AUTO_DTYPE_HELP`)."""
    if backend_kind() != "cpu":
        return "bfloat16"
    return "bfloat16" if set(NATIVE_BF16) & set(cpu_features()) else "float32"


def resolve_dtype(name: str) -> str:
    """``'auto'`` → :func:`fastest_dtype`; an explicit dtype name is kept."""
    return fastest_dtype() if name == "auto" else name
