"""The U-Net's and VAE's matmuls and convolutions sum in float32: the same numbers as XLA's own ops in
float32, and bfloat16 results within bf16 rounding of them (the matrix-product convolution included)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from hummingbird_jax.models.layers import conv_as_matmuls, conv_float32_sums, dot_general_float32_sums


def _reference_conv(x, w, strides=None):
    spec = ("NHWC", "HWIO", "NHWC") if x.ndim == 4 else ("NDHWC", "DHWIO", "NDHWC")
    numbers = lax.conv_dimension_numbers(x.shape, w.shape, spec)
    padding = [(k // 2, k // 2) for k in w.shape[:-2]]
    return lax.conv_general_dilated(x, w, strides or (1,) * (x.ndim - 2), padding, dimension_numbers=numbers,
                                    precision=lax.Precision.HIGHEST), numbers, padding


@pytest.mark.parametrize("x_shape, w_shape", [((2, 6, 8, 16), (3, 3, 16, 24)),  # the 3×3 convolutions
                                              ((1, 5, 4, 6, 16), (3, 1, 1, 16, 8)),  # the temporal ones
                                              ((2, 7, 5, 8), (5, 3, 8, 4))])  # other odd kernels
def test_convolution_as_matrix_products_equals_xla_convolution(x_shape, w_shape):
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x, w = jax.random.normal(kx, x_shape), jax.random.normal(kw, w_shape)
    want, numbers, padding = _reference_conv(x, w)
    got = conv_as_matmuls(x, w)
    assert got.dtype == jnp.float32 and got.shape == want.shape
    assert float(jnp.max(jnp.abs(got - want)) / jnp.max(jnp.abs(want))) < 1e-5
    half = conv_float32_sums(x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), (1,) * (x.ndim - 2), padding,
                             dimension_numbers=numbers)
    assert half.dtype == jnp.bfloat16
    # bf16 inputs carry ~2^-9 relative rounding each; summed in float32 the error stays at that level.
    assert float(jnp.max(jnp.abs(half.astype(jnp.float32) - want)) / jnp.max(jnp.abs(want))) < 1.5e-2


def test_strided_and_float32_convolutions_keep_xla_convolution():
    x = jax.random.normal(jax.random.PRNGKey(1), (1, 8, 8, 4))
    w = jax.random.normal(jax.random.PRNGKey(2), (3, 3, 4, 4))
    for strides in ((1, 1), (2, 2)):
        want, numbers, padding = _reference_conv(x, w, strides)
        got = conv_float32_sums(x, w, strides, padding, dimension_numbers=numbers, precision=lax.Precision.HIGHEST)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_dot_general_returns_the_input_dtype():
    a = jax.random.normal(jax.random.PRNGKey(3), (4, 32), jnp.bfloat16)
    b = jax.random.normal(jax.random.PRNGKey(4), (32, 8), jnp.bfloat16)
    out = dot_general_float32_sums(a, b, (((1,), (0,)), ((), ())))
    want = np.asarray(a, np.float32) @ np.asarray(b, np.float32)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32), want, rtol=1e-2, atol=1e-2 * np.abs(want).max())
