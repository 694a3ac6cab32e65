"""``--dtype auto``: bfloat16 exactly where the backend is an accelerator or the CPU multiplies bf16 natively."""

from __future__ import annotations

from hummingbird_jax import hardware
from hummingbird_jax.hardware import backend_kind


def test_auto_dtype_follows_the_cpus_bf16_instructions():
    features = hardware.cpu_features()
    assert set(features) <= set(hardware.CPU_FEATURES)
    native = bool(set(hardware.NATIVE_BF16) & set(features))
    want = "bfloat16" if backend_kind() != "cpu" or native else "float32"
    assert hardware.resolve_dtype("auto") == hardware.fastest_dtype() == want
    assert hardware.resolve_dtype("float32") == "float32" and hardware.resolve_dtype("bfloat16") == "bfloat16"


def test_cpu_features_read_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma avx512f avx512_bf16 amx_tile\n", encoding="utf-8")
    assert hardware.cpu_features(str(info)) == ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
    assert hardware.cpu_features(str(tmp_path / "missing")) == ()
