"""Small building blocks shared by the U-Net parts: normalisation in fp32 and layers that carry
logical axis names, so a training mesh can shard every parameter by name.

Logical axes used: ``in`` / ``out`` for the feature dimensions of kernels, ``kernel`` for spatial and
temporal kernel taps, ``norm`` for norm scales/biases. The training code maps them to mesh axes.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

Dtype = Any


class Layer(nn.Module, kw_only=True):
    """Base of the U-Net parts: the compute and parameter dtypes every one of them carries, given by
    keyword (subclasses declare their own fields positionally)."""

    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def dtypes(self) -> dict:
        """The dtype fields as keywords, for the layers this one builds."""
        return dict(dtype=self.dtype, param_dtype=self.param_dtype)


class RegularisedLayer(Layer, kw_only=True):
    """A :class:`Layer` with dropout, active only when ``deterministic`` is False."""

    dropout: float = 0.0
    deterministic: bool = True

    def regularised(self) -> dict:
        """:meth:`dtypes` plus the dropout fields."""
        return dict(self.dtypes(), dropout=self.dropout, deterministic=self.deterministic)


def _init(init, axes):
    return nn.with_logical_partitioning(init, axes)


def dot_general_float32_sums(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``lax.dot_general`` that sums its products in float32 and returns the inputs' dtype.

    For bfloat16 this is both more accurate and, on x86 CPUs, 2-3× faster: XLA's CPU bf16 matmul with a
    bf16 result takes a slow path, with a float32 result the fast one (`python -m benchmarks.cpu_kernels`).
    """
    del preferred_element_type  # always float32 here
    out = lax.dot_general(lhs, rhs, dimension_numbers, precision=precision, preferred_element_type=jnp.float32)
    return out.astype(lhs.dtype)


