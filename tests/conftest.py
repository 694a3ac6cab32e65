"""Shared test setup: where the reference fixtures live, and small helpers to read them."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from hummingbird_jax.benchmarking.report import relative_error  # the fixtures' parity measure
from hummingbird_jax.convert.rules import ConversionError

# Test models are tiny, so XLA compile time dominates the suite: cheaper CPU code generation cuts it by
# about a quarter without changing results beyond float rounding (set XLA_FLAGS to override).
FAST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ.setdefault("XLA_FLAGS", FAST_XLA_FLAGS)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = pathlib.Path(os.environ.get("HUMMINGBIRD_REFERENCE", REPO_ROOT.parent / "shared" / "reference"))


def assert_close_to_range(got, want, rel: float = 1e-4) -> None:
    """The reference README's criterion: same shape and ``max|got − want| ≤ rel · max|want|``."""
    assert np.shape(got) == np.shape(want), f"shape {np.shape(got)} != {np.shape(want)}"
    err = relative_error(got, want)
    assert err <= rel, f"max|Δ|/max|ref| = {err:.2e} > {rel:.0e}"


def conversion_error(convert, *args, **kwargs) -> str:
    """The message of the one ``ConversionError`` that ``convert(*args, **kwargs)`` must raise (converters
    list every problem of a checkpoint at once)."""
    with pytest.raises(ConversionError) as info:
        convert(*args, **kwargs)
    return str(info.value)


def read_manifest(name: str) -> dict[str, tuple[int, ...]]:
    """``keys_*.tsv`` as ``{key: shape}``."""
    out = {}
    for line in (REFERENCE / name).read_text().splitlines():
        key, shape = line.split("\t")
        out[key] = tuple(int(s) for s in shape.split(",")) if shape else ()
    return out


@pytest.fixture(scope="session")
def reference_dir() -> pathlib.Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference fixtures not found at {REFERENCE} (set HUMMINGBIRD_REFERENCE)")
    return REFERENCE