def conv_as_matmuls(lhs, rhs):
    """A stride-1 convolution with symmetric ``k // 2`` padding, NHWC / HWIO (2-D) or NTHWC / THWIO with
    a kernel ``(k, 1, 1)`` (the temporal ones), as matrix products summed in float32: the taps of the
    last kernel axis with more than one tap are concatenated along channels (one matmul with ``K = k·C``),
    each tap of the axis before it (if any) is a matmul over shifted rows."""
    taps = rhs.shape[:-2]
    axes = [i for i, k in enumerate(taps) if k > 1]  # kernel axes with more than one tap (spatial axis i+1)
    x = jnp.pad(lhs, [(0, 0)] + [(k // 2, k // 2) for k in taps] + [(0, 0)])
    inner = axes[-1]
    size = lhs.shape[inner + 1]
    cols = jnp.concatenate([lax.slice_in_dim(x, j, j + size, axis=inner + 1) for j in range(taps[inner])], -1)
    weights = jnp.moveaxis(rhs, inner, -3)  # (..., k_inner, C, O)
    if len(axes) == 1:
        return jnp.dot(cols, weights.reshape(-1, rhs.shape[-1]), preferred_element_type=jnp.float32)
    outer = axes[0]
    size = lhs.shape[outer + 1]
    return sum(jnp.dot(lax.slice_in_dim(cols, i, i + size, axis=outer + 1),
                       lax.index_in_dim(weights, i, axis=outer, keepdims=False).reshape(-1, rhs.shape[-1]),
                       preferred_element_type=jnp.float32)
               for i in range(taps[outer]))


def _matmul_friendly(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count) -> bool:
    """bfloat16, stride 1, no dilation or groups, ``k // 2`` padding, at most two kernel axes with taps."""
    taps = rhs.shape[:-2]
    return (lhs.dtype == jnp.bfloat16 and set(window_strides) == {1} and feature_group_count == 1
            and all(d == 1 for d in (lhs_dilation or ()) + (rhs_dilation or ()))
            and tuple(tuple(p) for p in padding) == tuple((k // 2, k // 2) for k in taps)
            and all(k % 2 for k in taps) and 1 <= sum(k > 1 for k in taps) <= 2)


def conv_float32_sums(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                      dimension_numbers=None, feature_group_count=1, precision=None):
    """``lax.conv_general_dilated`` (channels-last, as Flax calls it) summed in float32, returning the
    input dtype. In bfloat16 a stride-1 convolution runs as matrix products (:func:`conv_as_matmuls`):
    XLA's CPU bf16 convolution is 1.1-2.2× slower than its bf16 matmul with float32 sums on the U-Net's
    shapes (`python -m benchmarks.cpu_kernels`); float32 keeps XLA's convolution, the faster there."""
    if _matmul_friendly(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
        return conv_as_matmuls(lhs, rhs).astype(lhs.dtype)
    out = lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                   rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                                   feature_group_count=feature_group_count, precision=precision,
                                   preferred_element_type=jnp.float32)
    return out.astype(lhs.dtype)


def dense(features: int, name: str, *, dtype: Dtype, param_dtype: Dtype, use_bias: bool = True) -> nn.Dense:
    return nn.Dense(
        features, use_bias=use_bias, name=name, dtype=dtype, param_dtype=param_dtype,
        dot_general=dot_general_float32_sums,
        kernel_init=_init(nn.initializers.lecun_normal(), ("in", "out")),
        bias_init=_init(nn.initializers.zeros_init(), ("out",)),
    )


def conv(features: int, kernel: tuple[int, ...], name: str, *, dtype: Dtype, param_dtype: Dtype,
         strides: int = 1, padding: Any = "SAME") -> nn.Conv:
    """2-D or 3-D convolution; padding defaults to symmetric ``k // 2`` (PyTorch's ``padding=k//2``)."""
    if padding == "SAME":
        padding = tuple((k // 2, k // 2) for k in kernel)
    return nn.Conv(
        features, kernel, strides=strides, padding=padding, name=name, dtype=dtype, param_dtype=param_dtype,
        conv_general_dilated=conv_float32_sums,
        kernel_init=_init(nn.initializers.lecun_normal(), ("kernel",) * len(kernel) + ("in", "out")),
        bias_init=_init(nn.initializers.zeros_init(), ("out",)),
    )


class GroupNorm(nn.Module):
    """GroupNorm over ``(N, L, C)``: statistics per sample and group across ``L`` and the group's
    channels, always in float32 (bf16 statistics drift visibly over thousands of positions).

    Callers choose the scope by how they fold axes into ``L``: per frame ``(b·t, h·w, c)`` or
    across frames ``(b, t·h·w, c)``.
    """

    num_groups: int = 32
    epsilon: float = 1e-5
    param_dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        n, length, channels = x.shape
        scale = self.param("scale", _init(nn.initializers.ones_init(), ("norm",)), (channels,), self.param_dtype)
        bias = self.param("bias", _init(nn.initializers.zeros_init(), ("norm",)), (channels,), self.param_dtype)
        groups = x.astype(jnp.float32).reshape(n, length, self.num_groups, channels // self.num_groups)
        mean = jnp.mean(groups, axis=(1, 3), keepdims=True)
        var = jnp.mean(jnp.square(groups - mean), axis=(1, 3), keepdims=True)
        normed = ((groups - mean) * jnp.reciprocal(jnp.sqrt(var + self.epsilon))).reshape(n, length, channels)
        return (normed * scale.astype(jnp.float32) + bias.astype(jnp.float32)).astype(x.dtype)


def layer_norm(name: str, *, param_dtype: Dtype, epsilon: float = 1e-5) -> nn.LayerNorm:
    """LayerNorm with PyTorch's eps, computed and returned in float32 (cast back at the call site)."""
    return nn.LayerNorm(
        epsilon=epsilon, dtype=jnp.float32, param_dtype=param_dtype, use_fast_variance=False, name=name,
        scale_init=_init(nn.initializers.ones_init(), ("norm",)),
        bias_init=_init(nn.initializers.zeros_init(), ("norm",)),
    )
